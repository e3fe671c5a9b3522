//! Card numbers never leave the request: not in any log line (at debug level),
//! not in any Kafka record, not in any error response.

use std::time::Duration;

use fault_tests::Cluster;
use platform_testkit as kit;
use rdkafka::Message;
use serde_json::{Value, json};

const WITHIN: Duration = Duration::from_secs(30);

/// Every way of writing the seed's sample card numbers.
fn needles() -> Vec<String> {
    kit::SEED_CARD_NUMBERS
        .iter()
        .flat_map(|n| [n.to_string(), n.replace('-', ""), n.replace('-', " ")])
        .collect()
}

fn leaks(haystack: &str) -> Vec<String> {
    needles()
        .into_iter()
        .filter(|n| haystack.contains(n.as_str()))
        .collect()
}

/// Requests that put card numbers where errors are reported.
fn hostile_bodies() -> Vec<Value> {
    let number = kit::SEED_CARD_NUMBERS[0];
    let digits = number.replace('-', "");
    let mut bodies = Vec::new();
    let mut edit = |f: &dyn Fn(&mut Value)| {
        let mut body = kit::seed_customer("pan-bad");
        f(&mut body);
        bodies.push(body);
    };
    edit(&|b| b["contact"]["email"] = number.into());
    edit(&|b| b["contact"]["primaryPhone"] = number.into());
    edit(&|b| b["creditCards"][0]["expiration"] = number.into());
    edit(&|b| b["creditCards"][0]["type"] = number.into());
    edit(&|b| b["creditCards"][0]["number"] = format!("{number}x").into());
    edit(&|b| b["creditCards"][0]["number"] = digits.parse::<u64>().expect("digits").into());
    edit(&|b| b["addresses"][0]["postalCode"] = digits.clone().into());
    edit(&|b| b["id"] = format!("{digits}/x").into());
    bodies
}

#[tokio::test]
async fn sample_card_numbers_appear_in_no_log_line_record_or_response() {
    let cluster = Cluster::start_with_env(
        1,
        1,
        &[("APP__LOG__FILTER", "debug"), ("APP__LOG__FORMAT", "json")],
    )
    .await;
    let client = reqwest::Client::new();
    let accounts = cluster.accounts[0].url();
    let mut responses = String::new();

    let created = client
        .post(format!("{accounts}/accounts/customer/create"))
        .json(&kit::seed_customer("pan-1"))
        .send()
        .await
        .expect("sent");
    assert_eq!(created.status(), reqwest::StatusCode::CREATED);
    responses.push_str(&created.text().await.expect("body"));
    for body in hostile_bodies() {
        let response = client
            .post(format!("{accounts}/accounts/customer/create"))
            .json(&body)
            .send()
            .await
            .expect("sent");
        assert!(response.status().is_client_error(), "{body}");
        responses.push_str(&response.text().await.expect("body"));
    }
    // Orders rejects unknown fields, naming them; not this one.
    let unknown_key = json!({ "orderItems": [], kit::SEED_CARD_NUMBERS[1]: 1 });
    let response = client
        .post(format!("{}/orders/order/pan-1", cluster.orders[0].url()))
        .json(&unknown_key)
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), reqwest::StatusCode::UNPROCESSABLE_ENTITY);
    responses.push_str(&response.text().await.expect("body"));
    let malformed = format!(
        "{{\"id\": \"pan-2\", \"creditCards\": [{{\"number\": \"{}\"",
        kit::SEED_CARD_NUMBERS[0]
    );
    let response = client
        .post(format!("{accounts}/accounts/customer/create"))
        .header("content-type", "application/json")
        .body(malformed)
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), reqwest::StatusCode::BAD_REQUEST);
    responses.push_str(&response.text().await.expect("body"));
    for path in [
        "/accounts/customer/pan-1",
        "/accounts/customers",
        "/accounts/customer/pan-1/history",
    ] {
        responses.push_str(
            &client
                .get(format!("{accounts}{path}"))
                .send()
                .await
                .expect("sent")
                .text()
                .await
                .expect("body"),
        );
    }

    // An update that swaps the cards, then let both changes travel: relay,
    // broker, consumer, replica.
    let mut update = kit::seed_customer("pan-1");
    update["creditCards"][0]["number"] = kit::SEED_CARD_NUMBERS[2].into();
    update["name"]["lastName"] = "Updated".into();
    let updated = client
        .post(format!("{accounts}/accounts/customer/create"))
        .json(&update)
        .send()
        .await
        .expect("sent");
    assert_eq!(updated.status(), reqwest::StatusCode::OK);
    responses.push_str(&updated.text().await.expect("body"));
    let orders = cluster.orders[0].url();
    kit::eventually(WITHIN, "the update in orders", || async {
        let body: Value = client
            .get(format!("{orders}/orders/order/pan-1"))
            .send()
            .await
            .ok()?
            .json()
            .await
            .ok()?;
        (body["version"] == 2).then_some(())
    })
    .await;

    let brokers = cluster.broker.server.address();
    // The create and the update: every record the test produced.
    let records = kit::read_records_from(&brokers, &cluster.topic, 2, WITHIN).await;
    let mut kafka = String::new();
    for record in &records {
        kafka.push_str(&String::from_utf8_lossy(
            record.payload().unwrap_or_default(),
        ));
        kafka.push_str(&String::from_utf8_lossy(record.key().unwrap_or_default()));
    }
    assert!(kafka.contains("pan-1"), "the change event was read");

    let mut cluster = cluster;
    for service in cluster.accounts.iter_mut().chain(cluster.orders.iter_mut()) {
        service.stop().await;
    }
    let mut logs = String::new();
    for entry in std::fs::read_dir(&cluster.log_dir).expect("log dir") {
        let path = entry.expect("entry").path();
        logs.push_str(&std::fs::read_to_string(&path).expect("log file"));
    }
    assert!(
        logs.contains("DEBUG") || logs.contains("\"level\":\"DEBUG\""),
        "debug logging was on"
    );
    assert!(logs.contains("customer stored"), "the logs cover the write");

    assert_eq!(
        leaks(&logs),
        Vec::<String>::new(),
        "card numbers in the logs"
    );
    assert_eq!(
        leaks(&kafka),
        Vec::<String>::new(),
        "card numbers in Kafka records"
    );
    assert_eq!(
        leaks(&responses),
        Vec::<String>::new(),
        "card numbers in responses"
    );
    cluster.shutdown().await;
    println!(
        "PAN CHECK logs={} bytes, records={}, responses={} bytes, leaks=0",
        logs.len(),
        records.len(),
        responses.len()
    );
}
