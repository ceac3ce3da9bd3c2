//! Remembering which steps were already acked, by MessageId. Service Bus delivers at least
//! once (a lost complete, a lock that expired during a slow reload, keyrelay re-sending an
//! unacked step): the copy is completed without reloading again.

use std::collections::{HashSet, VecDeque};

/// The most recent `capacity` MessageIds. A rotation sends one step per consumer per attempt,
/// so a few hundred cover far more than the duplicate-detection window.
#[derive(Debug)]
pub struct SeenSteps {
    order: VecDeque<String>,
    set: HashSet<String>,
    capacity: usize,
}

impl SeenSteps {
    pub fn new(capacity: usize) -> Self {
        SeenSteps { order: VecDeque::new(), set: HashSet::new(), capacity: capacity.max(1) }
    }

    pub fn contains(&self, message_id: &str) -> bool {
        self.set.contains(message_id)
    }

    pub fn insert(&mut self, message_id: &str) {
        if !self.set.insert(message_id.to_string()) {
            return;
        }
        self.order.push_back(message_id.to_string());
        while self.order.len() > self.capacity {
            if let Some(old) = self.order.pop_front() {
                self.set.remove(&old);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forgets_the_oldest_beyond_capacity() {
        let mut seen = SeenSteps::new(2);
        seen.insert("a");
        seen.insert("b");
        seen.insert("a");
        assert!(seen.contains("a") && seen.contains("b"));
        seen.insert("c");
        assert!(!seen.contains("a"));
        assert!(seen.contains("b") && seen.contains("c"));
    }
}
