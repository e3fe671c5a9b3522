//! One trace spans a change: the accounts request span, and the orders span that
//! applies the change to the replica, exported over OTLP by two service
//! processes to one collector stand-in.

use std::time::Duration;

use fault_tests::Cluster;
use platform_testkit as kit;
use platform_testkit::otlp::OtlpReceiver;
use reqwest::StatusCode;
use serde_json::Value;

const WITHIN: Duration = Duration::from_secs(30);

#[tokio::test]
async fn one_trace_id_spans_the_accounts_request_and_the_orders_apply() {
    let receiver = OtlpReceiver::start().await;
    let cluster = Cluster::start_with_env(
        1,
        1,
        &[
            ("APP__LOG__OTLP_ENDPOINT", receiver.endpoint.as_str()),
            ("APP__LOG__FILTER", "info"),
        ],
    )
    .await;
    let client = reqwest::Client::new();
    let trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
    let response = client
        .post(format!(
            "{}/accounts/customer/create",
            cluster.accounts[0].url()
        ))
        .header("traceparent", format!("00-{trace_id}-00f067aa0ba902b7-01"))
        .json(&kit::seed_customer("traced-1"))
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), StatusCode::CREATED);
    let orders = cluster.orders[0].url();
    kit::eventually(WITHIN, "orders to show the customer", || async {
        let body: Value = client
            .get(format!("{orders}/orders/order/traced-1"))
            .send()
            .await
            .ok()?
            .json()
            .await
            .ok()?;
        (body["version"] == 1).then_some(())
    })
    .await;

    let request = kit::eventually(WITHIN, "the accounts request span", || {
        let found = receiver
            .spans_of("accounts", trace_id)
            .into_iter()
            .find(|s| s.name == "http");
        async move { found }
    })
    .await;
    let apply = kit::eventually(WITHIN, "the orders apply span in the same trace", || {
        let found = receiver
            .spans_of("orders", trace_id)
            .into_iter()
            .find(|s| s.name == "apply");
        async move { found }
    })
    .await;
    assert_eq!(request.trace_id, apply.trace_id);
    assert_ne!(request.span_id, apply.span_id);
    cluster.shutdown().await;
}
