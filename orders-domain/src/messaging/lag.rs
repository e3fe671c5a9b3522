//! Watching the projector so that it never falls behind silently.
//!
//! - [`ProjectorStatus`] is what the projector, its consumer context and the
//!   watchdog know: the next offset to apply per partition, the record being
//!   handled, the last applied event, commit failures, lag and stalls. The
//!   health endpoint shows it as the `projector` component.
//! - [`ProjectorContext`] is the consumer's context: it logs and counts every
//!   failed offset commit (librdkafka reports them only to this callback).
//! - [`LagWatchdog`] compares, every `consumer.lag_check_interval_ms`, each
//!   partition's position with the broker's end offset (the high watermark):
//!   that is the lag, so it can never read 0 while records wait. A partition
//!   whose lag stays above 0 without its position moving for
//!   `consumer.stall_after_ms` is stalled: logged as an ERROR, counted, shown
//!   in health, and fetched again from its position. A position outside the
//!   log (below its start or beyond its end) is moved as
//!   `consumer.auto_offset_reset` says, also logged as an ERROR and counted.
//!
//! The watchdog also compares the group's committed offsets with what this
//! instance applied: commits that stay behind for the stall time are an
//! ERROR, `projector_commit_stalls_total`, shown in health, and followed by an
//! explicit commit (auto-commit silently stopping is how a restart once
//! resumed far behind).
//!
//! Metrics (all registered at start-up, 0 before any data):
//! `projector_consumer_lag{topic,partition}`,
//! `projector_last_applied_timestamp_seconds`, `projector_stalled_partitions`,
//! `projector_stalls_total`, `projector_commit_stalls_total`,
//! `projector_offset_resets_total`,
//! `projector_commits_total{outcome=ok|failed}`,
//! `projector_lag_check_failures_total`.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use platform_infra::kafka::OffsetReset;
use platform_infra::shutdown::CancellationToken;
use rdkafka::consumer::{Consumer, ConsumerContext, StreamConsumer};
use rdkafka::error::{KafkaError, KafkaResult, RDKafkaErrorCode};
use rdkafka::{ClientContext, Offset, TopicPartitionList};
use serde_json::{Value, json};

/// What is known about the projector, shared by the projector, its consumer
/// context, the watchdog and the health endpoint.
#[derive(Clone, Default)]
pub struct ProjectorStatus(Arc<Mutex<StatusInner>>);

#[derive(Default)]
struct StatusInner {
    /// Next offset to apply, per partition, from what this instance handled.
    applied_next: BTreeMap<i32, i64>,
    /// Per partition, the last record received and not yet handled: the
    /// partition's task is busy with it or with records before it.
    in_flight: BTreeMap<i32, i64>,
    last_applied_at: Option<DateTime<Utc>>,
    commit_failures: u64,
    last_commit_error: Option<String>,
    partitions: BTreeMap<i32, PartitionWatch>,
    /// When the last lag check succeeded, and why the last one failed.
    last_check: Option<DateTime<Utc>>,
    check_error: Option<String>,
}

/// What the watchdog saw of one partition.
#[derive(Debug, Clone)]
struct PartitionWatch {
    position: i64,
    lag: i64,
    assigned: bool,
    /// When the position last moved (or the lag was 0).
    progressed_at: Instant,
    stalled: bool,
    /// Since when the group's commit has been behind what this instance
    /// applied (only for its own partitions).
    commit_behind_since: Option<Instant>,
    /// The commit has been behind for the stall time.
    commit_stalled: bool,
    /// The group's committed offset at the last look.
    committed: Option<i64>,
}

impl ProjectorStatus {
    fn lock(&self) -> MutexGuard<'_, StatusInner> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The projector received the record at `offset` of `partition` and
    /// queued it to the partition's task.
    pub fn queued(&self, partition: i32, offset: i64) {
        self.lock().in_flight.insert(partition, offset);
    }

