//! Operations: rebuilding the replica from the event store, re-driving dead letters.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use mongodb::bson::Document;
use orders_domain::messaging::{Progress, RebuildRefused, Source, rebuild, redrive_dead_letters};
use orders_domain::store::CustomerOrdersStore;
use platform_testkit as kit;
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::util::Timeout;
use shared_events::crypto::DataKey;
use shared_events::topics::{dead_letter_topic, headers};

use crate::helpers::{COLLECTION, TestApp, change, change_event, stored_order};

#[tokio::test]
async fn a_rebuild_over_a_log_of_plaintext_and_sealed_events_gives_the_live_replica() {
    let app = TestApp::spawn().await;
    let key = |_: &str| DataKey::generate().expect("random");
    // Plaintext only (written before sealing), sealed only, and upgraded
    // half-way: v1 plaintext, then v2 and v3 sealed.
    app.produce_change("plain", 1, "P1", None).await;
    app.produce_change("plain", 2, "P2", None).await;
    let sealed = key("sealed");
    app.produce_key("sealed", &sealed).await;
    app.produce_sealed("sealed", 1, "S1", &sealed).await;
    app.produce_sealed("sealed", 2, "S2", &sealed).await;
    app.produce_change("mixed", 1, "M1", None).await;
    let mixed = key("mixed");
    app.produce_key("mixed", &mixed).await;
    app.produce_sealed("mixed", 2, "M2", &mixed).await;
    app.produce_sealed("mixed", 3, "M3", &mixed).await;
    // Erased: its key tombstoned, then the erasure event.
    let erased = key("erased");
    app.produce_key("erased", &erased).await;
    app.produce_sealed("erased", 1, "E1", &erased).await;
    app.produce_key_tombstone("erased").await;
    app.produce_erased("erased", 2).await;
    // Re-created after an erasure: a new key; its older records stay sealed
    // with the erased one.
    let before = key("again");
    app.produce_key("again", &before).await;
    app.produce_sealed("again", 1, "A1", &before).await;
    app.produce_key_tombstone("again").await;
    app.produce_erased("again", 2).await;
    let after = key("again");
    app.produce_key("again", &after).await;
    app.produce_sealed("again", 3, "A3", &after).await;

    let names = [
        ("plain", 2, Some("P2")),
        ("sealed", 2, Some("S2")),
        ("mixed", 3, Some("M3")),
        ("erased", 2, None),
        ("again", 3, Some("A3")),
    ];
    for (id, version, name) in names {
        let body = app.replica_at_version(id, version).await;
        assert_eq!(body["name"]["firstName"].as_str(), name, "{body}");
        assert_eq!(body["erased"] == true, name.is_none(), "{body}");
    }
    let store = CustomerOrdersStore::new(&app.db, COLLECTION);
    let live = store
        .active_replica()
        .await
        .expect("pointer")
        .all()
        .await
        .expect("live");

    let report = rebuild(&app.settings, Progress::Silent, false, Source::ChangeTopic)
        .await
        .expect("rebuild succeeds");
    assert_eq!((report.generation, report.skipped), (2, 0), "{report:?}");
    let rebuilt = store.active_replica().await.expect("pointer");
    assert_eq!(rebuilt.generation(), 2);
    assert_eq!(rebuilt.all().await.expect("rebuilt"), live);
    app.stop().await;
}

