//! Round trips to MongoDB per store operation, counted with the driver's
//! command monitoring (one command started = one round trip). The counts are
//! pinned so that a change that adds a round trip fails here.

use accounts_domain::domain::{CustomerSubmission, RawCustomer};
use std::time::Duration;

use accounts_domain::store::{CustomerStore, PendingEvents};
use mongodb::bson::doc;
use platform_infra::paging::Paging;
use platform_testkit as kit;

use crate::helpers::COLLECTION;

fn submission(body: serde_json::Value) -> CustomerSubmission {
    let raw: RawCustomer = serde_json::from_value(body).expect("shape");
    CustomerSubmission::parse(raw).unwrap_or_else(|e| panic!("invalid: {e:?}"))
}

#[tokio::test]
async fn accounts_operations_take_their_counted_round_trips() {
    let (db, log) = kit::counted_mongo_database(&kit::unique("accounts_rt")).await;
    let store = crate::helpers::customer_store(&db, COLLECTION);
    store.ensure_indexes().await.expect("indexes");
    log.take();

    store
        .upsert(submission(kit::seed_customer("rt-1")), None)
        .await
        .expect("create");
    // A new id is inserted without a read.
    assert_eq!(log.take(), ["insert"], "create");

    let mut changed = kit::seed_customer("rt-1");
    changed["name"]["lastName"] = "Other".into();
    store
        .upsert(submission(changed.clone()), None)
        .await
        .expect("update");
    // Based on what this store wrote: one conditional write.
    assert_eq!(log.take(), ["update"], "update");

    // Another instance remembers nothing: it tries an insert first (the
    // common case for an id it has not seen is a new customer), then reads
    // and writes.
    let other = crate::helpers::customer_store(&db, COLLECTION);
    changed["name"]["lastName"] = "Third".into();
    other
        .upsert(submission(changed.clone()), None)
        .await
        .expect("update elsewhere");
    assert_eq!(
        log.take(),
        ["insert", "find", "update"],
        "update, nothing remembered"
    );
    // The first store's memory is stale now: its write misses, it reads,
    // it writes again.
    changed["name"]["lastName"] = "Fourth".into();
    store
        .upsert(submission(changed.clone()), None)
        .await
        .expect("update");
    assert_eq!(
        log.take(),
        ["update", "find", "update"],
        "update, stale memory"
    );
    // Unchanged from memory: only the stored state can confirm it.
    store
        .upsert(submission(changed), None)
        .await
        .expect("unchanged");
    assert_eq!(log.take(), ["find"], "unchanged");

    store.get("rt-1").await.expect("get");
    assert_eq!(log.take(), ["find"], "read");

    let page = Paging {
        limit: 100,
        offset: 0,
    };
    let history = store.history("rt-1", page).await.expect("history");
    assert_eq!(history.map(|h| h.len()), Some(4));
    // The customer (for events not yet published) and the recorded page.
    assert_eq!(log.take(), ["find", "find"], "history");

    store.delete("rt-1", None).await.expect("delete");
    assert_eq!(log.take(), ["update"], "delete");
}

/// Twenty customers created through `store`, and the command log from then on.
async fn twenty_created(store: &CustomerStore, log: &kit::CommandLog) {
    store.ensure_indexes().await.expect("indexes");
    for i in 0..20 {
        store
            .upsert(submission(kit::seed_customer(&format!("batch-{i}"))), None)
            .await
            .expect("create");
    }
    log.take();
}

/// Marks `claimed` published and checks the round trips: the history records
/// in one insert, then every outbox emptied in one update.
async fn marked(store: &CustomerStore, log: &kit::CommandLog, claimed: &[PendingEvents]) {
    let all: Vec<_> = claimed.iter().collect();
    let changed = store
        .mark_all_published("relay-rt", &all)
        .await
        .expect("mark");
    assert!(changed.is_empty());
    assert_eq!(log.take(), ["insert", "update"], "mark published");
}

#[tokio::test]
async fn the_relay_takes_three_round_trips_for_a_batch_of_twenty_customers_written_here() {
    let (db, log) = kit::counted_mongo_database(&kit::unique("accounts_rt")).await;
    let store = crate::helpers::customer_store(&db, COLLECTION);
    twenty_created(&store, &log).await;

    let claimed = store
        .claim_written("relay-rt", Duration::from_secs(30), 100)
        .await
        .expect("claim");
    assert!(!claimed.missed);
    assert_eq!(claimed.batch.len(), 20);
    // What this store wrote is claimed unread: one update takes the leases.
    assert_eq!(log.take(), ["update"], "claim");
    // Exactly what the outbox holds, read back from outside the store.
    let raw = db.collection::<mongodb::bson::Document>(COLLECTION);
    for pending in &claimed.batch {
        let stored = raw.find_one(doc! { "_id": &pending.customer_id }).await;
        let stored = stored.expect("read").expect("stored");
        let outbox = stored.get_document("outbox").expect("outbox");
        let ids: Vec<&str> = outbox
            .values()
            .filter_map(|entry| entry.as_document()?.get_str("eventId").ok())
            .collect();
        let claimed_ids: Vec<&str> = pending
            .entries
            .iter()
            .map(|e| e.event_id.as_str())
            .collect();
        assert_eq!(ids, claimed_ids, "{}", pending.customer_id);
    }
    log.take();
    marked(&store, &log, &claimed.batch).await;
}

#[tokio::test]
async fn a_customer_with_events_written_elsewhere_is_left_to_the_scan() {
    let (db, log) = kit::counted_mongo_database(&kit::unique("accounts_rt")).await;
    let (here, elsewhere) = (
        crate::helpers::customer_store(&db, COLLECTION),
        crate::helpers::customer_store(&db, COLLECTION),
    );
    here.ensure_indexes().await.expect("indexes");
    elsewhere
        .upsert(submission(kit::seed_customer("mixed")), None)
        .await
        .expect("create elsewhere");
    let mut changed = kit::seed_customer("mixed");
    changed["name"]["lastName"] = "Changed".into();
    here.upsert(submission(changed), None)
        .await
        .expect("update here");

    // Version 1 is pending too, which this store did not write.
    let lease = Duration::from_secs(30);
    let claimed = here
        .claim_written("relay-rt", lease, 100)
        .await
        .expect("claim");
    assert!(claimed.missed && claimed.batch.is_empty(), "{claimed:?}");
    let scanned = here
        .claim_pending("relay-rt", lease, 100)
        .await
        .expect("scan");
    let versions: Vec<i64> = scanned[0].entries.iter().map(|e| e.version).collect();
    assert_eq!(versions, [1, 2]);
    log.take();
}

#[tokio::test]
async fn a_scan_takes_four_round_trips_for_a_batch_of_twenty_customers() {
    let (db, log) = kit::counted_mongo_database(&kit::unique("accounts_rt")).await;
    let store = crate::helpers::customer_store(&db, COLLECTION);
    twenty_created(&store, &log).await;

    let claimed = store
        .claim_pending("relay-rt", Duration::from_secs(30), 100)
        .await
        .expect("claim");
    assert_eq!(claimed.len(), 20);
    // The candidates, then their leases taken in one update: the scan, for
    // events written by other instances or left by a failure.
    assert_eq!(log.take(), ["find", "update"], "claim");
    marked(&store, &log, &claimed).await;
}
