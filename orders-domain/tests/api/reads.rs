//! The seed's read endpoints: list with paging, one customer, 404.

use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::TestApp;

#[tokio::test]
async fn list_pages_customers_in_id_order_and_missing_customer_is_a_404_problem() {
    let app = TestApp::spawn().await;
    for id in ["c-3", "c-1", "c-2"] {
        app.produce_change(id, 1, id, None).await;
    }
    for id in ["c-1", "c-2", "c-3"] {
        app.replica_at_version(id, 1).await;
    }
    let ids = |page: Value| -> Vec<String> {
        page.as_array()
            .expect("array")
            .iter()
            .map(|c| c["id"].as_str().expect("id").to_owned())
            .collect()
    };
    let all: Value = app.get("/orders/list").await.json().await.expect("json");
    assert_eq!(ids(all), ["c-1", "c-2", "c-3"]);
    let page: Value = app
        .get("/orders/list?limit=1&offset=2")
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(ids(page), ["c-3"]);

    let missing = app.get("/orders/order/nobody").await;
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    assert_eq!(
        missing
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok()),
        Some("application/problem+json")
    );
    app.stop().await;
}
