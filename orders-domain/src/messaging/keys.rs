//! The key ring: the customers' data keys, read from the keys topic and
//! unwrapped with the key-encryption key, so that sealed change events can be
//! opened.
//!
//! A follower task reads the whole keys topic from its start (no consumer
//! group, nothing committed) and then follows it: a record puts the
//! customer's key, a tombstone removes it. Accounts publishes a key before the
//! first event sealed with it and waits for the acknowledgement, so when a
//! sealed event is read the key is on the keys topic already. A lookup that
//! misses waits until the follower has read everything the keys topic held at
//! that moment; a key still missing then was erased (or never reached the
//! topic), and the event is applied without personal data.
//!
//! A key that does not unwrap (another key-encryption key) is never taken
//! for an erased one: lookups of that customer fail, and the projector waits
//! and retries, which the watchdog reports as a stall.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use anyhow::Context;
use platform_infra::config::{CryptoSettings, KafkaSettings};
use platform_infra::kafka;
use platform_infra::retry::{self, Backoff};
use platform_infra::shutdown::CancellationToken;
use rdkafka::consumer::{BaseConsumer, Consumer, StreamConsumer};
use rdkafka::message::BorrowedMessage;
use rdkafka::{Message, Offset, TopicPartitionList};
use shared_events::crypto::{DataKey, KeyEncryptionKey, WrappedKey};
use shared_events::{CustomerChange, CustomerRecord, DecodeError};
use tokio::sync::Notify;

use super::offsets;

/// Longest a lookup waits for the follower to reach the keys topic's end.
pub const CATCH_UP_LIMIT: Duration = Duration::from_secs(30);

/// What the ring holds of one customer.
#[derive(Debug, Clone)]
enum Entry {
    Key(DataKey),
    /// The latest record did not unwrap: lookups fail until a good one comes.
    Unusable(String),
}

#[derive(Default)]
struct Ring {
    entries: HashMap<String, Entry>,
    /// Partition → next offset the follower will read.
    position: BTreeMap<i32, i64>,
}

/// The customers' data keys; clones share one ring.
#[derive(Clone)]
pub struct KeyRing {
    ring: Arc<Mutex<Ring>>,
    progressed: Arc<Notify>,
    kek: Arc<KeyEncryptionKey>,
    /// Reads the keys topic's watermarks; one client for the ring's life.
    metadata: Arc<BaseConsumer>,
    topic: String,
}

/// Why a key could not be looked up. The event waits and is retried.
#[derive(Debug, thiserror::Error)]
pub enum KeyLookupError {
    #[error("the keys topic could not be read to its end: {0:#}")]
    Unavailable(anyhow::Error),
    #[error("the data key of customer {customer} is unusable: {reason}")]
    Unusable { customer: String, reason: String },
}

impl KeyRing {
    /// An empty ring for `kafka.keys_topic`, unwrapping with the key of
    /// `crypto`, and the consumer to pass to [`KeyRing::follow`], which
    /// fills it.
    /// `fetch_wait_max_ms` is the follower's `fetch.wait.max.ms`: how long a
    /// new key may take to reach the ring (the local broker holds every fetch
    /// for the whole wait).
    pub fn new(
        kafka: &KafkaSettings,
        crypto: &CryptoSettings,
        fetch_wait_max_ms: u64,
    ) -> anyhow::Result<(KeyRing, StreamConsumer)> {
        let kek = KeyEncryptionKey::from_base64(&crypto.kek_id, crypto.kek_base64()?)
            .context("crypto.kek")?;
        // Assigned, not subscribed: the group only names the client.
        let group = format!("key-ring-{}", uuid::Uuid::new_v4().simple());
        let consumer = kafka::consumer_config(kafka, &group)
            .set("fetch.wait.max.ms", fetch_wait_max_ms.to_string())
            .create()
            .context("cannot create the keys topic consumer")?;
        let metadata = kafka::client_config(kafka)
            .create()
            .context("cannot create the keys topic metadata client")?;
        let ring = KeyRing {
            ring: Arc::default(),
            progressed: Arc::default(),
            kek: Arc::new(kek),
            metadata: Arc::new(metadata),
            topic: kafka.keys_topic.clone(),
        };
        Ok((ring, consumer))
    }

