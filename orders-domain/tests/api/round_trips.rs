//! Round trips to MongoDB per store operation, counted with the driver's
//! command monitoring (one command started = one round trip). The counts are
//! pinned so that a change that adds a round trip fails here; where the
//! storage issue's targets are not met yet, the comment says so.

use orders_domain::domain::order::{Order, OrderSubmission, RawOrder};
use orders_domain::store::CustomerOrdersStore;
use platform_infra::paging::Paging;
use platform_testkit as kit;

use crate::helpers::{COLLECTION, change_event};

#[tokio::test]
async fn orders_operations_take_their_counted_round_trips() {
    let (db, log) = kit::counted_mongo_database(&kit::unique("orders_rt")).await;
    let store = CustomerOrdersStore::new(&db, COLLECTION);
    store.init().await.expect("init");
    log.take();

    store
        .apply(&change_event("rt-1", 1, "First"))
        .await
        .expect("apply");
    let first_apply = log.take();
    store
        .apply(&change_event("rt-1", 2, "Second"))
        .await
        .expect("apply");
    // Target: 1. The replica pointer is read per operation (not cached yet),
    // then one conditional write.
    assert_eq!(log.take(), ["find", "update"], "apply");
    assert!(first_apply.len() <= 3, "first apply: {first_apply:?}");

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
    log.take();
    let order = Order::place(
        "rt-1",
        submission,
        customer.addresses[0].clone(),
        chrono::Utc::now(),
    );
    store.add_order(&order).await.expect("order placed");
    assert_eq!(log.take(), ["insert"], "place an order");

    let page = Paging {
        limit: 100,
        offset: 0,
    };
    let found = store.get("rt-1", page).await.expect("get").expect("found");
    assert_eq!(found.orders, std::slice::from_ref(&order));
    // Target: 2. The pointer, the replica, the orders.
    assert_eq!(log.take(), ["find", "find", "find"], "customer with orders");

    store.order("rt-1", &order.guid).await.expect("order");
    assert_eq!(log.take(), ["find"], "one order");
}
