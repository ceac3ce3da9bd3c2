//! The files the Functions host reads agree with the handler: every function.json parses and
//! its function is served with the trigger binding the handler reads; every setting the code
//! reads is documented and in local.settings.sample.json; the package has the host's layout.

#[path = "support/child.rs"]
mod child;

use keyrelay::shells::cli::package::{executable_name, function_defs, package, PackageOptions};
use keyrelay::shells::handler::FUNCTIONS;
use keyrelay::shells::settings::SETTINGS;
use serde_json::Value;
use std::collections::BTreeSet;
use std::io::Read;
use child::Server;
use std::path::Path;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

fn json(rel: &str) -> Value {
    let text = std::fs::read_to_string(Path::new(ROOT).join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{rel} is not JSON: {e}"))
}

#[test]
fn function_defs_match_the_handler() {
    let defs = function_defs(&Path::new(ROOT).join("function-defs")).unwrap();
    let names: BTreeSet<&str> = defs.iter().map(|(n, _)| n.as_str()).collect();
    let served: BTreeSet<&str> = FUNCTIONS.iter().map(|f| f.name).collect();
    assert_eq!(names, served);
    for spec in FUNCTIONS {
        let def = json(&format!("function-defs/{}/function.json", spec.name));
        let bindings = def["bindings"].as_array().unwrap();
        let triggers: Vec<&Value> = bindings.iter().filter(|b| b["type"].as_str().is_some_and(|t| t.ends_with("Trigger"))).collect();
        assert_eq!(triggers.len(), 1, "{}: exactly one trigger", spec.name);
        assert_eq!(triggers[0]["type"], spec.trigger_type, "{}", spec.name);
        assert_eq!(triggers[0]["name"], spec.binding, "{}", spec.name);
        assert_eq!(triggers[0]["direction"], "in");
        for b in bindings {
            // Identity-based connections only: a connection names a setting prefix, never a string.
            if let Some(c) = b.get("connection") {
                assert_eq!(c, "ServiceBusConnection", "{}", spec.name);
            }
            // No Service Bus output binding: it cannot set MessageId.
            assert_ne!(b["type"], "serviceBus", "{}", spec.name);
        }
        if spec.trigger_type == "httpTrigger" {
            assert_eq!(triggers[0]["authLevel"], "function");
            assert_eq!(triggers[0]["route"], format!("{}/{{*path}}", keyrelay::shells::handler::api::ROUTE_PREFIX));
            assert!(bindings.iter().any(|b| b["type"] == "http" && b["name"] == keyrelay::shells::handler::HTTP_OUTPUT));
        }
        // Every %SETTING% a binding uses is a documented setting.
        let text = def.to_string();
        for part in text.split('%').skip(1).step_by(2) {
            assert!(SETTINGS.iter().any(|s| s.name == part), "{}: %{part}% is not a setting keyrelay documents", spec.name);
        }
    }
}

#[test]
fn host_json_starts_the_handler() {
    let host = json("host.json");
    assert_eq!(host["version"], "2.0");
    assert_eq!(executable_name(&host).unwrap(), "keyrelay");
    assert_eq!(host["customHandler"]["description"]["arguments"], serde_json::json!(["serve"]));
    assert_eq!(host["customHandler"]["enableProxyingHttpRequest"], false, "the api function needs the envelope");
    assert_eq!(host["extensionBundle"]["id"], "Microsoft.Azure.Functions.ExtensionBundle");
}

#[test]
fn every_setting_is_documented_and_in_the_sample() {
    let docs = std::fs::read_to_string(Path::new(ROOT).join("docs/settings.md")).unwrap();
    let sample = json("local.settings.sample.json");
    let values = sample["Values"].as_object().unwrap();
    for s in SETTINGS {
        assert!(docs.contains(&format!("`{}`", s.name)), "{} missing from docs/settings.md", s.name);
        assert!(values.contains_key(s.name), "{} missing from local.settings.sample.json", s.name);
        if let Some(default) = s.default {
            assert!(docs.contains(&format!("`{default}`")), "{}'s default {default} is not in docs/settings.md", s.name);
            assert_eq!(values[s.name], default, "{}: the sample shows the default", s.name);
        }
    }
    // And nothing in the sample that keyrelay reads is missing from settings.rs.
    for key in values.keys().filter(|k| k.starts_with("KEYRELAY_")) {
        assert!(SETTINGS.iter().any(|s| s.name == key), "{key} is in the sample but settings.rs does not read it");
    }
    for host_setting in ["FUNCTIONS_WORKER_RUNTIME", "ServiceBusConnection__fullyQualifiedNamespace", "AzureWebJobsStorage__accountName", "APPLICATIONINSIGHTS_CONNECTION_STRING"] {
        assert!(values.contains_key(host_setting) && docs.contains(host_setting), "{host_setting}");
    }
    // settings.rs is the only reader of KEYRELAY_* app settings in the handler's shells.
    let mut stack = vec![Path::new(ROOT).join("src/shells")];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                // The consumer agent is a separate program with its own configuration.
                if !path.ends_with("shells/agent") {
                    stack.push(path);
                }
            } else if path.extension().is_some_and(|e| e == "rs") && !path.ends_with("shells/settings.rs") {
                let text = std::fs::read_to_string(&path).unwrap();
                for s in SETTINGS {
                    assert!(!text.contains(&format!("\"{}\"", s.name)), "{} reads {} itself; use shells::settings", path.display(), s.name);
                }
            }
        }
    }
}