    /// `partition → (low, high)` watermarks of the keys topic now.
    async fn watermarks(&self) -> anyhow::Result<BTreeMap<i32, (i64, i64)>> {
        let (client, topic) = (self.metadata.clone(), self.topic.clone());
        tokio::task::spawn_blocking(move || offsets::watermarks_with(&client, &topic))
            .await
            .context("watermark task")?
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Ring> {
        // Every update is one insert or remove: a panic cannot leave it half-done.
        self.ring.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Reads the keys topic from its start into the ring, then follows it
    /// until `shutdown`. `consumer` is a fresh consumer (any group id; it
    /// commits nothing).
    pub async fn follow(
        self,
        consumer: StreamConsumer,
        shutdown: CancellationToken,
    ) -> anyhow::Result<()> {
        let Some(starts) = self.starts(&shutdown).await else {
            return Ok(());
        };
        let mut assignment = TopicPartitionList::new();
        for (&partition, &(low, _)) in &starts {
            assignment.add_partition_offset(&self.topic, partition, Offset::Offset(low))?;
        }
        consumer
            .assign(&assignment)
            .context("cannot assign the keys topic")?;
        self.lock().position = starts.iter().map(|(&p, &(low, _))| (p, low)).collect();
        self.progressed.notify_waiters();
        loop {
            let message = tokio::select! {
                () = shutdown.cancelled() => return Ok(()),
                message = consumer.recv() => message,
            };
            match message {
                Ok(message) => self.read(&message),
                // librdkafka reconnects by itself; lookups wait meanwhile.
                Err(e) => tracing::warn!(error = %e, "keys topic consumer error"),
            }
        }
    }

    /// The keys topic's watermarks, asked again while the broker is
    /// unreachable (it may be down at start-up: the ring waits for it, as the
    /// projector does, instead of ending, which would stop the service);
    /// `None` on shutdown.
    async fn starts(&self, shutdown: &CancellationToken) -> Option<BTreeMap<i32, (i64, i64)>> {
        let mut backoff = Backoff::new(retry::DEFAULT_MAX_DELAY);
        loop {
            match self.watermarks().await {
                Ok(starts) => return Some(starts),
                Err(e) => {
                    let error = format!("{e:#}");
                    tracing::warn!(error, "cannot read the keys topic's offsets; retrying");
                    backoff.pause(shutdown).await.ok()?;
                }
            }
        }
    }

    /// Puts a record of the keys topic into the ring: a wrapped key, or a
    /// tombstone that removes the customer's key.
    fn read(&self, message: &BorrowedMessage<'_>) {
        let (partition, offset) = (message.partition(), message.offset());
        let read = self.lock().position.get(&partition).copied();
        if read.is_some_and(|next| offset < next) {
            // Read already: the local broker sends records again after a gap
            // that compaction left.
            return;
        }
        let customer = message
            .key()
            .map(String::from_utf8_lossy)
            .unwrap_or_default();
        let entry = message.payload().map(|value| self.unwrap(&customer, value));
        let mut ring = self.lock();
        match entry {
            Some(entry) => ring.entries.insert(customer.into_owned(), entry),
            None => ring.entries.remove(customer.as_ref()),
        };
        ring.position.insert(partition, offset + 1);
        drop(ring);
        self.progressed.notify_waiters();
    }

    /// A record's value as a ring entry.
    fn unwrap(&self, customer: &str, value: &[u8]) -> Entry {
        let unwrapped = serde_json::from_slice::<WrappedKey>(value)
            .map_err(|e| format!("not a wrapped key: {e}"))
            .and_then(|wrapped| {
                if wrapped.customer_id != customer {
                    return Err(format!(
                        "wrapped for customer {:?}, keyed {customer:?}",
                        wrapped.customer_id
                    ));
                }
                self.kek.unwrap(&wrapped).map_err(|e| e.to_string())
            });
        match unwrapped {
            Ok(key) => Entry::Key(key),
            Err(reason) => {
                metrics::counter!("key_ring_unusable_keys_total").increment(1);
                tracing::error!(
                    customer_id = customer,
                    reason,
                    "a data key on the keys topic is unusable"
                );
                Entry::Unusable(reason)
            }
        }
    }

    /// The data key `key_id` of `customer`; `None` if it is not on the keys
    /// topic (erased). A miss waits until the follower has read what the
    /// topic holds now.
    pub async fn key(
        &self,
        customer: &str,
        key_id: &str,
    ) -> Result<Option<DataKey>, KeyLookupError> {
        if let Some(found) = self.find(customer, key_id)? {
            return Ok(Some(found));
        }
        let ends = self
            .watermarks()
            .await
            .map_err(KeyLookupError::Unavailable)?;
        let caught_up = async {
            loop {
                // Registered before the check, so progress made between the
                // check and the wait is not missed.
                let waiting = self.progressed.notified();
                tokio::pin!(waiting);
                waiting.as_mut().enable();
                let read_all = {
                    let ring = self.lock();
                    ends.iter().all(|(partition, &(_, high))| {
                        ring.position.get(partition).is_some_and(|&p| p >= high)
                    })
                };
                if read_all {
                    return;
                }
                waiting.await;
            }
        };
        tokio::time::timeout(CATCH_UP_LIMIT, caught_up)
            .await
            .map_err(|_| {
                KeyLookupError::Unavailable(anyhow::anyhow!(
                    "the keys topic follower did not reach the topic's end within {CATCH_UP_LIMIT:?}"
                ))
            })?;
        self.find(customer, key_id)
    }

    /// `record` upcast with its customer's data key, if it needs one: the
    /// outer error means the key could not be looked up (wait and retry),
    /// the inner one that the record is poison.
    pub async fn upcast(
        &self,
        record: &CustomerRecord,
    ) -> Result<Result<CustomerChange, DecodeError>, KeyLookupError> {
        let key = match record.key_id() {
            Some(key_id) => self.key(record.customer_id(), key_id).await?,
            None => None,
        };
        Ok(record.clone().upcast(key.as_ref()))
    }

    fn find(&self, customer: &str, key_id: &str) -> Result<Option<DataKey>, KeyLookupError> {
        match self.lock().entries.get(customer) {
            Some(Entry::Key(key)) if key.id() == key_id => Ok(Some(key.clone())),
            // Another key: the customer was erased and created again, and
            // this event was sealed with the erased key.
            Some(Entry::Key(_)) | None => Ok(None),
            Some(Entry::Unusable(reason)) => Err(KeyLookupError::Unusable {
                customer: customer.to_owned(),
                reason: reason.clone(),
            }),
        }
    }
}
