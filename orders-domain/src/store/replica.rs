//! One generation of the customer replica.
//!
//! The projection replaces a customer's whole document (every field comes from
//! the event) with a filter `version < incoming` and upsert, in one round trip:
//! an older stored version is replaced, a missing customer is inserted, and a
//! newer or equal stored version makes the upsert's insert fail on the key, so
//! the event is stale. The version guard is enforced by the database
//! atomically, even with several consumers or a rebuild applying the same
//! events. (A duplicate key is retried once: two upserts of a customer not
//! yet stored can race, and the loser's version may be the newer one.)

use std::future::IntoFuture;

use futures::TryStreamExt;
use mongodb::bson::{self, Bson, Document, doc};
use mongodb::{Collection, Database};
use platform_infra::mongo::{is_duplicate_key, only_duplicate_keys};
use platform_infra::paging::Paging;
use serde::{Deserialize, Serialize};
use shared_events::{Address, ChangeKind, Contact, CustomerChange, Name};

use super::Result;
use crate::domain::ApplyOutcome;

/// A replicated customer, as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReplicaDocument {
    #[serde(rename = "_id")]
    pub id: String,
    pub version: i64,
    /// The personal fields: absent once the customer's personal data is
    /// erased (or its data key is gone).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<Name>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contact: Option<Contact>,
    #[serde(default)]
    pub addresses: Vec<Address>,
    /// When the customer was deleted in accounts; new orders are refused from
    /// then on, placed ones are kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deleted_at: Option<bson::DateTime>,
    /// When the personal data was erased: set from the erasure event, or
    /// from any event whose data key is gone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub erased_at: Option<bson::DateTime>,
}

/// The whole stored document for `change`. A `deleted` or `erased` change
/// marks the customer deleted; any other clears the mark. A change without
/// personal data (the erasure, or an event whose data key is gone) stores
/// none and marks the customer erased. Times are BSON dates (whole documents
/// are written, so the local server keeps them as dates too).
fn replica_document(change: &CustomerChange) -> Result<Document> {
    let time = Bson::DateTime(bson::DateTime::from_millis(change.time.timestamp_millis()));
    let deleted_at = match change.kind {
        ChangeKind::Deleted | ChangeKind::Erased => time.clone(),
        ChangeKind::Created | ChangeKind::Updated => Bson::Null,
    };
    let mut document = doc! {
        "_id": &change.id,
        "version": change.version,
        "deletedAt": deleted_at,
        "updatedAt": bson::DateTime::now(),
    };
    match &change.personal {
        Some(personal) => {
            document.insert("name", bson::to_bson(&personal.name)?);
            document.insert("contact", bson::to_bson(&personal.contact)?);
            document.insert("addresses", bson::to_bson(&personal.addresses)?);
        }
        None => {
            document.insert("addresses", Bson::Array(Vec::new()));
            document.insert("erasedAt", time);
        }
    }
    Ok(document)
}

/// A replica collection of one generation.
#[derive(Debug, Clone)]
pub struct ReplicaCollection {
    name: String,
    generation: i64,
    raw: Collection<Document>,
    typed: Collection<ReplicaDocument>,
}

impl ReplicaCollection {
    pub fn new(database: &Database, name: &str, generation: i64) -> Self {
        ReplicaCollection {
            name: name.to_owned(),
            generation,
            raw: database.collection(name),
            typed: database.collection(name),
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn generation(&self) -> i64 {
        self.generation
    }

    /// Applies a change event if its version is newer than the stored one. A
    /// `deleted` event marks the customer deleted; a later `created` one
    /// clears the mark.
    #[tracing::instrument(skip_all, fields(collection = %self.name, customer_id = %change.id, version = change.version))]
    pub async fn apply(&self, change: &CustomerChange) -> Result<ApplyOutcome> {
        let document = replica_document(change)?;
        let filter = doc! {
            "_id": &change.id,
            "version": { "$lt": change.version },
        };
        let upsert = || {
            self.raw
                .replace_one(filter.clone(), &document)
                .upsert(true)
                .into_future()
        };
        // A duplicate key means a stored version is newer or equal, except
        // when another writer inserted the customer between this upsert's
        // match and its insert: then a second attempt finds the document and
        // its outcome is final.
        let replaced = match upsert().await {
            Err(e) if is_duplicate_key(&e) => upsert().await,
            first => first,
        };
        match replaced {
            Ok(result) if result.upserted_id.is_some() => Ok(ApplyOutcome::Inserted),
            Ok(_) => Ok(ApplyOutcome::Updated),
            Err(e) if is_duplicate_key(&e) => Ok(ApplyOutcome::Stale),
            Err(e) => Err(e.into()),
        }
    }

    /// Bulk-loads events of distinct customers into a generation that nothing
    /// else writes to yet (a rebuild before it switches reads to it), with the
    /// same outcome as [`ReplicaCollection::apply`] of each: older stored
    /// versions are deleted, then every event is inserted unordered, and an
    /// insert that meets a newer or equal stored version fails on its key and
    /// is skipped. A handful of round trips for the whole batch, instead of one
    /// or two per event.
    pub async fn load(&self, events: &[&CustomerChange]) -> Result<()> {
        if events.is_empty() {
            return Ok(());
        }
        // The local MongoDB-protocol server refuses an `$or` deeper than 1000.
        for chunk in events.chunks(250) {
            let older: Vec<Document> = chunk
                .iter()
                .map(|e| doc! { "_id": &e.id, "version": { "$lt": e.version } })
                .collect();
            self.raw.delete_many(doc! { "$or": older }).await?;
        }
        let documents = events
            .iter()
            .map(|e| replica_document(e))
            .collect::<Result<Vec<Document>>>()?;
        match self.raw.insert_many(documents).ordered(false).await {
            Ok(_) => Ok(()),
            Err(e) if only_duplicate_keys(&e) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// One replicated customer.
    pub async fn get(&self, id: &str) -> Result<Option<ReplicaDocument>> {
        Ok(self.typed.find_one(doc! { "_id": id }).await?)
    }

    /// A page of replicated customers ordered by id.
    pub async fn page(&self, paging: Paging) -> Result<Vec<ReplicaDocument>> {
        Ok(self
            .typed
            .find(doc! {})
            .sort(doc! { "_id": 1 })
            .skip(paging.offset)
            .limit(i64::from(paging.limit))
            .await?
            .try_collect()
            .await?)
    }

    /// Every replicated customer, ordered by id (for comparing replicas).
    pub async fn all(&self) -> Result<Vec<ReplicaDocument>> {
        Ok(self
            .typed
            .find(doc! {})
            .sort(doc! { "_id": 1 })
            .await?
            .try_collect()
            .await?)
    }

    /// Every replicated customer's id and version (for comparing generations
    /// without loading whole documents).
    pub async fn versions(&self) -> Result<std::collections::BTreeMap<String, i64>> {
        let mut cursor = self
            .raw
            .find(doc! {})
            .projection(doc! { "_id": 1, "version": 1 })
            .await?;
        let mut versions = std::collections::BTreeMap::new();
        while let Some(document) = cursor.try_next().await? {
            let id = document.get_str("_id").unwrap_or_default().to_owned();
            // The local MongoDB-protocol server returns small Int64 as Int32.
            let version = match document.get("version") {
                Some(Bson::Int64(v)) => *v,
                Some(Bson::Int32(v)) => i64::from(*v),
                _ => 0,
            };
            versions.insert(id, version);
        }
        Ok(versions)
    }
}