#[test]
fn the_package_has_the_layout_the_host_expects() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("app.zip");
    let policy = dir.path().join("p.toml");
    std::fs::write(&policy, "# policy\n").unwrap();
    let binary = Path::new(env!("CARGO_BIN_EXE_keyrelay"));
    let opts = PackageOptions { app_dir: ROOT.into(), binary: binary.into(), policy: Some(policy), out: out.clone() };
    let report = package(&opts).unwrap();
    assert_eq!(report.functions.len(), FUNCTIONS.len());
    let mut zip = zip::ZipArchive::new(std::fs::File::open(&out).unwrap()).unwrap();
    let mut names: Vec<String> = (0..zip.len()).map(|i| zip.by_index(i).unwrap().name().to_string()).collect();
    names.sort();
    let mut expected: Vec<String> = FUNCTIONS.iter().map(|f| format!("{}/function.json", f.name)).collect();
    expected.extend(["host.json".to_string(), "keyrelay".to_string(), "policy.toml".to_string()]);
    expected.sort();
    assert_eq!(names, expected);
    let exe = zip.by_name("keyrelay").unwrap();
    assert_eq!(exe.unix_mode().unwrap() & 0o777, 0o755);
    assert_eq!(exe.size(), std::fs::metadata(binary).unwrap().len());
    drop(exe);
    let mut host = String::new();
    zip.by_name("host.json").unwrap().read_to_string(&mut host).unwrap();
    assert_eq!(serde_json::from_str::<Value>(&host).unwrap(), json("host.json"));

    // A non-Linux "binary" is refused with a clear error.
    let fake = dir.path().join("fake.exe");
    std::fs::write(&fake, b"MZ not elf").unwrap();
    let err = package(&PackageOptions { binary: fake, policy: None, ..opts }).unwrap_err();
    assert!(err.to_string().contains("ELF"), "{err}");
}

