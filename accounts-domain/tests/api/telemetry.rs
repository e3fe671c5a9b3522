//! OTLP span export, received by a collector stand-in on a real socket.

use std::time::Duration;

use platform_testkit as kit;
use platform_testkit::otlp::OtlpReceiver;
use reqwest::StatusCode;

use crate::helpers::{TestApp, fresh_settings};

#[tokio::test]
async fn spans_are_exported_over_otlp_and_continue_the_callers_trace() {
    let receiver = OtlpReceiver::start().await;
    let mut settings = fresh_settings().await;
    settings.log.filter = "info".into();
    settings.log.otlp_endpoint = Some(receiver.endpoint.clone());
    let app = TestApp::spawn_with(settings).await;

    let caller_trace = "0af7651916cd43dd8448eb211c80319c";
    let caller_span = "b7ad6b7169203331";
    let response = app
        .client
        .post(format!("{}/accounts/customer/create", app.base))
        .header("traceparent", format!("00-{caller_trace}-{caller_span}-01"))
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
    assert_eq!(parts[1], caller_trace, "{returned}");

    // The exported request span is the caller's child, and it is the span the
    // response (and the published record) names as parent.
    let span = kit::eventually(Duration::from_secs(20), "the request span exported", || {
        let found = receiver
            .spans_of("accounts", caller_trace)
            .into_iter()
            .find(|s| s.name == "http");
        async move { found }
    })
    .await;
    assert_eq!(span.parent_span_id, caller_span);
    assert_eq!(span.span_id, parts[2]);
    app.stop().await;
}
