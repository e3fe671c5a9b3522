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
    let all: Value = app.get("/orders/list").await.json().await.expect("json");
    assert_eq!(platform_testkit::page_ids(&all), ["c-1", "c-2", "c-3"]);
    let page: Value = app
        .get("/orders/list?limit=1&offset=2")
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(platform_testkit::page_ids(&page), ["c-3"]);

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

#[tokio::test]
async fn projector_metrics_exist_from_start_up_at_zero_before_any_data() {
    let app = TestApp::spawn().await;
    let text = platform_testkit::eventually(
        std::time::Duration::from_secs(30),
        "every partition's lag in the metrics",
        || async {
            let text = app.get("/actuator/prometheus").await.text().await.ok()?;
            (0..3)
                .all(|p| {
                    text.contains(&format!(
                        r#"projector_consumer_lag{{topic="{}",partition="{p}"}} 0"#,
                        app.topic()
                    ))
                })
                .then_some(text)
        },
    )
    .await;
    for line in [
        "projector_last_applied_timestamp_seconds 0",
        "projector_stalled_partitions 0",
        "projector_stalls_total 0",
        r#"projector_commits_total{outcome="failed"} 0"#,
        r#"projector_events_total{outcome="applied"} 0"#,
        "projector_unknown_types_total 0",
    ] {
        assert!(text.contains(line), "{line} missing from:\n{text}");
    }
    let health: Value = app
        .get("/actuator/health")
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(health["components"]["projector"]["totalLag"], 0, "{health}");
    app.stop().await;
}

#[tokio::test]
async fn prometheus_metrics_count_projector_outcomes_and_report_consumer_lag() {
    let app = TestApp::spawn().await;
    app.produce_change("m-1", 2, "Two", Some(0)).await;
    app.produce_change("m-1", 1, "One", Some(0)).await;
    let text = platform_testkit::eventually(
        std::time::Duration::from_secs(30),
        "outcomes and lag in the metrics",
        || async {
            let text = app.get("/actuator/prometheus").await.text().await.ok()?;
            let ready = text.contains(r#"projector_events_total{outcome="applied"} 1"#)
                && text.contains(r#"projector_events_total{outcome="stale"} 1"#)
                && text.contains(&format!(
                    r#"projector_consumer_lag{{topic="{}",partition="0"}} 0"#,
                    app.topic()
                ));
            ready.then_some(text)
        },
    )
    .await;
    assert!(text.contains("http_requests_total"), "{text}");
    app.stop().await;
}

#[tokio::test]
async fn a_read_with_min_version_waits_for_the_change_to_be_applied() {
    let app = TestApp::spawn().await;
    app.produce_change("ryw-1", 1, "One", None).await;
    app.replica_at_version("ryw-1", 1).await;

    // Asked before version 2 exists anywhere: only the apply can answer it.
    let waiting = app.get("/orders/order/ryw-1?minVersion=2");
    let publish = async {
        app.produce_change("ryw-1", 2, "Two", None).await;
    };
    let (response, ()) = tokio::join!(waiting, publish);
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["version"], 2);
    assert_eq!(body["name"]["firstName"], "Two");

    // Already there: answered at once.
    let current = app.get("/orders/order/ryw-1?minVersion=1").await;
    assert_eq!(current.status(), StatusCode::OK);
    app.stop().await;
}

#[tokio::test]
async fn a_replica_behind_min_version_answers_409_with_retry_after_and_bad_values_400() {
    let app = TestApp::spawn().await;
    app.produce_change("ryw-2", 1, "One", None).await;
    app.replica_at_version("ryw-2", 1).await;

    let behind = app.get("/orders/order/ryw-2?minVersion=3").await;
    assert_eq!(behind.status(), StatusCode::CONFLICT);
    assert!(behind.headers().contains_key("retry-after"));
    let problem: Value = behind.json().await.expect("json");
    assert!(
        problem["detail"]
            .as_str()
            .is_some_and(|d| d.contains("version 1, not yet 3")),
        "{problem}"
    );
    let absent = app.get("/orders/order/nobody?minVersion=1").await;
    assert_eq!(absent.status(), StatusCode::NOT_FOUND);

    for query in [
        "minVersion=0",
        "minVersion=abc",
        "minVersion=9007199254740992",
    ] {
        let invalid = app.get(&format!("/orders/order/ryw-2?{query}")).await;
        assert_eq!(invalid.status(), StatusCode::BAD_REQUEST, "{query}");
        assert_eq!(
            invalid
                .headers()
                .get("content-type")
                .and_then(|v| v.to_str().ok()),
            Some("application/problem+json"),
            "{query}"
        );
    }
    app.stop().await;
}
