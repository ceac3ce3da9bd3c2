//! The consistency checks between `infra/` and the code. Each check returns the list of problems
//! it found (empty = consistent), so the tests can also show that a change on one side only is
//! caught: they edit the text of one side in memory and expect a problem.

use super::bicep::{BicepFile, Value};
use super::contract::{self, SERVICE_BUS_CONNECTION};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// The text of every file under `infra/` (plus `azure.yaml`), by path relative to the repo root,
/// and the deployment guide.
#[derive(Clone)]
pub struct Infra {
    pub texts: BTreeMap<String, String>,
    pub deploy_md: String,
}

/// Parsed function.json files by function name.
pub type FunctionDefs = BTreeMap<String, serde_json::Value>;

impl Infra {
    pub fn load(root: &Path) -> Infra {
        let mut texts = BTreeMap::new();
        let mut stack = vec![root.join("infra")];
        while let Some(dir) = stack.pop() {
            for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    stack.push(path);
                } else {
                    let rel = path.strip_prefix(root).unwrap().to_string_lossy().replace('\\', "/");
                    texts.insert(rel, std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display())));
                }
            }
        }
        texts.insert("azure.yaml".into(), std::fs::read_to_string(root.join("azure.yaml")).expect("azure.yaml"));
        let deploy_md = std::fs::read_to_string(root.join("docs/deploy.md")).expect("docs/deploy.md");
        Infra { texts, deploy_md }
    }

    pub fn bicep(&self, rel: &str) -> Result<BicepFile, String> {
        let text = self.texts.get(rel).ok_or_else(|| format!("{rel} is missing"))?;
        BicepFile::parse(text).map_err(|e| format!("{rel}: {e}"))
    }

    /// Replaces `from` by `to` in one file (exactly once), for the one-side-only tests.
    pub fn edited(&self, rel: &str, from: &str, to: &str) -> Infra {
        let mut copy = self.clone();
        let text = copy.texts.get_mut(rel).unwrap_or_else(|| panic!("{rel} is missing"));
        assert_eq!(text.matches(from).count(), 1, "{from:?} must occur once in {rel}");
        *text = text.replacen(from, to, 1);
        copy
    }

    fn bicep_files(&self) -> impl Iterator<Item = (&String, &String)> {
        self.texts.iter().filter(|(p, _)| p.ends_with(".bicep"))
    }
}

/// Reads function-defs/*/function.json; `None` when the directory is not in this checkout.
pub fn load_function_defs(root: &Path) -> Option<FunctionDefs> {
    let dir = root.join("function-defs");
    let entries = std::fs::read_dir(&dir).ok()?;
    let mut defs = BTreeMap::new();
    for entry in entries {
        let path = entry.unwrap().path();
        let file = path.join("function.json");
        if path.is_dir() && file.exists() {
            let text = std::fs::read_to_string(&file).unwrap();
            let json = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
            defs.insert(path.file_name().unwrap().to_string_lossy().into_owned(), json);
        }
    }
    Some(defs)
}

const FUNCTION_APP: &str = "infra/modules/functionapp.bicep";
const SERVICE_BUS: &str = "infra/modules/servicebus.bicep";
const MAIN: &str = "infra/main.bicep";
const ROLE: &str = "infra/modules/rotator-role.bicep";
const ASSIGNMENT: &str = "infra/modules/rotator-assignment.bicep";

fn object_keys(file: &BicepFile, var: &str, rel: &str) -> Result<BTreeSet<String>, String> {
    let value = file.var(var).ok_or_else(|| format!("{rel}: no `var {var}`"))?;
    let entries = value.as_object().ok_or_else(|| format!("{rel}: `{var}` is not an object literal"))?;
    Ok(entries.iter().map(|(k, _)| k.clone()).collect())
}

fn diff(what: &str, infra: &BTreeSet<String>, code: &BTreeSet<String>, problems: &mut Vec<String>) {
    for missing in code.difference(infra) {
        problems.push(format!("{what}: {missing} is read by the code but not set by infra"));
    }
    for extra in infra.difference(code) {
        problems.push(format!("{what}: {extra} is set by infra but not read by the code"));
    }
}

