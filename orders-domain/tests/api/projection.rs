//! The replica projector: version guard, owned orders, dead letters, offsets.

use std::time::Duration;

use mongodb::bson::{Document, doc};
use platform_testkit as kit;
use rdkafka::Message;
use serde_json::Value;
use shared_events::topics::{dead_letter_topic, headers};

use crate::helpers::{COLLECTION, TestApp, change, change_event, stored_order};

#[tokio::test]
async fn change_event_appears_in_the_replica_with_contact_and_addresses() {
    let app = TestApp::spawn().await;
    app.produce_change("123456", 1, "Rajesh", None).await;
    let body = app.replica_at_version("123456", 1).await;
    assert_eq!(body["id"], "123456");
    assert_eq!(body["name"]["firstName"], "Rajesh");
    assert_eq!(body["contact"]["email"], "rajesh@example.com");
    let types: Vec<&str> = body["addresses"]
        .as_array()
        .expect("addresses")
        .iter()
        .filter_map(|a| a["type"].as_str())
        .collect();
    assert_eq!(types, ["BILLING", "SHIPPING"]);
    assert_eq!(body["orders"], serde_json::json!([]));
    app.stop().await;
}

#[tokio::test]
async fn stale_and_duplicate_events_do_not_overwrite_a_newer_version() {
    let app = TestApp::spawn().await;
    app.produce_change("c-1", 2, "Two", Some(0)).await;
    app.produce_change("c-1", 1, "One", Some(0)).await;
    // A redelivery of version 2 whose content differs shows whether it was applied.
    app.produce_change("c-1", 2, "Redelivered", Some(0)).await;
    // Same partition, later offset: once it is visible, the three before it were handled.
    app.produce_change("sentinel", 1, "S", Some(0)).await;
    app.replica_at_version("sentinel", 1).await;
    let body: Value = app
        .get("/orders/order/c-1")
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(
        (body["version"].clone(), body["name"]["firstName"].clone()),
        (2.into(), "Two".into())
    );
    app.produce_change("c-1", 3, "Three", None).await;
    let body = app.replica_at_version("c-1", 3).await;
    assert_eq!(body["name"]["firstName"], "Three");
    let report = app.stop().await;
    assert_eq!((report.applied, report.stale), (3, 2));
}

#[tokio::test]
async fn replica_updates_never_touch_the_orders_the_service_owns() {
    let app = TestApp::spawn().await;
    app.produce_change("c-2", 1, "Before", None).await;
    app.replica_at_version("c-2", 1).await;
    app.db
        .collection::<Document>(COLLECTION)
        .insert_one(stored_order("c-2", "order-1"))
        .await
        .expect("order stored");
    app.produce_change("c-2", 2, "After", None).await;
    let body = app.replica_at_version("c-2", 2).await;
    assert_eq!(body["name"]["firstName"], "After");
    assert_eq!(body["orders"][0]["guid"], "order-1");
    app.stop().await;
}

#[tokio::test]
async fn a_newer_producers_event_is_applied_keeping_an_unknown_address_type_and_dropping_unknown_fields()
 {
    let app = TestApp::spawn().await;
    let mut newer: Value =
        serde_json::from_slice(&change_event("c-5", 1, "Newer").to_json_vec()).expect("json");
    newer["data"]["addresses"][0]["type"] = "HOME".into();
    newer["data"]["loyaltyTier"] = "gold".into();
    newer["data"]["name"]["nickname"] = "Nu".into();
    app.produce_raw("c-5", newer.to_string().as_bytes(), None)
        .await;
    let body = app.replica_at_version("c-5", 1).await;
    assert_eq!(body["name"]["firstName"], "Newer");
    assert_eq!(body["addresses"][0]["type"], "HOME");
    assert_eq!(body["addresses"][1]["type"], "SHIPPING");
    let stored = app
        .db
        .collection::<Document>(&format!("{COLLECTION}_replica_1"))
        .find_one(doc! { "_id": "c-5" })
        .await
        .expect("read")
        .expect("stored");
    assert_eq!(
        stored.get_array("addresses").expect("addresses")[0]
            .as_document()
            .and_then(|a| a.get_str("type").ok()),
        Some("HOME")
    );
    assert!(!stored.contains_key("loyaltyTier"), "{stored:?}");
    let report = app.stop().await;
    assert_eq!((report.applied, report.dead_lettered), (1, 0));
}

