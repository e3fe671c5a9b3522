//! The outbox relay: what reaches Kafka, in which order, and when.

use std::time::Duration;

use mongodb::bson::Document;
use platform_testkit as kit;
use rdkafka::Message;
use reqwest::StatusCode;
use shared_events::{ChangeKind, CustomerRecord, SealedChangeEnvelope, SealedChangeType};

use accounts_domain::domain::{CustomerSubmission, RawCustomer};

use crate::helpers::{TestApp, fresh_settings};

const WITHIN: Duration = Duration::from_secs(20);

/// Waits until the customer's outbox is empty and no longer flagged pending.
async fn outbox_drained(app: &TestApp, id: &str) {
    kit::eventually(WITHIN, "the outbox to drain", || async {
        let stored: Document = app.stored(id).await?;
        let empty = stored
            .get_document("outbox")
            .map(|outbox| outbox.is_empty())
            .unwrap_or(false);
        let pending = stored.get_i32("pendingEvents").unwrap_or(-1);
        (empty && pending == 0).then_some(())
    })
    .await;
}

#[tokio::test]
async fn created_customer_is_published_keyed_by_id_in_a_cloudevents_envelope() {
    let app = TestApp::spawn().await;
    assert_eq!(
        app.post_customer(&kit::seed_customer("c-9")).await.status(),
        StatusCode::CREATED
    );
    let records = kit::read_records(app.topic(), 1, WITHIN).await;
    let record = &records[0];
    assert_eq!(record.key(), Some("c-9".as_bytes()));
    assert_eq!(
        kit::header(record, "content-type").as_deref(),
        Some("application/cloudevents+json")
    );
    let payload = record.payload().expect("payload");
    kit::assert_no_card_numbers(&String::from_utf8_lossy(payload), "the published event");
    let text = String::from_utf8_lossy(payload);
    for personal in [
        "Rajesh",
        "Iyer",
        "john.doe@internet.com",
        "555-666-7777",
        "Oak Street",
    ] {
        assert!(!text.contains(personal), "{personal} in clear in {text}");
    }
    let event = SealedChangeEnvelope::decode(payload).expect("valid envelope");
    assert_eq!(event.event_type, SealedChangeType::Created);
    assert_eq!(event.source, "/accounts");
    assert_eq!(event.subject, "c-9");
    assert_eq!(event.data.version, 1);
    // Opened with the key the keys topic carries.
    let (_, change) = app.opened(record).await;
    let personal = change.personal.expect("personal data");
    assert_eq!(personal.name.first_name, "Rajesh");
    assert_eq!(personal.addresses.len(), 2);
    outbox_drained(&app, "c-9").await;
    app.stop().await;
}

#[tokio::test]
async fn successive_changes_are_published_in_version_order_on_one_partition() {
    let app = TestApp::spawn().await;
    let mut body = kit::seed_customer("c-10");
    for n in 0..5 {
        body["name"]["firstName"] = format!("Name{n}").into();
        assert!(app.post_customer(&body).await.status().is_success());
    }
    let records = kit::read_records(app.topic(), 5, WITHIN).await;
    let partition = records[0].partition();
    assert!(records.iter().all(|r| r.partition() == partition));
    let mut changes = Vec::new();
    for record in &records {
        changes.push(app.opened(record).await.1);
    }
    let versions: Vec<i64> = changes.iter().map(|c| c.version).collect();
    assert_eq!(versions, [1, 2, 3, 4, 5]);
    let names: Vec<String> = changes
        .iter()
        .filter_map(|c| c.personal.as_ref().map(|p| p.name.first_name.clone()))
        .collect();
    assert_eq!(names, ["Name0", "Name1", "Name2", "Name3", "Name4"]);
    assert_eq!(changes[0].kind, ChangeKind::Created);
    assert!(changes[1..].iter().all(|c| c.kind == ChangeKind::Updated));
    outbox_drained(&app, "c-10").await;
    app.stop().await;
}

#[tokio::test]
async fn writes_succeed_without_a_broker_and_are_published_after_a_restart() {
    let settings = fresh_settings().await;
    let mut offline = settings.clone();
    offline.kafka.brokers = "127.0.0.1:1".into();
    // Deliveries would wait two minutes for the absent broker: a handler that
    // waited for Kafka would run into the request timeout below.
    offline.kafka.message_timeout_ms = 120_000;
    let app = TestApp::spawn_with(offline).await;
    let response = app
        .client
        .post(format!("{}/accounts/customer/create", app.base))
        .json(&kit::seed_customer("c-11"))
        .timeout(Duration::from_secs(10))
        .send()
        .await
        .expect("answered without waiting for Kafka");
    assert_eq!(response.status(), StatusCode::CREATED);
    let stored = app.stored("c-11").await.expect("stored");
    assert_eq!(stored.get_i32("pendingEvents"), Ok(1));
    app.stop().await;

    let app = TestApp::spawn_with(settings).await;
    let records = kit::read_records(app.topic(), 1, WITHIN).await;
    assert_eq!(records[0].key(), Some("c-11".as_bytes()));
    outbox_drained(&app, "c-11").await;
    app.stop().await;
}