/// App settings: `keyrelaySettings` == the settings the code reads; the host settings of the
/// contract are set; the settings object is what the app gets; test-only names appear nowhere;
/// identity-based connections only.
pub fn check_app_settings(infra: &Infra, code_settings: &BTreeSet<String>) -> Vec<String> {
    let mut problems = Vec::new();
    let file = match infra.bicep(FUNCTION_APP) {
        Ok(f) => f,
        Err(e) => return vec![e],
    };
    match object_keys(&file, "keyrelaySettings", FUNCTION_APP) {
        Ok(keys) => diff("app settings", &keys, code_settings, &mut problems),
        Err(e) => problems.push(e),
    }
    let host: BTreeSet<String> = object_keys(&file, "hostSettings", FUNCTION_APP).unwrap_or_else(|e| {
        problems.push(e);
        BTreeSet::new()
    });
    for required in contract::HOST_SETTINGS {
        if !host.contains(*required) {
            problems.push(format!("app settings: host setting {required} is not set"));
        }
    }
    let connection_prefix = format!("{SERVICE_BUS_CONNECTION}__");
    if !host.iter().any(|k| k.starts_with(&connection_prefix)) {
        problems.push(format!("app settings: no identity-based {SERVICE_BUS_CONNECTION}__* setting"));
    }
    let credential = file.var("keyrelaySettings").and_then(|v| v.get("KEYRELAY_CREDENTIAL")).and_then(Value::as_str);
    if credential != Some("managed-identity") {
        problems.push(format!("app settings: KEYRELAY_CREDENTIAL is {credential:?}, expected 'managed-identity'"));
    }
    let worker = file.var("premiumSettings").and_then(|v| v.get("FUNCTIONS_WORKER_RUNTIME")).and_then(Value::as_str);
    let flex_runtime = file.var("flexConfig").and_then(|v| v.path("runtime.name")).and_then(Value::as_str);
    if worker != Some("custom") || flex_runtime != Some("custom") {
        problems.push(format!(
            "app settings: the worker runtime must be `custom` on both plans (premium {worker:?}, flex {flex_runtime:?})"
        ));
    }
    let applied = file.resource("appSettings").and_then(|v| v.get("properties")).and_then(Value::as_expr).unwrap_or_default();
    for var in ["keyrelaySettings", "hostSettings"] {
        if !applied.contains(var) {
            problems.push(format!("app settings: resource appSettings does not apply `{var}` ({applied:?})"));
        }
    }
    for (rel, text) in &infra.texts {
        for name in contract::TEST_ONLY_SETTINGS {
            if text.contains(name) {
                problems.push(format!("{rel}: mentions the test-only setting {name}"));
            }
        }
    }
    problems
}

/// The `KEYRELAY_*` names local.settings.sample.json sets (handler's file), if it exists.
pub fn check_local_settings_sample(root: &Path, code_settings: &BTreeSet<String>) -> Option<Vec<String>> {
    let text = std::fs::read_to_string(root.join("local.settings.sample.json")).ok()?;
    let json: serde_json::Value = match serde_json::from_str(&text) {
        Ok(j) => j,
        Err(e) => return Some(vec![format!("local.settings.sample.json: {e}")]),
    };
    let listed: BTreeSet<String> = json
        .get("Values")
        .and_then(|v| v.as_object())
        .map(|o| o.keys().filter(|k| k.starts_with("KEYRELAY_")).cloned().collect())
        .unwrap_or_default();
    let mut problems = Vec::new();
    for missing in code_settings.difference(&listed) {
        problems.push(format!("local.settings.sample.json: {missing} is read by the code but not listed"));
    }
    Some(problems)
}

/// One Service Bus entity: the setting that names it, main.bicep's parameter, the resource in
/// servicebus.bicep and its output.
pub struct Entity {
    pub setting: &'static str,
    pub param: &'static str,
    pub resource: &'static str,
}

pub const ENTITIES: &[Entity] = &[
    Entity { setting: "KEYRELAY_COMMANDS_QUEUE", param: "commandsQueueName", resource: "commandsQueue" },
    Entity { setting: "KEYRELAY_ACKS_QUEUE", param: "acksQueueName", resource: "acksQueue" },
    Entity { setting: "KEYRELAY_STEPS_TOPIC", param: "stepsTopicName", resource: "stepsTopic" },
];

