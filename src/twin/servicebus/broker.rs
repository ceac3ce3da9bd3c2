//! The Service Bus twin's broker: queues, topics with filtered subscriptions, peek-lock with
//! lock expiry, duplicate detection by MessageId, max delivery count → dead-letter queue,
//! scheduled enqueue and time-to-live. Pure: every operation takes `now`, so the rules can be
//! tested without a clock and the HTTP layer is a thin translation.

use super::filter::Filter;
use chrono::{DateTime, Duration, Utc};
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};

/// Per-entity settings (Service Bus defaults).
#[derive(Debug, Clone)]
pub struct EntitySettings {
    pub lock_duration: Duration,
    pub max_delivery_count: u32,
    pub duplicate_detection_window: Duration,
    pub default_time_to_live: Duration,
}

impl Default for EntitySettings {
    fn default() -> Self {
        EntitySettings {
            lock_duration: Duration::seconds(60),
            max_delivery_count: 10,
            duplicate_detection_window: Duration::minutes(10),
            default_time_to_live: Duration::days(14),
        }
    }
}

/// A message as sent.
#[derive(Debug, Clone, Default)]
pub struct Incoming {
    pub message_id: Option<String>,
    pub correlation_id: Option<String>,
    pub label: Option<String>,
    pub content_type: Option<String>,
    pub body: Vec<u8>,
    pub properties: BTreeMap<String, Value>,
    pub scheduled_at: Option<DateTime<Utc>>,
    pub time_to_live_secs: Option<f64>,
}

/// A stored message, as the twin's programmatic API shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    pub sequence_number: i64,
    pub message_id: String,
    pub correlation_id: Option<String>,
    pub label: Option<String>,
    pub content_type: Option<String>,
    pub body: Vec<u8>,
    pub properties: BTreeMap<String, Value>,
    pub enqueued_at: DateTime<Utc>,
    pub scheduled_at: Option<DateTime<Utc>>,
    pub expires_at: DateTime<Utc>,
    pub delivery_count: u32,
    pub dead_letter_reason: Option<String>,
}

impl Message {
    pub fn body_text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn time_to_live_secs(&self) -> f64 {
        (self.expires_at - self.enqueued_at).num_milliseconds() as f64 / 1000.0
    }
}

