//! Request limits: body size, content type, slow clients, concurrency.

use std::time::{Duration, Instant};

use platform_testkit as kit;
use reqwest::StatusCode;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::helpers::{TestApp, fresh_settings};

/// Sends the headers and the first bytes of a body that is never finished.
async fn stalled_post(app: &TestApp) -> TcpStream {
    let host = app.base.trim_start_matches("http://");
    let mut stream = TcpStream::connect(host).await.expect("connect");
    let head = format!(
        "POST /accounts/customer/create HTTP/1.1\r\nHost: {host}\r\n\
         Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{{\"id\":"
    );
    stream.write_all(head.as_bytes()).await.expect("write");
    stream
}

async fn read_status_line(stream: &mut TcpStream) -> String {
    let mut buffer = vec![0_u8; 4096];
    let n = stream.read(&mut buffer).await.expect("read");
    let text = String::from_utf8_lossy(&buffer[..n]).into_owned();
    text.lines().next().unwrap_or_default().to_owned()
}

#[tokio::test]
async fn bodies_over_the_limit_are_413_and_other_media_types_415() {
    let app = TestApp::spawn().await;
    let mut body = kit::seed_customer("big-1");
    body["name"]["title"] = "x".repeat(70 * 1024).into();
    let response = app.post_customer(&body).await;
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );
    let problem: Value = response.json().await.expect("json");
    assert_eq!(problem["status"], 413);
    assert_eq!(
        app.get("/accounts/customer/big-1").await.status(),
        StatusCode::NOT_FOUND
    );

    let response = app
        .client
        .post(format!("{}/accounts/customer/create", app.base))
        .header("content-type", "text/plain")
        .body(kit::seed_customer("plain-1").to_string())
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    app.stop().await;
}

#[tokio::test]
async fn a_client_that_stalls_mid_body_gets_503_after_the_timeout() {
    let mut settings = fresh_settings().await;
    settings.http.request_timeout_ms = 500;
    let app = TestApp::spawn_with(settings).await;
    let started = Instant::now();
    let mut stream = stalled_post(&app).await;
    let status = tokio::time::timeout(Duration::from_secs(10), read_status_line(&mut stream))
        .await
        .expect("the server answers without waiting for the rest of the body");
    assert!(status.contains(" 503 "), "{status}");
    assert!(started.elapsed() >= Duration::from_millis(500));
    app.stop().await;
}

#[tokio::test]
async fn requests_beyond_the_concurrency_limit_are_shed_but_probes_still_answer() {
    let mut settings = fresh_settings().await;
    settings.http.max_concurrent_requests = 1;
    settings.http.request_timeout_ms = 5_000;
    let app = TestApp::spawn_with(settings).await;
    // Holds the only permit until the timeout.
    let _holder = stalled_post(&app).await;
    let shed = kit::eventually(Duration::from_secs(5), "a request to be shed", || async {
        let response = app.get("/accounts/customers").await;
        (response.status() == StatusCode::SERVICE_UNAVAILABLE).then_some(response)
    })
    .await;
    assert!(shed.headers().contains_key("retry-after"));
    assert_eq!(
        app.get("/actuator/health/liveness").await.status(),
        StatusCode::OK
    );
    app.stop().await;
}