/// Queue and topic names: main.bicep's defaults equal the code's defaults, and the name flows
/// main param → servicebus.bicep resource → its output → functionapp.bicep setting unchanged.
pub fn check_entity_names(infra: &Infra, code_defaults: &BTreeMap<String, String>) -> Vec<String> {
    let (main, sb, app) = match (infra.bicep(MAIN), infra.bicep(SERVICE_BUS), infra.bicep(FUNCTION_APP)) {
        (Ok(m), Ok(s), Ok(a)) => (m, s, a),
        (m, s, a) => return [m.err(), s.err(), a.err()].into_iter().flatten().collect(),
    };
    let mut problems = Vec::new();
    let expr = |v: Option<&Value>| v.and_then(Value::as_expr).map(str::to_string);
    for e in ENTITIES {
        let default = main.param_default(e.param).and_then(Value::as_str);
        let expected = code_defaults.get(e.setting).map(String::as_str);
        if default != expected {
            problems.push(format!("{MAIN}: param {} defaults to {default:?}, the code's default for {} is {expected:?}", e.param, e.setting));
        }
        let to_sb = expr(main.module("serviceBus").and_then(|(_, m)| m.path(&format!("params.{}", e.param))));
        if to_sb.as_deref() != Some(e.param) {
            problems.push(format!("{MAIN}: module serviceBus gets {} = {to_sb:?}, expected the parameter {}", e.param, e.param));
        }
        let resource_name = expr(sb.resource(e.resource).and_then(|r| r.get("name")));
        if resource_name.as_deref() != Some(e.param) {
            problems.push(format!("{SERVICE_BUS}: resource {} is named {resource_name:?}, expected the parameter {}", e.resource, e.param));
        }
        let output = expr(sb.output(e.param));
        if output.as_deref() != Some(format!("{}.name", e.resource).as_str()) {
            problems.push(format!("{SERVICE_BUS}: output {} is {output:?}, expected {}.name", e.param, e.resource));
        }
        let to_app = expr(main.module("functionApp").and_then(|(_, m)| m.path(&format!("params.{}", e.param))));
        if to_app.as_deref() != Some(format!("serviceBus.outputs.{}", e.param).as_str()) {
            problems.push(format!("{MAIN}: module functionApp gets {} = {to_app:?}, expected serviceBus.outputs.{}", e.param, e.param));
        }
        let setting = expr(app.var("keyrelaySettings").and_then(|s| s.get(e.setting)));
        if setting.as_deref() != Some(e.param) {
            problems.push(format!("{FUNCTION_APP}: {} is {setting:?}, expected the parameter {}", e.setting, e.param));
        }
    }
    let filter = sb
        .resource("consumerFilters")
        .and_then(|r| r.path("properties.sqlFilter.sqlExpression"))
        .and_then(Value::as_str);
    if filter != Some("consumer = '${consumerId}'") {
        problems.push(format!("{SERVICE_BUS}: the subscription filter is {filter:?}, expected consumer = '<id>' on the `consumer` property"));
    }
    problems
}

