//! MongoDB storage of `CustomerOrders`: the customer replica fields and the orders
//! this service owns, in one document per customer.
//!
//! The projection writes only `name`, `contact`, `addresses`, `version` and
//! `updatedAt`, with a filter `version < incoming`, so the version guard is
//! enforced by the database atomically, even with several consumers. `orders` is
//! set only when the document is first inserted.

use futures::TryStreamExt;
use mongodb::bson::{self, Bson, Document, doc};
use mongodb::{Collection, Database};
use platform_infra::mongo::is_duplicate_key;
use platform_infra::paging::Paging;
use serde::{Deserialize, Serialize};
use shared_events::{Address, Contact, CustomerChangeEvent, Name};

use crate::domain::ApplyOutcome;

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("MongoDB operation failed")]
    Mongo(#[from] mongodb::error::Error),
    #[error("cannot encode the replica update")]
    Encode(#[from] bson::ser::Error),
}

impl StoreError {
    /// Whether retrying later can succeed without anything changing (MongoDB
    /// unreachable or failing over), as opposed to an error in the data.
    pub fn is_transient(&self) -> bool {
        match self {
            StoreError::Mongo(e) => platform_infra::mongo::is_transient(e),
            StoreError::Encode(_) => false,
        }
    }
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// A customer with its orders, as stored.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CustomerOrdersDocument {
    #[serde(rename = "_id")]
    pub id: String,
    pub version: i64,
    pub name: Name,
    pub contact: Contact,
    #[serde(default)]
    pub addresses: Vec<Address>,
    /// Owned by this service; the projection never writes it after insertion.
    #[serde(default)]
    pub orders: Vec<Document>,
}

/// The `customer.orders` collection.
#[derive(Debug, Clone)]
pub struct CustomerOrdersStore {
    typed: Collection<CustomerOrdersDocument>,
    raw: Collection<Document>,
}

impl CustomerOrdersStore {
    pub fn new(database: &Database, collection: &str) -> Self {
        CustomerOrdersStore {
            typed: database.collection(collection),
            raw: database.collection(collection),
        }
    }

    /// Applies a change event if its version is newer than the stored one.
    #[tracing::instrument(skip_all, fields(customer_id = %event.id, version = event.version))]
    pub async fn apply(&self, event: &CustomerChangeEvent) -> Result<ApplyOutcome> {
        let version = i64::try_from(event.version).unwrap_or(i64::MAX);
        let fields = doc! {
            "version": version,
            "name": bson::to_bson(&event.name)?,
            "contact": bson::to_bson(&event.contact)?,
            "addresses": bson::to_bson(&event.addresses)?,
            "updatedAt": chrono::Utc::now().to_rfc3339(),
        };
        let updated = self
            .raw
            .update_one(
                doc! { "_id": &event.id, "version": { "$lt": version } },
                doc! { "$set": fields.clone() },
            )
            .await?;
        if updated.matched_count == 1 {
            return Ok(ApplyOutcome::Updated);
        }
        let mut document = fields;
        document.insert("_id", &event.id);
        document.insert("orders", Bson::Array(Vec::new()));
        match self.raw.insert_one(document).await {
            Ok(_) => Ok(ApplyOutcome::Inserted),
            Err(e) if is_duplicate_key(&e) => Ok(ApplyOutcome::Stale),
            Err(e) => Err(e.into()),
        }
    }

    /// One customer with its orders.
    #[tracing::instrument(skip(self))]
    pub async fn get(&self, id: &str) -> Result<Option<CustomerOrdersDocument>> {
        Ok(self.typed.find_one(doc! { "_id": id }).await?)
    }

    /// A page of customers with their orders, ordered by customer id.
    #[tracing::instrument(skip(self))]
    pub async fn list(&self, paging: Paging) -> Result<Vec<CustomerOrdersDocument>> {
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
}
