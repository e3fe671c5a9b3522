//! Both services and Kafka between them: a customer written to accounts shows up
//! in orders, through real HTTP, Kafka and MongoDB-protocol sockets.

use std::time::Duration;

use mongodb::bson::{Document, doc};
use platform_infra::config::HttpSettings;
use platform_infra::shutdown::CancellationToken;
use platform_testkit as kit;
use rdkafka::Message;
use serde_json::Value;
use shared_events::topics::dead_letter_topic;
use shared_events::{SealedChangeEnvelope, SealedChangeType};

const WITHIN: Duration = Duration::from_secs(30);

fn http() -> HttpSettings {
    HttpSettings::default()
}

async fn orders_view(client: &reqwest::Client, base: &str, version: i64) -> Value {
    kit::eventually(
        WITHIN,
        &format!("orders to show version {version}"),
        || async {
            let response = client
                .get(format!("{base}/orders/order/123456"))
                .send()
                .await
                .ok()?;
            let body: Value = response.json().await.ok()?;
            (body["version"] == version).then_some(body)
        },
    )
    .await
}

#[tokio::test]
async fn seed_customer_flows_from_accounts_to_orders_and_changes_follow() {
    let topic = kit::unique("e2e_change");
    kit::create_topic(&topic, 3).await;
    kit::create_compacted_topics(&topic, 3).await;
    kit::create_topic(&dead_letter_topic(&topic), 1).await;
    let shutdown = CancellationToken::new();

    let accounts_db = kit::unique("accounts");
    let accounts = accounts_domain::build(
        accounts_domain::Settings {
            http: http(),
            mongodb: kit::mongo_settings(&accounts_db, "customer_accounts"),
            kafka: kit::kafka_settings(&topic),
            relay: accounts_domain::settings::RelaySettings {
                poll_interval_ms: 500,
                batch_size: 100,
                shutdown_drain_ms: 2000,
            },
            log: kit::log_settings(),
            auth: Default::default(),
            idempotency: Default::default(),
            crypto: kit::crypto_settings(),
        },
        shutdown.clone(),
    )
    .await
    .expect("accounts starts");
    let orders_db = kit::unique("orders");
    let orders = orders_domain::build(
        orders_domain::Settings {
            http: http(),
            mongodb: kit::mongo_settings(&orders_db, "customer_orders"),
            kafka: kit::kafka_settings(&topic),
            consumer: orders_domain::settings::ConsumerSettings {
                group_id: kit::unique("orders"),
                auto_offset_reset: platform_infra::kafka::OffsetReset::Earliest,
                max_backoff_ms: 500,
                lag_check_interval_ms: 500,
                stall_after_ms: 10_000,
                session_timeout_ms: 45_000,
                fetch_wait_max_ms: 50,
                instance_id: None,
            },
            replica: orders_domain::settings::ReplicaSettings { read_wait_ms: 5000 },
            log: kit::log_settings(),
            auth: Default::default(),
            idempotency: Default::default(),
            crypto: kit::crypto_settings(),
        },
        shutdown.clone(),
    )
    .await
    .expect("orders starts");
    let accounts_base = format!("http://{}", accounts.addr());
    let orders_base = format!("http://{}", orders.addr());
    let client = reqwest::Client::new();

    let mut body = kit::seed_customer_numeric_id(123456);
    let created = client
        .post(format!("{accounts_base}/accounts/customer/create"))
        .json(&body)
        .send()
        .await
        .expect("create sent");
    assert_eq!(created.status(), reqwest::StatusCode::CREATED);

    let v1 = orders_view(&client, &orders_base, 1).await;
    assert_eq!(v1["id"], "123456");
    assert_eq!(v1["name"], body["name"]);
    assert_eq!(v1["contact"], body["contact"]);
    let mut expected_addresses = body["addresses"].clone();
    for address in expected_addresses.as_array_mut().expect("addresses") {
        address.as_object_mut().expect("object").remove("address2");
    }
    assert_eq!(v1["addresses"], expected_addresses);

    body["name"]["lastName"] = "Smith".into();
    body["addresses"][1]["city"] = "Springfield".into();
    let updated = client
        .post(format!("{accounts_base}/accounts/customer/create"))
        .json(&body)
        .send()
        .await
        .expect("update sent");
    assert_eq!(updated.status(), reqwest::StatusCode::OK);
    let v2 = orders_view(&client, &orders_base, 2).await;
    assert_eq!(v2["name"]["lastName"], "Smith");
    assert_eq!(v2["addresses"][1]["city"], "Springfield");

    let records = kit::read_records(&topic, 2, WITHIN).await;
    let mut kinds = Vec::new();
    for record in &records {
        assert_eq!(record.key(), Some("123456".as_bytes()));
        let payload = record.payload().expect("payload");
        kit::assert_no_card_numbers(&String::from_utf8_lossy(payload), "a published event");
        let event = SealedChangeEnvelope::decode(payload).expect("valid envelope");
        assert_eq!(
            (event.specversion.as_str(), event.source.as_str()),
            ("1.0", "/accounts")
        );
        kinds.push((Some(event.event_type), event.data.version));
    }
    assert_eq!(
        kinds,
        [
            (Some(SealedChangeType::Created), 1),
            (Some(SealedChangeType::Updated), 2)
        ]
    );

    for (database, collection) in [
        (&accounts_db, "customer_accounts"),
        (&orders_db, "customer_orders_replica_1"),
    ] {
        let stored = kit::mongo_database(database)
            .await
            .collection::<Document>(collection)
            .find_one(doc! { "_id": "123456" })
            .await
            .expect("find")
            .expect("stored");
        kit::assert_no_card_numbers(&format!("{stored:?}"), database);
    }

    shutdown.cancel();
    accounts.wait().await.expect("accounts stops cleanly");
    let report = orders.wait().await.expect("orders stops cleanly");
    assert_eq!(report.applied, 2);
}
