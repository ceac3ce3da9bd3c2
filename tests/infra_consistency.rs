//! infra/ against the code: app settings, queue and topic names, functions, the custom role's
//! actions, no secrets, documented parameters. The Bicep CLI cannot run here, so
//! tests/support/infra/bicep.rs reads the Bicep text; CI (.github/workflows/ci.yml) also compiles
//! and lints it where the internet is reachable.
//!
//! Each check also runs against a copy with one side changed, and must then fail: a test that
//! only ever sees consistent input would not show that it checks anything.

#[path = "support/infra/mod.rs"]
mod infra;

use infra::checks::{self, Infra};
use infra::contract::{self, Source};
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn report_source(what: &str, source: &Source) {
    eprintln!("{what}: checked against the code ({})", source.0);
}

fn assert_clean(what: &str, problems: Vec<String>) {
    assert!(problems.is_empty(), "{what}:\n  {}", problems.join("\n  "));
}

fn assert_caught(what: &str, problems: &[String], needle: &str) {
    assert!(
        problems.iter().any(|p| p.contains(needle)),
        "{what}: expected a problem mentioning {needle:?}, got {problems:#?}"
    );
}

fn code_defaults() -> BTreeMap<String, String> {
    checks::ENTITIES
        .iter()
        .map(|e| {
            let (default, source) = contract::code_default(e.setting).unwrap_or_else(|err| panic!("{err}"));
            report_source(e.setting, &source);
            (e.setting.to_string(), default)
        })
        .collect()
}

#[test]
fn every_bicep_file_parses() {
    let infra = Infra::load(&root());
    let files: Vec<&String> = infra.texts.keys().filter(|p| p.ends_with(".bicep")).collect();
    assert!(files.len() >= 10, "expected main.bicep and its modules, found {files:?}");
    for rel in files {
        infra.bicep(rel).unwrap_or_else(|e| panic!("{e}"));
    }
}

#[test]
fn main_bicep_uses_every_module_and_every_module_exists() {
    let infra = Infra::load(&root());
    let main = infra.bicep("infra/main.bicep").unwrap();
    let used: BTreeSet<String> = main.modules().map(|(_, path, _)| format!("infra/{path}")).collect();
    let present: BTreeSet<String> =
        infra.texts.keys().filter(|p| p.starts_with("infra/modules/") && p.ends_with(".bicep")).cloned().collect();
    assert_eq!(used, present, "main.bicep's modules and infra/modules/ differ");
}

#[test]
fn app_settings_are_exactly_what_the_code_reads() {
    let root = root();
    let infra = Infra::load(&root);
    let (settings, source) = contract::code_settings();
    report_source("app settings", &source);
    assert_eq!(settings.len(), contract::CONTRACT_SETTINGS.len(), "settings read by the code: {settings:?}");
    let contract_names: BTreeSet<String> = contract::CONTRACT_SETTINGS.iter().map(|(n, _)| n.to_string()).collect();
    assert_eq!(settings, contract_names, "the code's settings differ from the settings contract");
    for (name, default) in contract::CONTRACT_SETTINGS.iter().filter(|(_, d)| !d.is_empty()) {
        let (code, _) = contract::code_default(name).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(&code, default, "{name}: the code's default differs from the settings contract");
    }
    assert_clean("app settings", checks::check_app_settings(&infra, &settings));
    let sample = checks::check_local_settings_sample(&root, &settings).expect("local.settings.sample.json");
    assert_clean("local.settings.sample.json", sample);
}