#[tokio::test]
async fn history_lists_every_change_in_order_with_the_published_event_ids() {
    let app = TestApp::spawn().await;
    let mut body = kit::seed_customer("c-12");
    for last_name in ["A", "B", "B", "C"] {
        body["name"]["lastName"] = last_name.into();
        assert!(app.post_customer(&body).await.status().is_success());
    }
    let history: serde_json::Value = app
        .get("/accounts/customer/c-12/history")
        .await
        .json()
        .await
        .expect("json");
    let history = history.as_array().expect("array");
    let lines: Vec<(i64, &str)> = history
        .iter()
        .map(|h| {
            (
                h["version"].as_i64().expect("version"),
                h["type"].as_str().expect("type"),
            )
        })
        .collect();
    assert_eq!(
        lines,
        [
            (1, "accounts.customer.created.v2"),
            (2, "accounts.customer.updated.v2"),
            (3, "accounts.customer.updated.v2")
        ]
    );
    let records = kit::read_records(app.topic(), 3, WITHIN).await;
    let published: Vec<String> = records
        .iter()
        .map(|r| {
            CustomerRecord::decode(r.payload().expect("payload"))
                .expect("event")
                .event_id()
                .to_string()
        })
        .collect();
    let recorded: Vec<&str> = history
        .iter()
        .filter_map(|h| h["eventId"].as_str())
        .collect();
    assert_eq!(published, recorded);
    assert!(
        history
            .iter()
            .all(|h| h["time"].as_str().is_some_and(|t| !t.is_empty()))
    );
    assert_eq!(
        app.get("/accounts/customer/nobody/history").await.status(),
        StatusCode::NOT_FOUND
    );
    app.stop().await;
}

#[tokio::test]
async fn two_instances_publish_every_change_once_and_in_order_per_customer() {
    const CUSTOMERS: usize = 20;
    const CHANGES: usize = 6;
    let settings = fresh_settings().await;
    let first = TestApp::spawn_with(settings.clone()).await;
    let second = TestApp::spawn_with(settings).await;
    let instances = [&first, &second];
    let writers = (0..CUSTOMERS).map(|c| async move {
        let mut body = kit::seed_customer(&format!("m-{c:02}"));
        for change in 0..CHANGES {
            body["name"]["lastName"] = format!("L{change}").into();
            // Alternate instances so both relays see every customer.
            let status = instances[(c + change) % 2]
                .post_customer(&body)
                .await
                .status();
            assert!(status.is_success(), "{status}");
        }
    });
    futures::future::join_all(writers).await;

    let records = kit::read_records(first.topic(), CUSTOMERS * CHANGES, WITHIN).await;
    let mut by_customer: std::collections::BTreeMap<Vec<u8>, Vec<(i32, i64)>> = Default::default();
    for r in &records {
        let version = CustomerRecord::decode(r.payload().expect("payload"))
            .expect("event")
            .version();
        by_customer
            .entry(r.key().expect("key").to_vec())
            .or_default()
            .push((r.partition(), version));
    }
    assert_eq!(by_customer.len(), CUSTOMERS);
    let expected: Vec<i64> = (1..=CHANGES as i64).collect();
    for (key, seen) in by_customer {
        let versions: Vec<i64> = seen.iter().map(|(_, v)| *v).collect();
        assert_eq!(
            versions,
            expected,
            "customer {}",
            String::from_utf8_lossy(&key)
        );
        assert!(seen.iter().all(|(p, _)| *p == seen[0].0));
    }
    first.stop().await;
    second.stop().await;
}

