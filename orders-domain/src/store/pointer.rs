//! The pointer to the active replica generation, cached per process.
//!
//! Reading the pointer before every operation would cost a round trip per
//! event applied and per read. Instead each process keeps the generation it
//! last read for at most [`POINTER_LIFETIME`], counted from *before* the read
//! was sent, and reads it again after that. A switch ([`ReplicaPointer::switch`])
//! settles [`SWITCH_SETTLE`] after its write was acknowledged ([`Settle`]),
//! which is longer than any process may still use what it read before the
//! switch.
//!
//! Why a rebuild can then never lose an event: a projector that writes an
//! event to the retired generation received that event before it checked its
//! cached pointer, and checked it less than [`POINTER_LIFETIME`] after a read
//! that the database served before the switch. So the event was in the topic
//! before the switch plus [`POINTER_LIFETIME`], that is before the switch
//! settled; the rebuild takes the topic's ends after that and applies
//! everything up to them to the new generation. Likewise every pointer check
//! made after the switch settled gives the new generation (a read that
//! checked before may still be answered from the retired one a little later,
//! if its query is slow).
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
}

/// When a switch has settled: no process uses the generation it replaced
/// once [`Settle::wait`] returns.
#[derive(Debug, Clone, Copy)]
#[must_use = "a switch has not settled until `wait` returns"]
pub struct Settle {
    at: Instant,
}

impl Settle {
    /// Waits until the switch has settled. Not a synchronisation by
    /// guesswork: the bound every process keeps (module documentation).
    pub async fn wait(self) {
        tokio::time::sleep_until(self.at.into()).await;
    }
}

impl ReplicaPointer {
    pub fn new(meta: Collection<impl Send + Sync>) -> Self {
        ReplicaPointer {
            meta: meta.clone_with_type(),
            cached: Mutex::new(None),
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
    /// [`POINTER_LIFETIME`], otherwise read (one round trip). Callers that
    /// find the cache expired at once each read it: at most once a second
    /// per caller in flight, and none of them waits for another's read (which
    /// would queue them behind each other's timeouts while MongoDB is down).
    pub async fn generation(&self) -> Result<i64> {
        if let Some(generation) = self.fresh() {
            return Ok(generation);
        }
        let read_before = Instant::now();
        let pointer = self
            .meta
            .find_one(doc! { "_id": POINTER_ID })
            .await?
            .ok_or(StoreError::NoPointer)?;
        let mut cached = self.lock();
        // A read sent earlier than the cached one may answer later; keep the
        // newer read.
        if cached.is_none_or(|c| c.read_before < read_before) {
            *cached = Some(Cached {
                generation: pointer.generation,
                read_before,
            });
        }
        Ok(pointer.generation)
    }

    /// Points every process at `to` (stored in `collection`) if the active
    /// generation is still `from` (compare-and-set). Returns when the switch
    /// settles, or `None` if the active generation was not `from`.
    pub async fn switch(&self, from: i64, to: i64, collection: &str) -> Result<Option<Settle>> {
        let result = self
            .meta
            .update_one(
                doc! { "_id": POINTER_ID, "generation": from },
                doc! { "$set": { "generation": to, "collection": collection } },
            )
            .await?;
        *self.lock() = None;
        Ok((result.matched_count == 1).then(|| Settle {
            at: Instant::now() + SWITCH_SETTLE,
        }))
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
