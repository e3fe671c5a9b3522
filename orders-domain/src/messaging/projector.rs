//! The replica projector: consumes customer change events and applies them to
//! the customer replica.
//!
//! Offsets follow the at-least-once pattern: auto-commit is on but an offset is
//! *stored* (made eligible for commit) only after the record's effect is durable,
//! either applied to MongoDB, found stale, or dead-lettered with the broker's
//! acknowledgement. On shutdown the stored offsets are committed synchronously.
//! Records of one partition are handled one at a time, in order.
//!
//! A valid event waits for MongoDB, whatever the error (unreachable, not
//! authorised, the replica pointer missing): it is retried with backoff while
//! its partition waits, which the watchdog ([`super::lag`]) reports as a
//! stall. Only records that cannot be decoded or validated are dead-lettered.
//! Consumer errors that only report the connection state (all brokers down,
//! a transport failure) are logged and never pause consumption, so the
//! projector is back within a fetch of the broker's return; a fatal consumer
//! error ends the projector, which ends the process.

use std::sync::Arc;
use std::time::{Duration, Instant};

use platform_infra::retry::{self, Backoff};
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
use super::lag::{ProjectorContext, ProjectorStatus};
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
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Handled {
    Done,
    /// Shutdown came before the record's effect was durable; its offset must
    /// not be stored.
    Interrupted,
}

/// Consumes the customer change topic into the replica.
pub struct ReplicaProjector {
    consumer: Arc<StreamConsumer<ProjectorContext>>,
    store: CustomerOrdersStore,
    dead_letters: DeadLetterPublisher,
    settings: ConsumerSettings,
    applied: AppliedFeed,
    status: ProjectorStatus,
}

impl ReplicaProjector {
    /// `consumer` must already be subscribed to the customer change topic;
    /// `applied` hears of every change once it is durable.
    pub fn new(
        consumer: Arc<StreamConsumer<ProjectorContext>>,
        store: CustomerOrdersStore,
        dead_letters: DeadLetterPublisher,
        settings: ConsumerSettings,
        applied: AppliedFeed,
        status: ProjectorStatus,
    ) -> Self {
        ReplicaProjector {
            consumer,
            store,
            dead_letters,
            settings,
            applied,
            status,
        }
    }

