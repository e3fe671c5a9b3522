//! Reading a topic from known offsets up to a known end: what the rebuild and
//! the dead-letter re-drive need, unlike the live projector which follows the
//! topic forever.

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::Context;
use rdkafka::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};

/// `partition → high watermark` (the offset the next record will get).
pub type Ends = BTreeMap<i32, i64>;

/// The partitions of `topic` and their high watermarks now.
pub async fn topic_ends(config: ClientConfig, topic: &str) -> anyhow::Result<Ends> {
    Ok(watermarks(config, topic)
        .await?
        .into_iter()
        .map(|(partition, (_, high))| (partition, high))
        .collect())
}

/// `partition → log start` (the low watermark: the first offset the broker
/// says it still holds).
pub async fn topic_starts(config: ClientConfig, topic: &str) -> anyhow::Result<Ends> {
    Ok(watermarks(config, topic)
        .await?
        .into_iter()
        .map(|(partition, (low, _))| (partition, low))
        .collect())
}

/// `partition → (low, high)` watermarks of every partition of `topic`.
pub(crate) async fn watermarks(
    config: ClientConfig,
    topic: &str,
) -> anyhow::Result<BTreeMap<i32, (i64, i64)>> {
    let topic = topic.to_owned();
    tokio::task::spawn_blocking(move || {
        let consumer: BaseConsumer = config.create().context("cannot create a metadata client")?;
        watermarks_with(&consumer, &topic)
    })
    .await
    .context("watermark task")?
}

/// [`watermarks`] through an existing client (blocking).
pub(crate) fn watermarks_with(
    consumer: &BaseConsumer,
    topic: &str,
) -> anyhow::Result<BTreeMap<i32, (i64, i64)>> {
    let timeout = Duration::from_secs(10);
    let metadata = consumer
        .fetch_metadata(Some(topic), timeout)
        .with_context(|| format!("cannot read metadata of {topic}"))?;
    let partitions = metadata
        .topics()
        .iter()
        .find(|t| t.name() == topic)
        .map(|t| t.partitions().iter().map(|p| p.id()).collect::<Vec<_>>())
        .unwrap_or_default();
    anyhow::ensure!(!partitions.is_empty(), "topic {topic} has no partitions");
    let mut marks = BTreeMap::new();
    for partition in partitions {
        let bounds = consumer
            .fetch_watermarks(topic, partition, timeout)
            .with_context(|| format!("cannot read watermarks of {topic}/{partition}"))?;
        marks.insert(partition, bounds);
    }
    Ok(marks)
}

/// Tracks how far each partition has been read towards its end, and the
/// first offset read from each.
#[derive(Debug, Clone)]
pub struct ReadProgress {
    next: BTreeMap<i32, i64>,
    ends: Ends,
    first: BTreeMap<i32, i64>,
}

impl ReadProgress {
    /// Starts at `start` (partition → next offset to read) towards `ends`.
    pub fn new(start: BTreeMap<i32, i64>, ends: Ends) -> Self {
        ReadProgress {
            next: start,
            ends,
            first: BTreeMap::new(),
        }
    }

    /// Records that the record at `offset` of `partition` was handled.
    pub fn handled(&mut self, partition: i32, offset: i64) {
        let next = self.next.entry(partition).or_insert(0);
        *next = (*next).max(offset + 1);
        let first = self.first.entry(partition).or_insert(offset);
        *first = (*first).min(offset);
    }

    /// The lowest offset read from each partition.
    pub fn first_offsets(&self) -> &BTreeMap<i32, i64> {
        &self.first
    }

    /// The ends being read towards.
    pub fn ends(&self) -> &Ends {
        &self.ends
    }

    /// Moves the end to `ends` (after a later look at the watermarks).
    pub fn extend_to(&mut self, ends: Ends) {
        self.ends = ends;
    }

    /// Records still to read.
    pub fn remaining(&self) -> u64 {
        self.ends
            .iter()
            .map(|(p, end)| {
                let next = self.next.get(p).copied().unwrap_or(0);
                u64::try_from(end - next).unwrap_or(0)
            })
            .sum()
    }

    /// Whether every partition has been read up to its end.
    pub fn done(&self) -> bool {
        self.remaining() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_is_done_when_every_partition_reached_its_end() {
        let ends = Ends::from([(0, 2), (1, 0), (2, 1)]);
        let mut progress = ReadProgress::new(BTreeMap::new(), ends);
        assert_eq!(progress.remaining(), 3);
        progress.handled(0, 0);
        progress.handled(2, 0);
        assert!(!progress.done());
        progress.handled(0, 1);
        assert!(progress.done());
        progress.extend_to(Ends::from([(0, 3), (1, 0), (2, 1)]));
        assert_eq!(progress.remaining(), 1);
    }
}