/// function-defs/: exactly the design's functions; every Service Bus binding uses the
/// ServiceBusConnection connection and names an entity infra creates (literally, with the
/// default name, or as `%SETTING%` of the setting that holds it); every `%SETTING%` is an app
/// setting infra sets; the Event Grid subscription targets an eventGridTrigger function.
pub fn check_functions(infra: &Infra, defs: &FunctionDefs, code_defaults: &BTreeMap<String, String>) -> Vec<String> {
    let mut problems = Vec::new();
    let names: BTreeSet<String> = defs.keys().cloned().collect();
    let expected: BTreeSet<String> = contract::FUNCTIONS.iter().map(|s| s.to_string()).collect();
    for missing in expected.difference(&names) {
        problems.push(format!("function-defs: the design's function {missing} is missing"));
    }
    for extra in names.difference(&expected) {
        problems.push(format!("function-defs: {extra} is not one of the design's functions"));
    }
    let app = match infra.bicep(FUNCTION_APP) {
        Ok(a) => a,
        Err(e) => return vec![e],
    };
    let mut settings: BTreeSet<String> = BTreeSet::new();
    for var in ["keyrelaySettings", "hostSettings", "premiumSettings"] {
        settings.extend(object_keys(&app, var, FUNCTION_APP).unwrap_or_default());
    }
    let entity_names: BTreeMap<&str, &str> =
        ENTITIES.iter().filter_map(|e| code_defaults.get(e.setting).map(|d| (d.as_str(), e.setting))).collect();
    for (function, def) in defs {
        let text = def.to_string();
        for reference in app_setting_references(&text) {
            if !settings.contains(&reference) {
                problems.push(format!("function-defs/{function}: %{reference}% is not an app setting infra sets"));
            }
        }
        for binding in def.get("bindings").and_then(|b| b.as_array()).into_iter().flatten() {
            let kind = binding.get("type").and_then(|t| t.as_str()).unwrap_or_default();
            if !kind.starts_with("serviceBus") {
                continue;
            }
            let connection = binding.get("connection").and_then(|c| c.as_str());
            if connection != Some(SERVICE_BUS_CONNECTION) {
                problems.push(format!("function-defs/{function}: {kind} connection is {connection:?}, expected {SERVICE_BUS_CONNECTION}"));
            }
            for field in ["queueName", "topicName"] {
                let Some(name) = binding.get(field).and_then(|n| n.as_str()) else { continue };
                let known = match name.strip_prefix('%').and_then(|n| n.strip_suffix('%')) {
                    Some(setting) => ENTITIES.iter().any(|e| e.setting == setting),
                    None => entity_names.contains_key(name),
                };
                if !known {
                    problems.push(format!("function-defs/{function}: {kind} {field} {name:?} is not an entity infra creates"));
                }
            }
        }
    }
    match infra.bicep(MAIN) {
        Ok(main) => {
            let target = main.module("keyVaultEvents").and_then(|(_, m)| m.path("params.functionName")).and_then(Value::as_str);
            let trigger = target.and_then(|t| defs.get(t)).map(|d| d.to_string().contains("\"eventGridTrigger\""));
            if trigger != Some(true) {
                problems.push(format!("{MAIN}: Event Grid delivers to function {target:?}, which is not an eventGridTrigger in function-defs"));
            }
        }
        Err(e) => problems.push(e),
    }
    problems
}

