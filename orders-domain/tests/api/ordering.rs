//! Placing orders: validation, exact totals, the address snapshot, and reads.

use reqwest::StatusCode;
use serde_json::{Value, json};
use shared_events::AddressType;

use crate::helpers::{TestApp, change_event};

/// Replicates customer `id` at `version` with its shipping address in `city`.
async fn replicate(app: &TestApp, id: &str, version: i64, city: &str) {
    let mut event = change_event(id, version, "Rajesh");
    for address in &mut event.data.addresses {
        if address.address_type == AddressType::Shipping {
            address.city = city.into();
        }
    }
    app.produce_raw(id, &event.to_json_vec(), None).await;
    app.replica_at_version(id, version).await;
}

async fn post_order(app: &TestApp, customer: &str, body: &Value) -> reqwest::Response {
    app.client
        .post(format!("{}/orders/order/{customer}", app.base))
        .json(body)
        .send()
        .await
        .expect("sent")
}

fn two_items() -> Value {
    json!({ "orderItems": [
        { "product": { "guid": "p-1", "title": "Beans", "price": "0.10" }, "quantity": 3 },
        { "product": { "guid": "p-2", "title": "Grinder", "description": "burr", "price": 0.2 }, "quantity": 1 }
    ]})
}

#[tokio::test]
async fn an_order_snapshots_the_shipping_address_and_totals_exactly() {
    let app = TestApp::spawn().await;
    replicate(&app, "buyer-1", 1, "Shipville").await;

    let response = post_order(&app, "buyer-1", &two_items()).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let location = response.headers()["location"]
        .to_str()
        .expect("ascii")
        .to_owned();
    let order: Value = response.json().await.expect("json");
    assert_eq!(order["total"], "0.5");
    assert_eq!(order["status"], "CREATED");
    assert_eq!(order["customerId"], "buyer-1");
    assert_eq!(order["shippingAddress"]["type"], "SHIPPING");
    assert_eq!(order["shippingAddress"]["city"], "Shipville");
    assert_eq!(order["orderItems"][0]["product"]["price"], "0.1");
    let guid = order["guid"].as_str().expect("guid");
    assert_eq!(location, format!("/orders/order/buyer-1/{guid}"));

    // The customer moves: the placed order keeps the address it was placed with.
    replicate(&app, "buyer-1", 2, "Newtown").await;
    let fetched: Value = app.get(&location).await.json().await.expect("json");
    assert_eq!(fetched, order);
    let second: Value = post_order(&app, "buyer-1", &two_items())
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(second["shippingAddress"]["city"], "Newtown");

    let customer: Value = app
        .get("/orders/order/buyer-1")
        .await
        .json()
        .await
        .expect("json");
    let orders = customer["orders"].as_array().expect("orders");
    assert_eq!(orders.len(), 2);
    assert_eq!(orders[0], order);
    assert_eq!(
        app.get("/orders/order/buyer-1/no-such-order")
            .await
            .status(),
        StatusCode::NOT_FOUND
    );
    app.stop().await;
}

#[tokio::test]
async fn orders_for_unknown_customers_or_with_bad_items_are_refused() {
    let app = TestApp::spawn().await;
    let response = post_order(&app, "nobody", &two_items()).await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    let problem: Value = response.json().await.expect("json");
    assert!(
        problem["detail"]
            .as_str()
            .is_some_and(|d| d.contains("nobody")),
        "{problem}"
    );

    replicate(&app, "buyer-2", 1, "Shipville").await;
    let bad = json!({ "orderItems": [
        { "product": { "guid": "p-1", "title": "Beans", "price": "ten" }, "quantity": 0 }
    ]});
    let response = post_order(&app, "buyer-2", &bad).await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let problem: Value = response.json().await.expect("json");
    let fields = platform_testkit::error_fields(&problem);
    assert_eq!(
        fields,
        ["orderItems[0].product.price", "orderItems[0].quantity"]
    );
    let empty = post_order(&app, "buyer-2", &json!({ "orderItems": [] })).await;
    assert_eq!(empty.status(), StatusCode::UNPROCESSABLE_ENTITY);

    // A customer without any address cannot be shipped to.
    let mut homeless = change_event("buyer-3", 1, "Rajesh");
    homeless.data.addresses.clear();
    app.produce_raw("buyer-3", &homeless.to_json_vec(), None)
        .await;
    app.replica_at_version("buyer-3", 1).await;
    let response = post_order(&app, "buyer-3", &two_items()).await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);

    let customer: Value = app
        .get("/orders/order/buyer-2")
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(customer["orders"], json!([]), "a refused order was stored");
    app.stop().await;
}

#[tokio::test]
async fn a_deleted_customer_keeps_its_orders_but_cannot_order_until_created_again() {
    use shared_events::{CustomerChangeEnvelope, CustomerChangeType};
    let app = TestApp::spawn().await;
    replicate(&app, "leaver-1", 1, "Shipville").await;
    assert_eq!(
        post_order(&app, "leaver-1", &two_items()).await.status(),
        StatusCode::CREATED
    );
    let mut deleted = change_event("leaver-1", 2, "Rajesh");
    deleted.event_type = CustomerChangeType::Deleted;
    app.produce_raw("leaver-1", &deleted.to_json_vec(), None)
        .await;
    let customer = app.replica_at_version("leaver-1", 2).await;
    assert_eq!(customer["deleted"], true);
    assert_eq!(customer["orders"].as_array().map(Vec::len), Some(1));
    let refused = post_order(&app, "leaver-1", &two_items()).await;
    assert_eq!(refused.status(), StatusCode::CONFLICT);

    let again: CustomerChangeEnvelope = change_event("leaver-1", 3, "Rajesh");
    assert_eq!(again.event_type, CustomerChangeType::Updated);
    let mut again = again;
    again.event_type = CustomerChangeType::Created;
    app.produce_raw("leaver-1", &again.to_json_vec(), None)
        .await;
    let customer = app.replica_at_version("leaver-1", 3).await;
    assert!(customer.get("deleted").is_none(), "{customer}");
    assert_eq!(
        post_order(&app, "leaver-1", &two_items()).await.status(),
        StatusCode::CREATED
    );
    app.stop().await;
}

#[tokio::test]
async fn a_retried_order_with_the_same_idempotency_key_is_placed_once() {
    let app = TestApp::spawn().await;
    replicate(&app, "buyer-4", 1, "Shipville").await;
    let send = |key: &'static str, body: Value| {
        let request = app
            .client
            .post(format!("{}/orders/order/buyer-4", app.base))
            .header("Idempotency-Key", key)
            .json(&body);
        async move { request.send().await.expect("sent") }
    };
    let first = send("order-key-1", two_items()).await;
    assert_eq!(first.status(), StatusCode::CREATED);
    let location = first.headers()["location"].clone();
    let first: Value = first.json().await.expect("json");
    let again = send("order-key-1", two_items()).await;
    assert_eq!(again.status(), StatusCode::CREATED);
    assert_eq!(again.headers()["location"], location);
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    assert_eq!(again.json::<Value>().await.expect("json"), first);

    let mut other = two_items();
    other["orderItems"][0]["quantity"] = 5.into();
    assert_eq!(
        send("order-key-1", other).await.status(),
        StatusCode::UNPROCESSABLE_ENTITY
    );
    let customer: Value = app
        .get("/orders/order/buyer-4")
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(customer["orders"].as_array().map(Vec::len), Some(1));
    app.stop().await;
}
