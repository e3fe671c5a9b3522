//! The replica projector: consumes customer change events and applies them to
//! the customer replica.
//!
//! Offsets follow the at-least-once pattern: auto-commit is on but an offset is
//! *stored* (made eligible for commit) only after the record's effect is durable,
//! either applied to MongoDB, found stale, or dead-lettered with the broker's
//! acknowledgement. On shutdown the stored offsets are committed synchronously.
//! Records of one partition are handled one at a time, in order.

use std::time::Duration;

use platform_infra::shutdown::CancellationToken;
use platform_infra::trace_context::{TRACEPARENT, TraceParent};
use rdkafka::Message;
use rdkafka::consumer::{CommitMode, Consumer, StreamConsumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{BorrowedMessage, Headers};
use shared_events::CustomerChangeEnvelope;
use tracing::Instrument;

use super::applied::AppliedFeed;
use super::dead_letter::DeadLetterPublisher;
use super::lag::LagReporter;
use crate::domain::ApplyOutcome;
use crate::settings::ConsumerSettings;
use crate::store::CustomerOrdersStore;

/// Counts of what the projector did over its lifetime.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ProjectorReport {
    pub applied: u64,
    pub stale: u64,
    pub dead_lettered: u64,
}

/// How handling one record ended.
enum Handled {
    Done,
    /// Shutdown came before the record's effect was durable; its offset must
    /// not be stored.
    Interrupted,
}

/// Consumes the customer change topic into the replica.
pub struct ReplicaProjector {
    consumer: StreamConsumer<LagReporter>,
    store: CustomerOrdersStore,
    dead_letters: DeadLetterPublisher,
    settings: ConsumerSettings,
    applied: AppliedFeed,
}

impl ReplicaProjector {
    /// `consumer` must already be subscribed to the customer change topic;
    /// `applied` hears of every change once it is durable.
    pub fn new(
        consumer: StreamConsumer<LagReporter>,
        store: CustomerOrdersStore,
        dead_letters: DeadLetterPublisher,
        settings: ConsumerSettings,
        applied: AppliedFeed,
    ) -> Self {
        ReplicaProjector {
            consumer,
            store,
            dead_letters,
            settings,
            applied,
        }
    }

    /// Consumes until `shutdown` is cancelled, then commits the stored offsets.
    pub async fn run(self, shutdown: CancellationToken) -> ProjectorReport {
        let mut report = ProjectorReport::default();
        loop {
            let received = tokio::select! {
                () = shutdown.cancelled() => break,
                received = self.consumer.recv() => received,
            };
            let message = match received {
                Ok(message) => message,
                Err(e) => {
                    tracing::warn!(error = %e, "consumer error");
                    if pause(&shutdown, Duration::from_millis(500)).await.is_err() {
                        break;
                    }
                    continue;
                }
            };
            let parent = trace_parent_of(&message);
            let span = tracing::info_span!(
                "apply",
                trace_id = parent.as_ref().map_or("", TraceParent::trace_id)
            );
            if let Some(parent) = &parent {
                parent.continue_in(&span);
            }
            let handled = self
                .handle(&message, &mut report, &shutdown)
                .instrument(span)
                .await;
            match handled {
                Handled::Done => {
                    if let Err(e) = self.consumer.store_offset_from_message(&message) {
                        tracing::warn!(error = %e, "cannot store offset (partition revoked?)");
                    }
                }
                Handled::Interrupted => break,
            }
        }
        match self.consumer.commit_consumer_state(CommitMode::Sync) {
            Ok(()) => tracing::info!("stored offsets committed"),
            Err(KafkaError::ConsumerCommit(RDKafkaErrorCode::NoOffset)) => {
                tracing::info!("no offsets left to commit");
            }
            Err(e) => tracing::warn!(error = %e, "final offset commit failed"),
        }
        tracing::info!(?report, "replica projector stopped");
        report
    }