/// `%NAME%` references (app setting substitution) in a function.json text.
pub fn app_setting_references(text: &str) -> BTreeSet<String> {
    let parts: Vec<&str> = text.split('%').collect();
    parts
        .iter()
        .enumerate()
        .filter(|(i, p)| i % 2 == 1 && *i + 1 < parts.len() && !p.is_empty() && p.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'))
        .map(|(_, p)| p.to_string())
        .collect()
}

/// The custom role: `providerActions` in rotator-role.bicep equals the actions of the provider
/// table, kind by kind (no more, no less); the role's actions come from it; the assignment module
/// has an `existing` reference for every resource type a kind accepts.
pub fn check_role(infra: &Infra, expected: &BTreeMap<String, BTreeSet<String>>, resource_types: &BTreeSet<String>) -> Vec<String> {
    let mut problems = Vec::new();
    let role = match infra.bicep(ROLE) {
        Ok(r) => r,
        Err(e) => return vec![e],
    };
    let Some(table) = role.var("providerActions").and_then(Value::as_object) else {
        return vec![format!("{ROLE}: no object literal `var providerActions`")];
    };
    let mut in_bicep: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (kind, actions) in table {
        let list = actions.as_array().unwrap_or_default();
        let set: BTreeSet<String> = list.iter().filter_map(Value::as_str).map(str::to_string).collect();
        if set.len() != list.len() {
            problems.push(format!("{ROLE}: providerActions[{kind}] must be a list of distinct string literals"));
        }
        in_bicep.insert(kind.clone(), set);
    }
    for (kind, want) in expected {
        match in_bicep.get(kind) {
            None => problems.push(format!("{ROLE}: provider kind {kind} has no actions")),
            Some(have) => {
                for a in want.difference(have) {
                    problems.push(format!("{ROLE}: {kind} lacks {a}"));
                }
                for a in have.difference(want) {
                    problems.push(format!("{ROLE}: {kind} grants {a}, which the provider table does not need"));
                }
            }
        }
    }
    for kind in in_bicep.keys().filter(|k| !expected.contains_key(*k)) {
        problems.push(format!("{ROLE}: {kind} is not a provider kind of the code"));
    }
    let actions = role.var("actions").and_then(Value::as_expr).unwrap_or_default();
    let used = role.resource("role").and_then(|r| r.path("properties.permissions")).and_then(Value::as_array);
    let first = used.and_then(|p| p.first()).and_then(|p| p.get("actions")).and_then(Value::as_expr);
    if !actions.contains("providerActions[kind]") || !actions.contains("map(kinds") || first != Some("actions") {
        problems.push(format!("{ROLE}: the role's actions must be those of the deployment's kinds, from providerActions"));
    }
    match infra.bicep(ASSIGNMENT) {
        Ok(assign) => {
            let conditions: BTreeMap<String, String> = assign
                .resources()
                .filter(|(_, _, existing, _)| *existing)
                .filter_map(|(_, ty, _, v)| match v {
                    Value::If { cond, .. } => Some((cond.clone(), ty.split('@').next().unwrap_or_default().to_ascii_lowercase())),
                    _ => None,
                })
                .collect();
            for ty in resource_types {
                let lower = ty.to_ascii_lowercase();
                let found = conditions.get(&format!("resourceType == '{lower}'"));
                if found != Some(&lower) {
                    problems.push(format!("{ASSIGNMENT}: no `existing` {ty} reference enabled by resourceType == '{lower}' (found {found:?})"));
                }
            }
        }
        Err(e) => problems.push(e),
    }
    problems
}

/// The properties of an identity-based Functions connection (`<name>__<property>`).
const IDENTITY_CONNECTION_PROPERTIES: &[&str] =
    &["accountName", "fullyQualifiedNamespace", "blobServiceUri", "queueServiceUri", "tableServiceUri", "serviceUri", "credential", "clientId"];

/// No key, password, SAS or connection string anywhere in infra/: no list*() calls, no secure
/// parameters, no outputs or settings named like secrets (the Application Insights connection
/// string of the contract is an address once local auth is off, which is checked), and every
/// service has its shared-key / local auth switched off.
pub fn check_no_secrets(infra: &Infra) -> Vec<String> {
    let mut problems = Vec::new();
    const FORBIDDEN: &[&str] = &[
        "listKeys(",
        "listkeys(",
        "listConnectionStrings(",
        "listAuthKeys(",
        "listSecrets(",
        "listAccountSas(",
        "listServiceSas(",
        "AccountKey=",
        "SharedAccessKey",
        "SharedAccessSignature",
        "@secure()",
        "DefaultEndpointsProtocol",
    ];
    for (rel, text) in &infra.texts {
        for pattern in FORBIDDEN {
            if text.contains(pattern) {
                problems.push(format!("{rel}: contains {pattern:?}"));
            }
        }
    }
    let secret_like = |name: &str| {
        // "keyrelay" and "key vault" name the product and the service, not a key.
        let lower = name.to_ascii_lowercase().replace("keyrelay", "").replace("key_vault", "").replace("keyvault", "");
        ["key", "secret", "password", "connection", "sas", "token"].iter().any(|w| lower.contains(w))
    };
    for (rel, _) in infra.bicep_files() {
        let file = match infra.bicep(rel) {
            Ok(f) => f,
            Err(e) => {
                problems.push(e);
                continue;
            }
        };
        for (name, value) in file.outputs() {
            if secret_like(name) {
                problems.push(format!("{rel}: output {name} is named like a secret"));
            }
            if let Some(expr) = value.as_expr() {
                if expr.contains("ConnectionString") || expr.contains(".list") {
                    problems.push(format!("{rel}: output {name} = {expr}"));
                }
            }
        }
    }
    if let Ok(app) = infra.bicep(FUNCTION_APP) {
        for var in ["keyrelaySettings", "hostSettings", "premiumSettings"] {
            for (key, value) in app.var(var).and_then(Value::as_object).unwrap_or_default() {
                if key == "APPLICATIONINSIGHTS_CONNECTION_STRING" {
                    if value.as_expr() != Some("appInsights.properties.ConnectionString") {
                        problems.push(format!("{FUNCTION_APP}: {key} = {value:?}, expected the component's address"));
                    }
                } else if let Some((_, property)) = key.split_once("__") {
                    // `<connection>__<property>`: an identity-based connection, which names
                    // where to connect, never with what.
                    if !IDENTITY_CONNECTION_PROPERTIES.contains(&property) {
                        problems.push(format!("{FUNCTION_APP}: app setting {key} is not an identity-based connection property"));
                    }
                } else if secret_like(key) {
                    problems.push(format!("{FUNCTION_APP}: app setting {key} is named like a secret"));
                }
            }
        }
    }
    let switches: &[(&str, &str, &str, Value)] = &[
        ("infra/modules/storage.bicep", "account", "properties.allowSharedKeyAccess", Value::Bool(false)),
        (SERVICE_BUS, "namespace", "properties.disableLocalAuth", Value::Bool(true)),
        ("infra/modules/keyvault.bicep", "vault", "properties.enableRbacAuthorization", Value::Bool(true)),
        ("infra/modules/monitoring.bicep", "appInsights", "properties.DisableLocalAuth", Value::Bool(true)),
    ];
    for (rel, resource, path, want) in switches {
        let have = infra.bicep(rel).ok().and_then(|f| f.resource(resource).and_then(|r| r.path(path)).cloned());
        if have.as_ref() != Some(want) {
            problems.push(format!("{rel}: {resource}.{path} is {have:?}, expected {want:?}"));
        }
    }
    problems
}

/// Every parameter of main.bicep is documented in docs/deploy.md (as `name`), and every
/// parameters file only sets parameters main.bicep declares.
pub fn check_docs(infra: &Infra) -> Vec<String> {
    let mut problems = Vec::new();
    let main = match infra.bicep(MAIN) {
        Ok(m) => m,
        Err(e) => return vec![e],
    };
    let params: BTreeSet<String> = main.params().map(|(n, ..)| n.to_string()).collect();
    for name in &params {
        if !infra.deploy_md.contains(&format!("`{name}`")) {
            problems.push(format!("docs/deploy.md: parameter `{name}` is not documented"));
        }
    }
    for (rel, text) in infra.texts.iter().filter(|(p, _)| p.ends_with(".parameters.json") || p.ends_with(".parameters.example.json")) {
        let json: serde_json::Value = match serde_json::from_str(text) {
            Ok(j) => j,
            Err(e) => {
                problems.push(format!("{rel}: {e}"));
                continue;
            }
        };
        for key in json.get("parameters").and_then(|p| p.as_object()).map(|o| o.keys().cloned().collect::<Vec<_>>()).unwrap_or_default() {
            if !params.contains(&key) {
                problems.push(format!("{rel}: sets {key}, which main.bicep does not declare"));
            }
        }
    }
    problems
}

/// The example parameters file is valid for the code: credential names and consumer ids parse
/// (`CredentialName`, `ConsumerId`), each kind is a provider kind and its resource id one the
/// kind accepts (`ResourceKind::by_name`, `ResourceId::for_kind`), and every consumer's secret
/// is a managed credential's secret.
pub fn check_parameter_example(infra: &Infra) -> Vec<String> {
    use keyrelay::adapters::azure::providers::{ResourceId, ResourceKind};
    const REL: &str = "infra/main.parameters.example.json";
    let mut problems = Vec::new();
    let json: serde_json::Value = match infra.texts.get(REL).map(|t| serde_json::from_str(t)) {
        Some(Ok(j)) => j,
        Some(Err(e)) => return vec![format!("{REL}: {e}")],
        None => return vec![format!("{REL} is missing")],
    };
    let list = |name: &str| json.pointer(&format!("/parameters/{name}/value")).and_then(|v| v.as_array()).cloned().unwrap_or_default();
    let field = |v: &serde_json::Value, f: &str| v.get(f).and_then(|x| x.as_str()).unwrap_or_default().to_string();
    let mut secrets = BTreeSet::new();
    for credential in list("credentials") {
        let (name, kind, id) = (field(&credential, "name"), field(&credential, "kind"), field(&credential, "resourceId"));
        if let Err(e) = keyrelay::domain::CredentialName::parse(&name) {
            problems.push(format!("{REL}: credential {name:?}: {e}"));
        }
        if let Err(e) = ResourceKind::by_name(&kind).and_then(|k| ResourceId::for_kind(&id, k)) {
            problems.push(format!("{REL}: credential {name}: {e}"));
        }
        secrets.insert(field(&credential, "secretName"));
    }
    for consumer in list("consumers") {
        let id = field(&consumer, "id");
        if let Err(e) = keyrelay::domain::ConsumerId::parse(&id) {
            problems.push(format!("{REL}: consumer {id:?}: {e}"));
        }
        for secret in consumer.get("secrets").and_then(|s| s.as_array()).into_iter().flatten() {
            let secret = secret.as_str().unwrap_or_default();
            if !secrets.contains(secret) {
                problems.push(format!("{REL}: consumer {id} loads {secret:?}, which no credential manages"));
            }
        }
    }
    problems
}

const ALERTS: &str = "infra/modules/alerts.bicep";

/// The marker the stalled-rotation alert searches the traces for (`stalledMarker` of
/// alerts.bicep), and a problem if the alert's query does not use it.
pub fn check_stalled_query(infra: &Infra) -> Result<String, String> {
    let alerts = infra.bicep(ALERTS)?;
    let marker = alerts.var("stalledMarker").and_then(Value::as_str).unwrap_or_default().to_string();
    let query = alerts
        .resource("stalledRotations")
        .and_then(|r| r.path("properties.criteria.allOf"))
        .and_then(Value::as_array)
        .and_then(|a| a.first())
        .and_then(|c| c.get("query"))
        .and_then(Value::as_str)
        .unwrap_or_default();
    if marker.is_empty() || !query.contains("${stalledMarker}") {
        return Err(format!("{ALERTS}: the stalled alert's query {query:?} does not search for stalledMarker {marker:?}"));
    }
    Ok(marker)
}

/// Whether some Rust source under `src/` spells `marker` as a string literal.
pub fn marker_is_logged(root: &Path, marker: &str) -> bool {
    let literal = format!("\"{marker}\"");
    let mut stack = vec![root.join("src")];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "rs")
                && std::fs::read_to_string(&path).unwrap_or_default().contains(&literal)
            {
                return true;
            }
        }
    }
    false
}