#[test]
fn a_setting_changed_on_one_side_only_is_caught() {
    let root = root();
    let infra = Infra::load(&root);
    let (settings, _) = contract::code_settings();
    // infra side renamed
    let renamed = infra.edited("infra/modules/functionapp.bicep", "KEYRELAY_EXPIRY_LEAD:", "KEYRELAY_EXPIRY_WINDOW:");
    let problems = checks::check_app_settings(&renamed, &settings);
    assert_caught("renamed in infra", &problems, "KEYRELAY_EXPIRY_LEAD is read by the code but not set by infra");
    assert_caught("renamed in infra", &problems, "KEYRELAY_EXPIRY_WINDOW is set by infra but not read by the code");
    // code side grew a setting
    let mut more = settings.clone();
    more.insert("KEYRELAY_NEW_KNOB".into());
    assert_caught("new in code", &checks::check_app_settings(&infra, &more), "KEYRELAY_NEW_KNOB is read by the code");
    // a test-only setting leaks into infra
    let leaked = infra.edited("infra/modules/functionapp.bicep", "  KEYRELAY_LOG: logFilter\n", "  KEYRELAY_LOG: logFilter\n  KEYRELAY_RESOLVE: ''\n");
    assert_caught("test-only", &checks::check_app_settings(&leaked, &settings), "test-only setting KEYRELAY_RESOLVE");
    // a connection string instead of the identity-based connection
    let keyed = infra.edited(
        "infra/modules/functionapp.bicep",
        "ServiceBusConnection__fullyQualifiedNamespace: serviceBusHostName",
        "ServiceBusConnection: serviceBusHostName",
    );
    assert_caught("connection", &checks::check_app_settings(&keyed, &settings), "ServiceBusConnection__");
}

#[test]
fn queue_and_topic_names_agree_between_bicep_and_code() {
    let root = root();
    let infra = Infra::load(&root);
    assert_clean("entity names", checks::check_entity_names(&infra, &code_defaults()));
}

#[test]
fn a_queue_name_changed_on_one_side_only_is_caught() {
    let root = root();
    let infra = Infra::load(&root);
    let defaults = code_defaults();
    let renamed = infra.edited("infra/main.bicep", "= 'rotation-commands'", "= 'rotation-cmds'");
    assert_caught("bicep default", &checks::check_entity_names(&renamed, &defaults), "param commandsQueueName defaults to Some(\"rotation-cmds\")");
    let mut code_side = defaults.clone();
    code_side.insert("KEYRELAY_STEPS_TOPIC".into(), "steps".into());
    assert_caught("code default", &checks::check_entity_names(&infra, &code_side), "param stepsTopicName");
    let rewired = infra.edited("infra/modules/functionapp.bicep", "KEYRELAY_ACKS_QUEUE: acksQueueName", "KEYRELAY_ACKS_QUEUE: commandsQueueName");
    assert_caught("wiring", &checks::check_entity_names(&rewired, &defaults), "KEYRELAY_ACKS_QUEUE is Some(\"commandsQueueName\")");
    let unfiltered = infra.edited("infra/modules/servicebus.bicep", "'consumer = \\'${consumerId}\\''", "'1 = 1'");
    assert_caught("filter", &checks::check_entity_names(&unfiltered, &defaults), "subscription filter");
}

#[test]
fn function_defs_match_the_design_and_infra() {
    let root = root();
    let infra = Infra::load(&root);
    let defaults = code_defaults();
    let defs = checks::load_function_defs(&root).expect("function-defs/");
    assert_clean("function-defs", checks::check_functions(&infra, &defs, &defaults));
    // Function definitions written the other ways the contract allows (a literal queue name, an
    // output binding) pass too, and one naming an entity infra does not create, another
    // connection, or an app setting infra does not set, is caught.
    let defs = synthetic_function_defs();
    assert_clean("synthetic function-defs", checks::check_functions(&infra, &defs, &defaults));
    let mut wrong = defs.clone();
    wrong.get_mut("reload-acks").unwrap()["bindings"][0]["queueName"] = "acks".into();
    assert_caught("queue", &checks::check_functions(&infra, &wrong, &defaults), "queueName \"acks\" is not an entity");
    let mut wrong = defs.clone();
    wrong.get_mut("rotation-commands").unwrap()["bindings"][0]["connection"] = "AzureWebJobsServiceBus".into();
    assert_caught("connection", &checks::check_functions(&infra, &wrong, &defaults), "expected ServiceBusConnection");
    let mut wrong = defs.clone();
    wrong.get_mut("schedule").unwrap()["bindings"][0]["schedule"] = "%KEYRELAY_SCHEDULE%".into();
    assert_caught("setting", &checks::check_functions(&infra, &wrong, &defaults), "%KEYRELAY_SCHEDULE% is not an app setting");
    let mut wrong = defs.clone();
    wrong.remove("sweeper");
    assert_caught("missing", &checks::check_functions(&infra, &wrong, &defaults), "function sweeper is missing");
}