#[tokio::test]
async fn the_request_traceparent_continues_into_the_published_record() {
    use platform_infra::trace_context::TraceParent;
    let app = TestApp::spawn().await;
    let incoming = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    let response = app
        .client
        .post(format!("{}/accounts/customer/create", app.base))
        .header("traceparent", incoming)
        .json(&kit::seed_customer("c-13"))
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), StatusCode::CREATED);
    let server = response
        .headers()
        .get("traceparent")
        .and_then(|v| v.to_str().ok())
        .and_then(TraceParent::parse)
        .expect("response traceparent");
    assert_eq!(server.trace_id(), "4bf92f3577b34da6a3ce929d0e0e4736");
    assert_ne!(server.to_string(), incoming);

    // Without one, a trace is started, and the record still carries it.
    let untraced = app.post_customer(&kit::seed_customer("c-14")).await;
    let started = untraced
        .headers()
        .get("traceparent")
        .and_then(|v| v.to_str().ok())
        .and_then(TraceParent::parse)
        .expect("a new trace");

    let records = kit::read_records(app.topic(), 2, WITHIN).await;
    for record in &records {
        let header = kit::header(record, "traceparent").expect("traceparent header");
        let published = TraceParent::parse(&header).expect("valid traceparent");
        let expected = if record.key() == Some(b"c-13".as_slice()) {
            server.trace_id()
        } else {
            started.trace_id()
        };
        assert_eq!(published.trace_id(), expected);
        assert_ne!(published, server, "the publish must be a span of its own");
    }
    app.stop().await;
}

#[tokio::test]
async fn a_change_while_the_relay_publishes_keeps_its_own_event_and_brings_back_none_published() {
    use accounts_domain::domain::{CustomerSubmission, RawCustomer};
    use accounts_domain::store::CustomerDocument;
    use mongodb::bson::doc;

    let db = kit::mongo_database(&kit::unique("accounts")).await;
    let store = crate::helpers::customer_store(&db, crate::helpers::COLLECTION);
    let submission = |last_name: &str| {
        let mut body = kit::seed_customer("race-1");
        body["name"]["lastName"] = last_name.into();
        let raw: RawCustomer = serde_json::from_value(body).expect("seed");
        CustomerSubmission::parse(raw).expect("valid seed")
    };
    store
        .upsert(submission("One"), None)
        .await
        .expect("created");

    // The relay claims version 1; two changes land before it marks it
    // published, one through this store, one through another instance (which
    // remembers nothing).
    let claimed = store
        .claim_pending("relay-test", Duration::from_secs(30), 10)
        .await
        .expect("claimed");
    assert_eq!(claimed.len(), 1);
    store
        .upsert(submission("Two"), None)
        .await
        .expect("updated");
    crate::helpers::customer_store(&db, crate::helpers::COLLECTION)
        .upsert(submission("Three"), None)
        .await
        .expect("updated elsewhere");
    store
        .mark_published("relay-test", &claimed[0], &claimed[0].entries)
        .await
        .expect("marked");
    // This store's memory (version 2) is stale now: its next change must
    // notice, not overwrite version 3.
    store
        .upsert(submission("Four"), None)
        .await
        .expect("updated");

    let stored = db
        .collection::<CustomerDocument>(crate::helpers::COLLECTION)
        .find_one(doc! { "_id": "race-1" })
        .await
        .expect("read")
        .expect("stored");
    let pending: Vec<i64> = stored.outbox().iter().map(|e| e.version).collect();
    assert_eq!(
        pending,
        [2, 3, 4],
        "the published event came back or a new one was lost"
    );
    assert_eq!((stored.version, stored.pending_events), (4, 3));
    assert_eq!(stored.name.map(|n| n.last_name).as_deref(), Some("Four"));
}

#[tokio::test]
async fn deleting_publishes_a_deleted_event_and_creating_again_continues_the_versions() {
    let app = TestApp::spawn().await;
    let url = format!("{}/accounts/customer/gone-1", app.base);
    assert_eq!(
        app.post_customer(&kit::seed_customer("gone-1"))
            .await
            .status(),
        StatusCode::CREATED
    );
    let delete = || async { app.client.delete(&url).send().await.expect("sent").status() };
    assert_eq!(delete().await, StatusCode::NO_CONTENT);
    assert_eq!(
        app.get("/accounts/customer/gone-1").await.status(),
        StatusCode::NOT_FOUND
    );
    let listed: Vec<serde_json::Value> = app
        .get("/accounts/customers")
        .await
        .json()
        .await
        .expect("json");
    assert!(listed.iter().all(|c| c["id"] != "gone-1"), "{listed:?}");
    // Deleting again changes nothing; an unknown customer is 404.
    assert_eq!(delete().await, StatusCode::NO_CONTENT);
    let unknown = app
        .client
        .delete(format!("{}/accounts/customer/never-was", app.base))
        .send()
        .await
        .expect("sent");
    assert_eq!(unknown.status(), StatusCode::NOT_FOUND);

    let again = app.post_customer(&kit::seed_customer("gone-1")).await;
    assert_eq!(again.status(), StatusCode::CREATED);
    let body: serde_json::Value = again.json().await.expect("json");
    assert_eq!(body["version"], 3);

    let records = kit::read_records(app.topic(), 3, WITHIN).await;
    let events: Vec<(String, i64)> = records
        .iter()
        .map(|r| {
            let e = CustomerRecord::decode(r.payload().expect("payload")).expect("event");
            (e.event_type().as_str().to_owned(), e.version())
        })
        .collect();
    assert_eq!(
        events,
        [
            (SealedChangeType::Created.as_str().to_owned(), 1),
            (SealedChangeType::Deleted.as_str().to_owned(), 2),
            (SealedChangeType::Created.as_str().to_owned(), 3),
        ]
    );
    let (_, deleted) = app.opened(&records[1]).await;
    assert_eq!(
        deleted.personal.map(|p| p.name.first_name).as_deref(),
        Some("Rajesh"),
        "carries the last state"
    );
    let history: Vec<serde_json::Value> = app
        .get("/accounts/customer/gone-1/history")
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(history.len(), 3);
    app.stop().await;
}

