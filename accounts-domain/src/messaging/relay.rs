//! The outbox relay: publishes pending customer events to Kafka and removes each
//! from its outbox only after the broker acknowledged it.
//!
//! Delivery is at-least-once. A crash after the acknowledgement and before the
//! outbox update republishes the same event (same CloudEvents id, same version);
//! the orders projection ignores it because its version is not newer.
//!
//! Ordering: a customer's events are enqueued oldest first with the customer id
//! as key, through an idempotent producer, so they land in one partition in
//! version order even when the producer retries. With several service
//! instances, a relay first claims a time-limited lease on the customer
//! document, so only one relay at a time publishes a given customer's events.

use std::sync::Arc;
use std::time::Duration;

use futures::future::join_all;
use platform_infra::config::KafkaSettings;
use platform_infra::retry::Backoff;
use platform_infra::shutdown::CancellationToken;
use platform_infra::trace_context::{TRACEPARENT, TraceParent};
use rdkafka::ClientConfig;
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};
use rdkafka::util::Timeout;
use shared_events::envelope::STRUCTURED_CONTENT_TYPE;
use shared_events::topics::headers;
use tokio::sync::Notify;

use crate::settings::RelaySettings;
use crate::store::{CustomerStore, KeyRecord, OutboxEntry, PendingEvents};

/// Longest pause between retries while Kafka or MongoDB is unavailable.
const MAX_BACKOFF: Duration = platform_infra::retry::DEFAULT_MAX_DELAY;

/// A drain left events in the outbox (already logged); the relay pauses and
/// tries again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct DrainFailed;

/// How the relay ended.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RelayReport {
    /// Events acknowledged by the broker over the relay's lifetime.
    pub published: u64,
    /// Customers still holding unpublished events when it stopped.
    pub left_pending: u64,
}

/// What the relay last saw of the outbox, for the `outbox` health component.
#[derive(Clone, Default)]
pub struct OutboxStatus(Arc<std::sync::Mutex<OutboxSeen>>);

#[derive(Default)]
struct OutboxSeen {
    backlog: Option<u64>,
    failing_since: Option<chrono::DateTime<chrono::Utc>>,
}

impl OutboxStatus {
    fn lock(&self) -> std::sync::MutexGuard<'_, OutboxSeen> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn drained(&self, ok: bool, backlog: Option<u64>) {
        let mut seen = self.lock();
        if backlog.is_some() {
            seen.backlog = backlog;
        }
        if ok {
            seen.failing_since = None;
        } else if seen.failing_since.is_none() {
            seen.failing_since = Some(chrono::Utc::now());
        }
    }

    /// `UP` while the relay publishes, `DELAYED` while publishing fails (the
    /// outbox keeps every event; they go out once the broker is back).
    pub fn health(&self) -> serde_json::Value {
        let seen = self.lock();
        serde_json::json!({
            "status": if seen.failing_since.is_some() { "DELAYED" } else { "UP" },
            "backlogCustomers": seen.backlog,
            "failingSince": seen.failing_since.map(|t| t.to_rfc3339()),
        })
    }
}

/// Publishes outbox entries to the customer change topic.
pub struct OutboxRelay {
    /// This instance's lease owner name.
    owner: String,
    /// How long a claimed customer stays with this instance: twice the produce
    /// timeout plus a margin, so a lease never runs out while its events are
    /// still in flight.
    lease: Duration,
    store: CustomerStore,
    producer: FutureProducer,
    /// To replace `producer` after failed deliveries.
    producer_config: ClientConfig,
    topic: String,
    /// Where data keys and their tombstones go, each before the first event
    /// that needs it there.
    keys_topic: String,
    /// Where each customer's newest event also goes (compacted), before the
    /// events: what a rebuild from state reads.
    state_topic: String,
    wake: Arc<Notify>,
    settings: RelaySettings,
    status: OutboxStatus,
}

