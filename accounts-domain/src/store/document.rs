//! The BSON shape of a customer document.

use std::collections::BTreeMap;

use mongodb::bson::{self, Document, doc};
use serde::{Deserialize, Serialize};
use shared_events::crypto::WrappedKey;
use shared_events::{
    Address, Contact, CustomerEventType, CustomerRecord, Name, SealedChangeEnvelope,
};

use super::{Result, StoreError};
use crate::domain::{Customer, CustomerId, CustomerProfile, MaskedCard};

/// A customer as stored in MongoDB.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CustomerDocument {
    #[serde(rename = "_id")]
    pub id: String,
    pub version: i64,
    /// The personal fields: absent once the customer is erased.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<Name>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contact: Option<Contact>,
    #[serde(default)]
    pub addresses: Vec<Address>,
    #[serde(default)]
    pub credit_cards: Vec<MaskedCard>,
    /// The customer's data key, wrapped with the key-encryption key; absent
    /// once erased (and for customers stored before keys existed, until
    /// their next change).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_key: Option<WrappedKey>,
    /// RFC 3339. A string rather than a BSON date: a change updates this
    /// document in place (a replacement would have to rewrite the outbox the
    /// relay is publishing), and the local MongoDB-protocol server stores a
    /// date given to `$set` on an existing document as a string. The same holds
    /// for `deleted_at`.
    pub updated_at: String,
    /// Number of events in `outbox`; indexed, so the relay finds work fast. A
    /// count rather than a flag: the local MongoDB-protocol server returns
    /// booleans as integers. Changed by `$inc` only, as entries are added and
    /// removed.
    pub pending_events: i32,
    /// Events not yet acknowledged by Kafka, keyed by [`outbox_key`] of their
    /// version. A map rather than an array, so that a change adds its event
    /// with `$set` of one key and the relay removes published ones with
    /// `$unset`, neither rewriting the other's entries: a write never needs to
    /// know the outbox. (`$push` would do on MongoDB, but the local
    /// MongoDB-protocol server turns every element of an array it pushes to
    /// into a JSON string.)
    #[serde(default)]
    outbox: BTreeMap<String, OutboxEntry>,
    /// The relay instance that may publish this customer's outbox until
    /// `lease_until_ms`; customer writes never touch the lease. Read it
    /// through [`CustomerDocument::lease`].
    #[serde(default)]
    lease_owner: String,
    /// Unix milliseconds; [`NO_LEASE_UNTIL`] when nobody holds the lease.
    #[serde(default)]
    lease_until_ms: i64,
    /// RFC 3339 time of deletion; absent (or null) while the customer exists.
    /// A deleted customer keeps its document, for its history and its last
    /// events; creating it again continues its versions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deleted_at: Option<String>,
    /// RFC 3339 time of the erasure of the personal data; an erased customer
    /// is also deleted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub erased_at: Option<String>,
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
    /// W3C `traceparent` of the request that made the change.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub traceparent: Option<String>,
    /// A record for the keys topic that must be acknowledged before this
    /// event is published: the data key it is the first event sealed with,
    /// or the key's tombstone (erasure).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<KeyRecord>,
}

/// A record of the keys topic, carried by the outbox entry it goes before.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum KeyRecord {
    /// The customer's data key, wrapped.
    Publish(WrappedKey),
    /// The key is erased: a record without a value.
    Tombstone,
}

/// One line of a customer's audit history, as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct HistoryEntry {
    pub version: i64,
    /// The CloudEvents type of the change (`….v1` before personal data was
    /// sealed, `….v2` after; `accounts.customer.erased.v1`).
    #[serde(rename = "type")]
    pub event_type: CustomerEventType,
    /// RFC 3339 time of the change, to the millisecond.
    pub time: String,
    pub event_id: String,
}

/// How "nobody holds the lease" is stored: an empty owner and an expiry of
/// 0, rather than absent fields, so that one range filter
/// (`leaseUntilMs < now`) finds free and expired leases alike on both
/// MongoDB and the local server. Only this module knows it.
const NO_LEASE_OWNER: &str = "";
const NO_LEASE_UNTIL: i64 = 0;

/// A relay instance's claim on a customer's outbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    pub owner: String,
    /// Unix milliseconds.
    pub until_ms: i64,
}

