//! The BSON shape of a customer document.

use chrono::{DateTime, Utc};
use mongodb::bson::{self, Document, doc};
use serde::{Deserialize, Serialize};
use shared_events::{Address, Contact, CustomerChangeEnvelope, Name};

use super::{Result, StoreError};
use crate::domain::{Customer, CustomerId, CustomerProfile, MaskedCard};

/// A customer as stored in MongoDB.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CustomerDocument {
    #[serde(rename = "_id")]
    pub id: String,
    pub version: i64,
    pub name: Name,
    pub contact: Contact,
    pub addresses: Vec<Address>,
    #[serde(default)]
    pub credit_cards: Vec<MaskedCard>,
    /// RFC 3339. A string rather than a BSON date: the local MongoDB-protocol
    /// server does not give BSON dates back as dates.
    pub updated_at: String,
    /// Number of events in `outbox`; indexed, so the relay finds work fast. A
    /// count rather than a flag: the local MongoDB-protocol server returns
    /// booleans as integers.
    pub pending_events: i32,
    /// Events not yet acknowledged by Kafka, in version order.
    #[serde(default)]
    pub outbox: Vec<OutboxEntry>,
}

/// One event waiting in a customer's outbox.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OutboxEntry {
    /// The CloudEvents id, stable across republishing.
    pub event_id: String,
    pub version: i64,
    /// The exact record value to publish (structured-mode CloudEvent JSON).
    pub payload: String,
}

impl From<&CustomerChangeEnvelope> for OutboxEntry {
    fn from(event: &CustomerChangeEnvelope) -> Self {
        OutboxEntry {
            event_id: event.id.to_string(),
            version: version_to_i64(event.data.version),
            payload: String::from_utf8_lossy(&event.to_json_vec()).into_owned(),
        }
    }
}

/// The value of `pendingEvents` for `outbox`.
pub fn pending_count(outbox: &[OutboxEntry]) -> i32 {
    i32::try_from(outbox.len()).unwrap_or(i32::MAX)
}

fn version_to_i64(version: u64) -> i64 {
    i64::try_from(version).unwrap_or(i64::MAX)
}

impl CustomerDocument {
    /// A document holding `customer` with `entry` as its only pending event.
    pub fn new(customer: &Customer, entry: OutboxEntry, now: DateTime<Utc>) -> Self {
        let profile = &customer.profile;
        CustomerDocument {
            id: customer.id.as_str().to_owned(),
            version: version_to_i64(customer.version),
            name: profile.name.clone(),
            contact: profile.contact.clone(),
            addresses: profile.addresses.clone(),
            credit_cards: profile.credit_cards.clone(),
            updated_at: now.to_rfc3339(),
            pending_events: 1,
            outbox: vec![entry],
        }
    }

    /// A `$set` update replacing every field but `_id` with this document's
    /// values and the outbox with `outbox`.
    pub fn state_update(mut self, outbox: &[OutboxEntry]) -> Result<Document> {
        self.outbox = outbox.to_vec();
        self.pending_events = pending_count(&self.outbox);
        let mut fields = bson::to_document(&self).map_err(|e| StoreError::Mongo(e.into()))?;
        fields.remove("_id");
        Ok(doc! { "$set": fields })
    }

    /// The domain view of this document.
    pub fn to_customer(&self) -> Result<Customer> {
        let corrupt = |message: &str| StoreError::Corrupt {
            id: self.id.clone(),
            source: <bson::de::Error as serde::de::Error>::custom(message),
        };
        let id = CustomerId::parse(&self.id).map_err(corrupt)?;
        let version = u64::try_from(self.version).map_err(|_| corrupt("negative version"))?;
        Ok(Customer {
            id,
            version,
            profile: CustomerProfile {
                name: self.name.clone(),
                contact: self.contact.clone(),
                addresses: self.addresses.clone(),
                credit_cards: self.credit_cards.clone(),
            },
        })
    }
}
