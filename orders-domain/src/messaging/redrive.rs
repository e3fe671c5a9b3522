//! Re-driving dead letters: republishing the records of the dead-letter topic to
//! the customer change topic, for example after the bug that made them fail was
//! fixed.
//!
//! Records keep their key, value and original headers; the `dlt.*` headers are
//! dropped. The re-drive has its own consumer group, committed after each
//! republished record, so running it again only re-drives records that arrived
//! since. A record that still cannot be applied simply comes back to the
//! dead-letter topic.

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::Context;
use platform_infra::kafka;
use rdkafka::consumer::{CommitMode, Consumer, StreamConsumer};
use rdkafka::producer::FutureProducer;
use rdkafka::util::Timeout;
use rdkafka::{Message, Offset, TopicPartitionList};
use shared_events::topics::dead_letter_topic;

use super::dead_letter::copy_record;
use super::offsets::{ReadProgress, topic_ends};
use crate::settings::Settings;

/// Republishes every dead letter not re-driven before and returns how many.
pub async fn redrive_dead_letters(settings: &Settings) -> anyhow::Result<u64> {
    let topic = &settings.kafka.topic;
    let dlt = dead_letter_topic(topic);
    let base = kafka::client_config(&settings.kafka);
    let group = format!("{}-dlt-redrive", settings.consumer.group_id);
    let consumer: StreamConsumer = kafka::consumer_config(&settings.kafka, &group)
        .create()
        .context("cannot create the re-drive consumer")?;
    let producer: FutureProducer = kafka::reliable_producer_config(&settings.kafka)
        .create()
        .context("cannot create the re-drive producer")?;
    let ends = topic_ends(base, &dlt).await?;

    let mut wanted = TopicPartitionList::new();
    for partition in ends.keys() {
        wanted.add_partition(&dlt, *partition);
    }
    let committed = consumer
        .committed_offsets(wanted, Duration::from_secs(10))
        .context("cannot read the re-drive group's offsets")?;
    let mut start = BTreeMap::new();
    let mut assignment = TopicPartitionList::new();
    for partition in ends.keys() {
        let next = match committed
            .find_partition(&dlt, *partition)
            .map(|e| e.offset())
        {
            Some(Offset::Offset(o)) => o,
            _ => 0,
        };
        start.insert(*partition, next);
        assignment.add_partition_offset(&dlt, *partition, Offset::Offset(next))?;
    }
    consumer.assign(&assignment)?;

    let mut read = ReadProgress::new(start, ends);
    let mut redriven = 0u64;
    while !read.done() {
        let message = tokio::time::timeout(Duration::from_secs(30), consumer.recv())
            .await
            .context("the dead-letter topic stopped delivering")??;
        let record = copy_record(&message, topic, |key| !key.starts_with("dlt."), &[]);
        producer
            .send(record, Timeout::After(Duration::from_secs(30)))
            .await
            .map_err(|(e, _)| e)
            .context("cannot republish a dead letter")?;
        let mut done = TopicPartitionList::new();
        done.add_partition_offset(
            &dlt,
            message.partition(),
            Offset::Offset(message.offset() + 1),
        )?;
        consumer.commit(&done, CommitMode::Sync)?;
        read.handled(message.partition(), message.offset());
        redriven += 1;
    }
    tracing::info!(redriven, dlt, "dead letters re-driven");
    Ok(redriven)
}
