//! The production Service Bus adapters (azure_messaging_servicebus 0.21 on our transport)
//! against the Service Bus twin, reached by name resolution and the twin's CA; plus checks
//! that the fixtures' shapes are what the client and the twin read and write.

mod support;

use chrono::{Duration as ChronoDuration, Utc};
use keyrelay::adapters::azure::servicebus::sender::{command_message, step_message, CONSUMER_PROPERTY};
use keyrelay::adapters::azure::servicebus::{
    ReceivedProperties, ServiceBusAuth, ServiceBusCommandQueue, ServiceBusNamespace, ServiceBusReceiver, ServiceBusStepBus,
};
use keyrelay::domain::{ConsumerId, CredentialName, Nonce, RotationId, SecretId, SecretValue, Slot};
use keyrelay::ports::{BusError, CommandQueue, QueuedCommand, StepBus};
use keyrelay::protocol::{Step, STEP_SCHEMA};
use keyrelay::twin::servicebus::broker::{EntitySettings, Settle};
use keyrelay::twin::servicebus::ServiceBusTwin;
use std::collections::BTreeMap;
use std::time::Duration;

const TOPIC: &str = "reload-steps";
const QUEUE: &str = "rotation-commands";

fn fixture(name: &str) -> String {
    support::twin::fixture(&format!("servicebus-dataplane/{name}"))
}

struct Bus {
    twin: ServiceBusTwin,
    namespace: ServiceBusNamespace,
}

/// A twin namespace with the steps topic (one subscription per consumer, filtered on the
/// `consumer` property) and the commands queue, and an Entra-authorized client for it.
async fn start(settings: EntitySettings) -> Bus {
    let shared = support::twin::shared();
    let keys = BTreeMap::from([("RootManageSharedAccessKey".to_string(), "twin-sas-key-1".to_string())]);
    let twin = ServiceBusTwin::start(&shared.ca, "contoso-rotation", keys).await.unwrap();
    twin.create_topic(TOPIC, settings.clone());
    for consumer in ["orders-api", "billing-worker"] {
        twin.create_subscription(TOPIC, consumer, &format!("{CONSUMER_PROPERTY} = '{consumer}'")).unwrap();
    }
    twin.create_queue(QUEUE, settings);
    let namespace = client(&twin, ServiceBusAuth::Entra(shared.credential()));
    Bus { twin, namespace }
}

fn client(twin: &ServiceBusTwin, auth: ServiceBusAuth) -> ServiceBusNamespace {
    let options = support::twin::shared().http_options(&[twin.resolve()]);
    ServiceBusNamespace::new(&twin.host(), auth, &options).unwrap()
}

fn step(consumer: &str, attempt: u32) -> Step {
    Step {
        schema: STEP_SCHEMA.into(),
        rotation_id: RotationId::parse("rot-20250601-redis-primary-key").unwrap(),
        credential: CredentialName::parse("redis-primary-key").unwrap(),
        consumer: ConsumerId::parse(consumer).unwrap(),
        secret_id: SecretId::parse("https://sample-kv.vault.azure.net/secrets/redis-primary-key/4d1f0e2c9b8a47f6a5e4d3c2b1a09f8e").unwrap(),
        slot: Slot::Secondary,
        attempt,
        deadline: Utc::now() + ChronoDuration::minutes(15),
        nonce: Nonce::parse("0a1b2c3d").unwrap(),
    }
}

fn receiver(bus: &Bus, consumer: &str) -> ServiceBusReceiver {
    ServiceBusReceiver::subscription(&bus.namespace, TOPIC, consumer).unwrap()
}

const SHORT: Duration = Duration::from_secs(1);

