//! MongoDB storage of customers, with the transactional outbox embedded in each
//! customer document.
//!
//! One document holds the customer's current state and the events not yet
//! acknowledged by Kafka (`outbox`), so a change and its event commit in a single
//! atomic write. `version` is the concurrency token: every change filters on
//! the version it is based on, so two writers can never both succeed from the
//! same state. A change adds its event under its own key of the outbox and the
//! relay removes published ones by key, so neither overwrites the other.
//!
//! One round trip per write in the common case: a new customer is inserted
//! without a read (a duplicate key means it exists), and a change of a
//! customer this process last wrote or read is based on what it remembers
//! ([`known`]); a stale memory fails the version filter and costs a read.
//!
//! Only constructs that behave the same on MongoDB and on the local
//! MongoDB-protocol server are used: equality and range filters, `$set` of
//! fields and of keys of embedded documents, `$unset`, `$inc`, inserts with
//! duplicate-key detection; never `$push` (see [`document`]).

mod document;
mod history;
mod known;
mod written;

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use futures::TryStreamExt;
use mongodb::bson::{self, doc};
use mongodb::options::IndexOptions;
use mongodb::{Collection, Database, IndexModel};
use platform_infra::mongo::is_duplicate_key;
use platform_infra::paging::Paging;
use shared_events::crypto::{CryptoError, DataKey, KeyEncryptionKey, WrappedKey};
use shared_events::{CustomerChangeEnvelope, CustomerChangeType, SealedChangeEnvelope};

use crate::domain::{ChangeOutcome, Customer, CustomerId, CustomerSubmission};
pub use document::{CustomerDocument, HistoryEntry, KeyRecord, OutboxEntry};
pub use history::CustomerHistory;
use known::{Known, KnownCustomers};
use written::WrittenEvents;

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
    /// A data key could not be made, wrapped or unwrapped (a key-encryption
    /// key other than the one that wrapped it, for one).
    #[error("data key: {0}")]
    Key(#[from] CryptoError),
}

impl StoreError {
    /// Whether MongoDB was unreachable or failing over, so that the same
    /// operation can succeed later.
    pub fn is_transient(&self) -> bool {
        matches!(self, StoreError::Mongo(e) if platform_infra::mongo::is_transient(e))
    }
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// The result of an upsert.
#[derive(Debug, Clone)]
pub struct Upserted {
    pub customer: Customer,
    pub outcome: ChangeOutcome,
}

/// What a write is based on.
enum State {
    /// No customer with the id is stored (as far as this process knows).
    Absent,
    /// What this process last wrote or read; maybe stale.
    Remembered(Known),
    /// Read just now.
    Read(Known),
}

/// The result of a delete.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Deletion {
    /// Deleted now, at this version.
    Deleted(i64),
    AlreadyDeleted,
    Missing,
}

/// The result of an erasure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Erasure {
    /// Erased now, at this version.
    Erased(i64),
    /// Erased before, at this version.
    AlreadyErased(i64),
    Missing,
}

/// Events of one customer waiting to be published, oldest first, as claimed.
#[derive(Debug, Clone)]
pub struct PendingEvents {
    pub customer_id: String,
    /// The customer's version when claimed: while it is unchanged, the outbox
    /// is exactly `entries` (only the lease holder removes entries).
    pub version: i64,
    /// The claim's lease expiry, which tells this claim from earlier ones.
    pub lease_until_ms: i64,
    pub entries: Vec<OutboxEntry>,
}

/// What a claim of the events this process wrote took.
#[derive(Debug, Default)]
pub struct WrittenClaim {
    pub batch: Vec<PendingEvents>,
    /// Some customers were not claimed: their outbox holds events this
    /// process did not write, or another relay holds them. A scan finds them.
    pub missed: bool,
}

/// Now, and the end of a lease of `lease` taken now, in epoch milliseconds.
fn lease_window(lease: Duration) -> (i64, i64) {
    let now = Utc::now().timestamp_millis();
    let until = now.saturating_add(i64::try_from(lease.as_millis()).unwrap_or(i64::MAX));
    (now, until)
}

/// The filter of a customer still at `version` with `pending` events and no
/// live lease at `now`. Every condition sits inside each `$or` clause it goes
/// into: the local MongoDB-protocol server ignores conditions next to an
/// `$or` in updates.
fn unclaimed(id: &str, version: i64, pending: i64, now: i64) -> bson::Document {
    doc! {
        "_id": id,
        "version": version,
        "pendingEvents": pending,
        "leaseUntilMs": { "$lt": now },
    }
}