#[tokio::test]
async fn a_rebuild_from_state_reads_the_state_not_the_history_and_joins_the_change_stream() {
    let app = Arc::new(TestApp::spawn().await);
    const CUSTOMERS: i64 = 20;
    const VERSIONS: i64 = 5;
    let id = |c: i64| format!("st-{c:02}");
    // As the relay does: each customer's newest state on the state topic
    // before its events (here, the newest of five).
    for c in 0..CUSTOMERS {
        let newest = change_event(&id(c), VERSIONS, &format!("v{VERSIONS}"));
        app.produce_state(&id(c), &newest.to_json_vec()).await;
        for v in 1..=VERSIONS {
            app.produce_change(&id(c), v, &format!("v{v}"), None).await;
        }
    }
    for c in 0..CUSTOMERS {
        app.replica_at_version(&id(c), VERSIONS).await;
    }
    // Writes go on during the rebuild: the next version of everyone.
    let writer = {
        let app = app.clone();
        tokio::spawn(async move {
            for c in 0..CUSTOMERS {
                let next = change_event(&id(c), VERSIONS + 1, "next");
                app.produce_state(&id(c), &next.to_json_vec()).await;
                app.produce_raw(&id(c), &next.to_json_vec(), None).await;
            }
        })
    };
    let report = rebuild(&app.settings, Progress::Silent, false, Source::StateTopic)
        .await
        .expect("rebuild from state succeeds");
    writer.await.expect("writer");
    for c in 0..CUSTOMERS {
        let body = app.replica_at_version(&id(c), VERSIONS + 1).await;
        assert_eq!(body["name"]["firstName"], "next", "{body}");
    }
    assert_eq!(report.generation, 2);
    // The state topic holds at most two records per customer here (no
    // compaction ran); the change topic's 100 records before the rebuild
    // were not read.
    let per_customer = report.records as f64 / CUSTOMERS as f64;
    assert!(
        per_customer <= 3.0,
        "{} records read for {CUSTOMERS} customers",
        report.records
    );
    let full = rebuild(&app.settings, Progress::Silent, false, Source::ChangeTopic)
        .await
        .expect("full rebuild succeeds");
    assert!(
        full.records >= (CUSTOMERS * (VERSIONS + 1)) as u64,
        "{full:?}"
    );
    let store = CustomerOrdersStore::new(&app.db, COLLECTION);
    assert_eq!(
        store.active_replica().await.expect("pointer").generation(),
        3
    );
    println!(
        "REBUILD FROM STATE records={} vs full replay records={}",
        report.records, full.records
    );
    Arc::into_inner(app).expect("only owner").stop().await;
}

#[tokio::test]
async fn rebuild_while_events_flow_gives_the_live_state_keeps_orders_and_reads_never_fail() {
    let app = Arc::new(TestApp::spawn().await);
    const CUSTOMERS: u64 = 20;
    for c in 0..CUSTOMERS {
        for v in [1, 2, 1, 3] {
            app.produce_change(&format!("r-{c:02}"), v, &format!("v{v}"), None)
                .await;
        }
    }
    for c in 0..CUSTOMERS {
        app.replica_at_version(&format!("r-{c:02}"), 3).await;
    }
    app.db
        .collection::<Document>(COLLECTION)
        .insert_one(stored_order("r-00", "kept"))
        .await
        .expect("order stored");

    // Reads keep going during the rebuild; every one must succeed.
    let stop = Arc::new(AtomicBool::new(false));
    let reads = Arc::new(AtomicU64::new(0));
    let reader = {
        let (app, stop, reads) = (app.clone(), stop.clone(), reads.clone());
        tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                let response = app.get("/orders/order/r-00").await;
                assert!(
                    response.status().is_success(),
                    "read failed during rebuild: {}",
                    response.status()
                );
                reads.fetch_add(1, Ordering::Relaxed);
            }
        })
    };
    // Writes keep going too: version 4 of every customer.
    let writer = {
        let app = app.clone();
        tokio::spawn(async move {
            for c in 0..CUSTOMERS {
                app.produce_change(&format!("r-{c:02}"), 4, "v4", None)
                    .await;
            }
        })
    };
    let report = rebuild(&app.settings, Progress::Silent, false, Source::ChangeTopic)
        .await
        .expect("rebuild succeeds");
    writer.await.expect("writer");
    for c in 0..CUSTOMERS {
        app.replica_at_version(&format!("r-{c:02}"), 4).await;
    }
    stop.store(true, Ordering::Relaxed);
    reader.await.expect("reads never failed");
    assert!(reads.load(Ordering::Relaxed) > 0);
    assert_eq!((report.previous_generation, report.generation), (1, 2));
    assert!(report.records >= CUSTOMERS * 4);

    let store = CustomerOrdersStore::new(&app.db, COLLECTION);
    let active = store.active_replica().await.expect("pointer");
    assert_eq!(active.generation(), 2);
    let rebuilt = active.all().await.expect("rebuilt replica");
    assert_eq!(rebuilt.len(), CUSTOMERS as usize);
    for customer in &rebuilt {
        assert_eq!(
            (
                customer.version,
                customer.name.as_ref().map(|n| n.first_name.as_str())
            ),
            (4, Some("v4")),
            "{}",
            customer.id
        );
    }
    let body: serde_json::Value = app
        .get("/orders/order/r-00")
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(body["orders"][0]["guid"], "kept");
    match Arc::try_unwrap(app) {
        Ok(app) => {
            app.stop().await;
        }
        Err(_) => panic!("test app still shared"),
    }
}

