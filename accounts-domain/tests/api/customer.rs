//! Create, update, read and list customers; error responses.

use std::time::Duration;

use mongodb::bson::doc;
use platform_testkit as kit;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{TestApp, fresh_settings};

fn problem_content_type(response: &reqwest::Response) -> String {
    response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

#[tokio::test]
async fn seed_body_creates_customer_with_version_1_and_masked_cards() {
    let app = TestApp::spawn().await;
    let response = app
        .post_customer(&kit::seed_customer_numeric_id(123456))
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let body: Value = response.json().await.expect("json body");
    assert_eq!(body["id"], "123456");
    assert_eq!(body["version"], 1);
    assert_eq!(body["addresses"].as_array().map(Vec::len), Some(2));
    assert_eq!(body["creditCards"][0]["last4"], "0000");
    assert_eq!(body["creditCards"][1]["last4"], "6666");
    assert_eq!(
        body["creditCards"][1]["description"],
        "Corporate American Express"
    );
    kit::assert_no_card_numbers(&body.to_string(), "the create response");

    let read: Value = app
        .get("/accounts/customer/123456")
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(read, body);
    let stored = app.stored("123456").await.expect("stored");
    kit::assert_no_card_numbers(&format!("{stored:?}"), "the stored document");
    app.stop().await;
}

#[tokio::test]
async fn a_change_returns_200_and_increments_version_an_identical_resubmission_does_not() {
    let app = TestApp::spawn().await;
    let mut body = kit::seed_customer("c-1");
    assert_eq!(app.post_customer(&body).await.status(), StatusCode::CREATED);

    body["name"]["lastName"] = "Smith".into();
    let response = app.post_customer(&body).await;
    assert_eq!(response.status(), StatusCode::OK);
    let changed: Value = response.json().await.expect("json");
    assert_eq!(changed["version"], 2);
    assert_eq!(changed["name"]["lastName"], "Smith");

    let response = app.post_customer(&body).await;
    assert_eq!(response.status(), StatusCode::OK);
    let same: Value = response.json().await.expect("json");
    assert_eq!(same["version"], 2);
    app.stop().await;
}

#[tokio::test]
async fn numeric_and_string_ids_name_the_same_customer() {
    let app = TestApp::spawn().await;
    let created = app.post_customer(&kit::seed_customer_numeric_id(777)).await;
    assert_eq!(created.status(), StatusCode::CREATED);
    let mut body = kit::seed_customer("777");
    body["contact"]["email"] = "other@example.com".into();
    let updated = app.post_customer(&body).await;
    assert_eq!(updated.status(), StatusCode::OK);
    let updated: Value = updated.json().await.expect("json");
    assert_eq!(
        (updated["id"].clone(), updated["version"].clone()),
        (json!("777"), json!(2))
    );
    app.stop().await;
}

#[tokio::test]
async fn malformed_json_is_400_and_missing_fields_are_422_naming_each() {
    let app = TestApp::spawn().await;
    let url = format!("{}/accounts/customer/create", app.base);

    let response = app
        .client
        .post(&url)
        .header("content-type", "application/json")
        .body("{\"id\": 1,")
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_eq!(problem_content_type(&response), "application/problem+json");

    let mut body = kit::seed_customer("c-2");
    body["name"]
        .as_object_mut()
        .expect("object")
        .remove("firstName");
    let response = app.post_customer(&body).await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(problem_content_type(&response), "application/problem+json");
    let problem: Value = response.json().await.expect("json");
    assert_eq!(problem["status"], 422);
    assert_eq!(problem["errors"][0]["field"], "name.firstName");

    let mut body = kit::seed_customer("c-2");
    body["contact"]["email"] = "not-an-address".into();
    body["contact"]["primaryPhone"] = "call me".into();
    body["addresses"][1]["postalCode"] = "12$45".into();
    body["addresses"][0]["type"] = "HOME".into();
    body["creditCards"][0]["number"] = "1234".into();
    body["creditCards"][1]["expiration"] = "13/2029".into();
    let problem: Value = app.post_customer(&body).await.json().await.expect("json");
    let fields = kit::error_fields(&problem);
    // An address type outside the known ones is named with the others.
    assert_eq!(
        fields,
        [
            "contact.primaryPhone",
            "contact.email",
            "addresses[0].type",
            "addresses[1].postalCode",
            "creditCards[0].number",
            "creditCards[1].expiration"
        ]
    );

    let response = app
        .client
        .post(&url)
        .header("content-type", "text/plain")
        .body(kit::SEED_CUSTOMER_JSON)
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert!(
        app.stored("c-2").await.is_none(),
        "a rejected request stored data"
    );
    app.stop().await;
}

#[tokio::test]
async fn customers_list_pages_by_limit_and_offset_in_id_order() {
    let app = TestApp::spawn().await;
    for id in ["c-3", "c-1", "c-2", "c-4"] {
        assert_eq!(
            app.post_customer(&kit::seed_customer(id)).await.status(),
            StatusCode::CREATED
        );
    }
    let all: Value = app
        .get("/accounts/customers")
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(kit::page_ids(&all), ["c-1", "c-2", "c-3", "c-4"]);
    let page: Value = app
        .get("/accounts/customers?limit=2&offset=1")
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(kit::page_ids(&page), ["c-2", "c-3"]);
    assert_eq!(
        app.get("/accounts/customers?limit=0").await.status(),
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        app.get("/accounts/customers?limit=abc").await.status(),
        StatusCode::BAD_REQUEST
    );
    app.stop().await;
}

#[tokio::test]
async fn writes_answer_503_with_retry_after_while_mongodb_is_down_and_nothing_partial_is_stored() {
    let mut mongo = kit::PrivateServer::mongo().await;
    let mut settings = crate::helpers::fresh_settings().await;
    settings.mongodb.uri = mongo.server.address().into();
    let app = TestApp::spawn_with(settings).await;
    let mut body = kit::seed_customer("c-503");
    assert_eq!(app.post_customer(&body).await.status(), StatusCode::CREATED);

    mongo.server.stop().await;
    body["name"]["lastName"] = "Down".into();
    let response = app.post_customer(&body).await;
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(
        response
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok()),
        Some("5")
    );
    assert_eq!(problem_content_type(&response), "application/problem+json");

    mongo.server.restart().await.expect("mongo restarts");
    let stored: Value = app
        .get("/accounts/customer/c-503")
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(
        (
            stored["version"].clone(),
            stored["name"]["lastName"].clone()
        ),
        (json!(1), json!("Iyer"))
    );
    let response = app.post_customer(&body).await;
    assert_eq!(response.status(), StatusCode::OK);
    let changed: Value = response.json().await.expect("json");
    assert_eq!(changed["version"], 2);
    app.stop().await;
}

