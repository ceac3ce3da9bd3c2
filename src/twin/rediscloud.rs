//! A Redis Cloud API twin (`https://api.redislabs.com/v1`), HTTPS with the [`TestCa`]
//! certificate, answering in the OpenAPI shapes (TaskStateUpdate, ACLUser, Spring-style error
//! bodies) and backed by a real [`RedisServer`]: when a password-change task completes, the
//! ACL user's password really changes, so consumers on a dead password really fail.
//!
//! The production client reaches it by name resolution (`api.redislabs.com` → 127.0.0.1) and
//! the test CA. Faults a real account shows can be switched on: 429s, tasks unknown (404) for a
//! while after submission, tasks that stay running, `processing-error` with the error as an
//! object or a string, users `pending` after a change, a disabled API, a key outside its CIDR
//! allow list, a key of a non-owner user.

use super::redis_server::RedisServer;
use super::server::{serve_tls, TlsServer};
use super::TestCa;
use crate::adapters::azure::http::HttpOptions;
use crate::adapters::redis::cloud::{ApiKeys, Backoff, CloudOptions};
use crate::domain::SecretValue;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// An API user key the twin knows, with the account-side facts that decide 401/403.
#[derive(Debug, Clone)]
struct UserKey {
    name: String,
    secret: String,
    /// The caller's address is inside the key's CIDR allow list.
    allowed_source: bool,
    /// The key's user has the Owner role.
    owner: bool,
}

#[derive(Debug, Clone)]
struct AclUser {
    id: i64,
    name: String,
    role: String,
    status: &'static str,
    pending_polls_left: u32,
}

#[derive(Debug, Clone)]
struct Task {
    id: String,
    command_type: &'static str,
    user: i64,
    password: Option<SecretValue>,
    not_found_left: u32,
    running_polls_left: u32,
    error: Option<Value>,
    status: &'static str,
}

/// Switchable faults.
#[derive(Debug, Clone, Default)]
struct Faults {
    throttle_next: u32,
    task_404s: u32,
    running_polls: u32,
    next_task_error: Option<Value>,
    user_pending_polls: u32,
}

struct Account {
    account_id: i64,
    account_key: String,
    api_enabled: bool,
    user_keys: Vec<UserKey>,
    users: BTreeMap<i64, AclUser>,
    next_user_id: i64,
    subscription_id: i64,
    database_id: i64,
    enable_default_user: bool,
    tasks: HashMap<String, Task>,
    faults: Faults,
    log: Vec<String>,
}

struct Shared {
    account: Mutex<Account>,
    redis: Arc<RedisServer>,
    host_port: u16,
}

/// The running twin.
pub struct RedisCloudTwin {
    server: TlsServer,
    shared: Arc<Shared>,
}

impl RedisCloudTwin {
    /// Starts the twin for one Pro subscription and database (ids 100001 / 200001).
    pub async fn start(ca: &TestCa, redis: Arc<RedisServer>) -> anyhow::Result<RedisCloudTwin> {
        let account = Account {
            account_id: 53012,
            account_key: format!("acct-{}", uuid::Uuid::new_v4().simple()),
            api_enabled: true,
            user_keys: Vec::new(),
            users: BTreeMap::new(),
            next_user_id: 20000,
            subscription_id: 100001,
            database_id: 200001,
            enable_default_user: false,
            tasks: HashMap::new(),
            faults: Faults::default(),
            log: Vec::new(),
        };
        let host_port = redis.port();
        let shared = Arc::new(Shared { account: Mutex::new(account), redis, host_port });
        let router = Router::new()
            .route("/v1/acl/users", get(list_users))
            .route("/v1/acl/users/{id}", get(get_user).put(update_user))
            .route("/v1/tasks/{id}", get(get_task))
            .route("/v1/subscriptions/{sub}/databases/{db}", get(get_database))
            .with_state(shared.clone());
        Ok(RedisCloudTwin { server: serve_tls(router, ca).await?, shared })
    }

    /// The API root the client should use (`https://api.redislabs.com:<port>/v1`).
    pub fn base_url(&self) -> String {
        format!("https://api.redislabs.com:{}/v1", self.server.port())
    }

