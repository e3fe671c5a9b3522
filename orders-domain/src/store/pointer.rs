//! The pointer to the active replica generation, cached per process.
//!
//! Reading the pointer before every operation would cost a round trip per
//! event applied and per read. Instead each process keeps the generation it
//! last read for at most [`POINTER_LIFETIME`], counted from *before* the read
//! was sent, and reads it again after that. A switch ([`ReplicaPointer::switch`])
//! returns only once [`SWITCH_SETTLE`] has passed, which is longer than any
//! process may still use what it read before the switch.
//!
//! Why a rebuild can then never lose an event: a projector that writes an
//! event to the retired generation received that event before it checked its
//! cached pointer, and checked it less than [`POINTER_LIFETIME`] after a read
//! that the database served before the switch. So the event was in the topic
//! before the switch plus [`POINTER_LIFETIME`], that is before the switch
//! settled; the rebuild takes the topic's ends after that and applies
//! everything up to them to the new generation. And no read is served from
//! the retired generation once the switch has settled, since every cached
//! pointer read before the switch has expired by then.
//!
//! Both durations are measured on each process's own monotonic clock; no
//! clocks are compared across processes.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use mongodb::Collection;
use mongodb::bson::doc;
use platform_infra::mongo::is_duplicate_key;
use serde::{Deserialize, Serialize};

use super::{Result, StoreError};

/// How long a process uses a generation it read from the pointer.
pub const POINTER_LIFETIME: Duration = Duration::from_secs(1);

/// How long a switch waits before it returns: every process has read the
/// pointer again by then (the margin covers clock-rate differences and the
/// time the switch's own write took to be acknowledged, which only delays it).
pub const SWITCH_SETTLE: Duration = Duration::from_millis(1500);

/// `_id` of the pointer document in the meta collection.
const POINTER_ID: &str = "customer-replica";

/// The stored pointer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct PointerDocument {
    #[serde(rename = "_id")]
    id: String,
    generation: i64,
    collection: String,
}

/// A generation as last read, and when the read was sent.
#[derive(Debug, Clone, Copy)]
struct Cached {
    generation: i64,
    read_before: Instant,
}

/// The pointer document and this process's cached copy of it.
#[derive(Debug)]
pub struct ReplicaPointer {
    meta: Collection<PointerDocument>,
    cached: Mutex<Option<Cached>>,
    /// One read of the pointer at a time: callers that find the cache expired
    /// together wait for the same read.
    refresh: tokio::sync::Mutex<()>,
}

impl ReplicaPointer {
    pub fn new(meta: Collection<impl Send + Sync>) -> Self {
        ReplicaPointer {
            meta: meta.clone_with_type(),
            cached: Mutex::new(None),
            refresh: tokio::sync::Mutex::new(()),
        }
    }

    /// Creates the pointer to `generation` (stored in `collection`) unless one
    /// exists.
    pub async fn init(&self, generation: i64, collection: &str) -> Result<()> {
        let pointer = PointerDocument {
            id: POINTER_ID.to_owned(),
            generation,
            collection: collection.to_owned(),
        };
        match self.meta.insert_one(&pointer).await {
            Ok(_) => Ok(()),
            Err(e) if is_duplicate_key(&e) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// The active generation: from the cache while it is younger than
    /// [`POINTER_LIFETIME`], otherwise read (one round trip).
    pub async fn generation(&self) -> Result<i64> {
        if let Some(generation) = self.fresh() {
            return Ok(generation);
        }
        let _one_read = self.refresh.lock().await;
        if let Some(generation) = self.fresh() {
            return Ok(generation);
        }
        let read_before = Instant::now();
        let pointer = self
            .meta
            .find_one(doc! { "_id": POINTER_ID })
            .await?
            .ok_or(StoreError::NoPointer)?;
        *self.lock() = Some(Cached {
            generation: pointer.generation,
            read_before,
        });
        Ok(pointer.generation)
    }

    /// Points every process at `to` (stored in `collection`) if the active
    /// generation is still `from` (compare-and-set), and returns once no
    /// process uses `from` any more ([`SWITCH_SETTLE`]). Returns whether the
    /// switch happened.
    pub async fn switch(&self, from: i64, to: i64, collection: &str) -> Result<bool> {
        let result = self
            .meta
            .update_one(
                doc! { "_id": POINTER_ID, "generation": from },
                doc! { "$set": { "generation": to, "collection": collection } },
            )
            .await?;
        *self.lock() = None;
        if result.matched_count != 1 {
            return Ok(false);
        }
        // Not a synchronisation by guesswork: the bound every process keeps
        // (module documentation).
        tokio::time::sleep(SWITCH_SETTLE).await;
        Ok(true)
    }

    /// The cached generation, if still within its lifetime.
    fn fresh(&self) -> Option<i64> {
        let cached = (*self.lock())?;
        (cached.read_before.elapsed() < POINTER_LIFETIME).then_some(cached.generation)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<Cached>> {
        // The guarded value is a plain copy: a panic elsewhere cannot leave it
        // half-written.
        self.cached
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}