#[tokio::test]
async fn steps_reach_only_their_consumer_once_with_broker_properties() {
    let bus = start(EntitySettings::default()).await;
    let steps = ServiceBusStepBus::new(&bus.namespace, TOPIC).unwrap();
    let orders = step("orders-api", 1);
    steps.send_step(&orders).await.unwrap();
    steps.send_step(&orders).await.unwrap(); // a repeated send: duplicate detection drops it
    steps.send_step(&step("billing-worker", 1)).await.unwrap();

    let rx = receiver(&bus, "orders-api");
    let got = rx.receive(SHORT).await.unwrap().expect("a step for orders-api");
    assert_eq!(Step::from_json(got.body.as_bytes()).unwrap(), orders);
    assert_eq!(got.properties.message_id, orders.message_id());
    assert_eq!(got.properties.correlation_id.as_deref(), Some("rot-20250601-redis-primary-key"));
    assert_eq!(got.properties.delivery_count, 1);
    assert_eq!(got.user_properties.get(CONSUMER_PROPERTY).map(String::as_str), Some("orders-api"));
    let ttl = got.properties.time_to_live.unwrap();
    assert!(ttl > 15.0 * 60.0 - 5.0 && ttl <= 75.0 * 60.0, "TTL covers the deadline: {ttl}");
    got.complete().await.unwrap();
    assert!(rx.receive(SHORT).await.unwrap().is_none(), "the duplicate was dropped, the original completed");

    let billing = receiver(&bus, "billing-worker").receive(SHORT).await.unwrap().expect("billing step");
    assert_eq!(billing.user_properties.get(CONSUMER_PROPERTY).map(String::as_str), Some("billing-worker"));
    billing.complete().await.unwrap();
    // The twin agrees: nothing left anywhere.
    assert!(bus.twin.peek("reload-steps/subscriptions/orders-api").unwrap().is_empty());
    assert!(bus.twin.peek("reload-steps/subscriptions/billing-worker").unwrap().is_empty());
}

#[tokio::test]
async fn abandon_renew_and_max_delivery_count_dead_letters() {
    let bus = start(EntitySettings { max_delivery_count: 2, ..EntitySettings::default() }).await;
    ServiceBusStepBus::new(&bus.namespace, TOPIC).unwrap().send_step(&step("orders-api", 3)).await.unwrap();
    let rx = receiver(&bus, "orders-api");

    let first = rx.receive(SHORT).await.unwrap().unwrap();
    first.renew_lock().await.unwrap();
    first.abandon().await.unwrap();
    let second = rx.receive(SHORT).await.unwrap().expect("redelivered after abandon");
    assert_eq!(second.properties.delivery_count, 2);
    assert!(first.complete().await.is_err(), "the first lock is gone");
    second.abandon().await.unwrap();
    assert!(rx.receive(SHORT).await.unwrap().is_none(), "max delivery count reached");
    let dead = bus.twin.dead_letters("reload-steps/subscriptions/orders-api").unwrap();
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].message_id, "rot-20250601-redis-primary-key/orders-api/3");
    assert_eq!(dead[0].dead_letter_reason.as_deref(), Some("MaxDeliveryCountExceeded"));
}

#[tokio::test]
async fn an_expired_lock_redelivers_and_cannot_complete() {
    let bus = start(EntitySettings { lock_duration: ChronoDuration::milliseconds(300), ..EntitySettings::default() }).await;
    ServiceBusStepBus::new(&bus.namespace, TOPIC).unwrap().send_step(&step("orders-api", 1)).await.unwrap();
    let rx = receiver(&bus, "orders-api");
    let first = rx.receive(SHORT).await.unwrap().unwrap();
    tokio::time::sleep(Duration::from_millis(400)).await;
    let err = first.complete().await.unwrap_err();
    assert!(matches!(err, BusError::Failed { transient: false, .. }), "{err:?}");
    let again = rx.receive(SHORT).await.unwrap().expect("redelivered after the lock expired");
    assert_eq!(again.properties.delivery_count, 2);
    again.complete().await.unwrap();
}

#[tokio::test]
async fn commands_are_scheduled_and_deduplicated() {
    let bus = start(EntitySettings::default()).await;
    let queue = ServiceBusCommandQueue::new(&bus.namespace, QUEUE).unwrap();
    let wake = QueuedCommand {
        message_id: "wake:rot-1:1748757612".into(),
        body: serde_json::json!({"schema": "keyrelay.command/v1", "kind": "wake", "rotation": "rot-1"}),
        not_before: Some(Utc::now() + ChronoDuration::seconds(2)),
        correlation_id: Some("rot-1".into()),
        properties: BTreeMap::from([("kind".to_string(), "wake".to_string())]),
    };
    queue.enqueue(&wake).await.unwrap();
    queue.enqueue(&wake).await.unwrap();
    let rx = ServiceBusReceiver::queue(&bus.namespace, QUEUE).unwrap();
    assert!(rx.receive(SHORT).await.unwrap().is_none(), "not before its time");
    let waiting = bus.twin.peek(QUEUE).unwrap();
    assert_eq!(waiting.len(), 1, "the duplicate was dropped");
    assert!(waiting[0].scheduled_at.is_some());
    let got = rx.receive(Duration::from_secs(4)).await.unwrap().expect("delivered when due");
    assert_eq!(serde_json::from_str::<serde_json::Value>(&got.body).unwrap(), wake.body);
    assert_eq!(got.properties.correlation_id.as_deref(), Some("rot-1"));
    assert_eq!(got.user_properties.get("kind").map(String::as_str), Some("wake"));
    got.complete().await.unwrap();
}

