//! `keyrelay serve`'s wiring of the Redis providers: the real binary starts with the documented
//! example policy (Redis credentials included) and answers the host's readiness probe; a Redis
//! credential missing a field stops it with file:line:field; and the providers the wiring
//! builds from a policy work against the twins (a TLS redis-server, the Redis Cloud API twin).

#[path = "support/child.rs"]
mod child;

use keyrelay::adapters::azure::http::HttpOptions;
use keyrelay::adapters::memory::MemorySecrets;
use keyrelay::adapters::redis::cloud::ApiKeys;
use keyrelay::adapters::redis::{strong_password, Staging, UserPassword};
use keyrelay::domain::{CredentialName, Slot};
use keyrelay::policy::Policy;
use keyrelay::ports::{KeyAuthStatus, RegenerateOutcome, SecretRef, SecretStore};
use keyrelay::shells::cli::wiring::redis_providers;
use keyrelay::shells::settings::SETTINGS;
use keyrelay::twin::{RedisCloudTwin, RedisServer, TestCa};
use std::path::Path;
use std::process::{Command, Stdio};
use child::Server;
use std::sync::Arc;
use std::time::Duration;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");
const NAMESPACE: &str = "contoso-rotation.servicebus.windows.net";

/// `keyrelay serve` with only the given settings (none inherited from the test's environment)
/// and a managed identity endpoint that goes nowhere, so no credential leaves the machine.
fn serve(policy: &Path, state: &Path, port: u16) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_keyrelay"));
    cmd.arg("serve");
    for s in SETTINGS {
        cmd.env_remove(s.name);
    }
    cmd.env("KEYRELAY_POLICY", policy)
        .env("FUNCTIONS_CUSTOMHANDLER_PORT", port.to_string())
        .env("KEYRELAY_SERVICEBUS_NAMESPACE", NAMESPACE)
        .env("KEYRELAY_STATE_STORE", format!("sqlite:{}", state.display()))
        .env("IDENTITY_ENDPOINT", "http://127.0.0.1:9/msi/token")
        .env("IDENTITY_HEADER", "test");
    cmd
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

