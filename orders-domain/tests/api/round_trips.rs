//! Round trips to MongoDB per store operation, counted with the driver's
//! command monitoring (one command started = one round trip). The counts are
//! pinned so that a change that adds a round trip fails here.
//!
//! Reads of the replica pointer are counted apart: a process reads it at most
//! once per [`POINTER_LIFETIME`], so a sequence of operations may hold one
//! read per lifetime that passed, and the rest of its commands are exact.

use std::time::Instant;

use orders_domain::domain::order::{Order, OrderSubmission, RawOrder};
use orders_domain::store::{CustomerOrdersStore, POINTER_LIFETIME};
use platform_infra::paging::Paging;
use platform_testkit::{self as kit, CommandLog};

use crate::helpers::{COLLECTION, change};

#[tokio::test]
async fn orders_operations_take_their_counted_round_trips() {
    let (db, log) = kit::counted_mongo_database(&kit::unique("orders_rt")).await;
    let store = CustomerOrdersStore::new(&db, COLLECTION);
    store.init().await.expect("init");
    log.take();

    let mut pointer = PointerReads::start();
    for version in 1..=5 {
        store
            .apply(&change("rt-1", version, "Name"))
            .await
            .expect("apply");
    }
    // One conditional replace-or-insert per event.
    assert_eq!(pointer.others(&log), ["update"; 5], "apply");
    store
        .apply(&change("rt-1", 3, "Stale"))
        .await
        .expect("apply");
    // Refused on the key, then once more, since the refusal may have been a
    // race with another writer's insert.
    assert_eq!(pointer.others(&log), ["update", "update"], "a stale event");

    let raw: RawOrder = serde_json::from_value(serde_json::json!({ "orderItems": [
        { "product": { "guid": "p-1", "title": "Beans", "price": "9.5" }, "quantity": 2 }
    ]}))
    .expect("shape");
    let submission = OrderSubmission::parse(raw).expect("valid");
    let customer = store
        .customer("rt-1")
        .await
        .expect("read")
        .expect("replicated");
    pointer.others(&log);
    let order = Order::place(
        "rt-1",
        submission,
        customer.addresses[0].clone(),
        chrono::Utc::now(),
    );
    store.add_order(&order).await.expect("order placed");
    assert_eq!(pointer.others(&log), ["insert"], "place an order");

    let page = Paging {
        limit: 100,
        offset: 0,
    };
    let found = store.get("rt-1", page).await.expect("get").expect("found");
    assert_eq!(found.orders, std::slice::from_ref(&order));
    // The replica, the orders.
    assert_eq!(
        pointer.others(&log),
        ["find", "find"],
        "customer with orders"
    );

    store.order("rt-1", &order.guid).await.expect("order");
    assert_eq!(pointer.others(&log), ["find"], "one order");
}

/// Takes the pointer reads out of a command log, checking that there are
/// no more than the lifetimes passed since the start allow.
struct PointerReads {
    since: Instant,
    reads: usize,
}

impl PointerReads {
    fn start() -> Self {
        PointerReads {
            since: Instant::now(),
            reads: 0,
        }
    }

    /// The names of the commands sent since the last call, other than reads
    /// of the pointer.
    fn others(&mut self, log: &CommandLog) -> Vec<String> {
        let (pointer, others): (Vec<_>, Vec<_>) = log
            .take_commands()
            .into_iter()
            .partition(|c| c.collection.as_deref() == Some(&format!("{COLLECTION}_meta")));
        self.reads += pointer.len();
        let lifetimes = self.since.elapsed().as_secs_f64() / POINTER_LIFETIME.as_secs_f64();
        let allowed = lifetimes.ceil() as usize + 1;
        assert!(
            self.reads <= allowed,
            "{} pointer reads in {:?}: the pointer is not cached",
            self.reads,
            self.since.elapsed()
        );
        others.into_iter().map(|c| c.name).collect()
    }
}