#[tokio::test]
async fn a_batch_mark_empties_unchanged_outboxes_and_leaves_a_changed_one_to_the_single_mark() {
    use accounts_domain::domain::{CustomerSubmission, RawCustomer};
    use accounts_domain::store::CustomerDocument;
    use mongodb::bson::doc;

    let db = kit::mongo_database(&kit::unique("accounts")).await;
    let store = crate::helpers::customer_store(&db, crate::helpers::COLLECTION);
    let submission = |id: &str, email: &str| {
        let mut body = kit::seed_customer(id);
        body["contact"]["email"] = email.into();
        let raw: RawCustomer = serde_json::from_value(body).expect("seed");
        CustomerSubmission::parse(raw).expect("valid seed")
    };
    for id in ["batch-1", "batch-2"] {
        store
            .upsert(submission(id, "a@example.com"), None)
            .await
            .expect("created");
    }
    let claimed = store
        .claim_pending("relay-test", Duration::from_secs(30), 10)
        .await
        .expect("claimed");
    assert_eq!(claimed.len(), 2);
    // A change after the claim: batch-2's outbox now holds version 2 as well.
    store
        .upsert(submission("batch-2", "b@example.com"), None)
        .await
        .expect("updated");

    let both: Vec<_> = claimed.iter().collect();
    let changed = store
        .mark_all_published("relay-test", &both)
        .await
        .expect("marked");
    assert_eq!(changed, ["batch-2"]);

    let documents = db.collection::<CustomerDocument>(crate::helpers::COLLECTION);
    let read = |id: &'static str| {
        let documents = documents.clone();
        async move {
            documents
                .find_one(doc! { "_id": id })
                .await
                .expect("read")
                .expect("stored")
        }
    };
    let first = read("batch-1").await;
    assert!(first.outbox().is_empty());
    assert_eq!((first.pending_events, first.lease()), (0, None));
    let second = read("batch-2").await;
    assert_eq!(
        second.outbox().len(),
        2,
        "nothing of the changed one removed"
    );
    assert_eq!(
        second.lease().map(|lease| lease.owner).as_deref(),
        Some("relay-test")
    );

    let claimed_second = claimed
        .iter()
        .find(|p| p.customer_id == "batch-2")
        .expect("claimed");
    store
        .mark_published("relay-test", claimed_second, &claimed_second.entries)
        .await
        .expect("marked");
    let second = read("batch-2").await;
    let left: Vec<i64> = second.outbox().iter().map(|e| e.version).collect();
    assert_eq!(
        left,
        [2],
        "only the event published before the change is gone"
    );
    assert_eq!(second.pending_events, 1);
}

