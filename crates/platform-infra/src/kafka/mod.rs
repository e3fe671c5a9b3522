//! Kafka client setup with rdkafka, and topic administration.

mod incremental_alter;

pub use incremental_alter::set_topic_configs;

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::Context;
use rdkafka::ClientConfig;
use rdkafka::admin::{
    AdminClient, AdminOptions, AlterConfig, NewTopic, ResourceSpecifier, TopicReplication,
};
use rdkafka::client::DefaultClientContext;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};

use crate::config::KafkaSettings;

/// Base client config: brokers plus the pass-through properties.
pub fn client_config(settings: &KafkaSettings) -> ClientConfig {
    let mut config = ClientConfig::new();
    config.set("bootstrap.servers", &settings.brokers);
    for (key, value) in settings.exposed_properties() {
        config.set(key, value);
    }
    config
}

/// Config of a producer that never loses or reorders an acknowledged record:
/// `acks=all` and the idempotent producer.
pub fn reliable_producer_config(settings: &KafkaSettings) -> ClientConfig {
    let mut config = client_config(settings);
    config
        .set("enable.idempotence", "true")
        .set("acks", "all")
        .set(
            "message.timeout.ms",
            settings.message_timeout_ms.to_string(),
        );
    config
}

/// Where a consumer group starts on a partition with no committed offset, or
/// whose position has left the log (`auto.offset.reset`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OffsetReset {
    /// The oldest record kept: replays the whole event store.
    #[serde(alias = "smallest", alias = "beginning")]
    Earliest,
    /// After the newest record.
    #[serde(alias = "largest", alias = "end")]
    Latest,
    /// Neither: the consumer stays and reports an error.
    #[serde(alias = "none")]
    Error,
}

impl OffsetReset {
    /// librdkafka's name.
    pub fn as_str(self) -> &'static str {
        match self {
            OffsetReset::Earliest => "earliest",
            OffsetReset::Latest => "latest",
            OffsetReset::Error => "error",
        }
    }
}

/// Config of a consumer in `group_id` that commits nothing by itself: offsets
/// are stored, and committed, only for records whose effect is durable
/// (a caller that wants librdkafka's periodic commit of stored offsets sets
/// `enable.auto.commit=true`).
pub fn consumer_config(settings: &KafkaSettings, group_id: &str) -> ClientConfig {
    let mut config = client_config(settings);
    config
        .set("group.id", group_id)
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false");
    config
}

/// `retention.ms` of an event store: Long.MAX_VALUE, "keep for ever" on
/// both brokers the project runs on.
///
/// - Apache Kafka deletes a segment only when `now - largestTimestamp >
///   retention.ms` (and skips the check for any negative value), so the
///   largest long is never exceeded; `-1` would mean the same there.
/// - tansu 0.6 (the local broker) keeps a record only while `now - timestamp
///   <= retention.ms` and has no special case for `-1`: with `-1` its
///   maintenance pass, at every broker start and every 10 minutes, deletes
///   every record of the topic. The largest long keeps them all.
pub const RETENTION_FOREVER_MS: &str = "9223372036854775807";

/// Topic configs of an event store: keep every record for ever, never compact.
pub const EVENT_STORE_TOPIC_CONFIG: [(&str, &str); 2] = [
    ("retention.ms", RETENTION_FOREVER_MS),
    ("cleanup.policy", "delete"),
];

/// Creates `topic` with `partitions` partitions and the event-store configs;
/// if it exists already, checks its configs and corrects any that differ
/// (a topic created by an older version with `retention.ms=-1`, which the
/// local broker reads as "delete everything").
pub async fn ensure_topic(
    settings: &KafkaSettings,
    topic: &str,
    partitions: i32,
) -> anyhow::Result<()> {
    ensure_topic_replicated(settings, topic, partitions, 1).await
}

/// [`ensure_topic`] with `replication` copies of each partition for new
/// topics (Confluent Cloud requires 3; the local broker has one node).
pub async fn ensure_topic_replicated(
    settings: &KafkaSettings,
    topic: &str,
    partitions: i32,
    replication: i32,
) -> anyhow::Result<()> {
    let admin: AdminClient<DefaultClientContext> = client_config(settings).create()?;
    let mut new_topic = NewTopic::new(topic, partitions, TopicReplication::Fixed(replication));
    for (key, value) in EVENT_STORE_TOPIC_CONFIG {
        new_topic = new_topic.set(key, value);
    }
    let options = AdminOptions::new().operation_timeout(Some(ADMIN_TIMEOUT));
    let results = admin.create_topics([&new_topic], &options).await?;
    for result in results {
        match result {
            Ok(_) => {}
            Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {
                correct_event_store_configs(settings, &admin, topic).await?;
            }
            Err((name, code)) => {
                tracing::error!(topic = %name, %code, "cannot create topic");
                return Err(KafkaError::AdminOp(code).into());
            }
        }
    }
    Ok(())
}

/// Topic configs of the keys and state topics: compacted (only each
/// customer's latest record matters), and kept for ever until compacted.
pub const COMPACTED_TOPIC_CONFIG: [(&str, &str); 2] = [
    ("cleanup.policy", "compact"),
    ("retention.ms", RETENTION_FOREVER_MS),
];

