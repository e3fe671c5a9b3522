//! Rebuilding the customer replica from the event store.
//!
//! 1. Read `accounts.customer.change` from offset 0 with a consumer of its own
//!    (no group offsets are touched) into a fresh replica generation, up to the
//!    end the topic had when the rebuild started.
//! 2. Verify before switching: the topic must still start at offset 0 in every
//!    partition (both as the broker reports it and as the first record read:
//!    the local broker keeps reporting 0 after deleting records), and the new
//!    generation must hold every customer the current one holds, at the same
//!    version or newer (the current generation's versions are read before the
//!    topic's end is taken, so everything they came from is in the replay).
//!    Otherwise the rebuild refuses, leaves reads on the current generation
//!    and says why; `--force` switches anyway.
//! 3. Read on up to the topic's ends of now, then switch the active-replica
//!    pointer to the new generation (compare-and-set). The switch settles once
//!    every process has read the pointer again (each caches it for a bounded
//!    time, see [`crate::store`]); from then on reads, and every projector
//!    instance, use the new generation.
//! 4. Read on up to the ends right after the switch, and once it settled, up
//!    to the ends the topic has then. A live projector that used the old
//!    pointer may still have written an event to the old generation; that
//!    event was in the topic before the switch settled, so this catch-up
//!    applies it to the new generation too (the version guard makes the
//!    double application harmless).
//!
//! The live projector keeps running throughout, and the orders the service owns
//! live in their own collection, so a rebuild never touches them. The old
//! generation is kept for inspection.

use std::collections::BTreeMap;
use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use futures::{FutureExt, StreamExt, TryStreamExt};
use indicatif::{ProgressBar, ProgressStyle};
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::message::BorrowedMessage;
use rdkafka::{Message, Offset, TopicPartitionList};
use shared_events::{CustomerChange, CustomerRecord};

use super::keys::KeyRing;
use super::offsets::{Ends, ReadProgress, topic_ends, topic_starts};
use crate::settings::Settings;
use crate::store::{CustomerOrdersStore, ReplicaCollection, StoreError};
use platform_infra::retry;
use platform_infra::shutdown::{CancellationToken, DropGuard};

/// What a rebuild did.
#[derive(Debug, Clone)]
pub struct RebuildReport {
    pub previous_generation: i64,
    pub generation: i64,
    pub collection: String,
    /// Records read from the topic.
    pub records: u64,
    /// Records that were not valid events (the live consumer dead-lettered them).
    pub skipped: u64,
    /// Customers the new generation has and the previous one did not.
    pub new_customers: u64,
    /// What verification found and `--force` switched past (empty normally).
    pub forced_past: Vec<String>,
    pub elapsed: Duration,
}

/// Why a rebuild did not switch reads to the generation it built.
#[derive(Debug, thiserror::Error)]
#[error(
    "rebuild refused: reads stay on generation {current} ({collection}). {}. The unswitched generation {rebuilt} is kept for inspection; `rebuild --force` switches anyway",
    problems.join("; ")
)]
pub struct RebuildRefused {
    pub current: i64,
    pub collection: String,
    pub rebuilt: i64,
    pub problems: Vec<String>,
}

