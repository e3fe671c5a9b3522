//! MongoDB storage of customers, with the transactional outbox embedded in each
//! customer document.
//!
//! One document holds the customer's current state and the events not yet
//! acknowledged by Kafka (`outbox`), so a change and its event commit in a single
//! atomic write. `version` doubles as the concurrency token: every write filters on
//! the version it read, so two writers can never both succeed from the same state.
//!
//! Only constructs that behave the same on MongoDB and on the local
//! MongoDB-protocol server are used: equality and range filters, `$set` of whole
//! fields (never `$push` or positional paths), inserts with duplicate-key detection.

mod document;

use futures::TryStreamExt;
use mongodb::bson::{self, doc};
use mongodb::options::IndexOptions;
use mongodb::{Collection, Database, IndexModel};
use platform_infra::mongo::is_duplicate_key;
use platform_infra::paging::Paging;
use shared_events::CustomerChangeType;

use crate::domain::{ChangeOutcome, Customer, CustomerSubmission};
pub use document::{CustomerDocument, HistoryEntry, OutboxEntry};

/// How often an upsert retries after losing a race with another writer.
const MAX_WRITE_ATTEMPTS: usize = 8;

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("MongoDB operation failed")]
    Mongo(#[from] mongodb::error::Error),
    #[error("stored document {id:?} is unreadable")]
    Corrupt {
        id: String,
        #[source]
        source: bson::de::Error,
    },
    #[error("customer {0} kept changing concurrently; gave up after {MAX_WRITE_ATTEMPTS} attempts")]
    Contended(String),
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// The result of an upsert.
#[derive(Debug, Clone)]
pub struct Upserted {
    pub customer: Customer,
    pub outcome: ChangeOutcome,
}

/// Events of one customer waiting to be published, oldest first.
#[derive(Debug, Clone)]
pub struct PendingEvents {
    pub customer_id: String,
    pub entries: Vec<OutboxEntry>,
}

/// The customer collection.
#[derive(Debug, Clone)]
pub struct CustomerStore {
    collection: Collection<CustomerDocument>,
}

impl CustomerStore {
    pub fn new(database: &Database, collection: &str) -> Self {
        CustomerStore {
            collection: database.collection(collection),
        }
    }

    /// Creates the index the relay's scan uses.
    #[tracing::instrument(skip(self))]
    pub async fn ensure_indexes(&self) -> Result<()> {
        let index = IndexModel::builder()
            .keys(doc! { "pendingEvents": 1 })
            .options(
                IndexOptions::builder()
                    .name("pending_events".to_owned())
                    .build(),
            )
            .build();
        self.collection.create_index(index).await?;
        Ok(())
    }

    /// Creates the customer or applies the submission as its next version, and
    /// stores the announcing event in the same write.
    #[tracing::instrument(skip_all, fields(customer_id = %submission.id))]
    pub async fn upsert(&self, submission: CustomerSubmission) -> Result<Upserted> {
        let id = submission.id.as_str().to_owned();
        for _ in 0..MAX_WRITE_ATTEMPTS {
            let now = chrono::Utc::now();
            match self.collection.find_one(doc! { "_id": &id }).await? {
                None => {
                    let customer = Customer::create(submission.clone());
                    let event = customer.change_event(CustomerChangeType::Created, now);
                    let document = CustomerDocument::created(&customer, &event);
                    match self.collection.insert_one(&document).await {
                        Ok(_) => {
                            return Ok(Upserted {
                                customer,
                                outcome: ChangeOutcome::Created,
                            });
                        }
                        Err(e) if is_duplicate_key(&e) => continue,
                        Err(e) => return Err(e.into()),
                    }
                }
                Some(stored) => {
                    let current = stored.to_customer()?;
                    let (next, outcome) = current.change(submission.profile.clone());
                    if outcome == ChangeOutcome::Unchanged {
                        return Ok(Upserted {
                            customer: current,
                            outcome,
                        });
                    }
                    let event = next.change_event(CustomerChangeType::Updated, now);
                    let update = stored.change_update(&next, &event)?;
                    let result = self
                        .collection
                        .update_one(doc! { "_id": &id, "version": stored.version }, update)
                        .await?;
                    if result.matched_count == 1 {
                        return Ok(Upserted {
                            customer: next,
                            outcome,
                        });
                    }
                }
            }
        }
        Err(StoreError::Contended(id))
    }

    /// The customer with this id, if any.
    #[tracing::instrument(skip(self))]
    pub async fn get(&self, id: &str) -> Result<Option<Customer>> {
        self.collection
            .find_one(doc! { "_id": id })
            .await?
            .map(|d| d.to_customer())
            .transpose()
    }

    /// The audit history of a customer, oldest change first; `None` if the
    /// customer does not exist.
    #[tracing::instrument(skip(self))]
    pub async fn history(&self, id: &str) -> Result<Option<Vec<HistoryEntry>>> {
        Ok(self
            .collection
            .find_one(doc! { "_id": id })
            .await?
            .map(|d| d.history))
    }

    /// A page of customers ordered by id.
    #[tracing::instrument(skip(self))]
    pub async fn list(&self, paging: Paging) -> Result<Vec<Customer>> {
        let documents: Vec<CustomerDocument> = self
            .collection
            .find(doc! {})
            .sort(doc! { "_id": 1 })
            .skip(paging.offset)
            .limit(i64::from(paging.limit))
            .await?
            .try_collect()
            .await?;
        documents
            .iter()
            .map(CustomerDocument::to_customer)
            .collect()
    }

    /// Up to `limit` customers that have events waiting to be published.
    #[tracing::instrument(skip(self))]
    pub async fn pending(&self, limit: i64) -> Result<Vec<PendingEvents>> {
        let documents: Vec<CustomerDocument> = self
            .collection
            .find(doc! { "pendingEvents": { "$gt": 0 } })
            .limit(limit)
            .await?
            .try_collect()
            .await?;
        Ok(documents
            .into_iter()
            .filter(|d| !d.outbox.is_empty())
            .map(|d| {
                let mut entries = d.outbox;
                entries.sort_by_key(|e| e.version);
                PendingEvents {
                    customer_id: d.id,
                    entries,
                }
            })
            .collect())
    }

    /// Removes the acknowledged events from the customer's outbox. A concurrent
    /// change may have added events meanwhile; those stay.
    #[tracing::instrument(skip(self, acknowledged))]
    pub async fn mark_published(&self, customer_id: &str, acknowledged: &[String]) -> Result<()> {
        for _ in 0..MAX_WRITE_ATTEMPTS {
            let Some(stored) = self
                .collection
                .find_one(doc! { "_id": customer_id })
                .await?
            else {
                return Ok(());
            };
            let remaining: Vec<OutboxEntry> = stored
                .outbox
                .into_iter()
                .filter(|e| !acknowledged.contains(&e.event_id))
                .collect();
            let update = doc! { "$set": {
                "pendingEvents": document::pending_count(&remaining),
                "outbox": bson::to_bson(&remaining).map_err(|e| StoreError::Mongo(e.into()))?,
            }};
            let result = self
                .collection
                .update_one(
                    doc! { "_id": customer_id, "version": stored.version },
                    update,
                )
                .await?;
            if result.matched_count == 1 {
                return Ok(());
            }
        }
        Err(StoreError::Contended(customer_id.to_owned()))
    }

    /// Number of customers with unpublished events.
    pub async fn backlog(&self) -> Result<u64> {
        Ok(self
            .collection
            .count_documents(doc! { "pendingEvents": { "$gt": 0 } })
            .await?)
    }
}