    /// The record's effect is durable and its offset stored.
    pub fn handled(&self, partition: i32, offset: i64) {
        let mut inner = self.lock();
        if inner.in_flight.get(&partition) == Some(&offset) {
            inner.in_flight.remove(&partition);
        }
        // Redelivered records may be handled again after newer ones.
        let next = inner.applied_next.entry(partition).or_insert(offset + 1);
        *next = (*next).max(offset + 1);
    }

    /// The projector gave up a partition's records without handling them
    /// (shutdown).
    pub fn abandoned(&self, partition: i32) {
        self.lock().in_flight.remove(&partition);
    }

    /// An event changed the replica now.
    pub fn applied_now(&self) {
        let now = Utc::now();
        self.lock().last_applied_at = Some(now);
        metrics::gauge!("projector_last_applied_timestamp_seconds")
            .set(now.timestamp_millis() as f64 / 1000.0);
    }

    fn commit_failed(&self, error: String) {
        let mut inner = self.lock();
        inner.commit_failures += 1;
        inner.last_commit_error = Some(error);
    }

    /// Whether any partition is stalled.
    pub fn stalled(&self) -> bool {
        self.lock().partitions.values().any(|p| p.stalled)
    }

    /// Total lag over all partitions, once measured.
    pub fn total_lag(&self) -> Option<i64> {
        let inner = self.lock();
        inner
            .last_check
            .map(|_| inner.partitions.values().map(|p| p.lag).sum())
    }

    /// The `projector` health component: `UP`, `STALLED`, or `UNKNOWN` until
    /// the lag could be measured.
    pub fn health(&self) -> Value {
        let inner = self.lock();
        let stalled: Vec<i32> = inner
            .partitions
            .iter()
            .filter(|(_, p)| p.stalled)
            .map(|(id, _)| *id)
            .collect();
        let commit_stalled: Vec<i32> = inner
            .partitions
            .iter()
            .filter(|(_, p)| p.commit_stalled)
            .map(|(id, _)| *id)
            .collect();
        let status = if !stalled.is_empty() || !commit_stalled.is_empty() {
            "STALLED"
        } else if inner.last_check.is_none() || inner.check_error.is_some() {
            "UNKNOWN"
        } else {
            "UP"
        };
        let lag: BTreeMap<String, i64> = inner
            .partitions
            .iter()
            .map(|(id, p)| (id.to_string(), p.lag))
            .collect();
        let assigned: Vec<i32> = inner
            .partitions
            .iter()
            .filter(|(_, p)| p.assigned)
            .map(|(id, _)| *id)
            .collect();
        json!({
            "status": status,
            "lag": lag,
            "totalLag": inner.partitions.values().map(|p| p.lag).sum::<i64>(),
            "stalledPartitions": stalled,
            "commitsNotAdvancingPartitions": commit_stalled,
            "assignedPartitions": assigned,
            "lastAppliedAt": inner.last_applied_at.map(|t| t.to_rfc3339()),
            "lastLagCheckAt": inner.last_check.map(|t| t.to_rfc3339()),
            "lagCheckError": inner.check_error,
            "commitFailures": inner.commit_failures,
            "lastCommitError": inner.last_commit_error,
        })
    }
}

/// Registers every projector metric at 0, so that they exist from start-up.
pub fn register_metrics() {
    // Installs the recorder first: metrics set before it would be lost.
    platform_infra::metrics::handle();
    metrics::gauge!("projector_last_applied_timestamp_seconds").set(0.0);
    metrics::gauge!("projector_stalled_partitions").set(0.0);
    metrics::counter!("projector_stalls_total").increment(0);
    metrics::counter!("projector_commit_stalls_total").increment(0);
    metrics::counter!("projector_offset_resets_total").increment(0);
    metrics::counter!("projector_lag_check_failures_total").increment(0);
    metrics::counter!("projector_unknown_types_total").increment(0);
    for outcome in ["ok", "failed"] {
        metrics::counter!("projector_commits_total", "outcome" => outcome).increment(0);
    }
    for outcome in ["applied", "stale", "dead_lettered"] {
        metrics::counter!("projector_events_total", "outcome" => outcome).increment(0);
    }
}