/// What stands against switching to a rebuilt generation: records missing at
/// the topic's start, and customers of the current generation that the rebuilt
/// one lacks or holds at an older version. Empty means safe.
pub fn verify_rebuild(
    log_starts: &Ends,
    ends: &Ends,
    first_read: &BTreeMap<i32, i64>,
    current: &BTreeMap<String, i64>,
    rebuilt: &BTreeMap<String, i64>,
) -> Vec<String> {
    let mut problems = Vec::new();
    for (partition, end) in ends {
        let start = log_starts.get(partition).copied().unwrap_or(0);
        if start > 0 {
            problems.push(format!(
                "partition {partition} starts at offset {start}: the records before it were deleted"
            ));
        } else if let Some(first) = first_read.get(partition).filter(|f| **f > 0) {
            problems.push(format!(
                "partition {partition}'s first readable record is at offset {first} although the broker reports the log starting at 0: the records before it are gone"
            ));
        } else if *end > 0 && !first_read.contains_key(partition) {
            problems.push(format!(
                "partition {partition} ends at offset {end} but no record of it could be read"
            ));
        }
    }
    let examples = |ids: &[&String]| {
        ids.iter()
            .take(5)
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let missing: Vec<&String> = current
        .keys()
        .filter(|id| !rebuilt.contains_key(*id))
        .collect();
    if !missing.is_empty() {
        problems.push(format!(
            "{} customers of the current generation are not in the rebuilt one (e.g. {})",
            missing.len(),
            examples(&missing)
        ));
    }
    let older: Vec<&String> = current
        .iter()
        .filter(|(id, version)| rebuilt.get(*id).is_some_and(|v| v < version))
        .map(|(id, _)| id)
        .collect();
    if !older.is_empty() {
        problems.push(format!(
            "{} customers are at an older version in the rebuilt generation (e.g. {})",
            older.len(),
            examples(&older)
        ));
    }
    problems
}

/// How progress is shown: a bar on a terminal, log lines otherwise.
pub enum Progress {
    Bar(ProgressBar),
    Log { last: Instant },
    Silent,
}

impl Progress {
    /// A bar when stderr is a terminal, else periodic log lines.
    pub fn for_terminal() -> Progress {
        if std::io::IsTerminal::is_terminal(&std::io::stderr()) {
            let bar = ProgressBar::new(0);
            bar.set_style(
                ProgressStyle::with_template(
                    "{spinner} {msg} [{bar:40}] {pos}/{len} events ({per_sec}, eta {eta})",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
            );
            Progress::Bar(bar)
        } else {
            Progress::Log {
                last: Instant::now(),
            }
        }
    }

    fn update(&mut self, stage: &str, done: u64, remaining: u64) {
        match self {
            Progress::Bar(bar) => {
                bar.set_message(stage.to_owned());
                bar.set_length(done + remaining);
                bar.set_position(done);
            }
            Progress::Log { last } => {
                if last.elapsed() >= Duration::from_secs(2) || remaining == 0 {
                    *last = Instant::now();
                    tracing::info!(stage, done, remaining, "rebuild progress");
                }
            }
            Progress::Silent => {}
        }
    }

    fn finish(&self) {
        if let Progress::Bar(bar) = self {
            bar.finish();
        }
    }
}

/// What a rebuild reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// Every record of the change topic from offset 0: O(changes).
    ChangeTopic,
    /// The compacted state topic (each customer's newest sealed state), then
    /// the change topic from where it ended when the rebuild began: O(customers).
    StateTopic,
}

/// Rebuilds the replica into the next generation from `source`, verifies it
/// and switches to it; with `force`, switches even when verification finds
/// problems. A refusal is a [`RebuildRefused`] error.
pub async fn rebuild(
    settings: &Settings,
    mut progress: Progress,
    force: bool,
    source: Source,
) -> anyhow::Result<RebuildReport> {
    let started = Instant::now();
    let (store, previous, target) = generations(settings).await?;
    // Before the ends: every version it holds came from a record below them.
    let current = previous.versions().await;
    let current = current.context("cannot read the current generation")?;
    let (keys, _following) = follow_keys(settings)?;
    let (mut replay, state_records) =
        replay_source(settings, source, keys, &target, &mut progress).await?;
    let rebuilt = target.versions().await;
    let rebuilt = rebuilt.context("cannot read the rebuilt generation")?;
    let problems = verify(settings, source, &replay, &current, &rebuilt).await?;
    if !problems.is_empty() && !force {
        progress.finish();
        let (current, rebuilt) = (previous.generation(), target.generation());
        let collection = previous.name().to_owned();
        return Err(RebuildRefused {
            current,
            collection,
            rebuilt,
            problems,
        }
        .into());
    }
    for problem in &problems {
        tracing::warn!(problem, "switching despite this (--force)");
    }
    let base = platform_infra::kafka::client_config(&settings.kafka);
    let ends = || topic_ends(base.clone(), &settings.kafka.topic);
    switch_and_catch_up(&store, &previous, &target, &mut replay, &mut progress, ends).await?;
    let new_customers = rebuilt.keys().filter(|id| !current.contains_key(*id));
    let report = RebuildReport {
        previous_generation: previous.generation(),
        generation: target.generation(),
        collection: target.name().to_owned(),
        records: state_records + replay.counts.records,
        skipped: replay.counts.skipped,
        new_customers: new_customers.count() as u64,
        forced_past: problems,
        elapsed: started.elapsed(),
    };
    tracing::info!(?report, "rebuild finished");
    Ok(report)
}

/// The key ring, following the keys topic until the guard is dropped. A
/// follower that fails leaves lookups to time out, which fails the rebuild
/// with the lookup's error.
fn follow_keys(settings: &Settings) -> anyhow::Result<(KeyRing, DropGuard)> {
    let fetch_wait = settings.consumer.fetch_wait_max_ms;
    let (keys, consumer) = KeyRing::new(&settings.kafka, &settings.crypto, fetch_wait)?;
    let stop = CancellationToken::new();
    tokio::spawn(keys.clone().follow(consumer, stop.clone()));
    Ok((keys, stop.drop_guard()))
}

/// Replays `source` into `target` up to the change topic's ends of now, and
/// returns the change topic's replay (which the switch carries on) and how
/// many state records were read before it.
async fn replay_source(
    settings: &Settings,
    source: Source,
    keys: KeyRing,
    target: &ReplicaCollection,
    progress: &mut Progress,
) -> anyhow::Result<(Replay, u64)> {
    let (topic, base) = (
        &settings.kafka.topic,
        platform_infra::kafka::client_config(&settings.kafka),
    );
    let change_ends = topic_ends(base.clone(), topic).await?;
    let (mut from, mut state_records) = (None, 0);
    if source == Source::StateTopic {
        // The state topic read after the change topic's ends were noted: the
        // relay publishes a customer's state before its events, so every
        // event below those ends has a state at least as new on the state
        // topic now; the change topic from those ends brings the rest (the
        // version guard makes any overlap harmless).
        let state_topic = &settings.kafka.state_topic;
        let state_ends = topic_ends(base, state_topic).await?;
        let mut state = Replay::start(settings, keys.clone(), state_topic, None, state_ends)?;
        state.catch_up(target, progress, Stage::Replaying).await?;
        (from, state_records) = (Some(change_ends.clone()), state.counts.records);
    }
    let mut replay = Replay::start(settings, keys, topic, from.as_ref(), change_ends)?;
    replay.catch_up(target, progress, Stage::Replaying).await?;
    Ok((replay, state_records))
}

/// What stands against switching to `rebuilt` ([`verify_rebuild`]). A replay
/// from offset 0 must have read the change topic from its start; a rebuild
/// from state reads a compacted topic, whose gaps are expected, and the change
/// topic from the middle.
async fn verify(
    settings: &Settings,
    source: Source,
    replay: &Replay,
    current: &BTreeMap<String, i64>,
    rebuilt: &BTreeMap<String, i64>,
) -> anyhow::Result<Vec<String>> {
    let (starts, ends, first) = match source {
        Source::ChangeTopic => {
            let base = platform_infra::kafka::client_config(&settings.kafka);
            let starts = topic_starts(base, &settings.kafka.topic).await?;
            (
                starts,
                replay.read.ends().clone(),
                replay.read.first_offsets().clone(),
            )
        }
        Source::StateTopic => Default::default(),
    };
    Ok(verify_rebuild(&starts, &ends, &first, current, rebuilt))
}

/// Bytes per partition and fetch of the rebuild's consumer (librdkafka's
/// default is 1 MiB).
const REPLAY_FETCH_BYTES: &str = "16777216";

/// Records folded into one round of writes at most.
const FOLD_BATCH: usize = 2000;
/// Writes in flight at once within a round; each is to a different customer.
const APPLY_CONCURRENCY: usize = 16;

/// The store, the active generation and the emptied one after it.
async fn generations(
    settings: &Settings,
) -> anyhow::Result<(CustomerOrdersStore, ReplicaCollection, ReplicaCollection)> {
    let database =
        platform_infra::mongo::connect(&settings.mongodb, "orders-domain-rebuild").await?;
    let store = CustomerOrdersStore::new(&database, &settings.mongodb.collection);
    store.init().await?;
    let previous = store.active_replica().await?;
    let target = store
        .empty_generation_after(&previous)
        .await
        .context("cannot clear the target collection")?;
    tracing::info!(
        from = previous.name(),
        to = target.name(),
        "rebuild started"
    );
    Ok((store, previous, target))
}

/// Switches reads from `previous` to `target` and applies what arrived
/// meanwhile. First the replay is brought up to the topic's ends of now, while
/// nothing else writes `target` (bulk), so the switch leaves as little as
/// possible behind; then the switch; then the catch-up, in two passes: up to
/// the ends right after the switch (while the switch settles, so that reads
/// served from `target` trail by little), and, once the switch settled, up to
/// the ends taken then, which hold every event a projector may have written to
/// `previous` only. The version guard orders the catch-up and the projectors.
async fn switch_and_catch_up<F, Fut>(
    store: &CustomerOrdersStore,
    previous: &ReplicaCollection,
    target: &ReplicaCollection,
    replay: &mut Replay,
    progress: &mut Progress,
    ends: F,
) -> anyhow::Result<()>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<Ends>>,
{
    replay.read.extend_to(ends().await?);
    replay.catch_up(target, progress, Stage::Replaying).await?;
    let Some(settle) = store.switch_replica(previous.generation(), target).await? else {
        bail!("another rebuild switched the replica first; this one is abandoned");
    };
    tracing::info!(
        collection = target.name(),
        "reads switched to the rebuilt replica"
    );
    replay.read.extend_to(ends().await?);
    replay.catch_up(target, progress, Stage::CatchingUp).await?;
    settle.wait().await;
    replay.read.extend_to(ends().await?);
    replay.catch_up(target, progress, Stage::CatchingUp).await?;
    progress.finish();
    Ok(())
}

/// Records read and skipped (undecodable) by a rebuild.
#[derive(Debug, Clone, Copy, Default)]
struct ReplayCounts {
    records: u64,
    skipped: u64,
}

/// A rebuild's consumer, reading every partition from offset 0 up to the
/// ends known so far.
struct Replay {
    consumer: StreamConsumer,
    /// The customers' data keys, to open sealed records.
    keys: KeyRing,
    read: ReadProgress,
    counts: ReplayCounts,
}

impl Replay {
    /// A consumer of `topic` in its own, unique group, assigned every
    /// partition from `from` (the beginning if `None`), to read up to `ends`.
    fn start(
        settings: &Settings,
        keys: KeyRing,
        topic: &str,
        from: Option<&Ends>,
        ends: Ends,
    ) -> anyhow::Result<Self> {
        let group = format!(
            "{}-rebuild-{}",
            settings.consumer.group_id,
            uuid::Uuid::new_v4().simple()
        );
        let consumer: StreamConsumer =
            platform_infra::kafka::consumer_config(&settings.kafka, &group)
                .set(
                    "fetch.wait.max.ms",
                    settings.consumer.fetch_wait_max_ms.to_string(),
                )
                // A replay reads far behind the end: large fetches mean fewer
                // round trips (and the local broker's cost per fetch grows
                // with what is left to read).
                .set("max.partition.fetch.bytes", REPLAY_FETCH_BYTES)
                .create()
                .context("cannot create the rebuild consumer")?;
        let mut assignment = TopicPartitionList::new();
        for partition in ends.keys() {
            let offset = match from.and_then(|from| from.get(partition)) {
                Some(&offset) => Offset::Offset(offset),
                None => Offset::Beginning,
            };
            assignment.add_partition_offset(topic, *partition, offset)?;
        }
        consumer.assign(&assignment)?;
        Ok(Replay {
            consumer,
            keys,
            read: ReadProgress::new(from.cloned().unwrap_or_default(), ends),
            counts: ReplayCounts::default(),
        })
    }

    /// Applies records until everything up to the ends was read.
    ///
    /// Records are taken in rounds of what the consumer has ready (up to
    /// [`FOLD_BATCH`]), and of each customer's events in a round only the one with
    /// the highest version is written: every event carries the customer's whole
    /// state and the version guard keeps the newest, so the replica ends the same
    /// as after applying them all, with one write per customer and round instead
    /// of one per event. Before the switch nothing else writes the new generation,
    /// so a round is bulk-loaded ([`ReplicaCollection::load`]); after it, the
    /// round's customers are applied one by one, concurrently, through the version
    /// guard, as the live projectors write the same generation.
    async fn catch_up(
        &mut self,
        target: &ReplicaCollection,
        progress: &mut Progress,
        stage: Stage,
    ) -> anyhow::Result<()> {
        let Replay {
            consumer,
            keys,
            read,
            counts,
        } = self;
        while !read.done() {
            let round = next_round(consumer, read).await?;
            let newest = newest_per_customer(&round, counts);
            let mut changes = Vec::with_capacity(newest.len());
            for record in newest.values() {
                // Only the newest record of a customer is opened: older ones
                // may be sealed with a key that is gone since.
                match keys.upcast(record).await? {
                    Ok(change) => changes.push(change),
                    Err(_) => counts.skipped += 1,
                }
            }
            stage.write(target, &changes).await?;
            for message in &round {
                read.handled(message.partition(), message.offset());
            }
            progress.update(stage.name(), counts.records, read.remaining());
        }
        Ok(())
    }
}

/// The records `consumer` has ready, up to [`FOLD_BATCH`], once it has one;
/// an error if none comes for a while although `read` is not done.
async fn next_round<'c>(
    consumer: &'c StreamConsumer,
    read: &ReadProgress,
) -> anyhow::Result<Vec<BorrowedMessage<'c>>> {
    const IDLE_LIMIT: Duration = Duration::from_secs(30);
    let first = tokio::time::timeout(IDLE_LIMIT, consumer.recv()).await;
    let remaining = read.remaining();
    let idle = || format!("no record for {IDLE_LIMIT:?} with {remaining} still to read");
    let mut round = vec![first.with_context(idle)??];
    while round.len() < FOLD_BATCH {
        match consumer.recv().now_or_never() {
            Some(message) => round.push(message?),
            None => break,
        }
    }
    Ok(round)
}