/// A backlog of 300 events of one customer (the broker was away while it was
/// written) marked published at once leaves none of them in the outbox: the local
/// MongoDB-protocol server ignores a `$unset` of more than 126 paths, and a
/// mark that relied on one would count the events as published while they
/// stay, never to be claimed again.
#[tokio::test]
async fn marking_a_300_event_backlog_published_removes_all_300_from_the_outbox() {
    use accounts_domain::store::CustomerDocument;
    use mongodb::bson::doc;

    let db = kit::mongo_database(&kit::unique("accounts")).await;
    let store = crate::helpers::customer_store(&db, crate::helpers::COLLECTION);
    for change in 0..300 {
        let mut body = kit::seed_customer("backlog-1");
        body["name"]["lastName"] = format!("Backlog{change}").into();
        let raw: RawCustomer = serde_json::from_value(body).expect("seed");
        let submission = CustomerSubmission::parse(raw).expect("valid seed");
        store.upsert(submission, None).await.expect("written");
    }
    let claimed = store
        .claim_pending("relay-test", Duration::from_secs(30), 10)
        .await
        .expect("claimed");
    assert_eq!(claimed.len(), 1);
    assert_eq!(claimed[0].entries.len(), 300);
    // A change after the claim, so that the single mark (not the batch's
    // emptying of the whole outbox) removes them.
    let mut body = kit::seed_customer("backlog-1");
    body["name"]["lastName"] = "After".into();
    let raw: RawCustomer = serde_json::from_value(body).expect("seed");
    let submission = CustomerSubmission::parse(raw).expect("valid seed");
    store.upsert(submission, None).await.expect("written");
    store
        .mark_published("relay-test", &claimed[0], &claimed[0].entries)
        .await
        .expect("marked");

    let documents = db.collection::<CustomerDocument>(crate::helpers::COLLECTION);
    let stored = documents.find_one(doc! { "_id": "backlog-1" }).await;
    let stored = stored.expect("read").expect("stored");
    let left: Vec<i64> = stored.outbox().iter().map(|e| e.version).collect();
    assert_eq!(left, [301], "only the change after the claim is pending");
    assert_eq!((stored.pending_events, stored.lease()), (1, None));
}

#[tokio::test]
async fn the_customer_document_does_not_grow_with_changes_and_the_history_is_paged() {
    let app = TestApp::spawn().await;
    let mut body = kit::seed_customer("c-grow");
    let size = |document: Document| mongodb::bson::to_vec(&document).expect("bson").len();
    let mut sizes = Vec::new();
    for change in 1..=30 {
        body["name"]["lastName"] = format!("Name{change:03}").into();
        assert!(app.post_customer(&body).await.status().is_success());
        if change == 5 || change == 30 {
            outbox_drained(&app, "c-grow").await;
            sizes.push(size(app.stored("c-grow").await.expect("stored")));
        }
    }
    let stored = app.stored("c-grow").await.expect("stored");
    assert!(!stored.contains_key("history"), "{stored}");
    // The same but for the digits of a time: 25 more changes embedded would
    // add thousands of bytes.
    assert!(
        sizes[1] < sizes[0] + 16,
        "the document grew with its changes: {sizes:?}"
    );
    let recorded = app
        .db
        .collection::<Document>(&format!("{}_history", crate::helpers::COLLECTION))
        .count_documents(mongodb::bson::doc! { "customerId": "c-grow" })
        .await
        .expect("count");
    assert_eq!(recorded, 30);

    let page: serde_json::Value = app
        .get("/accounts/customer/c-grow/history?limit=10&offset=20")
        .await
        .json()
        .await
        .expect("json");
    let versions: Vec<i64> = page
        .as_array()
        .expect("array")
        .iter()
        .filter_map(|h| h["version"].as_i64())
        .collect();
    assert_eq!(versions, (21..=30).collect::<Vec<_>>());
    let first: serde_json::Value = app
        .get("/accounts/customer/c-grow/history")
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(first.as_array().map(Vec::len), Some(30));
    app.stop().await;
}

#[tokio::test]
async fn an_event_written_by_another_instance_is_published_while_own_writes_keep_waking_the_relay()
{
    let app = TestApp::spawn().await;
    // Another instance whose relay does not run: only this app's scan can
    // publish its event.
    let elsewhere = crate::helpers::customer_store(&app.db, &app.settings.mongodb.collection);
    let raw: RawCustomer = serde_json::from_value(kit::seed_customer("elsewhere")).expect("shape");
    let submission = CustomerSubmission::parse(raw).expect("valid");
    elsewhere.upsert(submission, None).await.expect("written");
    // Writes every 20 ms, ten times the relay's poll interval in a second,
    // each waking the relay, until the other instance's event is out.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writes = {
        let (stop, client, url) = (stop.clone(), app.client.clone(), app.base.clone());
        tokio::spawn(async move {
            let mut body = kit::seed_customer("busy");
            for change in 0.. {
                if stop.load(std::sync::atomic::Ordering::Relaxed) {
                    break;
                }
                body["name"]["lastName"] = format!("L{change}").into();
                let post = client.post(format!("{url}/accounts/customer/create"));
                let _ = post.json(&body).send().await;
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
    };
    // Published (the broker acknowledged it) and marked by this app's relay.
    outbox_drained(&app, "elsewhere").await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    writes.await.expect("writer");
    app.stop().await;
}
