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