/// The projector consumer's context: every offset commit is counted, and a
/// failed one logged as an ERROR and kept for the health endpoint.
pub struct ProjectorContext {
    status: ProjectorStatus,
}

impl ProjectorContext {
    pub fn new(status: ProjectorStatus) -> Self {
        ProjectorContext { status }
    }
}

impl ClientContext for ProjectorContext {}

impl ConsumerContext for ProjectorContext {
    fn commit_callback(&self, result: KafkaResult<()>, offsets: &TopicPartitionList) {
        match result {
            Ok(()) => {
                metrics::counter!("projector_commits_total", "outcome" => "ok").increment(1);
                tracing::debug!(offsets = ?offsets.to_topic_map(), "offsets committed");
            }
            // Auto-commit found nothing new to commit.
            Err(KafkaError::ConsumerCommit(RDKafkaErrorCode::NoOffset)) => {}
            Err(e) => {
                metrics::counter!("projector_commits_total", "outcome" => "failed").increment(1);
                tracing::error!(error = %e, offsets = ?offsets.to_topic_map(), "offset commit failed");
                self.status.commit_failed(e.to_string());
            }
        }
    }
}

/// One look at a partition: the log's bounds and the group's position.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Observation {
    pub partition: i32,
    pub start: i64,
    pub end: i64,
    /// The group's committed offset, if any.
    pub committed: Option<i64>,
    pub assigned: bool,
}

/// What the watchdog must do after a check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reaction {
    /// Lag above 0 and no progress for the stall time: fetch again from
    /// `position` (only for a partition this instance consumes and is not
    /// busy with).
    Stalled {
        partition: i32,
        position: i64,
        lag: i64,
        refetch: bool,
    },
    /// The group's committed offset has stayed below what this instance
    /// applied for the stall time: commits are not advancing. Commit the
    /// stored offsets explicitly (the outcome goes to the commit callback).
    CommitBehind {
        partition: i32,
        committed: Option<i64>,
        applied: i64,
    },
    /// The position is outside the log: move it to `to`, if the policy says so.
    OutOfRange {
        partition: i32,
        position: i64,
        start: i64,
        end: i64,
        to: Option<i64>,
    },
}

impl ProjectorStatus {
    /// Folds one round of observations in and says what to do. Pure logic, so
    /// it is unit-tested with made-up observations.
    pub fn observe(
        &self,
        observations: &[Observation],
        now: Instant,
        stall_after: Duration,
        reset: OffsetReset,
    ) -> Vec<Reaction> {
        let mut inner = self.lock();
        inner.last_check = Some(Utc::now());
        inner.check_error = None;
        let round = Round {
            now,
            stall_after,
            reset,
            busy: inner.in_flight.keys().copied().collect(),
        };
        let mut reactions = Vec::new();
        for seen in observations {
            let applied = seen
                .assigned
                .then(|| inner.applied_next.get(&seen.partition).copied())
                .flatten();
            let previous = inner.partitions.get(&seen.partition);
            let watch = round.watch(seen, applied, previous, &mut reactions);
            inner.partitions.insert(seen.partition, watch);
        }
        let seen: Vec<i32> = observations.iter().map(|o| o.partition).collect();
        inner.partitions.retain(|p, _| seen.contains(p));
        reactions
    }

    fn check_failed(&self, error: String) {
        self.lock().check_error = Some(error);
    }

    fn publish_gauges(&self, topic: &str) {
        let inner = self.lock();
        for (partition, watch) in &inner.partitions {
            metrics::gauge!(
                "projector_consumer_lag",
                "topic" => topic.to_owned(),
                "partition" => partition.to_string()
            )
            .set(watch.lag as f64);
        }
        let stalled = inner.partitions.values().filter(|p| p.stalled).count();
        metrics::gauge!("projector_stalled_partitions").set(stalled as f64);
    }
}

