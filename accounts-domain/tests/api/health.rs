//! Actuator endpoints: liveness, readiness with its components, info.

use platform_testkit as kit;
use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::{TestApp, fresh_settings};

async fn readiness(app: &TestApp) -> (StatusCode, Value) {
    let response = app.get("/actuator/health/readiness").await;
    let status = response.status();
    (status, response.json().await.expect("json"))
}

#[tokio::test]
async fn readiness_follows_mongodb_down_and_up_while_liveness_stays_up() {
    let mut mongo = kit::PrivateServer::mongo().await;
    let mut settings = fresh_settings().await;
    settings.mongodb.uri = mongo.server.address().into();
    let app = TestApp::spawn_with(settings).await;
    let (status, body) = readiness(&app).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["components"]["mongodb"]["status"], "UP");
    assert_eq!(body["components"]["kafka"]["status"], "UP");

    mongo.server.stop().await;
    let (status, body) = readiness(&app).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["components"]["mongodb"]["status"], "DOWN");
    assert_eq!(
        app.get("/actuator/health").await.status(),
        StatusCode::SERVICE_UNAVAILABLE
    );
    assert_eq!(
        app.get("/actuator/health/liveness").await.status(),
        StatusCode::OK
    );

    mongo.server.restart().await.expect("mongo restarts");
    let body = kit::eventually(
        std::time::Duration::from_secs(20),
        "readiness to recover",
        || async {
            let (status, body) = readiness(&app).await;
            (status == StatusCode::OK && body["status"] == "UP").then_some(body)
        },
    )
    .await;
    assert_eq!(body["status"], "UP");
    app.stop().await;
}

#[tokio::test]
async fn without_a_broker_accounts_stays_ready_takes_writes_and_reports_kafka_and_the_backlog() {
    let mut settings = fresh_settings().await;
    settings.kafka.brokers = "127.0.0.1:1".into();
    let app = TestApp::spawn_with(settings).await;
    let (status, body) = readiness(&app).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["status"], "DEGRADED", "{body}");
    assert_eq!(body["components"]["kafka"]["status"], "DOWN");
    assert_eq!(body["components"]["kafka"]["gatesReadiness"], false);
    assert_eq!(body["components"]["mongodb"]["status"], "UP");

    let created = app.post_customer(&kit::seed_customer("no-broker-1")).await;
    assert_eq!(created.status(), StatusCode::CREATED);
    let body = kit::eventually(
        std::time::Duration::from_secs(30),
        "the outbox backlog in health",
        || async {
            let (status, body) = readiness(&app).await;
            (status == StatusCode::OK
                && body["components"]["outbox"]["status"] == "DELAYED"
                && body["components"]["outbox"]["backlogCustomers"] == 1)
                .then_some(body)
        },
    )
    .await;
    assert_eq!(body["components"]["outbox"]["gatesReadiness"], false);

    let info: Value = app.get("/actuator/info").await.json().await.expect("json");
    assert_eq!(info["app"]["name"], "accounts-domain");
    assert_eq!(info["app"]["version"], env!("CARGO_PKG_VERSION"));
    assert!(
        info["git"]["commit"]
            .as_str()
            .is_some_and(|c| !c.is_empty())
    );
    assert!(
        info["build"]["time"]
            .as_str()
            .is_some_and(|t| !t.is_empty())
    );
    app.stop().await;
}

#[tokio::test]
async fn prometheus_metrics_count_requests_by_route_and_published_events() {
    let app = TestApp::spawn().await;
    assert_eq!(
        app.post_customer(&kit::seed_customer("c-m")).await.status(),
        StatusCode::CREATED
    );
    let text = kit::eventually(
        std::time::Duration::from_secs(20),
        "the publish and the empty backlog in the metrics",
        || async {
            let response = app.get("/actuator/prometheus").await;
            let text = response.text().await.ok()?;
            // The backlog gauge is set once the relay found the outbox empty,
            // just after the publish was counted.
            (text.contains("outbox_events_published_total 1")
                && text.contains("outbox_backlog_customers 0"))
            .then_some(text)
        },
    )
    .await;
    assert!(
        text.contains(
            r#"http_requests_total{method="POST",route="/accounts/customer/create",status="201"} 1"#
        ),
        "{text}"
    );
    assert!(
        text.contains("http_request_duration_seconds_bucket"),
        "{text}"
    );
    assert!(
        text.contains("outbox_publish_duration_seconds_count 1"),
        "{text}"
    );
    app.stop().await;
}

#[tokio::test]
async fn openapi_documents_every_route_and_swagger_ui_is_served_offline() {
    let app = TestApp::spawn().await;
    let doc: Value = app
        .get("/api-docs/openapi.json")
        .await
        .json()
        .await
        .expect("json");
    assert!(
        doc["openapi"]
            .as_str()
            .is_some_and(|v| v.starts_with("3.1")),
        "{doc}"
    );
    for path in [
        "/accounts/customer/create",
        "/accounts/customer/{id}",
        "/accounts/customer/{id}/history",
        "/accounts/customers",
    ] {
        assert!(doc["paths"][path].is_object(), "{path} missing");
    }
    let create = &doc["paths"]["/accounts/customer/create"]["post"]["responses"];
    for status in ["200", "201", "400", "415", "422", "503"] {
        assert!(create[status].is_object(), "create lacks {status}");
    }
    for schema in [
        "CustomerRequest",
        "Customer",
        "CreditCard",
        "Problem",
        "Address",
    ] {
        assert!(
            doc["components"]["schemas"][schema].is_object(),
            "{schema} missing"
        );
    }
    // Checked in for people and tools that read the API without running it.
    kit::assert_file_in_sync("openapi.json", &doc);
    // Examples come from the seed's sample body and what the service makes of it.
    let schemas = &doc["components"]["schemas"];
    assert_eq!(
        schemas["CustomerRequest"]["example"],
        kit::seed_customer_numeric_id(123456)
    );
    let response = &schemas["Customer"]["example"];
    assert_eq!(response["id"], "123456");
    assert_eq!(response["version"], 1);
    assert_eq!(response["creditCards"][0]["last4"], "0000");
    for number in kit::SEED_CARD_NUMBERS {
        assert!(!response.to_string().contains(number), "{response}");
    }
    assert_eq!(schemas["Problem"]["example"]["status"], 422);
    let ui = app.get("/swagger-ui/").await;
    assert_eq!(ui.status(), StatusCode::OK);
    assert!(ui.text().await.expect("html").contains("swagger-ui"));
    app.stop().await;
}