/// Of each customer's records in `round`, the one with the highest version;
/// every record is counted, and the undecodable ones as skipped.
fn newest_per_customer(
    round: &[BorrowedMessage<'_>],
    counts: &mut ReplayCounts,
) -> HashMap<String, CustomerRecord> {
    let mut newest: HashMap<String, CustomerRecord> = HashMap::new();
    for message in round {
        counts.records += 1;
        let Ok(record) = CustomerRecord::decode(message.payload().unwrap_or_default()) else {
            counts.skipped += 1;
            continue;
        };
        match newest.entry(record.customer_id().to_owned()) {
            Entry::Occupied(mut kept) if kept.get().version() < record.version() => {
                kept.insert(record);
            }
            Entry::Occupied(_) => {}
            Entry::Vacant(slot) => {
                slot.insert(record);
            }
        }
    }
    newest
}

/// Where a rebuild is: writing a generation nobody reads yet, or catching up
/// on the generation that reads and the live projectors now use.
#[derive(Debug, Clone, Copy)]
enum Stage {
    Replaying,
    CatchingUp,
}

impl Stage {
    fn name(self) -> &'static str {
        match self {
            Stage::Replaying => "replaying",
            Stage::CatchingUp => "catching up",
        }
    }

    /// Writes a round's `changes`: bulk-loaded while nothing else writes the
    /// generation, applied one by one, concurrently, through the version
    /// guard once the live projectors write it too.
    async fn write(
        self,
        target: &ReplicaCollection,
        changes: &[CustomerChange],
    ) -> anyhow::Result<()> {
        match self {
            Stage::Replaying => load(target, &changes.iter().collect::<Vec<_>>()).await,
            Stage::CatchingUp => {
                let applies = changes.iter().map(|change| apply(target, change));
                let applies = futures::stream::iter(applies).buffer_unordered(APPLY_CONCURRENCY);
                applies.try_collect::<Vec<()>>().await.map(drop)
            }
        }
    }
}