impl OutboxRelay {
    /// `wake` is notified by the HTTP handlers after each write, so a new event is
    /// published at once instead of at the next poll.
    pub fn new(
        store: CustomerStore,
        kafka: &KafkaSettings,
        wake: Arc<Notify>,
        settings: RelaySettings,
    ) -> anyhow::Result<Self> {
        let producer_config = platform_infra::kafka::reliable_producer_config(kafka);
        let message_timeout = Duration::from_millis(kafka.message_timeout_ms);
        Ok(OutboxRelay {
            owner: format!("relay-{}", uuid::Uuid::new_v4().simple()),
            lease: message_timeout * 2 + Duration::from_secs(5),
            store,
            producer: producer_config.create()?,
            producer_config,
            topic: kafka.topic.clone(),
            keys_topic: kafka.keys_topic.clone(),
            state_topic: kafka.state_topic.clone(),
            wake,
            settings,
            status: OutboxStatus::default(),
        })
    }

    /// What the relay reports to the health endpoint.
    pub fn status(&self) -> OutboxStatus {
        self.status.clone()
    }

    /// Runs until `shutdown` is cancelled, then spends at most the configured
    /// drain time publishing what is still pending, and as much again flushing
    /// the producer.
    pub async fn run(mut self, shutdown: CancellationToken) -> RelayReport {
        let mut report = RelayReport::default();
        let mut backoff = Backoff::new(MAX_BACKOFF);
        let mut failing = false;
        let mut last_scan = tokio::time::Instant::now();
        loop {
            let wait = if failing {
                backoff.next_delay()
            } else {
                self.settings.poll_interval()
            };
            // Woken by a write of this process, the relay claims what it
            // wrote; a retry after a failure scans, and so does at least one
            // drain per poll interval, however often writes wake it.
            let woken = tokio::select! {
                () = shutdown.cancelled() => break,
                () = self.wake.notified() => true,
                () = tokio::time::sleep(wait) => false,
            };
            let scan = failing || !woken || last_scan.elapsed() >= self.settings.poll_interval();
            if scan {
                last_scan = tokio::time::Instant::now();
            }
            // Abandoning a drain half-way is safe: whatever was not marked
            // published stays in the outbox and is published again later.
            let drained = tokio::select! {
                () = shutdown.cancelled() => break,
                drained = self.drain(&mut report, scan) => drained,
            };
            match drained {
                Ok(()) => {
                    failing = false;
                    backoff.reset();
                }
                Err(DrainFailed) => {
                    failing = true;
                    self.note_failed_drain().await;
                }
            }
        }
        self.shut_down(report).await
    }

    /// After a failed drain: the backlog, as far as the store can tell, to the
    /// gauge and the health status.
    async fn note_failed_drain(&self) {
        let backlog = self.store.backlog().await.ok();
        if let Some(backlog) = backlog {
            metrics::gauge!("outbox_backlog_customers").set(backlog as f64);
        }
        self.status.drained(false, backlog);
    }

    /// A last drain and a producer flush, each within the configured drain
    /// time, then the leases released.
    async fn shut_down(mut self, mut report: RelayReport) -> RelayReport {
        let limit = self.settings.shutdown_drain();
        let drain = tokio::time::timeout(limit, self.drain(&mut report, true));
        if drain.await.is_err() {
            tracing::warn!("shutdown drain timed out; pending events stay in the outbox");
        }
        if let Err(e) = self
            .producer
            .flush(Timeout::After(self.settings.shutdown_drain()))
        {
            tracing::warn!(error = %e, "producer flush on shutdown failed");
        }
        if let Err(e) = self.store.release_all(&self.owner).await {
            tracing::warn!(error = %e, "cannot release leases; other instances wait for them to expire");
        }
        report.left_pending = self.store.backlog().await.unwrap_or(0);
        tracing::info!(?report, "outbox relay stopped");
        report
    }

