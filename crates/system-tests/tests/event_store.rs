//! The change topic is an event store: created with infinite retention and
//! without compaction, as the broker reports back.

use std::time::Duration;

use platform_testkit as kit;
use rdkafka::admin::{AdminClient, AdminOptions, ResourceSpecifier};
use rdkafka::client::DefaultClientContext;

#[tokio::test]
async fn change_topic_keeps_every_record_forever_and_is_not_compacted() {
    let topic = kit::unique("event_store");
    kit::create_topic(&topic, 3).await;
    // Creating it again is harmless (start-up scripts do).
    kit::create_topic(&topic, 3).await;
    let admin: AdminClient<DefaultClientContext> = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", kit::kafka_brokers())
        .create()
        .expect("admin client");
    let options = AdminOptions::new().request_timeout(Some(Duration::from_secs(10)));
    let results = admin
        .describe_configs([&ResourceSpecifier::Topic(&topic)], &options)
        .await
        .expect("describe configs");
    let resource = results
        .into_iter()
        .next()
        .expect("one result")
        .expect("topic described");
    let value = |name: &str| {
        resource
            .get(name)
            .and_then(|entry| entry.value.clone())
            .unwrap_or_default()
    };
    assert_eq!(value("retention.ms"), "-1");
    assert_eq!(value("cleanup.policy"), "delete");
}
