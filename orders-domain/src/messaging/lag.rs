//! Consumer lag per partition, from librdkafka's periodic statistics, as the
//! `projector_consumer_lag` gauge.

use rdkafka::ClientContext;
use rdkafka::consumer::ConsumerContext;
use rdkafka::statistics::Statistics;

/// How often librdkafka reports statistics.
pub const STATISTICS_INTERVAL_MS: &str = "5000";

/// The projector consumer's context: publishes lag from statistics.
pub struct LagReporter;

impl ClientContext for LagReporter {
    fn stats(&self, statistics: Statistics) {
        for (topic, stats) in &statistics.topics {
            for (partition, partition_stats) in &stats.partitions {
                // -1 is librdkafka's internal "unassigned" partition; a negative
                // lag means "not known yet".
                if *partition < 0 || partition_stats.consumer_lag < 0 {
                    continue;
                }
                metrics::gauge!(
                    "projector_consumer_lag",
                    "topic" => topic.clone(),
                    "partition" => partition.to_string()
                )
                .set(partition_stats.consumer_lag as f64);
            }
        }
    }
}

impl ConsumerContext for LagReporter {}