    /// Publishes the events this process wrote, claimed without a scan (three
    /// round trips a batch: claim, history, mark); then, with `scan` or when
    /// some of them could not be claimed that way, publishes batches until no
    /// customer has pending events. `Err` means a batch failed (already
    /// logged) and should be retried after a pause.
    ///
    /// A scanned batch smaller than the batch size took everything
    /// claimable, so the drain ends without another scan: a write made
    /// meanwhile has left a wake permit, and the poll interval catches other
    /// instances' writes.
    async fn drain(&mut self, report: &mut RelayReport, mut scan: bool) -> Result<(), DrainFailed> {
        loop {
            let claimed = self
                .store
                .claim_written(&self.owner, self.lease, self.settings.batch_size)
                .await
                .map_err(|e| {
                    tracing::warn!(error = %e, "cannot claim the events written here");
                    DrainFailed
                })?;
            scan |= claimed.missed;
            if claimed.batch.is_empty() {
                break;
            }
            self.publish_and_mark(&claimed.batch, report).await?;
        }
        while scan {
            let batch = self
                .store
                .claim_pending(&self.owner, self.lease, self.settings.batch_size)
                .await
                .map_err(|e| {
                    tracing::warn!(error = %e, "cannot read the outbox");
                    DrainFailed
                })?;
            if batch.is_empty() {
                let backlog = self.store.backlog().await.ok();
                if let Some(backlog) = backlog {
                    metrics::gauge!("outbox_backlog_customers").set(backlog as f64);
                }
                self.status.drained(true, backlog);
                return Ok(());
            }
            self.publish_and_mark(&batch, report).await?;
            scan = (batch.len() as i64) >= self.settings.batch_size;
        }
        Ok(())
    }

    /// Publishes a claimed batch; a fresh producer after a failure.
    async fn publish_and_mark(
        &mut self,
        batch: &[PendingEvents],
        report: &mut RelayReport,
    ) -> Result<(), DrainFailed> {
        let published = self.publish_batch(batch, report).await;
        if published.is_err() {
            self.renew_producer();
        }
        published
    }

    /// Publishes a claimed batch and removes what the broker acknowledged
    /// from the outbox; `Err` if anything stays to be published again.
    async fn publish_batch(
        &self,
        batch: &[PendingEvents],
        report: &mut RelayReport,
    ) -> Result<(), DrainFailed> {
        let outcomes = join_all(batch.iter().map(|p| self.publish(p))).await;
        let mut failed = false;
        let mut complete = Vec::with_capacity(batch.len());
        let mut partial = Vec::new();
        for (pending, acknowledged) in batch.iter().zip(outcomes) {
            report.published += acknowledged as u64;
            if acknowledged == pending.entries.len() {
                complete.push(pending);
                continue;
            }
            failed = true;
            if acknowledged == 0 {
                if let Err(e) = self.store.release(&self.owner, &pending.customer_id).await {
                    tracing::warn!(error = %e, "cannot release lease; it will expire");
                }
            } else {
                partial.push((pending, acknowledged));
            }
        }
        // Customers changed since the claim hold newer events that must stay:
        // those are marked one by one, removing only what was published.
        match self.store.mark_all_published(&self.owner, &complete).await {
            Ok(changed) => partial.extend(
                complete
                    .iter()
                    .filter(|p| changed.contains(&p.customer_id))
                    .map(|p| (*p, p.entries.len())),
            ),
            Err(e) => {
                tracing::warn!(error = %e, customers = complete.len(),
                    "published events stay in the outbox and will be republished");
                failed = true;
            }
        }
        for (pending, acknowledged) in partial {
            let customer_id = &pending.customer_id;
            if let Err(e) = self
                .store
                .mark_published(&self.owner, pending, &pending.entries[..acknowledged])
                .await
            {
                tracing::warn!(error = %e, %customer_id,
                    "published events stay in the outbox and will be republished");
                failed = true;
                // A customer changing faster than the mark can follow would
                // otherwise stay leased, and unpublished, until the lease
                // expires.
                if let Err(e) = self.store.release(&self.owner, customer_id).await {
                    tracing::warn!(error = %e, "cannot release lease; it will expire");
                }
            }
        }
        if failed { Err(DrainFailed) } else { Ok(()) }
    }

    /// Replaces the producer after failed deliveries, so retries go out under a
    /// fresh producer id instead of librdkafka bumping the old id's epoch; with
    /// acknowledged events removed from the outbox already, nothing is lost, and
    /// a duplicate is ignored by the projection. (tansu 0.6, the local broker,
    /// fails on epoch bumps after a broker crash.)
    fn renew_producer(&mut self) {
        match self.producer_config.create() {
            Ok(producer) => self.producer = producer,
            Err(e) => {
                tracing::warn!(error = %e, "cannot create a new producer; keeping the old one")
            }
        }
    }

