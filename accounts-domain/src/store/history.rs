//! The audit history: one document per published change event, so that no
//! customer document grows with its number of changes.
//!
//! The relay records an event here when the broker has acknowledged it,
//! before it removes the event from the customer's outbox. The record is
//! keyed by the event id, so recording again (after a crash between the two
//! writes) changes nothing. Until then the event is in the outbox, and a read
//! of the history takes it from there: the history is complete and exact at
//! every moment, each version exactly once.

use std::collections::BTreeMap;

use chrono::{DateTime, SecondsFormat, Utc};
use futures::TryStreamExt;
use mongodb::bson::{self, doc};
use mongodb::options::IndexOptions;
use mongodb::{Collection, Database, IndexModel};
use platform_infra::mongo::only_duplicate_keys;
use platform_infra::paging::Paging;
use serde::{Deserialize, Serialize};
use shared_events::{CustomerEventType, CustomerRecord};

use super::Result;
use super::document::{HistoryEntry, OutboxEntry};

/// One published change, as stored.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct HistoryDocument {
    #[serde(rename = "_id")]
    event_id: String,
    customer_id: String,
    version: i64,
    #[serde(rename = "type")]
    event_type: CustomerEventType,
    /// The event's time (a BSON date, to the millisecond).
    time: bson::DateTime,
}

impl HistoryDocument {
    fn new(customer_id: &str, event: &CustomerRecord) -> Self {
        HistoryDocument {
            event_id: event.event_id().to_string(),
            customer_id: customer_id.to_owned(),
            version: event.version(),
            event_type: event.event_type(),
            time: bson::DateTime::from_millis(event.time().timestamp_millis()),
        }
    }

    fn entry(self) -> HistoryEntry {
        let time = DateTime::<Utc>::from_timestamp_millis(self.time.timestamp_millis())
            .unwrap_or_default();
        HistoryEntry {
            version: self.version,
            event_type: self.event_type,
            time: time.to_rfc3339_opts(SecondsFormat::Millis, true),
            event_id: self.event_id,
        }
    }
}

/// The history collection.
#[derive(Debug, Clone)]
pub struct CustomerHistory {
    collection: Collection<HistoryDocument>,
}

impl CustomerHistory {
    /// The history of the customers in `collection`, in `{collection}_history`.
    pub fn new(database: &Database, collection: &str) -> Self {
        CustomerHistory {
            collection: database.collection(&format!("{collection}_history")),
        }
    }

    /// The index a customer's history is read by.
    pub async fn ensure_indexes(&self) -> Result<()> {
        let index = IndexModel::builder()
            .keys(doc! { "customerId": 1, "version": 1 })
            .options(
                IndexOptions::builder()
                    .name("customer_versions".to_owned())
                    .build(),
            )
            .build();
        self.collection.create_index(index).await?;
        Ok(())
    }

    /// Records the events of `entries` (customer id, outbox entry), in one
    /// write; events recorded before are left as they are.
    pub async fn record(&self, entries: &[(&str, &OutboxEntry)]) -> Result<()> {
        let documents: Vec<HistoryDocument> = entries
            .iter()
            .filter_map(|&(customer_id, entry)| {
                Some(HistoryDocument::new(customer_id, &entry.event()?))
            })
            .collect();
        if documents.is_empty() {
            return Ok(());
        }
        match self.collection.insert_many(documents).ordered(false).await {
            Ok(_) => Ok(()),
            Err(e) if only_duplicate_keys(&e) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// The page of `customer_id`'s history that `paging` names: versions are
    /// 1, 2, 3…, one change each, so skipping `offset` changes starts at
    /// version `offset + 1`. Events still in `pending` (the outbox) fill in
    /// what is not recorded yet.
    pub async fn page(
        &self,
        customer_id: &str,
        pending: &[OutboxEntry],
        paging: Paging,
    ) -> Result<Vec<HistoryEntry>> {
        let first = i64::try_from(paging.offset).unwrap_or(i64::MAX);
        let last = first.saturating_add(i64::from(paging.limit));
        let recorded: Vec<HistoryDocument> = self
            .collection
            .find(doc! {
                "customerId": customer_id,
                "version": { "$gt": first, "$lte": last },
            })
            .sort(doc! { "version": 1 })
            .await?
            .try_collect()
            .await?;
        let mut page: BTreeMap<i64, HistoryEntry> = pending
            .iter()
            .filter(|entry| entry.version > first && entry.version <= last)
            .filter_map(OutboxEntry::history_entry)
            .map(|entry| (entry.version, entry))
            .collect();
        page.extend(recorded.into_iter().map(|d| (d.version, d.entry())));
        Ok(page.into_values().collect())
    }
}