/// Creates the keys topic and the state topic (`settings.keys_topic`,
/// `settings.state_topic`) with `partitions` partitions and `replication`
/// copies, compacted; existing ones are left as they are.
pub async fn ensure_compacted_topics(
    settings: &KafkaSettings,
    partitions: i32,
    replication: i32,
) -> anyhow::Result<()> {
    let admin: AdminClient<DefaultClientContext> = client_config(settings).create()?;
    let new_topics: Vec<NewTopic> = [&settings.keys_topic, &settings.state_topic]
        .into_iter()
        .map(|topic| {
            let new_topic = NewTopic::new(topic, partitions, TopicReplication::Fixed(replication));
            COMPACTED_TOPIC_CONFIG
                .iter()
                .fold(new_topic, |t, (key, value)| t.set(key, value))
        })
        .collect();
    let options = AdminOptions::new().operation_timeout(Some(ADMIN_TIMEOUT));
    for result in admin.create_topics(&new_topics, &options).await? {
        match result {
            Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((name, code)) => {
                tracing::error!(topic = %name, %code, "cannot create topic");
                return Err(KafkaError::AdminOp(code).into());
            }
        }
    }
    Ok(())
}

/// How long an admin request may take.
const ADMIN_TIMEOUT: Duration = Duration::from_secs(10);

/// The configs of `topic` as the broker describes them (name → value).
pub async fn describe_topic_configs(
    settings: &KafkaSettings,
    topic: &str,
) -> anyhow::Result<BTreeMap<String, String>> {
    let admin: AdminClient<DefaultClientContext> = client_config(settings).create()?;
    describe_with(&admin, topic).await
}

async fn describe_with(
    admin: &AdminClient<DefaultClientContext>,
    topic: &str,
) -> anyhow::Result<BTreeMap<String, String>> {
    let options = AdminOptions::new().request_timeout(Some(ADMIN_TIMEOUT));
    let results = admin
        .describe_configs([&ResourceSpecifier::Topic(topic)], &options)
        .await?;
    let resource = results
        .into_iter()
        .next()
        .context("no answer to describe configs")?
        .map_err(KafkaError::AdminOp)
        .with_context(|| format!("cannot describe the configs of {topic}"))?;
    Ok(resource
        .entries
        .into_iter()
        .filter_map(|e| e.value.map(|v| (e.name, v)))
        .collect())
}

/// The event-store configs `topic` lacks: `(name, wanted, found)`.
fn differences(configs: &BTreeMap<String, String>) -> Vec<(&'static str, &'static str, String)> {
    EVENT_STORE_TOPIC_CONFIG
        .iter()
        .filter_map(|(name, wanted)| {
            let found = configs.get(*name).cloned().unwrap_or_default();
            (found != *wanted).then_some((*name, *wanted, found))
        })
        .collect()
}

/// Alters an existing topic to the event-store configs where they differ, and
/// checks the result: IncrementalAlterConfigs on a plaintext listener (the
/// local broker implements only that one), the legacy AlterConfigs through
/// rdkafka on a secured cluster.
async fn correct_event_store_configs(
    settings: &KafkaSettings,
    admin: &AdminClient<DefaultClientContext>,
    topic: &str,
) -> anyhow::Result<()> {
    let found = differences(&describe_with(admin, topic).await?);
    if found.is_empty() {
        return Ok(());
    }
    for (name, wanted, value) in &found {
        tracing::warn!(topic, config = name, found = %value, wanted, "correcting an event-store topic config");
    }
    let plaintext = settings
        .exposed_properties()
        .find(|(k, _)| *k == "security.protocol")
        .is_none_or(|(_, v)| v.eq_ignore_ascii_case("plaintext"));
    if plaintext {
        incremental_alter::set_topic_configs(&settings.brokers, topic, &EVENT_STORE_TOPIC_CONFIG)
            .await?;
    } else {
        let mut alter = AlterConfig::new(ResourceSpecifier::Topic(topic));
        for (key, value) in EVENT_STORE_TOPIC_CONFIG {
            alter = alter.set(key, value);
        }
        let options = AdminOptions::new().request_timeout(Some(ADMIN_TIMEOUT));
        for result in admin.alter_configs([&alter], &options).await? {
            result
                .map_err(|(_, code)| KafkaError::AdminOp(code))
                .with_context(|| format!("cannot alter the configs of {topic}"))?;
        }
    }
    let left = differences(&describe_with(admin, topic).await?);
    anyhow::ensure!(
        left.is_empty(),
        "{topic} still has {left:?} after altering its configs"
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use rdkafka::producer::FutureProducer;

    use super::*;

    #[test]
    fn confluent_cloud_sasl_ssl_plain_settings_are_accepted() {
        let properties: BTreeMap<String, secrecy::SecretString> = [
            ("security.protocol", "SASL_SSL"),
            ("sasl.mechanisms", "PLAIN"),
            ("sasl.username", "KEY"),
            ("sasl.password", "SECRET"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.into()))
        .collect();
        let settings = KafkaSettings {
            brokers: "127.0.0.1:1".into(),
            topic: "t".into(),
            keys_topic: "k".into(),
            state_topic: "s".into(),
            message_timeout_ms: 1000,
            properties,
        };
        let producer: Result<FutureProducer, _> = reliable_producer_config(&settings).create();
        assert!(producer.is_ok(), "{:?}", producer.err());
    }

    #[test]
    fn retention_minus_one_is_a_difference_and_the_largest_long_is_not() {
        let configs = |retention: &str| {
            BTreeMap::from([
                ("retention.ms".to_owned(), retention.to_owned()),
                ("cleanup.policy".to_owned(), "delete".to_owned()),
            ])
        };
        assert_eq!(
            differences(&configs("-1")),
            [("retention.ms", RETENTION_FOREVER_MS, "-1".to_owned())]
        );
        assert!(differences(&configs(&i64::MAX.to_string())).is_empty());
    }
}