#[test]
fn serve_starts_with_the_example_policy_and_answers_the_readiness_probe() {
    let dir = tempfile::tempdir().unwrap();
    let example = Path::new(ROOT).join("examples/policy.toml");
    let policy = Policy::load(&example).unwrap();
    let redis: Vec<&str> = policy.credentials.iter().filter(|c| c.redis.is_some()).map(|c| c.name.as_str()).collect();
    assert_eq!(redis, ["sessions-redis-cloud", "carts-redis", "rediscloud-api"], "the example shows every Redis kind");

    let port = free_port();
    let log = dir.path().join("stdout.log");
    let mut cmd = serve(&example, &dir.path().join("state.db"), port);
    cmd.env("KEYRELAY_LOG", "info").stdout(Stdio::from(std::fs::File::create(&log).unwrap())).stderr(Stdio::null());
    let mut server = Server(cmd.spawn().unwrap());
    let base = format!("http://127.0.0.1:{port}");
    let rt = tokio::runtime::Runtime::new().unwrap();
    let ready = rt.block_on(async {
        let client = reqwest::Client::new();
        for _ in 0..300 {
            if client.get(format!("{base}/")).send().await.is_ok_and(|r| r.status().is_success()) {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        false
    });
    let exited = server.0.try_wait().unwrap();
    let logged = std::fs::read_to_string(&log).unwrap();
    assert!(ready, "keyrelay serve did not answer GET / on {base} (exit: {exited:?}); log:\n{logged}");
    for name in redis {
        assert!(
            logged.lines().any(|l| l.contains("Redis provider ready") && l.contains(name)),
            "no Redis provider built for {name}; log:\n{logged}"
        );
    }
}

#[test]
fn a_redis_credential_missing_a_field_stops_serve_with_file_line_field() {
    let dir = tempfile::tempdir().unwrap();
    let example = std::fs::read_to_string(Path::new(ROOT).join("examples/policy.toml")).unwrap();
    for (drop, field, kind) in [
        ("api_keys_secret = \"rediscloud-api-keys\"", "credential.api_keys_secret", "redis-cloud"),
        ("admin_secret = \"carts-redis-admin\"", "credential.admin_secret", "redis-selfhosted"),
    ] {
        let start = example.find(drop).expect("the example has the field");
        let end = start + example[start..].find('\n').unwrap() + 1;
        let text = format!("{}{}", &example[..start], &example[end..]);
        let path = dir.path().join("policy.toml");
        std::fs::write(&path, &text).unwrap();
        let provider_line = format!("provider = \"{kind}\"");
        let line = text[..text.find(&provider_line).unwrap()].matches('\n').count() + 1;

        let out = serve(&path, &dir.path().join("state.db"), free_port()).stdout(Stdio::null()).output().unwrap();
        assert!(!out.status.success(), "serve started without {field}");
        let err = String::from_utf8_lossy(&out.stderr);
        let at = format!("{}:{line}:", path.display());
        assert!(err.contains(&at) && err.contains(field) && err.contains("missing"), "{field}: expected {at} in {err}");
    }
}

fn kv(name: &str) -> SecretRef {
    SecretRef { vault: "kv.vault.azure.net".into(), name: name.into() }
}

const CONSUMER: &str = "\n[[credential.consumer]]\nid = \"app\"\n";

/// Each Redis kind, built by the wiring from policy text, works against its twin: a TLS
/// redis-server trusted through the policy's `ca_file`, and the Redis Cloud API twin reached
/// as api.redislabs.com by name resolution and the test CA (the production HTTP options).
#[tokio::test]
async fn the_wiring_builds_each_redis_kind_from_a_policy_against_the_twins() {
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::generate().unwrap();
    let ca_file = dir.path().join("ca.pem");
    std::fs::write(&ca_file, &ca.ca_pem).unwrap();
    let tls = RedisServer::start_tls(&ca).await.unwrap();
    let app_password = strong_password();
    tls.set_user_passwords("app", std::slice::from_ref(&app_password)).await.unwrap();
    let cloud_redis = Arc::new(RedisServer::start().await.unwrap());
    let twin = RedisCloudTwin::start(&ca, cloud_redis.clone()).await.unwrap();
    twin.create_user("app-a", "app-role", &strong_password()).await.unwrap();
    twin.create_user("app-b", "app-role", &strong_password()).await.unwrap();
    let keys: ApiKeys = twin.add_user_key("keyrelay-automation", true, true);

    let secrets = Arc::new(MemorySecrets::new());
    let now = chrono::Utc::now();
    let (admin, admin_password) = tls.admin();
    secrets.seed(&kv("redis-admin"), UserPassword::new(&admin, admin_password).to_secret(), None, now);
    secrets.seed(&kv("app-redis"), UserPassword::new("app", app_password.clone()).to_secret(), Some(Slot::Primary), now);
    secrets.seed(&kv("rc-api"), keys.to_secret(), Some(Slot::Primary), now);

    let endpoint = tls.endpoint();
    let text = format!(
        r#"[defaults]
validity = "90d"

[[credential]]
name = "self-hosted"
provider = "redis-selfhosted"
address = "rediss://{host}:{port}"
user = "app"
admin_secret = "redis-admin"
ca_file = "{ca}"
vault = "kv.vault.azure.net"
secret = "app-redis"
{CONSUMER}
[[credential]]
name = "cloud"
provider = "redis-cloud"
address = "{base}/subscriptions/{sub}/databases/{db}"
users = ["app-a", "app-b"]
api_keys_secret = "rc-api"
vault = "kv.vault.azure.net"
secret = "cloud-redis"
{CONSUMER}
[[credential]]
name = "api-key"
provider = "redis-cloud-api-key"
address = "{base}"
vault = "kv.vault.azure.net"
secret = "rc-api"
{CONSUMER}"#,
        host = endpoint.host,
        port = endpoint.port,
        ca = ca_file.display(),
        base = twin.base_url(),
        sub = twin.subscription_id(),
        db = twin.database_id(),
    );
    let policy = Policy::parse(&text, "wiring.toml").unwrap();
    let http: HttpOptions = twin.client_options(&ca).http;
    let providers = redis_providers(&policy, secrets.clone(), &http).unwrap();
    let get = |name: &str| providers.get(&CredentialName::parse(name).unwrap()).unwrap().clone();

    // Self-hosted over TLS: the admin from Key Vault signs in, and a regenerate of the standby
    // slot adds a password to `app` while the one in use keeps working.
    let selfhosted = get("self-hosted");
    assert!(matches!(selfhosted.key_auth().await.unwrap(), KeyAuthStatus::Enabled));
    assert!(matches!(selfhosted.regenerate(Slot::Secondary, false).await.unwrap(), RegenerateOutcome::Done));
    let standby = UserPassword::parse(&selfhosted.read(Slot::Secondary).await.unwrap()).unwrap();
    assert!(tls.can_login("app", &standby.password).await && tls.can_login("app", &app_password).await);
    let staged = secrets.current(&Staging::default_ref(&kv("app-redis"))).await.unwrap();
    assert_eq!(staged.and_then(|v| v.slot), Some(Slot::Secondary), "staged in the default companion secret");

    // Redis Cloud: the API keys from Key Vault reach the twin; both users exist, same role.
    let cloud = get("cloud");
    assert!(matches!(cloud.key_auth().await.unwrap(), KeyAuthStatus::Enabled));
    assert!(cloud.describe().contains("app-a / app-b"));
    twin.set_enable_default_user(true);
    assert!(cloud.key_auth().await.is_err(), "the wired provider checks the database it was given");

    // The API key: its slot reads the key in use from the credential's own secret.
    let api = get("api-key");
    assert_eq!(ApiKeys::parse(&api.read(Slot::Primary).await.unwrap()).unwrap(), keys);
    assert!(api.describe().contains("rc-api"));

    // Building checks what only the wiring can: an unreadable CA file is named at its line.
    let bad = text.replace(&ca_file.display().to_string(), "/nonexistent/ca.pem");
    let policy = Policy::parse(&bad, "wiring.toml").unwrap();
    let err = redis_providers(&policy, secrets.clone(), &http).err().expect("a missing CA file is refused").to_string();
    let line = bad[..bad.find("ca_file").unwrap()].matches('\n').count() + 1;
    assert!(err.starts_with(&format!("wiring.toml:{line}:")) && err.contains("credential.ca_file"), "{err}");
}