/// How the watchdog is tuned.
#[derive(Debug, Clone, Copy)]
pub struct WatchdogSettings {
    pub interval: Duration,
    pub stall_after: Duration,
    pub reset: OffsetReset,
}

/// Measures lag against the broker's end offsets and reacts to stalls.
pub struct LagWatchdog {
    consumer: Arc<StreamConsumer<ProjectorContext>>,
    status: ProjectorStatus,
    topic: String,
    settings: WatchdogSettings,
}

/// How long one watermark or committed-offsets request may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

impl LagWatchdog {
    pub fn new(
        consumer: Arc<StreamConsumer<ProjectorContext>>,
        status: ProjectorStatus,
        topic: String,
        settings: WatchdogSettings,
    ) -> Self {
        LagWatchdog {
            consumer,
            status,
            topic,
            settings,
        }
    }

    /// Checks at once, then every interval, until `shutdown`.
    pub async fn run(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        loop {
            self.check().await;
            tokio::select! {
                () = shutdown.cancelled() => return Ok(()),
                () = tokio::time::sleep(self.settings.interval) => {}
            }
        }
    }

    async fn check(&self) {
        let consumer = self.consumer.clone();
        let topic = self.topic.clone();
        let observed = tokio::task::spawn_blocking(move || observe(&consumer, &topic)).await;
        let observations = match observed {
            Ok(Ok(observations)) => observations,
            Ok(Err(e)) => return self.failed(&e),
            Err(e) => return self.failed(&anyhow::anyhow!("lag check task: {e}")),
        };
        let reactions = self.status.observe(
            &observations,
            Instant::now(),
            self.settings.stall_after,
            self.settings.reset,
        );
        self.status.publish_gauges(&self.topic);
        for reaction in reactions {
            self.react(reaction).await;
        }
    }

    fn failed(&self, error: &anyhow::Error) {
        metrics::counter!("projector_lag_check_failures_total").increment(1);
        tracing::warn!(
            error = format!("{error:#}"),
            "cannot measure the consumer lag"
        );
        self.status.check_failed(format!("{error:#}"));
    }

    async fn react(&self, reaction: Reaction) {
        let (partition, to) = match reaction {
            Reaction::Stalled {
                partition,
                position,
                lag,
                refetch,
            } => {
                metrics::counter!("projector_stalls_total").increment(1);
                tracing::error!(
                    topic = %self.topic, partition, position, lag,
                    stall_after = ?self.settings.stall_after,
                    "projector stalled: records wait and the position has not moved{}",
                    if refetch { "; fetching again from the position" } else { "" }
                );
                if !refetch {
                    return;
                }
                (partition, position)
            }
            Reaction::CommitBehind {
                partition,
                committed,
                applied,
            } => return self.commit_explicitly(partition, committed, applied).await,
            Reaction::OutOfRange {
                partition,
                position,
                start,
                end,
                to,
            } => {
                metrics::counter!("projector_offset_resets_total").increment(1);
                let Some(to) = to else {
                    tracing::error!(topic = %self.topic, partition, position, start, end,
                        "position outside the log; auto_offset_reset says stay");
                    return;
                };
                tracing::error!(topic = %self.topic, partition, position, start, end, to,
                    "position outside the log; moving it as auto_offset_reset says");
                (partition, to)
            }
        };
        self.seek(partition, to).await;
    }

    /// Commits the consumer's state now, for commits that stopped advancing.
    async fn commit_explicitly(&self, partition: i32, committed: Option<i64>, applied: i64) {
        metrics::counter!("projector_commit_stalls_total").increment(1);
        tracing::error!(
            topic = %self.topic, partition, ?committed, applied,
            stall_after = ?self.settings.stall_after,
            "offset commits are not advancing although records were applied; committing explicitly"
        );
        let consumer = self.consumer.clone();
        let committed = tokio::task::spawn_blocking(move || {
            consumer.commit_consumer_state(rdkafka::consumer::CommitMode::Sync)
        })
        .await;
        // Failures are logged by the commit callback.
        if let Ok(Err(e)) = committed {
            tracing::debug!(error = %e, "explicit commit");
        }
    }

