//! Scenario 7: whether a write's latency grows with what came before it. One
//! customer is changed `changes` times, one change after another; then
//! `orders` orders of that customer are placed one after another. The
//! medians of the first and last windows of 100 requests are compared
//! (the storage issue's target: the last at most 1.2 × the first).

use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::{Result, Target, unique};

/// Requests per window.
pub const WINDOW: usize = 100;

/// One growth series: the medians of its first and last windows.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct GrowthRow {
    pub what: String,
    pub requests: usize,
    pub first_ms: f64,
    pub last_ms: f64,
}

impl GrowthRow {
    fn new(what: &str, latencies: &[Duration]) -> GrowthRow {
        let median = |window: &[Duration]| {
            let ms = window.iter().map(|d| d.as_secs_f64() * 1000.0);
            crate::measure::Spread::of(ms).median
        };
        let window = WINDOW.min(latencies.len());
        GrowthRow {
            what: what.to_owned(),
            requests: latencies.len(),
            first_ms: median(&latencies[..window]),
            last_ms: median(&latencies[latencies.len() - window..]),
        }
    }

    pub fn ratio(&self) -> f64 {
        self.last_ms / self.first_ms.max(f64::EPSILON)
    }
}

/// Runs both series against the target's first instances.
pub async fn run(target: &Target, changes: usize, orders: usize) -> Result<Vec<GrowthRow>> {
    let http = reqwest::Client::new();
    let id = unique("growth");
    let mut customer = crate::clients::customer(&id);
    let create = format!("{}/accounts/customer/create", target.accounts[0]);
    let latencies = one_by_one(changes, |change| {
        customer["name"]["lastName"] = format!("Iyer{change}").into();
        http.post(&create).json(&customer)
    });
    let mut rows = vec![GrowthRow::new("changes of one customer", &latencies.await?)];
    let last = i64::try_from(changes)?;
    let seen = crate::clients::applied(&http, &target.orders, &id, last, Duration::from_secs(60));
    seen.await?;
    let order = json!({ "orderItems": [
        { "product": { "guid": "p-1", "title": "Beans", "price": "9.5" }, "quantity": 1 }
    ] });
    let place = format!("{}/orders/order/{id}", target.orders[0]);
    let latencies = one_by_one(orders, |_| http.post(&place).json(&order)).await?;
    rows.push(GrowthRow::new("orders of one customer", &latencies));
    Ok(rows)
}

/// The latencies of `n` requests, each sent after the previous one answered.
async fn one_by_one(
    n: usize,
    mut request: impl FnMut(usize) -> reqwest::RequestBuilder,
) -> Result<Vec<Duration>> {
    let mut latencies = Vec::with_capacity(n);
    for i in 0..n {
        let started = Instant::now();
        request(i).send().await?.error_for_status()?;
        latencies.push(started.elapsed());
    }
    Ok(latencies)
}
