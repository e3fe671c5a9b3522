//! Round trips to MongoDB per store operation, counted with the driver's
//! command monitoring (one command started = one round trip). The counts are
//! pinned so that a change that adds a round trip fails here.

use accounts_domain::domain::{CustomerSubmission, RawCustomer};
use accounts_domain::store::CustomerStore;
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
    let store = CustomerStore::new(&db, COLLECTION);
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
    let other = CustomerStore::new(&db, COLLECTION);
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

#[tokio::test]
async fn the_relay_takes_four_round_trips_for_a_batch_of_twenty_customers() {
    let (db, log) = kit::counted_mongo_database(&kit::unique("accounts_rt")).await;
    let store = CustomerStore::new(&db, COLLECTION);
    store.ensure_indexes().await.expect("indexes");
    for i in 0..20 {
        store
            .upsert(submission(kit::seed_customer(&format!("batch-{i}"))), None)
            .await
            .expect("create");
    }
    log.take();

    let claimed = store
        .claim_pending("relay-rt", std::time::Duration::from_secs(30), 100)
        .await
        .expect("claim");
    assert_eq!(claimed.len(), 20);
    // The candidates, then their leases taken in one update.
    assert_eq!(log.take(), ["find", "update"], "claim");
    let all: Vec<_> = claimed.iter().collect();
    let changed = store
        .mark_all_published("relay-rt", &all)
        .await
        .expect("mark");
    assert!(changed.is_empty());
    // The history records in one insert, then every outbox emptied in one
    // update. (Target: 3 per batch. A bounded claim needs its read, since an
    // update cannot be limited; history and outbox are two collections.)
    assert_eq!(log.take(), ["insert", "update"], "mark published");
}
