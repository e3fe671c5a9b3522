//! The replica projector: consumes customer change events and applies them to
//! the customer replica.
//!
//! Offsets follow the at-least-once pattern: auto-commit is on but an offset is
//! *stored* (made eligible for commit) only after the record's effect is durable,
//! either applied to MongoDB, found stale, or dead-lettered with the broker's
//! acknowledgement. On shutdown the stored offsets are committed synchronously.
//!
//! Partitions are applied concurrently, each by a task of its own: one loop
//! receives records and queues each to its partition's task, which handles
//! them one at a time, in order. A customer's events share a partition (the
//! key is the customer id), so their order is kept; a partition that waits
//! (MongoDB refusing a write) holds back the others only once its queue of
//! [`PARTITION_QUEUE`] records is full.
//!
//! A valid event waits for MongoDB, whatever the error (unreachable, not
//! authorised, the replica pointer missing): it is retried with backoff while
//! its partition waits, which the watchdog ([`super::lag`]) reports as a
//! stall. Only records that cannot be decoded or validated are dead-lettered.
//! Consumer errors that only report the connection state (all brokers down,
//! a transport failure) are logged and never pause consumption, so the
//! projector is back within a fetch of the broker's return; a fatal consumer
//! error ends the projector, which ends the process.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use platform_infra::retry::{self, Backoff};
use platform_infra::shutdown::CancellationToken;
use platform_infra::trace_context::{TRACEPARENT, TraceParent};
use rdkafka::Message;
use rdkafka::consumer::{CommitMode, Consumer, StreamConsumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Headers, OwnedMessage};
use shared_events::{CustomerChange, CustomerRecord, DecodeError};
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tracing::Instrument;

use super::applied::AppliedFeed;
use super::dead_letter::DeadLetterPublisher;
use super::keys::KeyRing;
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

impl std::ops::AddAssign for ProjectorReport {
    fn add_assign(&mut self, other: ProjectorReport) {
        self.applied += other.applied;
        self.stale += other.stale;
        self.dead_lettered += other.dead_lettered;
    }
}

