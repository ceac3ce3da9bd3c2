//! Redis Cloud asynchronous tasks (`TaskStateUpdate`, `GET /tasks/{taskId}`).
//!
//! Every change returns a task. keyrelay does not wait for it inside one function call: the
//! provider answers `Pending` with an operation string, and the core polls it on its own
//! schedule (scheduled message / sweeper), which survives restarts. The operation string
//! carries what the next poll needs — the task id, the ACL user to watch afterwards, how many
//! `404`s were tolerated so far and the poll count for the backoff — and nothing secret.

use super::client::{CloudClient, CloudError};
use serde::Deserialize;
use serde_json::Value;

/// A task as the API returns it (both the `links` array and the `_links` object are ignored).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskStateUpdate {
    pub task_id: String,
    #[serde(default)]
    pub command_type: Option<String>,
    pub status: String,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub response: Option<ProcessorResponse>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProcessorResponse {
    #[serde(default)]
    pub resource_id: Option<i64>,
    /// The spec says a string enum; real payloads carry an object `{type, status, description}`.
    #[serde(default)]
    pub error: Option<Value>,
    #[serde(default)]
    pub additional_info: Option<String>,
}

/// Where a task stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TaskState {
    Running,
    Completed,
    Failed(String),
}

impl TaskStateUpdate {
    pub fn parse(body: &Value) -> Result<TaskStateUpdate, CloudError> {
        serde_json::from_value(body.clone()).map_err(|e| CloudError::Failed {
            detail: format!("Redis Cloud answered something that is not a task ({e})"),
            transient: false,
        })
    }

    /// `processing-completed` is success; the three waiting states are running; anything else
    /// (`processing-error`, or a status this code does not know) is a failure, as in Redis's
    /// own SDK.
    pub fn state(&self) -> TaskState {
        match self.status.as_str() {
            "initialized" | "received" | "processing-in-progress" => TaskState::Running,
            "processing-completed" => TaskState::Completed,
            "processing-error" => TaskState::Failed(self.error_text()),
            other => TaskState::Failed(format!("task {} ended in unknown status {other:?}", self.task_id)),
        }
    }

    fn error_text(&self) -> String {
        let response = self.response.as_ref();
        let error = match response.and_then(|r| r.error.as_ref()) {
            Some(Value::Object(o)) => {
                let field = |k: &str| o.get(k).and_then(Value::as_str).unwrap_or("").to_string();
                let mut s = field("type");
                if !field("status").is_empty() {
                    s.push_str(&format!(" ({})", field("status")));
                }
                if !field("description").is_empty() {
                    s.push_str(&format!(": {}", field("description")));
                }
                s
            }
            Some(Value::String(s)) => s.clone(),
            Some(other) => other.to_string(),
            None => self.description.clone().unwrap_or_else(|| "no error detail".into()),
        };
        let extra = response.and_then(|r| r.additional_info.as_deref()).map(|i| format!(" [{i}]")).unwrap_or_default();
        let command = self.command_type.as_deref().unwrap_or("task");
        format!("Redis Cloud {command} {} failed: {error}{extra}", self.task_id)
    }
}

/// A pending change: first the task, then the ACL user becoming `active` again (a completed
/// task only means "being provisioned"; the resource is usable when its status says so).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Operation {
    Task { task: String, user: i64, not_found: u32, polls: u32 },
    UserActive { user: i64, polls: u32 },
}

impl Operation {
    pub fn encode(&self) -> String {
        match self {
            Operation::Task { task, user, not_found, polls } => format!("rediscloud:task:{task}:user:{user}:404s:{not_found}:polls:{polls}"),
            Operation::UserActive { user, polls } => format!("rediscloud:user:{user}:polls:{polls}"),
        }
    }

    pub fn decode(s: &str) -> Result<Operation, String> {
        let parts: Vec<&str> = s.split(':').collect();
        let num = |v: &str| v.parse::<u32>().map_err(|_| format!("bad number in operation {s:?}"));
        let id = |v: &str| v.parse::<i64>().map_err(|_| format!("bad user id in operation {s:?}"));
        match parts.as_slice() {
            ["rediscloud", "task", task, "user", user, "404s", nf, "polls", p] => {
                Ok(Operation::Task { task: task.to_string(), user: id(user)?, not_found: num(nf)?, polls: num(p)? })
            }
            ["rediscloud", "user", user, "polls", p] => Ok(Operation::UserActive { user: id(user)?, polls: num(p)? }),
            _ => Err(format!("{s:?} is not a Redis Cloud operation keyrelay started")),
        }
    }
}

/// The outcome of one poll.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PollResult {
    Pending(Operation),
    Done,
}