/// Bulk-loads a round into the not yet active generation, retrying while
/// MongoDB is unreachable (the load is idempotent).
async fn load(target: &ReplicaCollection, events: &[&CustomerChange]) -> anyhow::Result<()> {
    retry::while_transient(
        "loading a rebuild round",
        retry::DEFAULT_MAX_DELAY,
        StoreError::is_transient,
        || target.load(events),
    )
    .await
    .context("cannot load events into the new replica")
}

/// Applies one event, retrying while MongoDB is unreachable.
async fn apply(target: &ReplicaCollection, event: &CustomerChange) -> anyhow::Result<()> {
    retry::while_transient(
        "applying a catch-up event",
        retry::DEFAULT_MAX_DELAY,
        StoreError::is_transient,
        || target.apply(event),
    )
    .await
    .context("cannot apply an event to the new replica")?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn versions(pairs: &[(&str, i64)]) -> BTreeMap<String, i64> {
        pairs.iter().map(|(id, v)| ((*id).to_owned(), *v)).collect()
    }

    #[test]
    fn a_complete_replay_that_holds_every_current_customer_passes() {
        let ends = Ends::from([(0, 3), (1, 0)]);
        let problems = verify_rebuild(
            &Ends::from([(0, 0), (1, 0)]),
            &ends,
            &BTreeMap::from([(0, 0)]),
            &versions(&[("a", 2)]),
            &versions(&[("a", 3), ("b", 1)]),
        );
        assert!(problems.is_empty(), "{problems:?}");
    }

    #[test]
    fn records_gone_from_the_start_of_a_partition_are_a_problem_however_the_broker_reports_it() {
        let ends = Ends::from([(0, 80), (1, 52)]);
        let problems = verify_rebuild(
            &Ends::from([(0, 0), (1, 10)]),
            &ends,
            &BTreeMap::from([(0, 79), (1, 10)]),
            &BTreeMap::new(),
            &BTreeMap::new(),
        );
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(problems[0].contains("partition 0's first readable record is at offset 79"));
        assert!(problems[1].contains("partition 1 starts at offset 10"));
    }

    #[test]
    fn customers_missing_or_older_in_the_rebuilt_generation_are_problems() {
        let problems = verify_rebuild(
            &Ends::new(),
            &Ends::new(),
            &BTreeMap::new(),
            &versions(&[("a", 2), ("b", 5), ("c", 1)]),
            &versions(&[("a", 2), ("b", 4)]),
        );
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(problems[0].starts_with(
            "1 customers of the current generation are not in the rebuilt one (e.g. c)"
        ));
        assert!(problems[1].starts_with("1 customers are at an older version"));
    }
}