#[test]
fn serve_checks_settings_and_policy_then_serves_the_host() {
    let exe = env!("CARGO_BIN_EXE_keyrelay");
    let help = std::process::Command::new(exe).args(["serve", "--help"]).output().unwrap();
    let help = String::from_utf8_lossy(&help.stdout);
    assert!(help.contains("FUNCTIONS_CUSTOMHANDLER_PORT") && help.contains("host.json"), "{help}");

    // The example policy up to its Redis Cloud credential (the full example: tests/serve_wiring.rs).
    let dir = tempfile::tempdir().unwrap();
    let example = std::fs::read_to_string(format!("{ROOT}/examples/policy.toml")).unwrap();
    let cut = example[..example.find("provider = \"redis-cloud\"").unwrap()].rfind("[[credential]]").unwrap();
    let arm_only = dir.path().join("arm-only.toml");
    std::fs::write(&arm_only, &example[..cut]).unwrap();
    let policy = arm_only.to_str().unwrap().to_string();
    let run = |envs: &[(&str, &str)]| {
        let mut cmd = std::process::Command::new(exe);
        cmd.arg("serve");
        for s in SETTINGS {
            cmd.env_remove(s.name);
        }
        cmd.env("KEYRELAY_POLICY", &policy);
        cmd.envs(envs.iter().copied());
        let out = cmd.output().unwrap();
        assert!(!out.status.success(), "serve started with {envs:?}");
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    assert!(run(&[("FUNCTIONS_CUSTOMHANDLER_PORT", "0")]).contains("KEYRELAY_SERVICEBUS_NAMESPACE"));
    assert!(run(&[("FUNCTIONS_CUSTOMHANDLER_PORT", "0"), ("KEYRELAY_SERVICEBUS_NAMESPACE", "contoso-rotation.servicebus.windows.net"), ("KEYRELAY_EXPIRY_LEAD", "soon")])
        .contains("KEYRELAY_EXPIRY_LEAD"));
    assert!(run(&[("KEYRELAY_SERVICEBUS_NAMESPACE", "contoso-rotation.servicebus.windows.net")]).contains("FUNCTIONS_CUSTOMHANDLER_PORT"));
    // A broken policy stops it with the file and line; a provider kind without an adapter too.
    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "[[credential]]\nname = \"x y\"\n").unwrap();
    let err = run(&[("FUNCTIONS_CUSTOMHANDLER_PORT", "0"), ("KEYRELAY_SERVICEBUS_NAMESPACE", "contoso-rotation.servicebus.windows.net"), ("KEYRELAY_POLICY", bad.to_str().unwrap())]);
    assert!(err.contains("bad.toml") && err.contains(":2"), "{err}");
    let unknown = dir.path().join("unknown-kind.toml");
    std::fs::write(&unknown, example.replace("provider = \"redis-cloud\"", "provider = \"memcached\"")).unwrap();
    let err = run(&[("FUNCTIONS_CUSTOMHANDLER_PORT", "0"), ("KEYRELAY_SERVICEBUS_NAMESPACE", "contoso-rotation.servicebus.windows.net"), ("KEYRELAY_POLICY", unknown.to_str().unwrap())]);
    assert!(err.contains("memcached") && err.contains("redis-cloud"), "{err}");
    // With everything in place it starts: the real binary on a random port, probed and
    // invoked as the host does (only invocations that need no Azure endpoint).
    let state = dir.path().join("state/keyrelay.db");
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut cmd = std::process::Command::new(exe);
    cmd.arg("serve").env("KEYRELAY_POLICY", &policy).env("FUNCTIONS_CUSTOMHANDLER_PORT", port.to_string());
    cmd.env("KEYRELAY_SERVICEBUS_NAMESPACE", "contoso-rotation.servicebus.windows.net");
    cmd.env("KEYRELAY_STATE_STORE", format!("sqlite:{}", state.display()));
    // Never let a credential wander off to the instance metadata endpoint.
    cmd.env("IDENTITY_ENDPOINT", "http://127.0.0.1:9/msi/token").env("IDENTITY_HEADER", "test");
    let child = Server(cmd.stdout(std::process::Stdio::null()).stderr(std::process::Stdio::null()).spawn().unwrap());
    let base = format!("http://127.0.0.1:{port}");
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let client = reqwest::Client::new();
        let mut ready = false;
        for _ in 0..200 {
            if client.get(format!("{base}/")).send().await.is_ok_and(|r| r.status().is_success()) {
                ready = true;
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        assert!(ready, "keyrelay serve did not answer GET / on {base}");
        let post = |function: &str, body: String| {
            let request = client.post(format!("{base}/{function}")).header("Content-Type", "application/json").body(body);
            async move {
                let response = request.send().await.unwrap();
                (response.status().as_u16(), response.json::<Value>().await.unwrap_or(Value::Null))
            }
        };
        let poison = serde_json::json!({"Data": {"command": "not json"}, "Metadata": {"DeliveryCount": "1", "MessageId": "\"p\""}});
        let (status, answer) = post("rotation-commands", poison.to_string()).await;
        assert_eq!(status, 200);
        assert!(answer["Logs"].to_string().contains("rejected"), "{answer}");
        let api = serde_json::json!({"Data": {"req": {"Url": "http://localhost/api/keyrelay/rotations", "Method": "GET", "Query": {}, "Headers": {}, "Params": {"path": "rotations"}, "Body": ""}}, "Metadata": {}});
        let (status, answer) = post("api", api.to_string()).await;
        assert_eq!(status, 200);
        assert_eq!(answer["Outputs"]["res"]["statusCode"], 200, "{answer}");
        assert_eq!(answer["Outputs"]["res"]["body"], r#"{"rotations":[]}"#);
        let timer = serde_json::json!({"Data": {"timer": {"IsPastDue": false}}, "Metadata": {}});
        assert_eq!(post("sweeper", timer.to_string()).await.0, 200);
        let (status, _) = post("nope", "{}".into()).await;
        assert_eq!(status, 404);
    });
    assert!(state.exists(), "the SQLite state store was created");
    drop(child);
}

#[test]
fn the_example_policy_is_a_catalog() {
    use keyrelay::shells::handler::Catalog;
    let policy = keyrelay::policy::Policy::load(&Path::new(ROOT).join("examples/policy.toml")).unwrap();
    let entries = policy.entries();
    assert_eq!(entries.len(), policy.credentials.len());
    for (entry, credential) in entries.iter().zip(&policy.credentials) {
        assert_eq!(entry.plan.credential, credential.name);
        assert_eq!(entry.cadence, credential.rotate_every);
        let found = policy.by_secret(&|vault| vault == credential.secret.vault, &credential.secret.name.to_ascii_uppercase());
        assert_eq!(found.len(), 1, "{}", credential.name);
    }
}