    /// Moves the consumer's position on `partition` to `to`.
    async fn seek(&self, partition: i32, to: i64) {
        let consumer = self.consumer.clone();
        let topic = self.topic.clone();
        let sought = tokio::task::spawn_blocking(move || {
            consumer.seek(&topic, partition, Offset::Offset(to), REQUEST_TIMEOUT)
        })
        .await;
        match sought {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::error!(error = %e, partition, to, "seek failed"),
            Err(e) => tracing::error!(error = %e, partition, to, "seek task failed"),
        }
    }
}

/// Reads the topic's partitions, their watermarks, the assignment and the
/// group's committed offsets (blocking calls).
fn observe(
    consumer: &StreamConsumer<ProjectorContext>,
    topic: &str,
) -> anyhow::Result<Vec<Observation>> {
    use anyhow::Context;
    let metadata = consumer
        .fetch_metadata(Some(topic), REQUEST_TIMEOUT)
        .context("metadata")?;
    let partitions: Vec<i32> = metadata
        .topics()
        .iter()
        .find(|t| t.name() == topic)
        .map(|t| t.partitions().iter().map(|p| p.id()).collect())
        .unwrap_or_default();
    anyhow::ensure!(!partitions.is_empty(), "topic {topic} has no partitions");
    let assignment = consumer.assignment().context("assignment")?;
    let mut list = TopicPartitionList::new();
    for partition in &partitions {
        list.add_partition(topic, *partition);
    }
    let committed = consumer
        .committed_offsets(list, REQUEST_TIMEOUT)
        .context("committed offsets")?;
    let mut observations = Vec::with_capacity(partitions.len());
    for partition in partitions {
        let (start, end) = consumer
            .fetch_watermarks(topic, partition, REQUEST_TIMEOUT)
            .with_context(|| format!("watermarks of partition {partition}"))?;
        let committed = match committed
            .find_partition(topic, partition)
            .map(|e| e.offset())
        {
            Some(Offset::Offset(o)) => Some(o),
            _ => None,
        };
        observations.push(Observation {
            partition,
            start,
            end,
            committed,
            assigned: assignment.find_partition(topic, partition).is_some(),
        });
    }
    Ok(observations)
}

/// One round of the watchdog's checks: what it knows besides the
/// observations.
struct Round {
    now: Instant,
    stall_after: Duration,
    reset: OffsetReset,
    /// The partitions with records received and not yet handled.
    busy: std::collections::BTreeSet<i32>,
}

impl Round {
    /// The furthest known point of a partition: what this instance applied,
    /// else what the group committed, else where a new group would start.
    fn position(&self, seen: &Observation, applied: Option<i64>) -> i64 {
        match (applied, seen.committed) {
            (Some(a), Some(c)) => a.max(c),
            (Some(a), None) => a,
            (None, Some(c)) => c,
            (None, None) => match self.reset {
                OffsetReset::Latest => seen.end,
                _ => seen.start,
            },
        }
    }