#[tokio::test]
async fn authorization_entra_audience_and_shared_access_keys() {
    let bus = start(EntitySettings::default()).await;
    let shared = support::twin::shared();
    let wrong = client(&bus.twin, ServiceBusAuth::Entra(shared.credential_for("https://vault.azure.net/.default")));
    let err = ServiceBusStepBus::new(&wrong, TOPIC).unwrap().send_step(&step("orders-api", 1)).await.unwrap_err();
    let BusError::Failed { detail, transient } = err;
    assert!(!transient && detail.contains("401"), "{detail}");

    // SAS (say, a key kept in Key Vault) is signed the way Service Bus checks it.
    let sas = |key: &str| ServiceBusAuth::SharedAccessKey { key_name: "RootManageSharedAccessKey".into(), key: SecretValue::new(key) };
    let good = client(&bus.twin, sas("twin-sas-key-1"));
    ServiceBusStepBus::new(&good, TOPIC).unwrap().send_step(&step("orders-api", 1)).await.unwrap();
    let got = ServiceBusReceiver::subscription(&good, TOPIC, "orders-api").unwrap().receive(SHORT).await.unwrap().unwrap();
    got.complete().await.unwrap();
    let bad = client(&bus.twin, sas("not-the-key"));
    assert!(ServiceBusStepBus::new(&bad, TOPIC).unwrap().send_step(&step("orders-api", 2)).await.is_err());
    assert!(format!("{:?}", sas("twin-sas-key-1")).contains("RootManageSharedAccessKey"));
    assert!(!format!("{:?}", sas("twin-sas-key-1")).contains("twin-sas-key-1"), "the key never prints");
}

#[tokio::test]
async fn a_missing_entity_is_a_permanent_error() {
    let bus = start(EntitySettings::default()).await;
    let err = ServiceBusStepBus::new(&bus.namespace, "no-such-topic").unwrap().send_step(&step("orders-api", 1)).await.unwrap_err();
    assert!(matches!(err, BusError::Failed { transient: false, ref detail } if detail.contains("410")), "{err:?}");
}

#[test]
fn fixture_broker_properties_parse_in_both_clients() {
    let raw = fixture("peek-lock.response.BrokerProperties.doc.json");
    let ours: ReceivedProperties = serde_json::from_str(&raw).unwrap();
    assert_eq!(ours.message_id, "31907572164743c38741631acd554d6f");
    assert_eq!(ours.sequence_number, 2);
    assert_eq!(ours.lock_token.as_deref(), Some("7da9cfd5-40d5-4bb1-8d64-ec5a52e1c547"));
    let crate_view: azure_messaging_servicebus::service_bus::BrokerProperties = raw.parse().unwrap();
    assert_eq!(crate_view.delivery_count, 1);
    assert_eq!(crate_view.time_to_live, 10.0);
}

#[test]
fn step_and_command_headers_match_the_assembled_fixture() {
    // send-reload-command.entra.ASSEMBLED.http: BrokerProperties with MessageId, CorrelationId
    // and TimeToLive in seconds; string properties double-quoted.
    let http = fixture("send-reload-command.entra.ASSEMBLED.http");
    let fixture_props: serde_json::Value =
        serde_json::from_str(http.lines().find_map(|l| l.strip_prefix("BrokerProperties: ")).unwrap()).unwrap();
    assert!(http.lines().any(|l| l == "consumer: \"orders-api\""));

    let s = step("orders-api", 1);
    let options = step_message(&s, Utc::now());
    let ours = serde_json::to_value(options.broker_properties.as_ref().unwrap()).unwrap();
    for field in ["MessageId", "CorrelationId", "TimeToLive"] {
        assert!(fixture_props.get(field).is_some() && ours.get(field).is_some(), "{field}");
    }
    assert!(ours["TimeToLive"].is_number());
    assert_eq!(ours["MessageId"], "rot-20250601-redis-primary-key/orders-api/1");
    assert_eq!(options.custom_properties.as_ref().unwrap()[CONSUMER_PROPERTY], "\"orders-api\"");

    let command = QueuedCommand {
        message_id: "rotate:sample-kv:redis-primary-key:4d1f".into(),
        body: serde_json::json!({}),
        not_before: Some(chrono::DateTime::parse_from_rfc3339("1994-11-06T08:49:37Z").unwrap().to_utc()),
        correlation_id: None,
        properties: BTreeMap::new(),
    };
    let props = serde_json::to_value(command_message(&command).broker_properties.unwrap()).unwrap();
    let scheduled = props["ScheduledEnqueueTimeUtc"].as_str().unwrap();
    assert_eq!(chrono::DateTime::parse_from_rfc2822(scheduled).unwrap().timestamp(), 784111777, "{scheduled}");
}