    /// Consumes until `shutdown` is cancelled, then commits the stored offsets.
    /// Ends early, with an error, only on a fatal consumer error.
    pub async fn run(self, shutdown: CancellationToken) -> anyhow::Result<ProjectorReport> {
        let mut report = ProjectorReport::default();
        let mut connection_errors = ConnectionErrorLog::default();
        let mut fatal = None;
        loop {
            let received = tokio::select! {
                () = shutdown.cancelled() => break,
                received = self.consumer.recv() => received,
            };
            let message = match received {
                Ok(message) => message,
                Err(e) if is_connection_state(&e) => {
                    connection_errors.record(&e);
                    continue;
                }
                Err(KafkaError::MessageConsumptionFatal(code)) => {
                    tracing::error!(%code, "fatal consumer error; the projector stops");
                    fatal = Some(code);
                    break;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "consumer error");
                    let mut pause = Backoff::new(retry::FIRST_DELAY);
                    if pause.pause(&shutdown).await.is_err() {
                        break;
                    }
                    continue;
                }
            };
            connection_errors.recovered();
            if self.project(&message, &mut report, &shutdown).await == Handled::Interrupted {
                break;
            }
        }
        self.final_commit();
        tracing::info!(?report, "replica projector stopped");
        match fatal {
            Some(code) => Err(anyhow::anyhow!("fatal consumer error: {code}")),
            None => Ok(report),
        }
    }

    /// Handles one record in the trace of the change that made it, then
    /// stores its offset, unless shutdown interrupted it.
    async fn project(
        &self,
        message: &BorrowedMessage<'_>,
        report: &mut ProjectorReport,
        shutdown: &CancellationToken,
    ) -> Handled {
        self.status.begin(message.partition(), message.offset());
        let parent = trace_parent_of(message);
        let span = tracing::info_span!(
            "apply",
            trace_id = parent.as_ref().map_or("", TraceParent::trace_id)
        );
        if let Some(parent) = &parent {
            parent.continue_in(&span);
        }
        let handled = self
            .handle(message, report, shutdown)
            .instrument(span)
            .await;
        match handled {
            Handled::Done => {
                if let Err(e) = self.consumer.store_offset_from_message(message) {
                    tracing::warn!(error = %e, "cannot store offset (partition revoked?)");
                }
                self.status.handled(message.partition(), message.offset());
            }
            Handled::Interrupted => self.status.abandoned(),
        }
        handled
    }

    /// Commits the stored offsets on the way out.
    fn final_commit(&self) {
        match self.consumer.commit_consumer_state(CommitMode::Sync) {
            Ok(()) => tracing::info!("stored offsets committed"),
            Err(KafkaError::ConsumerCommit(RDKafkaErrorCode::NoOffset)) => {
                tracing::info!("no offsets left to commit");
            }
            Err(e) => tracing::warn!(error = %e, "final offset commit failed"),
        }
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
        let mut backoff = Backoff::new(self.settings.max_backoff());
        loop {
            match self.store.apply(&event).await {
                Ok(outcome) => {
                    self.count_applied(&event, outcome, report);
                    if attempt > 0 {
                        tracing::info!(attempts = attempt + 1, "event applied after retries");
                    }
                    return Handled::Done;
                }
                Err(e) => {
                    attempt += 1;
                    // A valid event is never dead-lettered for what MongoDB
                    // says: the partition waits, and the watchdog reports it.
                    tracing::warn!(
                        error = format!("{e:#}"),
                        transient = e.is_transient(),
                        attempt,
                        "cannot apply a valid event; retrying it while its partition waits"
                    );
                    metrics::counter!("projector_apply_retries_total").increment(1);
                }
            }
            if backoff.pause(shutdown).await.is_err() {
                return Handled::Interrupted;
            }
        }
    }

    /// Counts an event the replica took (or already had), and announces it
    /// to reads waiting for its version.
    fn count_applied(
        &self,
        event: &CustomerChangeEnvelope,
        outcome: ApplyOutcome,
        report: &mut ProjectorReport,
    ) {
        let label = match outcome {
            ApplyOutcome::Inserted | ApplyOutcome::Updated => {
                report.applied += 1;
                self.status.applied_now();
                "applied"
            }
            ApplyOutcome::Stale => {
                report.stale += 1;
                "stale"
            }
        };
        metrics::counter!("projector_events_total", "outcome" => label).increment(1);
        tracing::debug!(customer_id = %event.data.id, version = event.data.version,
            ?outcome, "change event handled");
        // Stale too: the replica holds this version or a newer one.
        self.applied.announce(
            &event.data.id,
            i64::try_from(event.data.version).unwrap_or(i64::MAX),
        );
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
        let mut backoff = Backoff::new(self.settings.max_backoff());
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
            if backoff.pause(shutdown).await.is_err() {
                return Handled::Interrupted;
            }
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

/// Whether a consumer error only reports the connection state, which
/// librdkafka recovers from by itself: such errors never pause consumption.
fn is_connection_state(error: &KafkaError) -> bool {
    let code = match error {
        KafkaError::MessageConsumption(code) | KafkaError::Global(code) => *code,
        _ => return false,
    };
    matches!(
        code,
        RDKafkaErrorCode::AllBrokersDown
            | RDKafkaErrorCode::BrokerTransportFailure
            | RDKafkaErrorCode::Resolve
            | RDKafkaErrorCode::NetworkException
            | RDKafkaErrorCode::RequestTimedOut
            | RDKafkaErrorCode::OperationTimedOut
            | RDKafkaErrorCode::CoordinatorNotAvailable
            | RDKafkaErrorCode::NotCoordinator
            | RDKafkaErrorCode::LeaderNotAvailable
            | RDKafkaErrorCode::NotLeaderForPartition
    )
}

/// Logs connection-state errors without flooding: the first of an outage, then
/// at most one line every 10 s with the count, and the recovery.
#[derive(Default)]
struct ConnectionErrorLog {
    since: Option<Instant>,
    count: u64,
    last_logged: Option<Instant>,
}

impl ConnectionErrorLog {
    const EVERY: Duration = Duration::from_secs(10);

    fn record(&mut self, error: &KafkaError) {
        metrics::counter!("projector_connection_errors_total").increment(1);
        let now = Instant::now();
        self.since.get_or_insert(now);
        self.count += 1;
        if self
            .last_logged
            .is_none_or(|t| now.duration_since(t) >= Self::EVERY)
        {
            self.last_logged = Some(now);
            tracing::warn!(error = %error, errors = self.count,
                for_s = now.duration_since(self.since.unwrap_or(now)).as_secs(),
                "Kafka connection lost; consumption resumes when the broker answers");
        }
    }

    fn recovered(&mut self) {
        if let Some(since) = self.since.take() {
            tracing::info!(errors = self.count, after = ?since.elapsed(), "Kafka connection back");
            self.count = 0;
            self.last_logged = None;
        }
    }
}