/// Records received for a partition ahead of the one its task is handling:
/// about a fetch's worth (1 MiB per partition by default), so that a
/// partition whose fetched run fills its queue rarely holds back the others
/// (with 64, the receiving loop waited on one partition while the others
/// idled, and three partitions were no faster than one).
pub const PARTITION_QUEUE: usize = 1024;

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
    keys: KeyRing,
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
        keys: KeyRing,
        dead_letters: DeadLetterPublisher,
        settings: ConsumerSettings,
        applied: AppliedFeed,
        status: ProjectorStatus,
    ) -> Self {
        ReplicaProjector {
            consumer,
            store,
            keys,
            dead_letters,
            settings,
            applied,
            status,
        }
    }

    /// Consumes until `shutdown` is cancelled, then commits the stored offsets.
    /// Ends early, with an error, on a fatal consumer error or if a
    /// partition's task panicked.
    pub async fn run(self, shutdown: CancellationToken) -> anyhow::Result<ProjectorReport> {
        let projector = Arc::new(self);
        let mut partitions = Partitions::new(&shutdown);
        let dispatched = projector.dispatch(&shutdown, &mut partitions).await;
        let (report, failed) = partitions.finish().await;
        projector.final_commit();
        tracing::info!(?report, "replica projector stopped");
        if let Some(failure) = dispatched.err().or(failed) {
            anyhow::bail!(failure);
        }
        Ok(report)
    }

    /// Receives records and queues each to its partition's task, until
    /// shutdown, a task's end (noted in `partitions`) or a fatal consumer
    /// error (returned).
    async fn dispatch(
        self: &Arc<Self>,
        shutdown: &CancellationToken,
        partitions: &mut Partitions,
    ) -> Result<(), String> {
        let mut connection_errors = ConnectionErrorLog::default();
        loop {
            let received = tokio::select! {
                biased;
                () = shutdown.cancelled() => return Ok(()),
                Some(ended) = partitions.tasks.join_next(), if !partitions.tasks.is_empty() => {
                    partitions.ended(ended, shutdown);
                    return Ok(());
                }
                received = self.consumer.recv() => received,
            };
            let message = match received {
                Ok(message) => message.detach(),
                Err(e) if is_connection_state(&e) => {
                    connection_errors.record(&e);
                    continue;
                }
                Err(KafkaError::MessageConsumptionFatal(code)) => {
                    tracing::error!(%code, "fatal consumer error; the projector stops");
                    return Err(format!("fatal consumer error: {code}"));
                }
                Err(e) => {
                    tracing::warn!(error = %e, "consumer error");
                    let mut pause = Backoff::new(retry::FIRST_DELAY);
                    if pause.pause(shutdown).await.is_err() {
                        return Ok(());
                    }
                    continue;
                }
            };
            connection_errors.recovered();
            self.status.queued(message.partition(), message.offset());
            if !partitions.queue(self, message, shutdown).await {
                return Ok(());
            }
        }
    }

    /// Handles one partition's records in the order received until its queue
    /// closes or shutdown interrupts it.
    async fn apply_partition(
        self: Arc<Self>,
        mut records: mpsc::Receiver<OwnedMessage>,
        shutdown: CancellationToken,
    ) -> ProjectorReport {
        let mut report = ProjectorReport::default();
        loop {
            let message = tokio::select! {
                biased;
                () = shutdown.cancelled() => break,
                message = records.recv() => match message {
                    Some(message) => message,
                    None => break,
                },
            };
            if self.project(&message, &mut report, &shutdown).await == Handled::Interrupted {
                break;
            }
        }
        report
    }

    /// Handles one record in the trace of the change that made it, then
    /// stores its offset, unless shutdown interrupted it.
    async fn project(
        &self,
        message: &OwnedMessage,
        report: &mut ProjectorReport,
        shutdown: &CancellationToken,
    ) -> Handled {
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
        let (partition, offset) = (message.partition(), message.offset());
        match handled {
            Handled::Done => {
                if let Err(e) = self
                    .consumer
                    .store_offset(message.topic(), partition, offset)
                {
                    tracing::warn!(error = %e, "cannot store offset (partition revoked?)");
                }
                self.status.handled(partition, offset);
            }
            Handled::Interrupted => self.status.abandoned(partition),
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
        message: &OwnedMessage,
        report: &mut ProjectorReport,
        shutdown: &CancellationToken,
    ) -> Handled {
        let record = match CustomerRecord::decode(message.payload().unwrap_or_default()) {
            Ok(record) => record,
            Err(e) => {
                if let DecodeError::UnknownType(event_type) = &e {
                    // The policy for a type this build does not know (a newer
                    // producer's): park it in the dead-letter topic, to be
                    // re-driven once orders is upgraded.
                    metrics::counter!("projector_unknown_types_total").increment(1);
                    tracing::warn!(event_type, "event type unknown to this build; parking it");
                }
                return self
                    .dead_letter(message, &e.to_string(), report, shutdown)
                    .await;
            }
        };
        let mut attempt = 0u32;
        let mut backoff = Backoff::new(self.settings.max_backoff());
        loop {
            let failure = match self.keys.upcast(&record).await {
                Ok(Ok(change)) => match self.store.apply(&change).await {
                    Ok(outcome) => {
                        self.count_applied(&change, outcome, report);
                        if attempt > 0 {
                            tracing::info!(attempts = attempt + 1, "event applied after retries");
                        }
                        return Handled::Done;
                    }
                    // A valid event is never dead-lettered for what MongoDB
                    // says: the partition waits, and the watchdog reports it.
                    Err(e) => format!("{:#}", anyhow::Error::from(e)),
                },
                // Sealed data its key does not open: a poison record.
                Ok(Err(e)) => {
                    return self
                        .dead_letter(message, &e.to_string(), report, shutdown)
                        .await;
                }
                // The keys topic is unreadable, or the key is unusable: never
                // taken for an erasure; the partition waits.
                Err(e) => e.to_string(),
            };
            attempt += 1;
            tracing::warn!(
                error = failure,
                attempt,
                "cannot apply a valid event; retrying it while its partition waits"
            );
            metrics::counter!("projector_apply_retries_total").increment(1);
            if backoff.pause(shutdown).await.is_err() {
                return Handled::Interrupted;
            }
        }
    }

    /// Counts an event the replica took (or already had), and announces it
    /// to reads waiting for its version.
    fn count_applied(
        &self,
        change: &CustomerChange,
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
        tracing::debug!(customer_id = %change.id, version = change.version,
            ?outcome, "change event handled");
        // Stale too: the replica holds this version or a newer one.
        self.applied.announce(&change.id, change.version);
    }

    /// Publishes to the dead-letter topic, retrying until acknowledged: the
    /// record's offset may only advance once it is safe there.
    async fn dead_letter(
        &self,
        message: &OwnedMessage,
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

/// The partitions' tasks, each applying the records queued to it in order.
struct Partitions {
    queues: HashMap<i32, mpsc::Sender<OwnedMessage>>,
    tasks: JoinSet<ProjectorReport>,
    /// Stops the tasks on shutdown, and also when the projector stops on its
    /// own (a fatal error, a failed task), so that none keeps retrying a
    /// record and holds the process up.
    stop: CancellationToken,
    report: ProjectorReport,
    failed: Option<String>,
}

impl Partitions {
    fn new(shutdown: &CancellationToken) -> Partitions {
        Partitions {
            queues: HashMap::new(),
            tasks: JoinSet::new(),
            stop: shutdown.child_token(),
            report: ProjectorReport::default(),
            failed: None,
        }
    }

    /// Queues `message` to its partition's task, started at the partition's
    /// first record. False when shutdown interrupts, or when the task has
    /// ended, which before its queue closes it does only by failing
    /// ([`Partitions::finish`] reports it).
    async fn queue(
        &mut self,
        projector: &Arc<ReplicaProjector>,
        message: OwnedMessage,
        shutdown: &CancellationToken,
    ) -> bool {
        let queue = self.queues.entry(message.partition()).or_insert_with(|| {
            let (queue, records) = mpsc::channel(PARTITION_QUEUE);
            let task = Arc::clone(projector).apply_partition(records, self.stop.clone());
            self.tasks.spawn(task);
            queue
        });
        tokio::select! {
            () = shutdown.cancelled() => false,
            sent = queue.send(message) => sent.is_ok(),
        }
    }

    /// Notes a task that ended: after shutdown with its report, before it
    /// only by failing.
    fn ended(
        &mut self,
        ended: Result<ProjectorReport, tokio::task::JoinError>,
        shutdown: &CancellationToken,
    ) {
        match ended {
            Ok(report) if shutdown.is_cancelled() => self.report += report,
            ended => self.failed = Some(task_failure(ended)),
        }
    }

    /// Stops the tasks and waits for them; returns the projector's report and
    /// the failure of a task, if one failed.
    async fn finish(self) -> (ProjectorReport, Option<String>) {
        let Partitions {
            queues,
            mut tasks,
            stop,
            mut report,
            mut failed,
        } = self;
        stop.cancel();
        drop(queues);
        while let Some(ended) = tasks.join_next().await {
            match ended {
                Ok(partition_report) => report += partition_report,
                Err(e) => failed = Some(task_failure(Err(e))),
            }
        }
        (report, failed)
    }
}

/// Why a partition's task ended while the projector ran, logged.
fn task_failure(ended: Result<ProjectorReport, tokio::task::JoinError>) -> String {
    let failure = match ended {
        Err(e) => format!("a partition's task failed: {e}"),
        Ok(_) => "a partition's task ended early".to_owned(),
    };
    tracing::error!(failure, "the projector stops");
    failure
}

/// The record's `traceparent` header: the trace of the request that made the
/// change, which the apply span continues.
fn trace_parent_of(message: &OwnedMessage) -> Option<TraceParent> {
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