#[tokio::test]
async fn a_rebuild_that_would_drop_a_current_customer_is_refused_and_force_switches_anyway() {
    let app = TestApp::spawn().await;
    app.produce_change("kept-1", 1, "Kept", None).await;
    app.replica_at_version("kept-1", 1).await;
    // A customer whose events the topic no longer holds, as after records
    // were deleted: it is in the current generation only.
    let store = CustomerOrdersStore::new(&app.db, COLLECTION);
    let current = store.active_replica().await.expect("pointer");
    current
        .apply(&change("ghost-1", 3, "Ghost"))
        .await
        .expect("written to the current generation");

    let refused = rebuild(&app.settings, Progress::Silent, false, Source::ChangeTopic)
        .await
        .expect_err("the rebuild must refuse");
    let refused = refused
        .downcast_ref::<RebuildRefused>()
        .unwrap_or_else(|| panic!("not a refusal: {refused:#}"));
    assert_eq!((refused.current, refused.rebuilt), (1, 2));
    assert!(
        refused.problems.iter().any(|p| p.contains("ghost-1")),
        "{refused}"
    );
    assert_eq!(
        store.active_replica().await.expect("pointer").generation(),
        1,
        "reads moved although the rebuild refused"
    );
    assert_eq!(app.get("/orders/order/ghost-1").await.status(), 200);

    let forced = rebuild(&app.settings, Progress::Silent, true, Source::ChangeTopic)
        .await
        .expect("--force switches");
    assert_eq!(forced.generation, 2);
    assert_eq!(forced.forced_past.len(), 1, "{:?}", forced.forced_past);
    assert_eq!(app.get("/orders/order/ghost-1").await.status(), 404);
    assert_eq!(app.get("/orders/order/kept-1").await.status(), 200);
    app.stop().await;
}

#[tokio::test]
async fn redrive_republishes_each_dead_letter_once() {
    let app = TestApp::spawn().await;
    let producer: FutureProducer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", kit::kafka_brokers())
        .create()
        .expect("producer");
    // A valid event that was dead-lettered earlier (say, during a bug).
    let payload = change_event("d-1", 1, "Redriven").to_json_vec();
    let dlt = dead_letter_topic(app.topic());
    producer
        .send(
            FutureRecord::to(&dlt).key("d-1").payload(&payload).headers(
                OwnedHeaders::new().insert(Header {
                    key: headers::DLT_REASON,
                    value: Some("bug of the day"),
                }),
            ),
            Timeout::After(Duration::from_secs(10)),
        )
        .await
        .map_err(|(e, _)| e)
        .expect("dead letter stored");

    assert_eq!(
        redrive_dead_letters(&app.settings).await.expect("re-drive"),
        1
    );
    let body = app.replica_at_version("d-1", 1).await;
    assert_eq!(body["name"]["firstName"], "Redriven");
    assert_eq!(
        redrive_dead_letters(&app.settings)
            .await
            .expect("second re-drive"),
        0
    );
    app.stop().await;
}

#[tokio::test]
async fn once_a_switch_settles_no_process_uses_the_retired_generation() {
    let db = kit::mongo_database(&kit::unique("orders_switch")).await;
    let projector = CustomerOrdersStore::new(&db, COLLECTION);
    projector.init().await.expect("init");
    let retired = projector.active_replica().await.expect("pointer");
    assert_eq!(retired.generation(), 1);

    // Another process (a rebuild) switches; the projector keeps its cache.
    let rebuilder = CustomerOrdersStore::new(&db, COLLECTION);
    let next = rebuilder
        .empty_generation_after(&retired)
        .await
        .expect("generation 2");
    rebuilder
        .switch_replica(1, &next)
        .await
        .expect("switch")
        .expect("switched from generation 1")
        .wait()
        .await;

    assert_eq!(
        projector
            .active_replica()
            .await
            .expect("pointer")
            .generation(),
        2,
        "the projector still uses the retired generation after the switch settled"
    );
    projector
        .apply(&change("after-switch", 1, "Moved"))
        .await
        .expect("applied");
    assert!(next.get("after-switch").await.expect("read").is_some());
    assert!(retired.get("after-switch").await.expect("read").is_none());
    assert!(
        rebuilder
            .switch_replica(1, &next)
            .await
            .expect("switch")
            .is_none(),
        "a switch from a generation no longer active must fail"
    );
}