    /// Folds one partition's observation into what was known of it, adding
    /// what must be done to `reactions`.
    fn watch(
        &self,
        seen: &Observation,
        applied: Option<i64>,
        previous: Option<&PartitionWatch>,
        reactions: &mut Vec<Reaction>,
    ) -> PartitionWatch {
        let now = self.now;
        let position = self.position(seen, applied);
        let lag = (seen.end - position).max(0);
        let moved = previous.is_none_or(|w| w.position != position);
        let mut progressed_at = match previous {
            Some(w) if !moved && lag > 0 => w.progressed_at,
            _ => now,
        };
        // Beyond the end counts only for a committed position: what this
        // instance applied may have moved past the end read a moment ago
        // (committed offsets are read before the watermarks).
        let out_of_range = position < seen.start || (applied.is_none() && position > seen.end);
        if out_of_range && seen.assigned {
            let to = match self.reset {
                OffsetReset::Earliest => Some(seen.start),
                OffsetReset::Latest => Some(seen.end),
                OffsetReset::Error => None,
            };
            reactions.push(Reaction::OutOfRange {
                partition: seen.partition,
                position,
                start: seen.start,
                end: seen.end,
                to,
            });
        }
        let (commit_behind_since, commit_stalled) =
            self.watch_commit(seen, applied, previous, reactions);
        let stall_due = lag > 0 && now.duration_since(progressed_at) >= self.stall_after;
        if stall_due {
            let busy = self.busy.contains(&seen.partition);
            reactions.push(Reaction::Stalled {
                partition: seen.partition,
                position,
                lag,
                refetch: seen.assigned && !busy && !out_of_range,
            });
            // Act again only after another full stall time without progress.
            progressed_at = now;
        }
        let was_stalled = previous.is_some_and(|w| w.stalled);
        PartitionWatch {
            position,
            lag,
            assigned: seen.assigned,
            progressed_at,
            stalled: lag > 0 && !moved && (was_stalled || stall_due),
            commit_behind_since,
            commit_stalled,
            committed: seen.committed,
        }
    }