#[tokio::test]
async fn a_retried_create_with_the_same_idempotency_key_replays_the_first_response() {
    let app = TestApp::spawn().await;
    let url = format!("{}/accounts/customer/create", app.base);
    let send = |key: &'static str, body: Value| {
        let request = app
            .client
            .post(&url)
            .header("Idempotency-Key", key)
            .json(&body);
        async move { request.send().await.expect("sent") }
    };
    let first = send("key-1", kit::seed_customer("idem-1")).await;
    assert_eq!(first.status(), StatusCode::CREATED);
    assert!(first.headers().get("idempotent-replayed").is_none());
    let first_body: Value = first.json().await.expect("json");

    // Meanwhile someone else changes the customer: the replay must still be the
    // first response, and must not apply the body a second time.
    let mut changed = kit::seed_customer("idem-1");
    changed["name"]["lastName"] = "Other".into();
    assert_eq!(app.post_customer(&changed).await.status(), StatusCode::OK);

    let replayed = send("key-1", kit::seed_customer("idem-1")).await;
    assert_eq!(replayed.status(), StatusCode::CREATED);
    assert_eq!(replayed.headers()["idempotent-replayed"], "true");
    assert_eq!(replayed.json::<Value>().await.expect("json"), first_body);
    let current: Value = app
        .get("/accounts/customer/idem-1")
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(
        current["version"], 2,
        "the replay changed the customer again"
    );

    let reused = send("key-1", kit::seed_customer("idem-2")).await;
    assert_eq!(reused.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        app.get("/accounts/customer/idem-2").await.status(),
        StatusCode::NOT_FOUND
    );
    let bad_key = app
        .client
        .post(&url)
        .header("Idempotency-Key", "")
        .json(&kit::seed_customer("idem-3"))
        .send()
        .await
        .expect("sent");
    assert_eq!(bad_key.status(), StatusCode::BAD_REQUEST);
    app.stop().await;
}

#[tokio::test]
async fn an_idempotency_key_is_forgotten_after_its_lifetime_and_a_crashed_claim_stops_blocking() {
    use platform_infra::idempotency::IdempotencySettings;
    let mut settings = fresh_settings().await;
    settings.idempotency = IdempotencySettings {
        retention_ms: 1_000,
        pending_timeout_ms: 1_000,
        sweep_interval_ms: 200,
    };
    let app = TestApp::spawn_with(settings).await;
    let url = format!("{}/accounts/customer/create", app.base);
    let send = |key: &'static str, body: Value| {
        let request = app
            .client
            .post(&url)
            .header("Idempotency-Key", key)
            .json(&body);
        async move { request.send().await.expect("sent").status() }
    };
    let keys = app
        .db
        .collection::<mongodb::bson::Document>("idempotency_keys");

    // Remembered at first: the key names the first request.
    assert_eq!(
        send("k-1", kit::seed_customer("ttl-1")).await,
        StatusCode::CREATED
    );
    assert_eq!(
        send("k-1", kit::seed_customer("ttl-2")).await,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    // The sweeper deletes the record once its lifetime is over; the key then
    // names a new request.
    kit::eventually(
        Duration::from_secs(10),
        "the key's record is swept",
        || async {
            let left = keys
                .count_documents(doc! { "_id": "k-1" })
                .await
                .expect("count");
            (left == 0).then_some(())
        },
    )
    .await;
    assert_eq!(
        send("k-1", kit::seed_customer("ttl-2")).await,
        StatusCode::CREATED
    );

    // A claim whose request died with its process: the record as the claim
    // wrote it (pending, this request's hash), expiring a second from now.
    assert_eq!(
        send("k-crashed", kit::seed_customer("ttl-3")).await,
        StatusCode::CREATED
    );
    let mut claim = keys
        .find_one(doc! { "_id": "k-crashed" })
        .await
        .expect("find")
        .expect("the key's record");
    let expires = mongodb::bson::DateTime::from_millis(
        mongodb::bson::DateTime::now().timestamp_millis() + 1_000,
    );
    claim.insert("state", "pending");
    claim.insert("expiresAt", expires);
    keys.replace_one(doc! { "_id": "k-crashed" }, claim)
        .await
        .expect("replace");
    assert_eq!(
        send("k-crashed", kit::seed_customer("ttl-3")).await,
        StatusCode::CONFLICT
    );
    kit::eventually(
        Duration::from_secs(10),
        "the crashed claim stops blocking",
        || async {
            // The customer exists by now: the retry is an unchanged update.
            (send("k-crashed", kit::seed_customer("ttl-3")).await == StatusCode::OK).then_some(())
        },
    )
    .await;
    app.stop().await;
}