#[tokio::test]
async fn poison_records_go_to_the_dead_letter_topic_and_consumption_continues() {
    let app = TestApp::spawn().await;
    app.produce_raw("junk", b"{not json", Some(0)).await;
    let mut unknown: Value =
        serde_json::from_slice(&change_event("c-3", 1, "X").to_json_vec()).expect("json");
    unknown["type"] = "accounts.customer.renamed".into();
    app.produce_raw("c-3", unknown.to_string().as_bytes(), Some(0))
        .await;
    app.produce_change("c-4", 1, "Valid", Some(0)).await;
    app.replica_at_version("c-4", 1).await;

    let dead = kit::read_records(&dead_letter_topic(app.topic()), 2, Duration::from_secs(20)).await;
    let reasons: Vec<String> = dead
        .iter()
        .map(|r| kit::header(r, headers::DLT_REASON).expect("reason header"))
        .collect();
    assert!(reasons[0].contains("not a valid event"), "{reasons:?}");
    assert!(reasons[1].contains("unknown event type"), "{reasons:?}");
    for (record, offset) in dead.iter().zip(["0", "1"]) {
        assert_eq!(
            kit::header(record, headers::DLT_ORIGINAL_TOPIC).as_deref(),
            Some(app.topic())
        );
        assert_eq!(
            kit::header(record, headers::DLT_ORIGINAL_PARTITION).as_deref(),
            Some("0")
        );
        assert_eq!(
            kit::header(record, headers::DLT_ORIGINAL_OFFSET).as_deref(),
            Some(offset)
        );
        assert!(kit::header(record, headers::DLT_TIME).is_some());
    }
    assert_eq!(dead[0].payload(), Some(&b"{not json"[..]));
    // The unknown type is parked (the policy for a newer producer's type),
    // and counted apart from the malformed record.
    let metrics = app.metrics().await;
    assert!(
        metrics.contains("projector_unknown_types_total 1"),
        "{metrics}"
    );
    assert!(
        app.get("/orders/order/c-3")
            .await
            .status()
            .is_client_error()
    );
    let report = app.stop().await;
    assert_eq!((report.applied, report.dead_lettered), (1, 2));
}

#[tokio::test]
async fn offsets_of_handled_records_are_committed_on_shutdown() {
    let app = TestApp::spawn().await;
    for (id, partition) in [("a", 0), ("b", 1), ("c", 2), ("d", 0)] {
        app.produce_change(id, 1, "N", Some(partition)).await;
    }
    for id in ["a", "b", "c", "d"] {
        app.replica_at_version(id, 1).await;
    }
    let topic = app.topic().to_owned();
    let group = app.settings.consumer.group_id.clone();
    app.stop().await;

    let committed = kit::committed_offsets(&kit::kafka_brokers(), &group, &topic, 3).await;
    let committed: Vec<i64> = (0..3)
        .map(|p| committed.get(&p).copied().unwrap_or(-1))
        .collect();
    assert_eq!(committed, [2, 1, 1]);
}

#[tokio::test]
async fn a_mongodb_outage_is_waited_out_without_dead_lettering_or_skipping() {
    let mut mongo = kit::PrivateServer::mongo().await;
    let app = TestApp::spawn_with_mongodb(Some(mongo.server.address())).await;
    app.produce_change("o-1", 1, "Before", Some(0)).await;
    app.replica_at_version("o-1", 1).await;

    mongo.server.stop().await;
    app.produce_change("o-1", 2, "During", Some(0)).await;
    app.produce_change("o-2", 1, "After", Some(0)).await;
    // While MongoDB is down the API answers 503, and nothing is skipped.
    kit::eventually(
        Duration::from_secs(20),
        "a 503 while MongoDB is down",
        || async {
            (app.get("/orders/order/o-1").await.status()
                == reqwest::StatusCode::SERVICE_UNAVAILABLE)
                .then_some(())
        },
    )
    .await;
    mongo.server.restart().await.expect("mongo restarts");

    let body = app.replica_at_version("o-1", 2).await;
    assert_eq!(body["name"]["firstName"], "During");
    app.replica_at_version("o-2", 1).await;
    let report = app.stop().await;
    assert_eq!((report.applied, report.dead_lettered), (3, 0));
}