/// The `$set` fields that release a lease.
pub fn released_lease() -> Document {
    doc! { "leaseOwner": NO_LEASE_OWNER, "leaseUntilMs": NO_LEASE_UNTIL }
}

impl CustomerDocument {
    /// Who may publish this customer's outbox, if anyone.
    pub fn lease(&self) -> Option<Lease> {
        (self.lease_owner != NO_LEASE_OWNER).then(|| Lease {
            owner: self.lease_owner.clone(),
            until_ms: self.lease_until_ms,
        })
    }
}

impl OutboxEntry {
    /// The entry that will publish `event`, traced as part of `traceparent`,
    /// after the keys topic record `key`, if any.
    pub fn new(
        event: &SealedChangeEnvelope,
        traceparent: Option<String>,
        key: Option<KeyRecord>,
    ) -> Self {
        OutboxEntry {
            event_id: event.id.to_string(),
            version: event.data.version,
            payload: String::from_utf8_lossy(&event.to_json_vec()).into_owned(),
            traceparent,
            key,
        }
    }

    /// This entry's event; `None` if its payload does not decode (never, for
    /// entries this service wrote).
    pub fn event(&self) -> Option<CustomerRecord> {
        CustomerRecord::decode(self.payload.as_bytes()).ok()
    }

    /// The history line of this entry's event.
    pub fn history_entry(&self) -> Option<HistoryEntry> {
        self.event().map(|event| HistoryEntry::from(&event))
    }
}

impl From<&CustomerRecord> for HistoryEntry {
    fn from(event: &CustomerRecord) -> Self {
        HistoryEntry {
            version: event.version(),
            event_type: event.event_type(),
            // Milliseconds, as the history collection stores it.
            time: event
                .time()
                .to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            event_id: event.event_id().to_string(),
        }
    }
}

/// The key of the outbox entry of `version`.
fn outbox_key(version: i64) -> String {
    format!("v{version}")
}

/// The path of the outbox entry of `version` in an update.
fn outbox_path(version: i64) -> String {
    format!("outbox.{}", outbox_key(version))
}

/// The filter of a write based on the customer at `version`: it matches only
/// while nobody else changed the customer. The relay's removal of published
/// events does not change the version, and need not: a change only adds its
/// own outbox entry.
pub fn at_version(id: &str, version: i64) -> Document {
    doc! { "_id": id, "version": version }
}

/// The update that appends `entry`, publishing `event`, to the outbox, with
/// `fields` set alongside, and the customer's data key if it is `new_key`.
fn with_event(
    mut fields: Document,
    event: &SealedChangeEnvelope,
    entry: &OutboxEntry,
    new_key: Option<&WrappedKey>,
) -> Result<Document> {
    fields.insert("version", entry.version);
    fields.insert("updatedAt", event.time.to_rfc3339());
    if let Some(key) = new_key {
        fields.insert("dataKey", bson::to_bson(key).map_err(encode)?);
    }
    fields.insert(
        outbox_path(entry.version),
        bson::to_bson(entry).map_err(encode)?,
    );
    Ok(doc! { "$set": fields, "$inc": { "pendingEvents": 1 } })
}

fn encode(e: bson::ser::Error) -> StoreError {
    StoreError::Mongo(e.into())
}

/// The update that turns the stored customer into `next`, announced by
/// `event`. The lease is left alone.
pub fn change_update(
    next: &Customer,
    event: &SealedChangeEnvelope,
    entry: &OutboxEntry,
    new_key: Option<&WrappedKey>,
) -> Result<Document> {
    let profile = &next.profile;
    let fields = doc! {
        "deletedAt": bson::Bson::Null,
        "erasedAt": bson::Bson::Null,
        "name": bson::to_bson(&profile.name).map_err(encode)?,
        "contact": bson::to_bson(&profile.contact).map_err(encode)?,
        "addresses": bson::to_bson(&profile.addresses).map_err(encode)?,
        "creditCards": bson::to_bson(&profile.credit_cards).map_err(encode)?,
    };
    with_event(fields, event, entry, new_key)
}

/// The update that deletes the stored customer as `event` (its last state at
/// the next version).
pub fn delete_update(
    event: &SealedChangeEnvelope,
    entry: &OutboxEntry,
    new_key: Option<&WrappedKey>,
) -> Result<Document> {
    let fields = doc! { "deletedAt": event.time.to_rfc3339() };
    with_event(fields, event, entry, new_key)
}