    /// Whether the group's commit stays behind what this instance applied:
    /// since when, and whether for the stall time (then a reaction).
    fn watch_commit(
        &self,
        seen: &Observation,
        applied: Option<i64>,
        previous: Option<&PartitionWatch>,
        reactions: &mut Vec<Reaction>,
    ) -> (Option<Instant>, bool) {
        let now = self.now;
        let commit_behind = applied.is_some_and(|a| seen.committed.is_none_or(|c| c < a));
        // Behind and not moving: under load the commit trails what was
        // applied by up to the auto-commit interval, but it advances.
        let mut since = match (previous, commit_behind) {
            (_, false) => None,
            (Some(w), true) if w.committed == seen.committed => w.commit_behind_since.or(Some(now)),
            (_, true) => Some(now),
        };
        let due = since.is_some_and(|since| now.duration_since(since) >= self.stall_after);
        let stalled = commit_behind
            && (due || previous.is_some_and(|w| w.commit_stalled && w.committed == seen.committed));
        if due {
            reactions.push(Reaction::CommitBehind {
                partition: seen.partition,
                committed: seen.committed,
                applied: applied.unwrap_or_default(),
            });
            since = Some(now);
        }
        (since, stalled)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const STALL: Duration = Duration::from_secs(60);

    fn seen(partition: i32, end: i64, committed: Option<i64>) -> Observation {
        Observation {
            partition,
            start: 0,
            end,
            committed,
            assigned: true,
        }
    }

    #[test]
    fn lag_is_the_end_offset_minus_the_furthest_known_position() {
        let status = ProjectorStatus::default();
        let now = Instant::now();
        status.handled(0, 9);
        let reactions = status.observe(
            &[seen(0, 15, Some(4)), seen(1, 7, None), seen(2, 3, Some(3))],
            now,
            STALL,
            OffsetReset::Earliest,
        );
        assert!(reactions.is_empty());
        assert_eq!(status.total_lag(), Some(5 + 7));
        assert_eq!(status.health()["lag"]["1"], 7);
        assert_eq!(status.health()["status"], "UP");
    }

    #[test]
    fn a_partition_behind_and_not_moving_for_the_stall_time_is_stalled_until_it_moves() {
        let status = ProjectorStatus::default();
        let start = Instant::now();
        status.handled(0, 4);
        status.observe(&[seen(0, 20, Some(5))], start, STALL, OffsetReset::Earliest);
        let early = status.observe(
            &[seen(0, 20, Some(5))],
            start + STALL / 2,
            STALL,
            OffsetReset::Earliest,
        );
        assert!(early.is_empty());
        let late = status.observe(
            &[seen(0, 20, Some(5))],
            start + STALL,
            STALL,
            OffsetReset::Earliest,
        );
        assert_eq!(
            late,
            [Reaction::Stalled {
                partition: 0,
                position: 5,
                lag: 15,
                refetch: true
            }]
        );
        assert!(status.stalled());
        assert_eq!(status.health()["status"], "STALLED");
        status.handled(0, 5);
        status.observe(
            &[seen(0, 20, Some(6))],
            start + STALL * 2,
            STALL,
            OffsetReset::Earliest,
        );
        assert!(!status.stalled());
    }

    #[test]
    fn a_stall_while_a_record_is_being_retried_is_reported_without_a_refetch() {
        let status = ProjectorStatus::default();
        let start = Instant::now();
        status.queued(0, 0);
        status.observe(&[seen(0, 3, None)], start, STALL, OffsetReset::Earliest);
        let reactions = status.observe(
            &[seen(0, 3, None)],
            start + STALL,
            STALL,
            OffsetReset::Earliest,
        );
        assert_eq!(
            reactions,
            [Reaction::Stalled {
                partition: 0,
                position: 0,
                lag: 3,
                refetch: false
            }]
        );
    }

    #[test]
    fn commits_that_stay_behind_what_was_applied_for_the_stall_time_are_reported() {
        let status = ProjectorStatus::default();
        let start = Instant::now();
        status.handled(0, 41);
        let behind = seen(0, 42, Some(19));
        assert!(
            status
                .observe(&[behind], start, STALL, OffsetReset::Earliest)
                .is_empty()
        );
        let reactions = status.observe(&[behind], start + STALL, STALL, OffsetReset::Earliest);
        assert_eq!(
            reactions,
            [Reaction::CommitBehind {
                partition: 0,
                committed: Some(19),
                applied: 42
            }]
        );
        assert_eq!(status.health()["status"], "STALLED");
        assert_eq!(status.health()["commitsNotAdvancingPartitions"][0], 0);
        let caught_up = seen(0, 42, Some(42));
        status.observe(
            &[caught_up],
            start + STALL * 2,
            STALL,
            OffsetReset::Earliest,
        );
        assert_eq!(status.health()["status"], "UP");
    }

    #[test]
    fn commits_that_trail_what_was_applied_but_advance_are_not_a_stall() {
        let status = ProjectorStatus::default();
        let start = Instant::now();
        for step in 0..5i64 {
            status.handled(0, 100 + step * 10);
            let trailing = seen(0, 200, Some(95 + step * 10));
            let at = start + STALL / 2 * u32::try_from(step).expect("step");
            let reactions = status.observe(&[trailing], at, STALL, OffsetReset::Earliest);
            assert!(
                !reactions
                    .iter()
                    .any(|r| matches!(r, Reaction::CommitBehind { .. })),
                "{reactions:?}"
            );
        }
    }

    #[test]
    fn a_committed_position_below_the_log_start_is_moved_as_the_reset_policy_says() {
        let below = Observation {
            partition: 1,
            start: 50,
            end: 80,
            committed: Some(19),
            assigned: true,
        };
        for (policy, to) in [
            (OffsetReset::Earliest, Some(50)),
            (OffsetReset::Latest, Some(80)),
            (OffsetReset::Error, None),
        ] {
            let status = ProjectorStatus::default();
            let reactions = status.observe(&[below], Instant::now(), STALL, policy);
            assert_eq!(
                reactions,
                [Reaction::OutOfRange {
                    partition: 1,
                    position: 19,
                    start: 50,
                    end: 80,
                    to
                }]
            );
        }
    }

    #[test]
    fn lag_of_a_partition_another_instance_consumes_comes_from_the_group_commit() {
        let status = ProjectorStatus::default();
        status.handled(2, 1);
        let mut other = seen(2, 10, Some(6));
        other.assigned = false;
        status.observe(&[other], Instant::now(), STALL, OffsetReset::Earliest);
        assert_eq!(status.total_lag(), Some(4));
    }
}
