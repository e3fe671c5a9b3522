//! OTLP span export, against an OTLP/HTTP collector stand-in on a real socket.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::routing::post;
use platform_testkit as kit;
use reqwest::StatusCode;

use crate::helpers::{TestApp, fresh_settings};

type Received = Arc<Mutex<Vec<Bytes>>>;

/// Accepts OTLP/HTTP trace exports and keeps their (protobuf) bodies.
async fn collector() -> (String, Received) {
    let received = Received::default();
    let app = Router::new()
        .route(
            "/v1/traces",
            post(|State(r): State<Received>, body: Bytes| async move {
                r.lock().expect("lock").push(body);
                StatusCode::OK
            }),
        )
        .with_state(received.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}"), received)
}

fn from_hex(hex: &str) -> Vec<u8> {
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).expect("hex"))
        .collect()
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[tokio::test]
async fn spans_are_exported_over_otlp_and_continue_the_callers_trace() {
    let (endpoint, received) = collector().await;
    let mut settings = fresh_settings().await;
    settings.log.filter = "info".into();
    settings.log.otlp_endpoint = Some(endpoint);
    let app = TestApp::spawn_with(settings).await;

    let incoming = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
    let response = app
        .client
        .post(format!("{}/accounts/customer/create", app.base))
        .header("traceparent", incoming)
        .json(&kit::seed_customer("otlp-1"))
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), StatusCode::CREATED);
    let returned = response.headers()["traceparent"]
        .to_str()
        .expect("ascii")
        .to_owned();
    let parts: Vec<&str> = returned.split('-').collect();
    assert_eq!(parts[1], "0af7651916cd43dd8448eb211c80319c", "{returned}");
    // Trace id and span ids are raw bytes in the protobuf export; the service
    // name is a plain string.
    let trace_id = from_hex(parts[1]);
    let server_span_id = from_hex(parts[2]);
    let caller_span_id = from_hex("b7ad6b7169203331");
    kit::eventually(Duration::from_secs(20), "the request span exported", || {
        let linked = received.lock().expect("lock").iter().any(|b| {
            contains(b, b"accounts")
                && contains(b, &trace_id)
                && contains(b, &server_span_id)
                && contains(b, &caller_span_id)
        });
        async move { linked.then_some(()) }
    })
    .await;
    app.stop().await;
}