/// The customer collection and the history of published changes.
#[derive(Debug, Clone)]
pub struct CustomerStore {
    collection: Collection<CustomerDocument>,
    history: CustomerHistory,
    known: KnownCustomers,
    written: WrittenEvents,
    /// Wraps the customers' data keys.
    kek: Arc<KeyEncryptionKey>,
}

/// The data key a write seals its event with, and the wrapped form to store
/// and publish when the key is new.
struct SealingKey {
    key: DataKey,
    new: Option<WrappedKey>,
}

impl CustomerStore {
    pub fn new(database: &Database, collection: &str, kek: Arc<KeyEncryptionKey>) -> Self {
        CustomerStore {
            collection: database.collection(collection),
            history: CustomerHistory::new(database, collection),
            known: KnownCustomers::default(),
            written: WrittenEvents::default(),
            kek,
        }
    }

    /// Creates the indexes the relay's scan and history reads use.
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
        self.history.ensure_indexes().await
    }

    /// Customer `id`'s data key as `known` holds it, or a new one (new and
    /// erased customers, and customers stored before keys existed).
    fn sealing_key(&self, id: &str, known: Option<&Known>) -> Result<SealingKey> {
        if let Some(key) = known.and_then(|k| k.key.clone()) {
            return Ok(SealingKey { key, new: None });
        }
        let key = DataKey::generate()?;
        let wrapped = self.kek.wrap(id, &key)?;
        Ok(SealingKey {
            key,
            new: Some(wrapped),
        })
    }

    /// `event` sealed with `key`, and its outbox entry, which carries the key
    /// to publish first if it is new.
    fn sealed(
        event: &CustomerChangeEnvelope,
        key: &SealingKey,
        traceparent: Option<String>,
    ) -> Result<(SealedChangeEnvelope, OutboxEntry)> {
        let sealed = SealedChangeEnvelope::seal(event, &key.key)?;
        let record = key.new.clone().map(KeyRecord::Publish);
        let entry = OutboxEntry::new(&sealed, traceparent, record);
        Ok((sealed, entry))
    }

    /// Creates the customer or applies the submission as its next version, and
    /// stores the announcing event (with the request's `traceparent`) in the
    /// same write.
    #[tracing::instrument(skip_all, fields(customer_id = %submission.id))]
    pub async fn upsert(
        &self,
        submission: CustomerSubmission,
        traceparent: Option<String>,
    ) -> Result<Upserted> {
        let id = submission.id.as_str().to_owned();
        let mut state = match self.known.get(&id) {
            Some(known) => State::Remembered(known),
            None => State::Absent,
        };
        for _ in 0..MAX_WRITE_ATTEMPTS {
            let remembered = matches!(state, State::Remembered(_));
            let known = match state {
                State::Absent => match self.create(&submission, traceparent.clone()).await? {
                    Some(created) => return Ok(created),
                    None => {
                        state = self.read(&id).await?;
                        continue;
                    }
                },
                State::Remembered(known) | State::Read(known) => known,
            };
            let (next, outcome, change_type) = next_state(&known, &submission);
            if outcome == ChangeOutcome::Unchanged {
                if remembered {
                    // Unchanged from what this process remembers; only the
                    // stored state can say whether it is unchanged now.
                    state = self.read(&id).await?;
                    continue;
                }
                return Ok(Upserted {
                    customer: next,
                    outcome,
                });
            }
            let key = self.sealing_key(&id, Some(&known))?;
            let event = next.change_event(change_type, Utc::now());
            let (sealed, entry) = Self::sealed(&event, &key, traceparent.clone())?;
            let update = document::change_update(&next, &sealed, &entry, key.new.as_ref())?;
            if self.write(&known, update).await? {
                self.written.add(&id, entry);
                self.known
                    .remember(Known::written(next.clone(), false, key.key));
                return Ok(Upserted {
                    customer: next,
                    outcome,
                });
            }
            state = self.read(&id).await?;
        }
        Err(StoreError::Contended(id))
    }

    /// Inserts a new customer from `submission`, with a new data key; `None`
    /// if one with its id is stored already.
    async fn create(
        &self,
        submission: &CustomerSubmission,
        traceparent: Option<String>,
    ) -> Result<Option<Upserted>> {
        let customer = Customer::create(submission.clone());
        let key = self.sealing_key(customer.id.as_str(), None)?;
        let event = customer.change_event(CustomerChangeType::Created, Utc::now());
        let (sealed, entry) = Self::sealed(&event, &key, traceparent)?;
        let document = CustomerDocument::created(&customer, &sealed, &entry, key.new);
        match self.collection.insert_one(&document).await {
            Ok(_) => {
                self.written.add(&document.id, entry);
                self.known
                    .remember(Known::written(customer.clone(), false, key.key));
                Ok(Some(Upserted {
                    customer,
                    outcome: ChangeOutcome::Created,
                }))
            }
            Err(e) if is_duplicate_key(&e) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// Applies `update` to the customer if it is still at `known`'s version;
    /// whether it was.
    async fn write(&self, known: &Known, update: bson::Document) -> Result<bool> {
        let filter = document::at_version(known.id.as_str(), known.version);
        let result = self.collection.update_one(filter, update).await?;
        Ok(result.matched_count == 1)
    }

    /// The stored customer's state, remembered for the next write.
    async fn read(&self, id: &str) -> Result<State> {
        let Some(stored) = self.collection.find_one(doc! { "_id": id }).await? else {
            return Ok(State::Absent);
        };
        Ok(State::Read(self.remember(&stored)?))
    }

    fn remember(&self, stored: &CustomerDocument) -> Result<Known> {
        let customer = stored.to_customer()?;
        let id = CustomerId::parse(&stored.id).map_err(|e| StoreError::Corrupt {
            id: stored.id.clone(),
            source: <bson::de::Error as serde::de::Error>::custom(e),
        })?;
        let key = match &stored.data_key {
            Some(wrapped) => Some(self.kek.unwrap(wrapped)?),
            None => None,
        };
        let known = Known {
            id,
            version: stored.version,
            customer,
            deleted: stored.deleted_at.is_some(),
            key,
        };
        self.known.remember(known.clone());
        Ok(known)
    }

    /// The customer with this id, unless absent, deleted or erased.
    #[tracing::instrument(skip(self))]
    pub async fn get(&self, id: &str) -> Result<Option<Customer>> {
        let Some(stored) = self.collection.find_one(doc! { "_id": id }).await? else {
            return Ok(None);
        };
        let known = self.remember(&stored)?;
        Ok(known.customer.filter(|_| !known.deleted))
    }

    /// Deletes the customer: a new version, announced by a `deleted` event
    /// carrying its last state, stored in the same write. Deleting a deleted
    /// customer changes nothing.
    #[tracing::instrument(skip(self, traceparent))]
    pub async fn delete(&self, id: &str, traceparent: Option<String>) -> Result<Deletion> {
        let mut state = match self.known.get(id) {
            // Only the stored state can say it is deleted now.
            Some(known) if !known.deleted => State::Remembered(known),
            _ => self.read(id).await?,
        };
        for _ in 0..MAX_WRITE_ATTEMPTS {
            let known = match state {
                State::Absent => return Ok(Deletion::Missing),
                State::Read(known) if known.deleted => return Ok(Deletion::AlreadyDeleted),
                State::Remembered(known) | State::Read(known) => known,
            };
            let Some(current) = &known.customer else {
                // Erased customers are deleted; a stale memory says otherwise.
                state = self.read(id).await?;
                continue;
            };
            let last = current.succeeded_by(current.profile.clone());
            let key = self.sealing_key(id, Some(&known))?;
            let event = last.change_event(CustomerChangeType::Deleted, Utc::now());
            let (sealed, entry) = Self::sealed(&event, &key, traceparent.clone())?;
            let update = document::delete_update(&sealed, &entry, key.new.as_ref())?;
            if self.write(&known, update).await? {
                self.written.add(id, entry);
                let version = last.version;
                self.known.remember(Known::written(last, true, key.key));
                return Ok(Deletion::Deleted(version));
            }
            state = self.read(id).await?;
        }
        Err(StoreError::Contended(id.to_owned()))
    }

    /// Erases the customer's personal data (crypto-shredding): in one write,
    /// the data key and the personal fields are removed, and the erasure
    /// event, carrying the key's tombstone for the keys topic, joins the
    /// outbox. Events still in the outbox stay, sealed with the key that is
    /// now gone. Erasing an erased customer changes nothing.
    #[tracing::instrument(skip(self, traceparent))]
    pub async fn erase(&self, id: &str, traceparent: Option<String>) -> Result<Erasure> {
        let mut state = self.read(id).await?;
        for _ in 0..MAX_WRITE_ATTEMPTS {
            let known = match state {
                State::Absent => return Ok(Erasure::Missing),
                State::Read(known) | State::Remembered(known) if known.customer.is_none() => {
                    return Ok(Erasure::AlreadyErased(known.version));
                }
                State::Read(known) | State::Remembered(known) => known,
            };
            let version = known.version + 1;
            let event = SealedChangeEnvelope::erased(id, version, Utc::now());
            let entry = OutboxEntry::new(&event, traceparent.clone(), Some(KeyRecord::Tombstone));
            let update = document::erase_update(&event, &entry)?;
            if self.write(&known, update).await? {
                self.written.add(id, entry);
                self.known.remember(Known {
                    version,
                    customer: None,
                    deleted: true,
                    key: None,
                    ..known
                });
                return Ok(Erasure::Erased(version));
            }
            state = self.read(id).await?;
        }
        Err(StoreError::Contended(id.to_owned()))
    }

    /// A page of the audit history of a customer, oldest change first;
    /// `None` if the customer does not exist. Two round trips: the customer
    /// (for its pending events) and the recorded page.
    #[tracing::instrument(skip(self))]
    pub async fn history(&self, id: &str, paging: Paging) -> Result<Option<Vec<HistoryEntry>>> {
        let Some(customer) = self.collection.find_one(doc! { "_id": id }).await? else {
            return Ok(None);
        };
        let page = self.history.page(id, &customer.outbox(), paging).await?;
        Ok(Some(page))
    }

    /// A page of customers ordered by id.
    #[tracing::instrument(skip(self))]
    pub async fn list(&self, paging: Paging) -> Result<Vec<Customer>> {
        let documents: Vec<CustomerDocument> = self
            .collection
            .find(doc! { "deletedAt": null })
            .sort(doc! { "_id": 1 })
            .skip(paging.offset)
            .limit(i64::from(paging.limit))
            .await?
            .try_collect()
            .await?;
        let customers = documents.iter().map(CustomerDocument::to_customer);
        // Erased customers are deleted, so none is in the page.
        customers.filter_map(Result::transpose).collect()
    }

    /// Claims up to `limit` customers that have events waiting and whose relay
    /// lease is free or expired, for `owner` during `lease`, and returns their
    /// pending events oldest first. Only the lease holder publishes a
    /// customer's events, so several relay instances never interleave them.
    ///
    /// Two round trips whatever the batch size: read the candidates, take the
    /// expired leases among them in one update; a third, reading back what was
    /// taken, only when some changed or were taken by another relay meanwhile.
    #[tracing::instrument(skip(self))]
    pub async fn claim_pending(
        &self,
        owner: &str,
        lease: Duration,
        limit: i64,
    ) -> Result<Vec<PendingEvents>> {
        let (now, until) = lease_window(lease);
        let expired = doc! { "pendingEvents": { "$gt": 0 }, "leaseUntilMs": { "$lt": now } };
        let candidates: Vec<CustomerDocument> = self
            .collection
            .find(expired.clone())
            .limit(limit)
            .await?
            .try_collect()
            .await?;
        if candidates.is_empty() {
            return Ok(Vec::new());
        }
        // A candidate is only claimed unchanged since it was read (same
        // version, same outbox size: within a version the outbox only
        // shrinks), so when all were claimed, what was read is exactly what is
        // held.
        let unchanged = candidates
            .iter()
            .map(|c| unclaimed(&c.id, c.version, i64::from(c.pending_events), now))
            .collect();
        let ids: Vec<&str> = candidates.iter().map(|c| c.id.as_str()).collect();
        if self.take_leases(owner, until, unchanged).await? == candidates.len() {
            return Ok(candidates
                .into_iter()
                .map(|document| document.into_pending(until))
                .collect());
        }
        self.held(owner, until, &ids).await
    }

    /// Claims, like [`CustomerStore::claim_pending`], up to `limit` of the
    /// customers whose events this process wrote, in one round trip and
    /// without reading them first: each is claimed only if its outbox holds
    /// exactly the events written here (its version is the last of them, and
    /// it has as many pending). A second round trip reads back what was taken
    /// when some were not; those are left to the scan.
    #[tracing::instrument(skip(self))]
    pub async fn claim_written(
        &self,
        owner: &str,
        lease: Duration,
        limit: i64,
    ) -> Result<WrittenClaim> {
        let hints = self.written.take(usize::try_from(limit).unwrap_or(0));
        if hints.is_empty() {
            return Ok(WrittenClaim::default());
        }
        let ids: Vec<String> = hints.iter().map(|(id, _)| id.clone()).collect();
        let (now, until) = lease_window(lease);
        let unchanged = hints.iter().filter_map(|(id, entries)| {
            let count = i64::try_from(entries.len()).ok()?;
            Some(unclaimed(id, entries.last()?.version, count, now))
        });
        let unchanged: Vec<bson::Document> = unchanged.collect();
        if self.take_leases(owner, until, unchanged).await? == hints.len() {
            let batch = hints.into_iter().filter_map(|(customer_id, entries)| {
                Some(PendingEvents {
                    version: entries.last()?.version,
                    customer_id,
                    lease_until_ms: until,
                    entries,
                })
            });
            let batch = batch.collect();
            return Ok(WrittenClaim {
                batch,
                missed: false,
            });
        }
        let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
        let batch = self.held(owner, until, &ids).await?;
        Ok(WrittenClaim {
            batch,
            missed: true,
        })
    }

    /// Takes the lease, for `owner` until `until`, of every customer matching
    /// one of the `unclaimed` filters, in one write; how many it took. Each
    /// document's update is atomic: of several relays that saw the same
    /// expired lease, only the first one's filter still matches.
    async fn take_leases(
        &self,
        owner: &str,
        until: i64,
        unclaimed: Vec<bson::Document>,
    ) -> Result<usize> {
        let claimed = self
            .collection
            .update_many(
                doc! { "$or": unclaimed },
                doc! { "$set": { "leaseOwner": owner, "leaseUntilMs": until } },
            )
            .await?;
        Ok(usize::try_from(claimed.matched_count).unwrap_or(usize::MAX))
    }

    /// The pending events of those of `ids` that `owner`'s claim until
    /// `until` holds, read back.
    async fn held(&self, owner: &str, until: i64, ids: &[&str]) -> Result<Vec<PendingEvents>> {
        let held: Vec<CustomerDocument> = self
            .collection
            .find(doc! { "_id": { "$in": ids }, "leaseOwner": owner, "leaseUntilMs": until })
            .await?
            .try_collect()
            .await?;
        Ok(held
            .into_iter()
            .map(|document| document.into_pending(until))
            .collect())
    }

    /// Empties the outboxes of customers whose claimed events were all
    /// acknowledged and releases their leases, in one write for the batch.
    /// Returns the ids of those that changed since the claim and are still
    /// leased by `owner`: their outbox holds newer events too, so they need
    /// [`CustomerStore::mark_published`].
    #[tracing::instrument(skip_all, fields(customers = published.len()))]
    pub async fn mark_all_published(
        &self,
        owner: &str,
        published: &[&PendingEvents],
    ) -> Result<Vec<String>> {
        if published.is_empty() {
            return Ok(Vec::new());
        }
        // Recorded before they leave the outbox, so the history never misses
        // an event; one write for the batch.
        let entries: Vec<(&str, &OutboxEntry)> = published
            .iter()
            .flat_map(|p| p.entries.iter().map(|e| (p.customer_id.as_str(), e)))
            .collect();
        self.history.record(&entries).await?;
        let unchanged: Vec<bson::Document> = published
            .iter()
            .map(|p| {
                doc! {
                    "_id": &p.customer_id,
                    "version": p.version,
                    "leaseOwner": owner,
                    "leaseUntilMs": p.lease_until_ms,
                }
            })
            .collect();
        let result = self
            .collection
            .update_many(
                // Conditions inside the clauses, as in `claim_pending`.
                doc! { "$or": unchanged },
                {
                    let mut set = doc! { "pendingEvents": 0, "outbox": {} };
                    set.extend(document::released_lease());
                    doc! { "$set": set }
                },
            )
            .await?;
        if usize::try_from(result.matched_count).is_ok_and(|n| n == published.len()) {
            return Ok(Vec::new());
        }
        let ids: Vec<&str> = published.iter().map(|p| p.customer_id.as_str()).collect();
        self.ids(doc! { "_id": { "$in": ids }, "leaseOwner": owner }, None)
            .await
    }

    /// The ids of the customers matching `filter`.
    async fn ids(&self, filter: bson::Document, limit: Option<i64>) -> Result<Vec<String>> {
        let documents: Vec<bson::Document> = self
            .collection
            .clone_with_type::<bson::Document>()
            .find(filter)
            .projection(doc! { "_id": 1 })
            .limit(limit.unwrap_or(0))
            .await?
            .try_collect()
            .await?;
        Ok(documents
            .iter()
            .filter_map(|d| d.get_str("_id").ok().map(str::to_owned))
            .collect())
    }

    /// Records the acknowledged events of a claim in the history, then removes
    /// them from the customer's outbox and releases `owner`'s lease of that
    /// claim. Events a concurrent change added meanwhile stay. If another relay
    /// holds the lease now, nothing is removed.
    #[tracing::instrument(skip_all, fields(customer_id = %claim.customer_id))]
    pub async fn mark_published(
        &self,
        owner: &str,
        claim: &PendingEvents,
        acknowledged: &[OutboxEntry],
    ) -> Result<()> {
        let customer_id = claim.customer_id.as_str();
        let entries: Vec<(&str, &OutboxEntry)> =
            acknowledged.iter().map(|e| (customer_id, e)).collect();
        self.history.record(&entries).await?;
        let held = doc! {
            "_id": customer_id,
            "leaseOwner": owner,
            "leaseUntilMs": claim.lease_until_ms,
        };
        // In parts (see `MAX_REMOVED_PER_UPDATE`), the lease given up with the
        // last; one update for the common small batch.
        let parts: Vec<&[OutboxEntry]> = match acknowledged.len() {
            0 => vec![acknowledged],
            _ => acknowledged
                .chunks(document::MAX_REMOVED_PER_UPDATE)
                .collect(),
        };
        for (i, part) in parts.iter().enumerate() {
            let update = document::published_update(part, i + 1 == parts.len());
            let result = self.collection.update_one(held.clone(), update).await?;
            if result.matched_count == 0 {
                tracing::warn!(customer_id, "lease lost before the outbox was updated");
                break;
            }
        }
        Ok(())
    }

    /// Gives up every lease `owner` holds (on shutdown), so other instances can
    /// take over at once instead of waiting for the leases to expire.
    pub async fn release_all(&self, owner: &str) -> Result<u64> {
        let result = self
            .collection
            .update_many(
                doc! { "leaseOwner": owner },
                doc! { "$set": document::released_lease() },
            )
            .await?;
        Ok(result.modified_count)
    }

    /// Gives up `owner`'s lease on a customer, so any relay may retry it.
    pub async fn release(&self, owner: &str, customer_id: &str) -> Result<()> {
        self.collection
            .update_one(
                doc! { "_id": customer_id, "leaseOwner": owner },
                doc! { "$set": document::released_lease() },
            )
            .await?;
        Ok(())
    }

    /// Number of customers with unpublished events. Counted from the ids that
    /// the `pendingEvents` index yields: the local MongoDB-protocol server
    /// answers `count_documents` by reading every document, hundreds of
    /// milliseconds for a few thousand customers.
    pub async fn backlog(&self) -> Result<u64> {
        let ids = self
            .ids(doc! { "pendingEvents": { "$gt": 0 } }, None)
            .await?;
        Ok(ids.len() as u64)
    }
}

/// The customer after `submission` applied to `known`, how it changed, and
/// the type of the event that announces it.
fn next_state(
    known: &Known,
    submission: &CustomerSubmission,
) -> (Customer, ChangeOutcome, CustomerChangeType) {
    let profile = submission.profile.clone();
    match &known.customer {
        Some(current) if !known.deleted => {
            let (next, outcome) = current.change(profile);
            (next, outcome, CustomerChangeType::Updated)
        }
        // Created again: the versions continue.
        _ => {
            let next = Customer::next_of(&known.id, known.version, profile);
            (next, ChangeOutcome::Created, CustomerChangeType::Created)
        }
    }
}