fn synthetic_function_defs() -> checks::FunctionDefs {
    let sb = |name_field: &str, name: &str| {
        serde_json::json!({"bindings": [{"type": "serviceBusTrigger", "direction": "in", "name": "message",
            name_field: name, "connection": "ServiceBusConnection"}]})
    };
    BTreeMap::from([
        ("schedule".into(), serde_json::json!({"bindings": [{"type": "timerTrigger", "direction": "in", "name": "timer", "schedule": "0 0 3 * * *"}]})),
        ("sweeper".into(), serde_json::json!({"bindings": [{"type": "timerTrigger", "direction": "in", "name": "timer", "schedule": "0 */5 * * * *"}]})),
        ("keyvault-events".into(), serde_json::json!({"bindings": [{"type": "eventGridTrigger", "direction": "in", "name": "event"},
            {"type": "serviceBus", "direction": "out", "name": "command", "queueName": "%KEYRELAY_COMMANDS_QUEUE%", "connection": "ServiceBusConnection"}]})),
        ("rotation-commands".into(), sb("queueName", "%KEYRELAY_COMMANDS_QUEUE%")),
        ("reload-acks".into(), sb("queueName", "reload-acks")),
        ("api".into(), serde_json::json!({"bindings": [{"type": "httpTrigger", "direction": "in", "name": "req", "authLevel": "function"},
            {"type": "http", "direction": "out", "name": "res"}]})),
    ])
}

fn resource_types() -> BTreeSet<String> {
    contract::provider_kinds().0.into_iter().flat_map(|k| k.resource_types).collect()
}

#[test]
fn custom_role_actions_equal_the_provider_table() {
    let infra = Infra::load(&root());
    let (expected, source) = contract::expected_actions();
    report_source("custom role actions", &source);
    assert_clean("custom role", checks::check_role(&infra, &expected, &resource_types()));
}

#[test]
fn a_role_action_changed_on_one_side_only_is_caught() {
    let infra = Infra::load(&root());
    let (expected, _) = contract::expected_actions();
    let fewer = infra.edited("infra/modules/rotator-role.bicep", "    'Microsoft.Cache/redis/regenerateKey/action'\n", "");
    assert_caught("removed", &checks::check_role(&fewer, &expected, &resource_types()), "redis lacks Microsoft.Cache/redis/regenerateKey/action");
    let more = infra.edited(
        "infra/modules/rotator-role.bicep",
        "    'Microsoft.Maps/accounts/read'\n",
        "    'Microsoft.Maps/accounts/read'\n    'Microsoft.Maps/accounts/write'\n",
    );
    assert_caught("added", &checks::check_role(&more, &expected, &resource_types()), "grants Microsoft.Maps/accounts/write");
    let mut code_side = expected.clone();
    code_side.get_mut("storage").unwrap().insert("Microsoft.Storage/storageAccounts/listServiceSas/action".into());
    assert_caught("code side", &checks::check_role(&infra, &code_side, &resource_types()), "lacks Microsoft.Storage/storageAccounts/listServiceSas/action");
    let mut new_kind = expected.clone();
    new_kind.insert("things".into(), BTreeSet::from(["Microsoft.Example/things/read".to_string()]));
    assert_caught("new kind", &checks::check_role(&infra, &new_kind, &resource_types()), "provider kind things has no actions");
    let mut new_type = resource_types();
    new_type.insert("Microsoft.Example/things".into());
    assert_caught("new type", &checks::check_role(&infra, &expected, &new_type), "no `existing` Microsoft.Example/things reference");
}