/// azure.yaml, its hooks and the packaging command agree: the hooks azure.yaml runs exist, the
/// folder azd deploys (`dist`) is the one package.sh fills, every flag package.sh passes to
/// `keyrelay package` is one the CLI accepts (`package_help` is its `--help`), and the event
/// subscription switch the postdeploy hook sets is the one main.parameters.json maps.
pub fn check_azd(infra: &Infra, package_help: &str) -> Vec<String> {
    let mut problems = Vec::new();
    let yaml = &infra.texts["azure.yaml"];
    let value_of = |key: &str| {
        yaml.lines().find_map(|l| l.trim().strip_prefix(&format!("{key}:")).map(|v| v.trim().to_string()))
    };
    for (key, want) in [("host", "function"), ("language", "custom"), ("provider", "bicep"), ("path", "infra")] {
        if value_of(key).as_deref() != Some(want) {
            problems.push(format!("azure.yaml: {key} is {:?}, expected {want:?}", value_of(key)));
        }
    }
    for hook in yaml.lines().filter_map(|l| l.trim().strip_prefix("run: ./")) {
        if !infra.texts.contains_key(hook) {
            problems.push(format!("azure.yaml: hook {hook} does not exist"));
        }
    }
    let package = infra.texts.get("infra/hooks/package.sh").cloned().unwrap_or_default();
    let assigned = |name: &str| {
        package.lines().find_map(|l| l.strip_prefix(&format!("{name}=")).map(|v| v.trim_matches('"').to_string()))
    };
    let out_dir = assigned("out_dir").unwrap_or_default();
    let app_dir = assigned("app_dir").unwrap_or_default().replace("$out_dir", &out_dir);
    if value_of("dist").as_deref() != Some(app_dir.as_str()) {
        problems.push(format!("azure.yaml: dist is {:?}, but package.sh unpacks the app into {app_dir:?}", value_of("dist")));
    }
    let invocations: Vec<&str> = package.lines().filter(|l| l.contains("keyrelay package")).collect();
    if invocations.is_empty() {
        problems.push("infra/hooks/package.sh: never runs `keyrelay package`".into());
    }
    for line in invocations {
        for flag in line.split_whitespace().filter(|w| w.starts_with("--")) {
            if !package_help.contains(flag) {
                problems.push(format!("infra/hooks/package.sh: `keyrelay package` has no flag {flag}"));
            }
        }
    }
    let switch = "SUBSCRIBE_KEYVAULT_EVENTS";
    let hook = infra.texts.get("infra/hooks/subscribe-events.sh").cloned().unwrap_or_default();
    let mapped = infra.texts.get("infra/main.parameters.json").is_some_and(|p| {
        serde_json::from_str::<serde_json::Value>(p)
            .ok()
            .and_then(|j| j.pointer("/parameters/subscribeKeyVaultEvents/value").and_then(|v| v.as_str()).map(str::to_string))
            .is_some_and(|v| v.starts_with(&format!("${{{switch}")))
    });
    if !hook.contains(&format!("azd env set {switch} true")) || !mapped {
        problems.push(format!("the postdeploy hook and main.parameters.json must agree on {switch}"));
    }
    problems
}