/// The update that erases the customer's personal data and data key, as
/// `event` (`accounts.customer.erased.v1`, whose entry carries the key's
/// tombstone). The customer is deleted too, if it was not.
pub fn erase_update(event: &SealedChangeEnvelope, entry: &OutboxEntry) -> Result<Document> {
    let now = event.time.to_rfc3339();
    let mut update = with_event(
        doc! { "erasedAt": &now, "deletedAt": &now, "addresses": [], "creditCards": [] },
        event,
        entry,
        None,
    )?;
    update.insert("$unset", doc! { "name": "", "contact": "", "dataKey": "" });
    Ok(update)
}

/// At most this many outbox entries are removed by one update. The local
/// MongoDB-protocol server ignores a `$unset` of more than 126 paths without
/// a word (SQLite's limit of 127 arguments to its `json_remove`) while it
/// applies the rest of the update, so removing a larger backlog at once would
/// count the events as published and leave them in the outbox for good.
pub const MAX_REMOVED_PER_UPDATE: usize = 100;

/// The update that removes `entries` (at most [`MAX_REMOVED_PER_UPDATE`])
/// from the outbox, and with `release` gives up the lease.
pub fn published_update(entries: &[OutboxEntry], release: bool) -> Document {
    let removed: Document = entries
        .iter()
        .map(|e| (outbox_path(e.version), bson::Bson::String(String::new())))
        .collect();
    let count = i32::try_from(entries.len()).unwrap_or(i32::MAX);
    let mut update = doc! {
        "$unset": removed,
        "$inc": { "pendingEvents": -count },
    };
    if release {
        update.insert("$set", released_lease());
    }
    update
}

impl CustomerDocument {
    /// The events waiting in the outbox, oldest first.
    pub fn outbox(&self) -> Vec<OutboxEntry> {
        let mut entries: Vec<OutboxEntry> = self.outbox.values().cloned().collect();
        entries.sort_by_key(|e| e.version);
        entries
    }

    /// The document of a newly created customer, with its creation event
    /// pending and its data key.
    pub fn created(
        customer: &Customer,
        event: &SealedChangeEnvelope,
        entry: &OutboxEntry,
        key: Option<WrappedKey>,
    ) -> Self {
        let profile = &customer.profile;
        CustomerDocument {
            id: customer.id.as_str().to_owned(),
            version: customer.version,
            name: Some(profile.name.clone()),
            contact: Some(profile.contact.clone()),
            addresses: profile.addresses.clone(),
            credit_cards: profile.credit_cards.clone(),
            data_key: key,
            updated_at: event.time.to_rfc3339(),
            pending_events: 1,
            outbox: BTreeMap::from([(outbox_key(entry.version), entry.clone())]),
            lease_owner: NO_LEASE_OWNER.to_owned(),
            lease_until_ms: NO_LEASE_UNTIL,
            deleted_at: None,
            erased_at: None,
        }
    }

    /// Its pending events, as a claim until `until` holds them.
    pub fn into_pending(self, until: i64) -> super::PendingEvents {
        super::PendingEvents {
            entries: self.outbox(),
            customer_id: self.id,
            version: self.version,
            lease_until_ms: until,
        }
    }

    /// The domain view of this document; `None` once erased.
    pub fn to_customer(&self) -> Result<Option<Customer>> {
        let corrupt = |message: &str| StoreError::Corrupt {
            id: self.id.clone(),
            source: <bson::de::Error as serde::de::Error>::custom(message),
        };
        let id = CustomerId::parse(&self.id).map_err(corrupt)?;
        if self.version < 1 {
            return Err(corrupt("version below 1"));
        }
        let (Some(name), Some(contact)) = (&self.name, &self.contact) else {
            if self.erased_at.is_none() {
                return Err(corrupt("name or contact missing"));
            }
            return Ok(None);
        };
        Ok(Some(Customer {
            id,
            version: self.version,
            profile: CustomerProfile {
                name: name.clone(),
                contact: contact.clone(),
                addresses: self.addresses.clone(),
                credit_cards: self.credit_cards.clone(),
            },
        }))
    }
}
