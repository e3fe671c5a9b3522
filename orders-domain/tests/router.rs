//! The orders HTTP application driven in-process through its `Router`: every
//! status and problem+json shape of the API that does not depend on stored
//! data, with no servers running. The database handle points at a closed
//! port; none of these requests reaches it.

use std::time::Duration;

use axum::Router;
use axum::http::StatusCode;
use orders_domain::Settings;
use orders_domain::http::{ApiDoc, AppState, router};
use orders_domain::messaging::AppliedFeed;
use orders_domain::store::CustomerOrdersStore;
use platform_infra::idempotency::IdempotencyKeys;
use platform_testkit as kit;
use platform_testkit::router::{get, post_json, send, unreachable_database};
use serde_json::json;
use utoipa::OpenApi;

const ORDER: &str = "/orders/order/c-1";

fn app() -> Router {
    let settings: Settings =
        platform_infra::config::load_layers(orders_domain::settings::DEFAULTS, None)
            .expect("defaults load");
    let database = unreachable_database();
    let state = AppState {
        store: CustomerOrdersStore::new(&database, "orders"),
        idempotency: IdempotencyKeys::new(
            &database,
            settings.http.body_limit_bytes,
            settings.idempotency,
        ),
        applied: AppliedFeed::default(),
        read_wait: Duration::from_millis(100),
    };
    platform_infra::service::app(router(state), ApiDoc::openapi(), &settings).expect("app")
}

#[tokio::test]
async fn malformed_json_is_400_other_media_types_415_and_large_bodies_413() {
    let app = app();
    send(
        &app,
        "POST",
        ORDER,
        "application/json",
        "{\"orderItems\": [",
    )
    .await
    .problem(StatusCode::BAD_REQUEST);
    send(&app, "POST", ORDER, "text/plain", "{}")
        .await
        .problem(StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let huge = json!({ "orderItems": [
        { "product": { "guid": "p-1", "title": "x".repeat(70 * 1024), "price": "1" }, "quantity": 1 }
    ]});
    post_json(&app, ORDER, &huge)
        .await
        .problem(StatusCode::PAYLOAD_TOO_LARGE);
}

#[tokio::test]
async fn invalid_items_are_422_each_named_by_its_path() {
    let app = app();
    let bad = json!({ "orderItems": [
        { "product": { "guid": "p-1", "title": "Beans", "price": "ten" }, "quantity": 0 },
        { "product": { "guid": " ", "title": "Cup", "price": "1.23456" }, "quantity": 1 }
    ]});
    let reply = post_json(&app, ORDER, &bad).await;
    reply.problem(StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        reply.error_fields(),
        [
            "orderItems[0].product.price",
            "orderItems[0].quantity",
            "orderItems[1].product.guid",
            "orderItems[1].product.price"
        ]
    );
    let reply = post_json(&app, ORDER, &json!({ "orderItems": [] })).await;
    reply.problem(StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(reply.error_fields(), ["orderItems"]);

    let reply = post_json(&app, ORDER, &json!({})).await;
    reply.problem(StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(reply.error_fields(), ["orderItems"]);
    assert_eq!(reply.body["errors"][0]["message"], "is required");

    let unknown = json!({ "orderItems": [
        { "product": { "guid": "p-1", "title": "Beans", "price": "1" }, "quantity": 1, "colour": "red" }
    ]});
    let reply = post_json(&app, ORDER, &unknown).await;
    reply.problem(StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(reply.error_fields(), ["orderItems[0].colour"]);
}

#[tokio::test]
async fn ids_that_cannot_exist_are_404_problems() {
    let app = app();
    for path in [
        "/orders/order/a%20b",
        "/orders/order/c-1/not-a-uuid",
        "/orders/order/a%2Fb/7f1c3ee0-4a59-4b43-9b7c-1b1f2c3d4e5f",
    ] {
        get(&app, path).await.problem(StatusCode::NOT_FOUND);
    }
    send(
        &app,
        "POST",
        "/orders/order/a%20b",
        "application/json",
        "{}",
    )
    .await
    .problem(StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn bad_query_parameters_are_400_naming_the_parameter() {
    let app = app();
    for (path, parameter) in [
        ("/orders/order/c-1?minVersion=0", Some("minVersion")),
        (
            "/orders/order/c-1?minVersion=9007199254740992",
            Some("minVersion"),
        ),
        ("/orders/order/c-1?minVersion=two", None),
        ("/orders/list?limit=0", Some("limit")),
        ("/orders/list?offset=-1", None),
    ] {
        let reply = get(&app, path).await;
        assert_eq!(
            reply.problem(StatusCode::BAD_REQUEST)["type"],
            "/problems/invalid-query",
            "{path}"
        );
        if let Some(parameter) = parameter {
            assert_eq!(reply.error_fields(), [parameter], "{path}");
        }
    }
}

#[tokio::test]
async fn unknown_routes_and_methods_are_problems() {
    kit::router::assert_unknown_route_and_method_are_problems(&app(), "/orders/list").await;
}

#[tokio::test]
async fn openapi_documents_every_route_and_swagger_ui_is_served() {
    let app = app();
    let doc = get(&app, "/api-docs/openapi.json").await.body;
    for (path, method) in [
        ("/orders/list", "get"),
        ("/orders/order/{customer_id}", "get"),
        ("/orders/order/{customer_id}", "post"),
        ("/orders/order/{customer_id}/{order_guid}", "get"),
    ] {
        assert!(doc["paths"][path][method].is_object(), "{method} {path}");
    }
    kit::assert_refs_resolve(&doc);
    kit::assert_file_in_sync("openapi.json", &doc);
    let example = &doc["components"]["schemas"]["CustomerOrders"]["example"];
    assert_eq!(example["id"], "123456", "{doc}");
    assert_eq!(example["addresses"].as_array().map(Vec::len), Some(2));
    assert_eq!(example["orders"], json!([]));
    assert_eq!(get(&app, "/swagger-ui/").await.status, StatusCode::OK);
}