/// The structure of least privilege and reliable delivery: every role assignment names a scope
/// narrower than a resource group (consumers' Secrets User on each secret, Receiver on their own
/// subscription); the queues and the topic detect duplicates and dead-letter; Event Grid sends
/// only the two expiry events, retries, and dead-letters.
pub fn check_least_privilege(infra: &Infra) -> Vec<String> {
    let mut problems = Vec::new();
    for (rel, _) in infra.bicep_files() {
        let Ok(file) = infra.bicep(rel) else { continue };
        for (symbol, ty, _, body) in file.resources() {
            if ty.starts_with("Microsoft.Authorization/roleAssignments@") && body.get("scope").and_then(Value::as_expr).is_none() {
                problems.push(format!("{rel}: role assignment {symbol} has no resource scope (it would apply to the whole resource group)"));
            }
        }
    }
    let scopes: &[(&str, &str, &str)] = &[
        ("infra/modules/consumer-access.bicep", "secretsUser", "secrets[i]"),
        ("infra/modules/consumer-access.bicep", "stepsReceiver", "stepsSubscription"),
        ("infra/modules/consumer-access.bicep", "acksSender", "acksQueue"),
        ("infra/modules/rbac-keyrelay.bicep", "commandsReceiver", "commandsQueue"),
        ("infra/modules/rbac-keyrelay.bicep", "acksReceiver", "acksQueue"),
        ("infra/modules/rbac-keyrelay.bicep", "stepsSender", "stepsTopic"),
        ("infra/modules/rbac-keyrelay.bicep", "secretsOfficer", "vault"),
    ];
    for (rel, symbol, want) in scopes {
        let have = infra.bicep(rel).ok().and_then(|f| f.resource(symbol).and_then(|r| r.get("scope")).cloned());
        if have.as_ref().and_then(Value::as_expr) != Some(*want) {
            problems.push(format!("{rel}: {symbol} is scoped to {have:?}, expected {want}"));
        }
    }
    if let Ok(sb) = infra.bicep(SERVICE_BUS) {
        let flags: &[(&str, &str)] = &[
            ("commandsQueue", "properties.requiresDuplicateDetection"),
            ("commandsQueue", "properties.deadLetteringOnMessageExpiration"),
            ("acksQueue", "properties.requiresDuplicateDetection"),
            ("acksQueue", "properties.deadLetteringOnMessageExpiration"),
            ("stepsTopic", "properties.requiresDuplicateDetection"),
            ("consumerSubscriptions", "properties.deadLetteringOnMessageExpiration"),
            ("consumerSubscriptions", "properties.deadLetteringOnFilterEvaluationExceptions"),
        ];
        for (symbol, path) in flags {
            if sb.resource(symbol).and_then(|r| r.path(path)) != Some(&Value::Bool(true)) {
                problems.push(format!("{SERVICE_BUS}: {symbol}.{path} must be true"));
            }
        }
        for symbol in ["commandsQueue", "acksQueue", "consumerSubscriptions"] {
            let count = sb.resource(symbol).and_then(|r| r.path("properties.maxDeliveryCount")).and_then(Value::as_expr);
            if count != Some("maxDeliveryCount") {
                problems.push(format!("{SERVICE_BUS}: {symbol} maxDeliveryCount is {count:?}, expected the parameter"));
            }
        }
    }
    const EVENT_GRID: &str = "infra/modules/eventgrid.bicep";
    match infra.bicep(EVENT_GRID) {
        Ok(eg) => {
            let sub = eg.resource("toKeyrelay");
            let types: Vec<&str> = sub
                .and_then(|s| s.path("properties.filter.includedEventTypes"))
                .and_then(Value::as_array)
                .map(|a| a.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            if types != ["Microsoft.KeyVault.SecretNearExpiry", "Microsoft.KeyVault.SecretExpired"] {
                problems.push(format!("{EVENT_GRID}: the subscription delivers {types:?}, expected SecretNearExpiry and SecretExpired"));
            }
            for path in ["properties.retryPolicy.maxDeliveryAttempts", "properties.deadLetterWithResourceIdentity.deadLetterDestination"] {
                if sub.and_then(|s| s.path(path)).is_none() {
                    problems.push(format!("{EVENT_GRID}: the subscription has no {path}"));
                }
            }
        }
        Err(e) => problems.push(e),
    }
    problems
}
