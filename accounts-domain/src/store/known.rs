//! What this process last saw of customers: a hint that saves the read before
//! a write.
//!
//! A write based on a known state filters on its version, so a stale entry (a
//! change through another instance, a write whose outcome was lost) costs a
//! read and a retry, never a wrong write. Bounded: when full, an arbitrary
//! entry makes room.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use shared_events::crypto::DataKey;

use crate::domain::{Customer, CustomerId};

/// Customers remembered per process.
const CAPACITY: usize = 4096;

/// A stored customer's state, as a write needs it.
#[derive(Debug, Clone)]
pub struct Known {
    pub id: CustomerId,
    pub version: i64,
    /// `None` once the personal data is erased.
    pub customer: Option<Customer>,
    pub deleted: bool,
    /// The data key, unwrapped; `None` once erased (or before the customer's
    /// first sealed event).
    pub key: Option<DataKey>,
}

impl Known {
    /// A customer as just written.
    pub fn written(customer: Customer, deleted: bool, key: DataKey) -> Self {
        Known {
            id: customer.id.clone(),
            version: customer.version,
            customer: Some(customer),
            deleted,
            key: Some(key),
        }
    }
}

/// The customers this process last read or wrote, shared by every clone.
#[derive(Debug, Clone, Default)]
pub struct KnownCustomers(Arc<Mutex<HashMap<String, Known>>>);

impl KnownCustomers {
    pub fn get(&self, id: &str) -> Option<Known> {
        self.lock().get(id).cloned()
    }

    pub fn remember(&self, known: Known) {
        let mut map = self.lock();
        let id = known.id.as_str();
        if map.len() >= CAPACITY
            && !map.contains_key(id)
            && let Some(evicted) = map.keys().next().cloned()
        {
            map.remove(&evicted);
        }
        map.insert(id.to_owned(), known);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Known>> {
        // Every update is one insert or remove: a panic elsewhere cannot leave
        // the map half-changed.
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{CustomerSubmission, RawCustomer};

    fn known(id: &str) -> Known {
        let mut body = crate::examples::seed_customer();
        body["id"] = id.into();
        let raw: RawCustomer = serde_json::from_value(body).expect("seed shape");
        let submission = CustomerSubmission::parse(raw).expect("valid seed");
        let key = DataKey::generate().expect("random");
        Known::written(Customer::create(submission), false, key)
    }

    #[test]
    fn holds_at_most_its_capacity_and_keeps_the_newest_entry() {
        let cache = KnownCustomers::default();
        for i in 0..CAPACITY + 10 {
            cache.remember(known(&format!("c-{i}")));
        }
        assert_eq!(cache.lock().len(), CAPACITY);
        assert!(cache.get(&format!("c-{}", CAPACITY + 9)).is_some());
    }
}