#[test]
fn the_provider_actions_are_the_documented_rbac_actions() {
    // protocols.md §6: listKeys/regenerateKey, regenerateKeys for Service Bus / Event Hubs rules
    // (whose key-auth switch is read on the namespace), listAdminKeys/regenerateAdminKey for Search.
    let (expected, source) = contract::expected_actions();
    report_source("provider actions", &source);
    let search = &expected["search-admin"];
    assert!(search.contains("Microsoft.Search/searchServices/regenerateAdminKey/action"), "{search:?}");
    assert!(search.contains("Microsoft.Search/searchServices/listAdminKeys/action"), "{search:?}");
    let rules = &expected["servicebus-rule"];
    assert!(rules.contains("Microsoft.ServiceBus/namespaces/read"), "{rules:?}");
    assert!(rules.iter().all(|a| !a.ends_with("/write")), "{rules:?}");
    assert!(rules.iter().filter(|a| a.ends_with("/regenerateKeys/action")).count() == 3, "{rules:?}");
}

#[test]
fn no_secret_anywhere_in_infra() {
    let infra = Infra::load(&root());
    assert_clean("secrets", checks::check_no_secrets(&infra));
}

#[test]
fn a_secret_added_to_infra_is_caught() {
    let infra = Infra::load(&root());
    let output = infra.edited(
        "infra/modules/storage.bicep",
        "output name string = account.name\n",
        "output name string = account.name\noutput storageKey string = account.listKeys().keys[0].value\n",
    );
    let problems = checks::check_no_secrets(&output);
    assert_caught("listKeys", &problems, "contains \"listKeys(\"");
    assert_caught("output name", &problems, "output storageKey is named like a secret");
    let shared_key = infra.edited("infra/modules/storage.bicep", "allowSharedKeyAccess: false", "allowSharedKeyAccess: true");
    assert_caught("shared key", &checks::check_no_secrets(&shared_key), "allowSharedKeyAccess");
    let sas = infra.edited("infra/modules/servicebus.bicep", "disableLocalAuth: true", "disableLocalAuth: false");
    assert_caught("local auth", &checks::check_no_secrets(&sas), "disableLocalAuth");
    let setting = infra.edited("infra/modules/functionapp.bicep", "  KEYRELAY_LOG: logFilter\n", "  KEYRELAY_LOG: logFilter\n  REDIS_PASSWORD: 'x'\n");
    assert_caught("setting", &checks::check_no_secrets(&setting), "app setting REDIS_PASSWORD is named like a secret");
    let keyed = infra.edited(
        "infra/modules/functionapp.bicep",
        "ServiceBusConnection__fullyQualifiedNamespace: serviceBusHostName",
        "ServiceBusConnection__sharedAccessKey: serviceBusHostName",
    );
    assert_caught("connection", &checks::check_no_secrets(&keyed), "ServiceBusConnection__sharedAccessKey is not an identity-based connection property");
}

#[test]
fn every_parameter_is_documented_and_parameter_files_match_main() {
    let infra = Infra::load(&root());
    assert_clean("docs", checks::check_docs(&infra));
    let mut undocumented = infra.clone();
    undocumented.deploy_md = undocumented.deploy_md.replace("`duplicateDetectionWindow`", "duplicate detection window");
    assert_caught("undocumented", &checks::check_docs(&undocumented), "parameter `duplicateDetectionWindow` is not documented");
}

#[test]
fn the_example_parameters_are_valid_for_the_code() {
    let infra = Infra::load(&root());
    assert_clean("example parameters", checks::check_parameter_example(&infra));
    let bad = infra.edited("infra/main.parameters.example.json", "\"id\": \"reports-worker\"", "\"id\": \"reports worker\"");
    assert_caught("consumer id", &checks::check_parameter_example(&bad), "consumer \"reports worker\"");
    let bad = infra.edited("infra/main.parameters.example.json", "\"kind\": \"redis\"", "\"kind\": \"storage\"");
    assert_caught("resource kind", &checks::check_parameter_example(&bad), "but kind \"storage\" expects Microsoft.Storage/storageAccounts");
}