/// A peek-lock: the message and its lock.
#[derive(Debug, Clone)]
pub struct Locked {
    pub message: Message,
    pub lock_token: String,
    pub locked_until: DateTime<Utc>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Settle {
    Complete,
    Abandon,
    RenewLock,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendOutcome {
    Accepted,
    /// Same MessageId within the window: reported as sent, silently dropped.
    Duplicate,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BrokerError {
    #[error("entity {0} does not exist")]
    NoEntity(String),
    #[error("no message {0} with that lock token (the lock expired or was released)")]
    LockLost(String),
    #[error("{0}")]
    BadRequest(String),
}

#[derive(Debug, Clone)]
struct Held {
    message: Message,
    lock: Option<(String, DateTime<Utc>)>,
}

#[derive(Debug, Default)]
struct Store {
    held: Vec<Held>,
    dead: Vec<Message>,
}

#[derive(Debug)]
struct Subscription {
    filter: Filter,
    store: Store,
}

#[derive(Debug)]
enum Kind {
    Queue(Store),
    Topic(BTreeMap<String, Subscription>),
}

#[derive(Debug)]
struct Entity {
    settings: EntitySettings,
    seen: HashMap<String, DateTime<Utc>>,
    kind: Kind,
}

/// All entities of one namespace. Names are case-insensitive, as in Service Bus.
#[derive(Debug, Default)]
pub struct Broker {
    entities: BTreeMap<String, Entity>,
    next_sequence: i64,
}

fn key(name: &str) -> String {
    name.to_ascii_lowercase()
}

impl Broker {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn create_queue(&mut self, name: &str, settings: EntitySettings) {
        self.entities.insert(key(name), Entity { settings, seen: HashMap::new(), kind: Kind::Queue(Store::default()) });
    }

    pub fn create_topic(&mut self, name: &str, settings: EntitySettings) {
        self.entities.insert(key(name), Entity { settings, seen: HashMap::new(), kind: Kind::Topic(BTreeMap::new()) });
    }

    /// `sql` is a SQL filter such as `consumer = 'orders-api'` (`1=1` takes everything).
    pub fn create_subscription(&mut self, topic: &str, name: &str, sql: &str) -> Result<(), BrokerError> {
        let filter = Filter::parse(sql).map_err(BrokerError::BadRequest)?;
        match self.entities.get_mut(&key(topic)).map(|e| &mut e.kind) {
            Some(Kind::Topic(subs)) => {
                subs.insert(key(name), Subscription { filter, store: Store::default() });
                Ok(())
            }
            _ => Err(BrokerError::NoEntity(topic.to_string())),
        }
    }

    /// Sends to a queue or topic.
    pub fn send(&mut self, entity: &str, incoming: Incoming, now: DateTime<Utc>) -> Result<SendOutcome, BrokerError> {
        let sequence_number = self.next_sequence + 1;
        let entity_ref = self.entities.get_mut(&key(entity)).ok_or_else(|| BrokerError::NoEntity(entity.to_string()))?;
        let window = entity_ref.settings.duplicate_detection_window;
        entity_ref.seen.retain(|_, at| *at + window > now);
        let message_id = incoming.message_id.clone().unwrap_or_else(|| uuid::Uuid::new_v4().simple().to_string());
        if entity_ref.seen.contains_key(&message_id) {
            return Ok(SendOutcome::Duplicate);
        }
        entity_ref.seen.insert(message_id.clone(), now);
        self.next_sequence = sequence_number;
        let ttl = incoming
            .time_to_live_secs
            .map(|s| Duration::milliseconds((s * 1000.0) as i64))
            .unwrap_or(entity_ref.settings.default_time_to_live)
            .min(entity_ref.settings.default_time_to_live);
        let message = Message {
            sequence_number,
            message_id,
            correlation_id: incoming.correlation_id,
            label: incoming.label,
            content_type: incoming.content_type,
            body: incoming.body,
            properties: incoming.properties,
            enqueued_at: now,
            scheduled_at: incoming.scheduled_at,
            expires_at: incoming.scheduled_at.unwrap_or(now).max(now) + ttl,
            delivery_count: 0,
            dead_letter_reason: None,
        };
        match &mut entity_ref.kind {
            Kind::Queue(store) => store.held.push(Held { message, lock: None }),
            Kind::Topic(subs) => {
                for sub in subs.values_mut().filter(|s| s.filter.matches(&message.properties)) {
                    sub.store.held.push(Held { message: message.clone(), lock: None });
                }
            }
        }
        Ok(SendOutcome::Accepted)
    }

    /// `path` is `queue` or `topic/subscriptions/sub`.
    fn store(&mut self, path: &str) -> Result<(&mut Store, EntitySettings), BrokerError> {
        let missing = || BrokerError::NoEntity(path.to_string());
        let mut parts = path.split('/');
        let entity = self.entities.get_mut(&key(parts.next().unwrap_or_default())).ok_or_else(missing)?;
        let settings = entity.settings.clone();
        match (&mut entity.kind, parts.next(), parts.next(), parts.next()) {
            (Kind::Queue(store), None, None, None) => Ok((store, settings)),
            (Kind::Topic(subs), Some(s), Some(name), None) if s.eq_ignore_ascii_case("subscriptions") => {
                subs.get_mut(&key(name)).map(|sub| (&mut sub.store, settings)).ok_or_else(missing)
            }
            _ => Err(missing()),
        }
    }

    /// Locks the next available message (peek-lock), or None if there is none now.
    pub fn lock_next(&mut self, path: &str, now: DateTime<Utc>) -> Result<Option<Locked>, BrokerError> {
        let (store, settings) = self.store(path)?;
        store.expire(now);
        loop {
            let Some(i) = store.next_available(now) else { return Ok(None) };
            if store.held[i].message.delivery_count >= settings.max_delivery_count {
                store.dead_letter(i, "MaxDeliveryCountExceeded");
                continue;
            }
            let held = &mut store.held[i];
            held.message.delivery_count += 1;
            let token = uuid::Uuid::new_v4().to_string();
            let until = now + settings.lock_duration;
            held.lock = Some((token.clone(), until));
            return Ok(Some(Locked { message: held.message.clone(), lock_token: token, locked_until: until }));
        }
    }

    /// Destructive read.
    pub fn receive_and_delete(&mut self, path: &str, now: DateTime<Utc>) -> Result<Option<Message>, BrokerError> {
        let (store, _) = self.store(path)?;
        store.expire(now);
        Ok(store.next_available(now).map(|i| {
            let mut m = store.held.remove(i).message;
            m.delivery_count += 1;
            m
        }))
    }

    /// Completes, abandons or renews the lock of the message `id` (sequence number or
    /// MessageId). Returns the new lock expiry for a renewal.
    pub fn settle(
        &mut self,
        path: &str,
        id: &str,
        lock_token: &str,
        action: Settle,
        now: DateTime<Utc>,
    ) -> Result<Option<DateTime<Utc>>, BrokerError> {
        let (store, settings) = self.store(path)?;
        let seq: Option<i64> = id.parse().ok();
        let index = store
            .held
            .iter()
            .position(|h| {
                (Some(h.message.sequence_number) == seq || h.message.message_id == id)
                    && h.lock.as_ref().is_some_and(|(t, until)| t.eq_ignore_ascii_case(lock_token) && *until > now)
            })
            .ok_or_else(|| BrokerError::LockLost(id.to_string()))?;
        match action {
            Settle::Complete => {
                store.held.remove(index);
                Ok(None)
            }
            Settle::Abandon => {
                store.held[index].lock = None;
                if store.held[index].message.delivery_count >= settings.max_delivery_count {
                    store.dead_letter(index, "MaxDeliveryCountExceeded");
                }
                Ok(None)
            }
            Settle::RenewLock => {
                let until = now + settings.lock_duration;
                store.held[index].lock = Some((lock_token.to_string(), until));
                Ok(Some(until))
            }
        }
    }

    /// Active and scheduled messages, in order, without locking them.
    pub fn peek(&mut self, path: &str) -> Result<Vec<Message>, BrokerError> {
        Ok(self.store(path)?.0.held.iter().map(|h| h.message.clone()).collect())
    }

    /// The dead-letter queue of a queue or subscription.
    pub fn dead_letters(&mut self, path: &str) -> Result<Vec<Message>, BrokerError> {
        Ok(self.store(path)?.0.dead.clone())
    }
}

impl Store {
    /// Expired messages that nobody holds a lock on are dropped (dead-lettering on expiry is
    /// off by default in Service Bus).
    fn expire(&mut self, now: DateTime<Utc>) {
        self.held.retain(|h| h.message.expires_at > now || h.lock.as_ref().is_some_and(|(_, until)| *until > now));
    }

    fn next_available(&self, now: DateTime<Utc>) -> Option<usize> {
        self.held.iter().position(|h| {
            h.message.scheduled_at.is_none_or(|at| at <= now) && h.lock.as_ref().is_none_or(|(_, until)| *until <= now)
        })
    }

    fn dead_letter(&mut self, index: usize, reason: &str) {
        let mut message = self.held.remove(index).message;
        message.dead_letter_reason = Some(reason.to_string());
        self.dead.push(message);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(id: &str, consumer: &str) -> Incoming {
        Incoming {
            message_id: Some(id.into()),
            body: b"{}".to_vec(),
            properties: BTreeMap::from([("consumer".to_string(), Value::String(consumer.into()))]),
            ..Incoming::default()
        }
    }

    #[test]
    fn topic_routes_by_filter_and_drops_duplicates() {
        let now = Utc::now();
        let mut b = Broker::new();
        b.create_topic("steps", EntitySettings::default());
        b.create_subscription("steps", "a", "consumer = 'a'").unwrap();
        b.create_subscription("steps", "b", "consumer = 'b'").unwrap();
        assert_eq!(b.send("steps", msg("r/a/1", "a"), now).unwrap(), SendOutcome::Accepted);
        assert_eq!(b.send("steps", msg("r/a/1", "a"), now).unwrap(), SendOutcome::Duplicate);
        assert_eq!(b.peek("steps/subscriptions/a").unwrap().len(), 1);
        assert!(b.peek("steps/subscriptions/b").unwrap().is_empty());
        // Outside the window the same id is a new message.
        let later = now + Duration::minutes(11);
        assert_eq!(b.send("steps", msg("r/a/1", "a"), later).unwrap(), SendOutcome::Accepted);
        assert!(matches!(b.send("nope", msg("x", "a"), now), Err(BrokerError::NoEntity(_))));
    }

    #[test]
    fn lock_expiry_redelivers_and_max_delivery_dead_letters() {
        let mut now = Utc::now();
        let mut b = Broker::new();
        b.create_queue("q", EntitySettings { max_delivery_count: 2, ..EntitySettings::default() });
        b.send("q", msg("m1", "a"), now).unwrap();
        let first = b.lock_next("q", now).unwrap().unwrap();
        assert_eq!(first.message.delivery_count, 1);
        assert!(b.lock_next("q", now).unwrap().is_none(), "locked");
        now += Duration::seconds(61);
        assert!(matches!(
            b.settle("q", "1", &first.lock_token, Settle::Complete, now),
            Err(BrokerError::LockLost(_))
        ));
        let second = b.lock_next("q", now).unwrap().unwrap();
        assert_eq!(second.message.delivery_count, 2);
        b.settle("q", "m1", &second.lock_token, Settle::Abandon, now).unwrap();
        assert!(b.lock_next("q", now).unwrap().is_none());
        let dead = b.dead_letters("q").unwrap();
        assert_eq!(dead.len(), 1);
        assert_eq!(dead[0].dead_letter_reason.as_deref(), Some("MaxDeliveryCountExceeded"));
    }

    #[test]
    fn scheduled_and_expired_messages() {
        let now = Utc::now();
        let mut b = Broker::new();
        b.create_queue("q", EntitySettings::default());
        let mut later = msg("s", "a");
        later.scheduled_at = Some(now + Duration::seconds(30));
        b.send("q", later, now).unwrap();
        let mut short = msg("t", "a");
        short.time_to_live_secs = Some(5.0);
        b.send("q", short, now).unwrap();
        assert!(b.lock_next("q", now + Duration::seconds(10)).unwrap().is_none(), "t expired, s not due");
        let got = b.lock_next("q", now + Duration::seconds(31)).unwrap().unwrap();
        assert_eq!(got.message.message_id, "s");
        let renewed = b.settle("q", "s", &got.lock_token, Settle::RenewLock, now + Duration::seconds(40)).unwrap();
        assert_eq!(renewed, Some(now + Duration::seconds(100)));
        b.settle("q", "s", &got.lock_token, Settle::Complete, now + Duration::seconds(41)).unwrap();
        assert!(b.peek("q").unwrap().is_empty());
    }
}