/// One poll step. Tasks answer `404` for a short while after they were created: up to
/// `max_task_404s` of those are tolerated.
pub async fn poll_once(client: &CloudClient, op: &Operation) -> Result<PollResult, CloudError> {
    match op {
        Operation::Task { task, user, not_found, polls } => match client.get(&format!("/tasks/{task}")).await {
            Err(CloudError::NotFound(detail)) => {
                if *not_found >= client.options().max_task_404s {
                    return Err(CloudError::Failed {
                        detail: format!("task {task} is still unknown after {} polls: {detail}", not_found + 1),
                        transient: false,
                    });
                }
                Ok(PollResult::Pending(Operation::Task { task: task.clone(), user: *user, not_found: not_found + 1, polls: polls + 1 }))
            }
            Err(e) => Err(e),
            Ok(body) => match TaskStateUpdate::parse(&body)?.state() {
                TaskState::Running => Ok(PollResult::Pending(Operation::Task {
                    task: task.clone(),
                    user: *user,
                    not_found: *not_found,
                    polls: polls + 1,
                })),
                TaskState::Completed => Ok(PollResult::Pending(Operation::UserActive { user: *user, polls: 0 })),
                TaskState::Failed(detail) => Err(CloudError::Failed { detail, transient: false }),
            },
        },
        Operation::UserActive { user, polls } => {
            let body = client.get(&format!("/acl/users/{user}")).await?;
            match body.get("status").and_then(Value::as_str) {
                Some("active") => Ok(PollResult::Done),
                Some("pending") | None => Ok(PollResult::Pending(Operation::UserActive { user: *user, polls: polls + 1 })),
                Some(other) => Err(CloudError::Failed { detail: format!("ACL user {user} is {other:?} after the change"), transient: false }),
            }
        }
    }
}

/// How long to wait before the next poll of `op`.
pub fn next_poll_delay(client: &CloudClient, op: &Operation) -> std::time::Duration {
    let polls = match op {
        Operation::Task { polls, .. } | Operation::UserActive { polls, .. } => *polls,
    };
    client.options().task_poll.delay(polls)
}

#[cfg(test)]
mod tests {
    use super::*;

    // Payloads as captured by Redis's Go SDK tests (shared/fixtures/rediscloud), trimmed to
    // the fields that matter.
    #[test]
    fn sdk_payloads_classify() {
        let received = serde_json::json!({"taskId": "c54fbe6a-c67c-461f-b02f-7d4504fc222d", "commandType": "aclUserUpdateRequest",
            "status": "received", "description": "Task request received and is being queued for processing.",
            "timestamp": "2023-06-21T13:43:00.183997Z", "links": [{"rel": "task", "href": "https://api-cloudapi.qa.redislabs.com/v1/tasks/c54fbe6a-c67c-461f-b02f-7d4504fc222d", "type": "GET"}]});
        assert_eq!(TaskStateUpdate::parse(&received).unwrap().state(), TaskState::Running);
        let completed = serde_json::json!({"taskId": "c54fbe6a-c67c-461f-b02f-7d4504fc222d", "commandType": "aclUserUpdateRequest",
            "status": "processing-completed", "response": {"resourceId": 20000}});
        assert_eq!(TaskStateUpdate::parse(&completed).unwrap().state(), TaskState::Completed);
        let error = serde_json::json!({"taskId": "612d6943-22f3-4ba1-ae18-b906e3749b2d", "commandType": "aclUserUpdateRequest",
            "status": "processing-error", "response": {"error": {"type": "ACL_USER_PASSWORD_NOT_VALID", "status": "400 BAD_REQUEST",
            "description": "ACL user password is not valid."}, "additionalInfo": "cluster-user-password-wrong-pattern"}});
        let TaskState::Failed(msg) = TaskStateUpdate::parse(&error).unwrap().state() else { panic!() };
        assert!(msg.contains("ACL_USER_PASSWORD_NOT_VALID (400 BAD_REQUEST): ACL user password is not valid."), "{msg}");
        assert!(msg.contains("cluster-user-password-wrong-pattern"), "{msg}");
        let docs = serde_json::json!({"taskId": "f3ec0e7b-0548-46e3-82f3-1977012ec738", "commandType": "subscriptionCreateRequest",
            "status": "received", "_links": {"task": {"href": "https://api.redislabs.com/v1/tasks/f3ec0e7b-0548-46e3-82f3-1977012ec738"}}});
        assert_eq!(TaskStateUpdate::parse(&docs).unwrap().state(), TaskState::Running);
    }

    #[test]
    fn error_as_a_string_is_accepted() {
        let body = serde_json::json!({"taskId": "t1", "status": "processing-error", "response": {"error": "UNAUTHORIZED"}});
        let TaskState::Failed(msg) = TaskStateUpdate::parse(&body).unwrap().state() else { panic!() };
        assert!(msg.ends_with("failed: UNAUTHORIZED"), "{msg}");
    }

    #[test]
    fn operations_round_trip() {
        for op in [
            Operation::Task { task: "c54fbe6a-c67c-461f-b02f-7d4504fc222d".into(), user: 20000, not_found: 2, polls: 3 },
            Operation::UserActive { user: 7, polls: 1 },
        ] {
            assert_eq!(Operation::decode(&op.encode()).unwrap(), op);
        }
        assert!(Operation::decode("https://management.azure.com/x").is_err());
    }
}
