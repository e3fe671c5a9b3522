//! Kafka client setup with rdkafka, and topic administration.

use std::time::Duration;

use rdkafka::ClientConfig;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
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

/// Topic configs of an event store: keep every record forever, never compact.
pub const EVENT_STORE_TOPIC_CONFIG: [(&str, &str); 2] =
    [("retention.ms", "-1"), ("cleanup.policy", "delete")];

/// Creates `topic` with `partitions` partitions and the event-store configs,
/// unless it exists already.
pub async fn ensure_topic(
    settings: &KafkaSettings,
    topic: &str,
    partitions: i32,
) -> Result<(), KafkaError> {
    let admin: AdminClient<DefaultClientContext> = client_config(settings).create()?;
    let mut new_topic = NewTopic::new(topic, partitions, TopicReplication::Fixed(1));
    for (key, value) in EVENT_STORE_TOPIC_CONFIG {
        new_topic = new_topic.set(key, value);
    }
    let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(10)));
    let results = admin.create_topics([&new_topic], &options).await?;
    for result in results {
        match result {
            Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((name, code)) => {
                return Err(KafkaError::AdminOp(code)).inspect_err(|_| {
                    tracing::error!(topic = %name, %code, "cannot create topic");
                });
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

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
            message_timeout_ms: 1000,
            properties,
        };
        let producer: Result<FutureProducer, _> = reliable_producer_config(&settings).create();
        assert!(producer.is_ok(), "{:?}", producer.err());
    }
}