#[test]
fn the_stalled_alert_searches_for_what_the_handler_logs() {
    let root = root();
    let infra = Infra::load(&root);
    let marker = checks::check_stalled_query(&infra).unwrap_or_else(|e| panic!("{e}"));
    assert!(
        checks::marker_is_logged(&root, &marker),
        "no code under src/ logs {marker:?}, which the stalled-rotation alert searches for"
    );
    assert!(!checks::marker_is_logged(&root, "rotation stalled, somehow"), "the search must not match any text");
    let elsewhere = infra.edited("infra/modules/alerts.bicep", "message contains \"${stalledMarker}\"", "message contains \"stalled\"");
    let err = checks::check_stalled_query(&elsewhere).unwrap_err();
    assert!(err.contains("does not search for stalledMarker"), "{err}");
}

fn package_help() -> String {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_keyrelay"))
        .args(["package", "--help"])
        .output()
        .expect("run keyrelay package --help");
    assert!(out.status.success(), "keyrelay package --help failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn azd_hooks_and_packaging_fit_together() {
    let root = root();
    let infra = Infra::load(&root);
    let help = package_help();
    assert_clean("azd", checks::check_azd(&infra, &help));
    for hook in ["infra/hooks/package.sh", "infra/hooks/subscribe-events.sh"] {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(root.join(hook)).unwrap().permissions().mode();
        assert!(mode & 0o111 != 0, "{hook} is not executable");
    }
    let flag = infra.edited("infra/hooks/package.sh", "--policy \"$policy\" --out", "--policy-file \"$policy\" --out");
    assert_caught("flag", &checks::check_azd(&flag, &help), "has no flag --policy-file");
    let dist = infra.edited("azure.yaml", "dist: .azure-package/app", "dist: .azure-package");
    assert_caught("dist", &checks::check_azd(&dist, &help), "but package.sh unpacks the app into \".azure-package/app\"");
    let switch = infra.edited("infra/hooks/subscribe-events.sh", "azd env set SUBSCRIBE_KEYVAULT_EVENTS true", "azd env set SUBSCRIBE_EVENTS true");
    assert_caught("switch", &checks::check_azd(&switch, &help), "must agree on SUBSCRIBE_KEYVAULT_EVENTS");
}

#[test]
fn roles_are_scoped_narrowly_and_delivery_is_reliable() {
    let infra = Infra::load(&root());
    assert_clean("least privilege", checks::check_least_privilege(&infra));
    let vault_wide = infra.edited("infra/modules/consumer-access.bicep", "  scope: secrets[i]\n", "  scope: vault\n");
    assert_caught("vault-wide", &checks::check_least_privilege(&vault_wide), "secretsUser is scoped to Some(Expr(\"vault\"))");
    let unscoped = infra.edited("infra/modules/rbac-keyrelay.bicep", "  scope: stepsTopic\n", "");
    assert_caught("unscoped", &checks::check_least_privilege(&unscoped), "stepsSender has no resource scope");
    let duplicates = infra.edited(
        "infra/modules/servicebus.bicep",
        "    lockDuration: 'PT5M'\n    maxDeliveryCount: maxDeliveryCount\n    requiresDuplicateDetection: true",
        "    lockDuration: 'PT5M'\n    maxDeliveryCount: maxDeliveryCount\n    requiresDuplicateDetection: false",
    );
    assert_caught("duplicates", &checks::check_least_privilege(&duplicates), "commandsQueue.properties.requiresDuplicateDetection must be true");
    let every_event = infra.edited("infra/modules/eventgrid.bicep", "        'Microsoft.KeyVault.SecretExpired'\n", "        'Microsoft.KeyVault.SecretExpired'\n        'Microsoft.KeyVault.SecretNewVersionCreated'\n");
    assert_caught("events", &checks::check_least_privilege(&every_event), "expected SecretNearExpiry and SecretExpired");
}