    #[tracing::instrument(skip_all, fields(partition = message.partition(), offset = message.offset()))]
    async fn handle(
        &self,
        message: &BorrowedMessage<'_>,
        report: &mut ProjectorReport,
        shutdown: &CancellationToken,
    ) -> Handled {
        let event = match CustomerChangeEnvelope::decode(message.payload().unwrap_or_default()) {
            Ok(event) => event,
            Err(e) => {
                return self
                    .dead_letter(message, &e.to_string(), report, shutdown)
                    .await;
            }
        };
        let mut attempt = 0u32;
        let mut backoff = Duration::from_millis(100);
        loop {
            match self.store.apply(&event).await {
                Ok(outcome) => {
                    match outcome {
                        ApplyOutcome::Inserted | ApplyOutcome::Updated => {
                            report.applied += 1;
                            metrics::counter!("projector_events_total", "outcome" => "applied")
                                .increment(1);
                        }
                        ApplyOutcome::Stale => {
                            report.stale += 1;
                            metrics::counter!("projector_events_total", "outcome" => "stale")
                                .increment(1);
                        }
                    }
                    tracing::debug!(customer_id = %event.data.id, version = event.data.version,
                        ?outcome, "change event handled");
                    // Stale too: the replica holds this version or a newer one.
                    self.applied.announce(
                        &event.data.id,
                        i64::try_from(event.data.version).unwrap_or(i64::MAX),
                    );
                    return Handled::Done;
                }
                Err(e) if e.is_transient() => {
                    tracing::warn!(error = %e, "MongoDB unavailable; retrying the same event");
                }
                Err(e) => {
                    attempt += 1;
                    tracing::warn!(error = %e, attempt, "cannot apply event");
                    if attempt >= self.settings.max_apply_attempts {
                        let reason = format!("not applicable after {attempt} attempts: {e}");
                        return self.dead_letter(message, &reason, report, shutdown).await;
                    }
                }
            }
            if pause(shutdown, backoff).await.is_err() {
                return Handled::Interrupted;
            }
            backoff = (backoff * 2).min(self.settings.max_backoff());
        }
    }

    /// Publishes to the dead-letter topic, retrying until acknowledged: the
    /// record's offset may only advance once it is safe there.
    async fn dead_letter(
        &self,
        message: &BorrowedMessage<'_>,
        reason: &str,
        report: &mut ProjectorReport,
        shutdown: &CancellationToken,
    ) -> Handled {
        let mut backoff = Duration::from_millis(100);
        loop {
            match self.dead_letters.publish(message, reason).await {
                Ok(()) => {
                    report.dead_lettered += 1;
                    metrics::counter!("projector_events_total", "outcome" => "dead_lettered")
                        .increment(1);
                    tracing::warn!(
                        reason,
                        dlt = self.dead_letters.topic(),
                        "record dead-lettered"
                    );
                    return Handled::Done;
                }
                Err(e) => tracing::warn!(error = %e, "cannot dead-letter record; retrying"),
            }
            if pause(shutdown, backoff).await.is_err() {
                return Handled::Interrupted;
            }
            backoff = (backoff * 2).min(self.settings.max_backoff());
        }
    }
}

/// The record's `traceparent` header: the trace of the request that made the
/// change, which the apply span continues.
fn trace_parent_of(message: &BorrowedMessage<'_>) -> Option<TraceParent> {
    let headers = message.headers()?;
    headers
        .iter()
        .find(|h| h.key == TRACEPARENT)
        .and_then(|h| h.value)
        .and_then(|v| std::str::from_utf8(v).ok())
        .and_then(TraceParent::parse)
}

/// Sleeps for `duration` unless shutdown comes first (`Err`).
async fn pause(shutdown: &CancellationToken, duration: Duration) -> Result<(), ()> {
    tokio::select! {
        () = shutdown.cancelled() => Err(()),
        () = tokio::time::sleep(duration) => Ok(()),
    }
}