#[tokio::test]
async fn a_bulk_load_ends_as_applying_each_event_would() {
    use orders_domain::store::ReplicaCollection;

    let db = kit::mongo_database(&kit::unique("orders")).await;
    let loaded = ReplicaCollection::new(&db, "loaded", 1);
    let applied = ReplicaCollection::new(&db, "applied", 1);
    let before = [
        change("a", 3, "A3"),
        change("b", 1, "B1"),
        change("d", 2, "D2"),
    ];
    let round = [
        change("a", 2, "A2"),
        change("b", 2, "B2"),
        change("c", 1, "C1"),
        change("d", 2, "D2"),
    ];
    for replica in [&loaded, &applied] {
        for event in &before {
            replica.apply(event).await.expect("applied");
        }
    }
    loaded
        .load(&round.iter().collect::<Vec<_>>())
        .await
        .expect("loaded");
    for event in &round {
        applied.apply(event).await.expect("applied");
    }
    let state = |replica: &ReplicaCollection| {
        let replica = replica.clone();
        async move {
            replica
                .all()
                .await
                .expect("read")
                .into_iter()
                .map(|d| {
                    (
                        d.id,
                        d.version,
                        d.name.map(|n| n.first_name).unwrap_or_default(),
                    )
                })
                .collect::<Vec<_>>()
        }
    };
    let expected = [
        ("a", 3, "A3"),
        ("b", 2, "B2"),
        ("c", 1, "C1"),
        ("d", 2, "D2"),
    ]
    .map(|(id, v, name)| (id.to_owned(), v, name.to_owned()));
    assert_eq!(state(&loaded).await, expected);
    assert_eq!(state(&applied).await, expected);
}

#[tokio::test]
async fn a_valid_event_waits_for_a_missing_replica_pointer_as_a_visible_stall_and_is_never_dead_lettered()
 {
    let app = TestApp::spawn().await;
    app.produce_change("w-1", 1, "Before", Some(0)).await;
    app.replica_at_version("w-1", 1).await;

    // The pointer disappears (an operator's mistake, a restore gone wrong).
    app.db
        .collection::<Document>(&format!("{COLLECTION}_meta"))
        .delete_many(doc! {})
        .await
        .expect("pointer deleted");
    // The service notices once its cached pointer expires: reads fail.
    kit::eventually(
        Duration::from_secs(10),
        "reads to find the pointer gone",
        || async { (app.get("/orders/order/w-1").await.status() != 200).then_some(()) },
    )
    .await;
    app.produce_change("w-1", 2, "Waiting", Some(0)).await;
    app.produce_change("w-2", 1, "Behind", Some(0)).await;

    // The partition waits, and says so: lag from the end offsets, then a
    // stall once `stall_after_ms` (10 s here) passes without progress.
    let health = kit::eventually(
        Duration::from_secs(40),
        "the projector component to report a stall",
        || async {
            let body: Value = app.get("/actuator/health").await.json().await.ok()?;
            (body["components"]["projector"]["status"] == "STALLED").then_some(body)
        },
    )
    .await;
    assert_eq!(health["status"], "DEGRADED", "{health}");
    assert_eq!(health["components"]["projector"]["lag"]["0"], 2, "{health}");
    let metrics = app.metrics().await;
    assert!(
        metrics.contains("projector_stalled_partitions 1"),
        "{metrics}"
    );

    orders_domain::store::CustomerOrdersStore::new(&app.db, COLLECTION)
        .init()
        .await
        .expect("pointer restored");
    let body = app.replica_at_version("w-1", 2).await;
    assert_eq!(body["name"]["firstName"], "Waiting");
    app.replica_at_version("w-2", 1).await;
    kit::eventually(Duration::from_secs(20), "the stall to clear", || async {
        let body: Value = app.get("/actuator/health").await.json().await.ok()?;
        (body["components"]["projector"]["status"] == "UP").then_some(())
    })
    .await;
    let report = app.stop().await;
    assert_eq!((report.applied, report.dead_lettered), (3, 0));
}