    /// Client options that reach this twin: its CA, `api.redislabs.com` resolved to it, and
    /// short backoffs so tests run in seconds.
    pub fn client_options(&self, ca: &TestCa) -> CloudOptions {
        let fast = Backoff { first: Duration::from_millis(20), max: Duration::from_millis(200) };
        CloudOptions {
            base_url: self.base_url(),
            http: HttpOptions {
                extra_roots_pem: vec![ca.ca_pem.clone()],
                resolve: vec![("api.redislabs.com".into(), self.server.addr)],
                ..HttpOptions::default()
            },
            throttle: fast,
            throttle_retries: 3,
            task_poll: fast,
            max_task_404s: 5,
        }
    }

    pub fn subscription_id(&self) -> i64 {
        self.lock().subscription_id
    }

    pub fn database_id(&self) -> i64 {
        self.lock().database_id
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Account> {
        self.shared.account.lock().expect("twin state")
    }

    /// Creates an API user key (as the console would) and returns the keys a client needs.
    pub fn add_user_key(&self, name: &str, owner: bool, allowed_source: bool) -> ApiKeys {
        let mut a = self.lock();
        let secret = format!("ukey-{}", uuid::Uuid::new_v4().simple());
        a.user_keys.push(UserKey { name: name.into(), secret: secret.clone(), allowed_source, owner });
        ApiKeys {
            account_key: SecretValue::new(a.account_key.clone()),
            user_key: SecretValue::new(secret),
            user_key_name: Some(name.into()),
        }
    }

    /// Deletes an API user key (the console action an assisted rotation asks for).
    pub fn delete_user_key(&self, name: &str) {
        self.lock().user_keys.retain(|k| k.name != name);
    }

    pub fn user_key_names(&self) -> Vec<String> {
        self.lock().user_keys.iter().map(|k| k.name.clone()).collect()
    }

    pub fn set_api_enabled(&self, on: bool) {
        self.lock().api_enabled = on;
    }

    pub fn set_enable_default_user(&self, on: bool) {
        self.lock().enable_default_user = on;
    }

    /// Creates an ACL user (status active) with one password, in the account and in Redis.
    pub async fn create_user(&self, name: &str, role: &str, password: &SecretValue) -> anyhow::Result<i64> {
        self.shared.redis.set_user_passwords(name, std::slice::from_ref(password)).await?;
        let mut a = self.lock();
        let id = a.next_user_id;
        a.next_user_id += 1;
        a.users.insert(id, AclUser { id, name: name.into(), role: role.into(), status: "active", pending_polls_left: 0 });
        Ok(id)
    }

    /// The next `n` requests answer 429.
    pub fn throttle_next(&self, n: u32) {
        self.lock().faults.throttle_next = n;
    }

    /// New tasks answer 404 for their first `n` polls.
    pub fn task_404s(&self, n: u32) {
        self.lock().faults.task_404s = n;
    }

    /// New tasks stay `processing-in-progress` for `n` polls.
    pub fn running_polls(&self, n: u32) {
        self.lock().faults.running_polls = n;
    }

    /// The next task ends in `processing-error` with this `response.error` (object or string).
    pub fn fail_next_task(&self, error: Value) {
        self.lock().faults.next_task_error = Some(error);
    }

    /// After a change, a user reads `pending` for `n` GETs.
    pub fn user_pending_polls(&self, n: u32) {
        self.lock().faults.user_pending_polls = n;
    }

    /// `METHOD /path` of every request so far.
    pub fn requests(&self) -> Vec<String> {
        self.lock().log.clone()
    }
}

fn spring_error(status: StatusCode, error: &str, message: &str, path: &str) -> Response {
    let body = json!({
        "timestamp": chrono::Utc::now().format("%Y-%m-%dT%H:%M:%S%.3f+0000").to_string(),
        "status": status.as_u16(),
        "error": error,
        "message": message,
        "path": path,
    });
    (status, Json(body)).into_response()
}

/// Authentication, authorisation and throttling, in that order, as the API applies them.
fn admit(shared: &Shared, headers: &HeaderMap, line: String, path: &str, write: bool) -> Result<(), Response> {
    let mut a = shared.account.lock().expect("twin state");
    a.log.push(line);
    let header = |n: &str| headers.get(n).and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
    let (account, secret) = (header("x-api-key"), header("x-api-secret-key"));
    if !a.api_enabled || account != a.account_key {
        return Err(spring_error(StatusCode::UNAUTHORIZED, "Unauthorized", "Authentication failed for requested resource", path));
    }
    let Some(key) = a.user_keys.iter().find(|k| k.secret == secret).cloned() else {
        return Err(spring_error(StatusCode::UNAUTHORIZED, "Unauthorized", "Authentication failed for requested resource", path));
    };
    if !key.allowed_source {
        return Err(spring_error(StatusCode::FORBIDDEN, "Forbidden", "Not allowed to access requested resource", path));
    }
    if write && !key.owner {
        return Err(spring_error(StatusCode::FORBIDDEN, "Forbidden", "Not allowed to access requested resource", path));
    }
    if a.faults.throttle_next > 0 {
        a.faults.throttle_next -= 1;
        return Err(spring_error(
            StatusCode::TOO_MANY_REQUESTS,
            "Too Many Requests",
            "Too many resources are concurrently created / updated / deleted in the account",
            path,
        ));
    }
    Ok(())
}

fn user_json(u: &AclUser, with_status: bool) -> Value {
    let mut v = json!({
        "id": u.id, "name": u.name, "role": u.role,
        "links": [{"rel": "self", "href": format!("https://api.redislabs.com/v1/acl/users/{}", u.id), "type": "GET"}],
    });
    if with_status {
        v["status"] = json!(u.status);
    }
    v
}

async fn list_users(State(s): State<Arc<Shared>>, headers: HeaderMap) -> Response {
    if let Err(r) = admit(&s, &headers, "GET /acl/users".into(), "/v1/acl/users", false) {
        return r;
    }
    let a = s.account.lock().expect("twin state");
    let users: Vec<Value> = a.users.values().map(|u| user_json(u, false)).collect();
    Json(json!({
        "accountId": a.account_id,
        "users": users,
        "links": [{"rel": "self", "href": "https://api.redislabs.com/v1/acl/users", "type": "GET"}],
    }))
    .into_response()
}

async fn get_user(State(s): State<Arc<Shared>>, headers: HeaderMap, Path(id): Path<i64>) -> Response {
    let path = format!("/v1/acl/users/{id}");
    if let Err(r) = admit(&s, &headers, format!("GET /acl/users/{id}"), &path, false) {
        return r;
    }
    let mut a = s.account.lock().expect("twin state");
    let Some(u) = a.users.get_mut(&id) else {
        return spring_error(StatusCode::NOT_FOUND, "Not Found", &format!("ACL user {id} not found"), &path);
    };
    if u.pending_polls_left > 0 {
        u.pending_polls_left -= 1;
        if u.pending_polls_left == 0 {
            u.status = "active";
        }
    }
    Json(user_json(u, true)).into_response()
}

fn task_json(t: &Task) -> Value {
    let description = match t.status {
        "received" => "Task request received and is being queued for processing.",
        "processing-in-progress" => "Task request is being processed.",
        "processing-completed" => "Request processing completed successfully and its resources are now being provisioned / de-provisioned.",
        _ => "Task request failed during processing. See error information for failure details.",
    };
    let mut v = json!({
        "taskId": t.id,
        "commandType": t.command_type,
        "status": t.status,
        "description": description,
        "timestamp": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
        "links": [{"rel": "task", "href": format!("https://api.redislabs.com/v1/tasks/{}", t.id), "title": "getTaskStatusUpdates", "type": "GET"}],
    });
    match t.status {
        "processing-completed" => v["response"] = json!({ "resourceId": t.user }),
        "processing-error" => v["response"] = json!({ "error": t.error.clone().unwrap_or(Value::Null) }),
        _ => {}
    }
    v
}

/// Redis Cloud's password rule as its error `cluster-user-password-wrong-pattern` implies:
/// upper and lower case letters, a digit and a special character, 8 characters at least.
fn password_acceptable(p: &str) -> bool {
    p.len() >= 8
        && p.chars().any(|c| c.is_ascii_uppercase())
        && p.chars().any(|c| c.is_ascii_lowercase())
        && p.chars().any(|c| c.is_ascii_digit())
        && p.chars().any(|c| !c.is_ascii_alphanumeric())
}

async fn update_user(State(s): State<Arc<Shared>>, headers: HeaderMap, Path(id): Path<i64>, Json(body): Json<Value>) -> Response {
    let path = format!("/v1/acl/users/{id}");
    if let Err(r) = admit(&s, &headers, format!("PUT /acl/users/{id}"), &path, true) {
        return r;
    }
    let mut a = s.account.lock().expect("twin state");
    let password = body.get("password").and_then(Value::as_str).map(SecretValue::new);
    let mut error = a.faults.next_task_error.take();
    if !a.users.contains_key(&id) {
        error = Some(json!({"type": "ACL_USER_NOT_FOUND", "status": "404 NOT_FOUND", "description": "ACL user not found"}));
    } else if password.as_ref().is_some_and(|p| !password_acceptable(p.expose())) {
        error = Some(json!({"type": "ACL_USER_PASSWORD_NOT_VALID", "status": "400 BAD_REQUEST", "description": "ACL user password is not valid."}));
    }
    let task = Task {
        id: uuid::Uuid::new_v4().to_string(),
        command_type: "aclUserUpdateRequest",
        user: id,
        password,
        not_found_left: a.faults.task_404s,
        running_polls_left: a.faults.running_polls,
        error,
        status: "received",
    };
    let reply = task_json(&task);
    a.tasks.insert(task.id.clone(), task);
    (StatusCode::OK, Json(reply)).into_response()
}

/// Each poll moves a task one step: (404s) → received → in progress (n polls) → completed
/// (the password is applied to Redis at that moment) or error.
async fn get_task(State(s): State<Arc<Shared>>, headers: HeaderMap, Path(id): Path<String>) -> Response {
    let path = format!("/v1/tasks/{id}");
    if let Err(r) = admit(&s, &headers, format!("GET /tasks/{id}"), &path, false) {
        return r;
    }
    let apply = {
        let mut guard = s.account.lock().expect("twin state");
        let a = &mut *guard;
        let Some(t) = a.tasks.get_mut(&id) else {
            return spring_error(StatusCode::NOT_FOUND, "Not Found", &format!("Task {id} not found"), &path);
        };
        if t.not_found_left > 0 {
            t.not_found_left -= 1;
            return spring_error(StatusCode::NOT_FOUND, "Not Found", &format!("Task {id} not found"), &path);
        }
        let mut apply = None;
        match t.status {
            "received" | "processing-in-progress" if t.running_polls_left > 0 => {
                t.running_polls_left -= 1;
                t.status = "processing-in-progress";
            }
            "received" | "processing-in-progress" if t.error.is_some() => t.status = "processing-error",
            "received" | "processing-in-progress" => {
                t.status = "processing-completed";
                if let (Some(p), Some(u)) = (t.password.clone(), a.users.get_mut(&t.user)) {
                    if a.faults.user_pending_polls > 0 {
                        u.status = "pending";
                        u.pending_polls_left = a.faults.user_pending_polls;
                    }
                    apply = Some((u.name.clone(), p));
                }
            }
            _ => {}
        }
        apply.map(|(name, p)| (name, p, task_json(t))).ok_or_else(|| task_json(t))
    };
    match apply {
        Err(reply) => Json(reply).into_response(),
        Ok((name, password, reply)) => match s.redis.set_user_passwords(&name, &[password]).await {
            Ok(()) => Json(reply).into_response(),
            Err(e) => spring_error(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error", &format!("twin: {e}"), &path),
        },
    }
}

async fn get_database(State(s): State<Arc<Shared>>, headers: HeaderMap, Path((sub, db)): Path<(i64, i64)>) -> Response {
    let path = format!("/v1/subscriptions/{sub}/databases/{db}");
    if let Err(r) = admit(&s, &headers, format!("GET /subscriptions/{sub}/databases/{db}"), &path, false) {
        return r;
    }
    let a = s.account.lock().expect("twin state");
    if sub != a.subscription_id || db != a.database_id {
        return spring_error(StatusCode::NOT_FOUND, "Not Found", &format!("Database {db} not found"), &path);
    }
    Json(json!({
        "databaseId": db,
        "name": "app-db",
        "protocol": "redis",
        "status": "active",
        "publicEndpoint": format!("127.0.0.1:{}", s.host_port),
        "security": { "enableDefaultUser": a.enable_default_user, "sslClientAuthentication": false },
        "links": [{"rel": "self", "href": format!("https://api.redislabs.com/v1/subscriptions/{sub}/databases/{db}"), "type": "GET"}],
    }))
    .into_response()
}
