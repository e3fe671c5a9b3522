//! The events this process wrote that it has not yet handed to the relay: the
//! relay claims their customers in one write, without reading the outbox
//! first.
//!
//! A hint only: the claim filters on the customer's version and its number of
//! pending events, which match only while the outbox holds exactly the hinted
//! entries (the outbox is always the contiguous range of versions after the
//! last published one, since changes add the next version and the relay
//! removes a prefix). A customer whose claim does not match is left to the
//! relay's scan. Bounded: when full, new customers are not hinted.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use super::OutboxEntry;

/// Customers hinted per process.
const CAPACITY: usize = 4096;

/// Per customer, the consecutive events this process wrote last, oldest first.
#[derive(Debug, Clone, Default)]
pub struct WrittenEvents(Arc<Mutex<HashMap<String, Vec<OutboxEntry>>>>);

impl WrittenEvents {
    /// Notes that `entry` was written to `customer_id`'s outbox.
    pub fn add(&self, customer_id: &str, entry: OutboxEntry) {
        let mut map = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let full = map.len() >= CAPACITY;
        match map.get_mut(customer_id) {
            Some(entries)
                if entries
                    .last()
                    .is_some_and(|e| e.version + 1 == entry.version) =>
            {
                entries.push(entry);
            }
            // An older entry this process did not write, or missed, may be
            // pending before it: the claim will not match, and the scan
            // publishes them all.
            Some(entries) => *entries = vec![entry],
            None if !full => {
                map.insert(customer_id.to_owned(), vec![entry]);
            }
            None => {}
        }
    }

    /// Takes the hints of up to `limit` customers.
    pub fn take(&self, limit: usize) -> Vec<(String, Vec<OutboxEntry>)> {
        let mut map = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let ids: Vec<String> = map.keys().take(limit).cloned().collect();
        ids.into_iter()
            .filter_map(|id| map.remove_entry(&id))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(version: i64) -> OutboxEntry {
        OutboxEntry {
            event_id: format!("e-{version}"),
            version,
            payload: String::new(),
            traceparent: None,
            key: None,
        }
    }

    fn versions(taken: &[(String, Vec<OutboxEntry>)]) -> Vec<(String, Vec<i64>)> {
        let versions = taken
            .iter()
            .map(|(id, entries)| (id.clone(), entries.iter().map(|e| e.version).collect()));
        versions.collect()
    }

    #[test]
    fn keeps_consecutive_events_and_restarts_at_a_gap() {
        let written = WrittenEvents::default();
        for version in [1, 2, 3, 5] {
            written.add("a", entry(version));
        }
        written.add("b", entry(7));
        written.add("b", entry(8));
        let mut taken = versions(&written.take(10));
        taken.sort();
        assert_eq!(
            taken,
            [("a".to_owned(), vec![5]), ("b".to_owned(), vec![7, 8])]
        );
        assert!(written.take(10).is_empty(), "taken hints are gone");
    }

    #[test]
    fn takes_at_most_the_limit_and_holds_at_most_its_capacity() {
        let written = WrittenEvents::default();
        for i in 0..CAPACITY + 10 {
            written.add(&format!("c-{i}"), entry(1));
        }
        assert_eq!(written.take(3).len(), 3);
        assert_eq!(written.take(usize::MAX).len(), CAPACITY - 3);
    }
}