    /// Publishes the keys topic records `entries` carry, in order, and waits
    /// for each acknowledgement: a consumer that finds an event must find the
    /// key it is sealed with (or its tombstone) on the keys topic already.
    /// Whether all were acknowledged.
    async fn publish_keys(&self, customer_id: &str, entries: &[OutboxEntry]) -> bool {
        for entry in entries {
            let value = match &entry.key {
                None => continue,
                Some(KeyRecord::Publish(wrapped)) => {
                    Some(serde_json::to_vec(wrapped).unwrap_or_default())
                }
                Some(KeyRecord::Tombstone) => None,
            };
            let mut record = FutureRecord::<str, Vec<u8>>::to(&self.keys_topic).key(customer_id);
            if let Some(value) = &value {
                record = record.payload(value);
            }
            match self.producer.send(record, Timeout::Never).await {
                Ok(_) => metrics::counter!("outbox_key_records_published_total").increment(1),
                Err((e, _)) => {
                    tracing::warn!(error = %e, version = entry.version,
                        "broker did not acknowledge a keys topic record; the event waits");
                    return false;
                }
            }
        }
        true
    }

    /// Publishes the newest of `entries` on the state topic and waits for the
    /// acknowledgement. Before the events, so that a rebuild from state, which
    /// reads the state topic after noting the change topic's ends, finds a
    /// state at least as new as every event below those ends. Whether it was
    /// acknowledged.
    async fn publish_state(&self, customer_id: &str, entries: &[OutboxEntry]) -> bool {
        let Some(newest) = entries.last() else {
            return true;
        };
        let record = FutureRecord::to(&self.state_topic)
            .key(customer_id)
            .payload(&newest.payload)
            .headers(OwnedHeaders::new().insert(Header {
                key: headers::CONTENT_TYPE,
                value: Some(STRUCTURED_CONTENT_TYPE),
            }));
        match self.producer.send(record, Timeout::Never).await {
            Ok(_) => {
                metrics::counter!("outbox_state_records_published_total").increment(1);
                true
            }
            Err((e, _)) => {
                tracing::warn!(error = %e, version = newest.version,
                    "broker did not acknowledge a state record; the events wait");
                false
            }
        }
    }

    /// Enqueues all of one customer's pending events in order and returns how
    /// many were acknowledged, stopping at the first failure so the removed
    /// events are always a prefix of the outbox. The keys topic records the
    /// events carry go first, then the newest state.
    #[tracing::instrument(skip_all, fields(customer_id = %pending.customer_id))]
    async fn publish(&self, pending: &PendingEvents) -> usize {
        let (customer_id, entries) = (&pending.customer_id, &pending.entries);
        if !self.publish_keys(customer_id, entries).await
            || !self.publish_state(customer_id, entries).await
        {
            return 0;
        }
        let enqueued = std::time::Instant::now();
        let mut deliveries = Vec::with_capacity(pending.entries.len());
        for entry in &pending.entries {
            // The relay's publish is a child span of the request's trace.
            let traceparent = entry
                .traceparent
                .as_deref()
                .and_then(TraceParent::parse)
                .map_or_else(TraceParent::new_root, |t| t.child())
                .to_string();
            let record = FutureRecord::to(&self.topic)
                .key(&pending.customer_id)
                .payload(&entry.payload)
                .headers(
                    OwnedHeaders::new()
                        .insert(Header {
                            key: headers::CONTENT_TYPE,
                            value: Some(STRUCTURED_CONTENT_TYPE),
                        })
                        .insert(Header {
                            key: TRACEPARENT,
                            value: Some(&traceparent),
                        }),
                );
            match self.producer.send_result(record) {
                Ok(delivery) => deliveries.push(delivery),
                Err((e, _)) => {
                    tracing::warn!(error = %e, "cannot enqueue event");
                    break;
                }
            }
        }
        let mut acknowledged = 0;
        for (entry, delivery) in pending.entries.iter().zip(deliveries) {
            match delivery.await {
                Ok(Ok(_)) => {
                    metrics::counter!("outbox_events_published_total").increment(1);
                    metrics::histogram!("outbox_publish_duration_seconds")
                        .record(enqueued.elapsed().as_secs_f64());
                    acknowledged += 1;
                }
                Ok(Err((e, _))) => {
                    tracing::warn!(error = %e, version = entry.version, "broker did not acknowledge event");
                    break;
                }
                Err(_) => {
                    tracing::warn!(version = entry.version, "producer dropped the delivery");
                    break;
                }
            }
        }
        acknowledged
    }
}