/// The documented REST exchanges, replayed with a plain HTTPS client (bearer instead of the
/// docs' SAS): the twin answers with the documented status codes and headers.
#[tokio::test]
async fn the_twin_answers_the_documented_exchanges() {
    let bus = start(EntitySettings::default()).await;
    bus.twin.create_queue("HttpClientSampleQueue", EntitySettings::default());
    let shared = support::twin::shared();
    let http = shared.http_options(&[bus.twin.resolve()]).client().unwrap();
    let bearer = shared.bearer("https://servicebus.azure.net/.default").await;
    let base = format!("https://{}/HttpClientSampleQueue", bus.twin.host());

    let send = fixture("send-message.doc-example.http");
    let mut request = http.post(format!("{base}/messages?timeout=60")).header("authorization", &bearer);
    for line in send.lines().skip(1).take_while(|l| !l.is_empty()) {
        let (name, value) = line.split_once(": ").unwrap();
        if !["Authorization", "Host", "Content-Length", "Expect"].contains(&name) {
            request = request.header(name, value);
        }
    }
    let sent = request.body("This is a message.").send().await.unwrap();
    assert_eq!(sent.status().as_u16(), 201);

    let batch = fixture("send-message-batch.body.normalized.json");
    let sent = http
        .post(format!("{base}/messages"))
        .header("authorization", &bearer)
        .header("content-type", "application/vnd.microsoft.servicebus.json")
        .body(batch)
        .send()
        .await
        .unwrap();
    assert_eq!(sent.status().as_u16(), 201);
    let waiting = bus.twin.peek("httpclientsamplequeue").unwrap();
    assert_eq!(waiting.len(), 4);
    assert_eq!(waiting[0].properties["priority"], "High", "header names arrive lower-cased");
    assert_eq!(waiting[1].time_to_live_secs(), 40.0);
    assert_eq!(waiting[3].properties["Customer"], "ABC");

    let locked = http.post(format!("{base}/messages/head?timeout=60")).header("authorization", &bearer).send().await.unwrap();
    assert_eq!(locked.status().as_u16(), 201);
    let location = locked.headers()["location"].to_str().unwrap().to_string();
    let props: serde_json::Value = serde_json::from_str(locked.headers()["brokerproperties"].to_str().unwrap()).unwrap();
    let documented: serde_json::Value = serde_json::from_str(&fixture("peek-lock.response.BrokerProperties.doc.json")).unwrap();
    for field in documented.as_object().unwrap().keys() {
        assert!(props.get(field).is_some(), "BrokerProperties lacks {field}: {props}");
    }
    assert_eq!(location, format!("{base}/messages/{}/{}", props["SequenceNumber"], props["LockToken"].as_str().unwrap()));
    assert_eq!(locked.headers()["priority"], "\"High\"");
    assert_eq!(locked.text().await.unwrap(), "This is a message.");

    assert_eq!(http.put(&location).header("authorization", &bearer).send().await.unwrap().status().as_u16(), 200, "abandon");
    let relocked = http.post(format!("{base}/messages/head")).header("authorization", &bearer).send().await.unwrap();
    let location = relocked.headers()["location"].to_str().unwrap().to_string();
    assert_eq!(http.post(&location).header("authorization", &bearer).send().await.unwrap().status().as_u16(), 200, "renew");
    assert_eq!(http.delete(&location).header("authorization", &bearer).send().await.unwrap().status().as_u16(), 200, "complete");
    assert_eq!(http.delete(&location).header("authorization", &bearer).send().await.unwrap().status().as_u16(), 404, "gone");

    let taken = http.delete(format!("{base}/messages/head?timeout=1")).header("authorization", &bearer).send().await.unwrap();
    assert_eq!(taken.status().as_u16(), 200, "receive and delete");
    assert!(taken.headers().contains_key("brokerproperties"));
    assert_eq!(http.post(format!("{base}/messages")).send().await.unwrap().status().as_u16(), 401);

    // The host simulator's view: lock and settle without HTTP.
    let next = bus.twin.lock_next("httpclientsamplequeue").unwrap().unwrap();
    bus.twin.settle("httpclientsamplequeue", &next, Settle::Complete).unwrap();
    assert_eq!(bus.twin.peek("httpclientsamplequeue").unwrap().len(), 1);
}
