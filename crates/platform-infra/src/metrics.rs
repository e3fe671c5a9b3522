//! Prometheus metrics: one recorder per process, rendered at
//! `/actuator/prometheus`, and the HTTP metrics middleware.
//!
//! Metric names used by the services:
//!
//! | name | type | labels |
//! | --- | --- | --- |
//! | `http_requests_total` | counter | `method`, `route`, `status` |
//! | `http_request_duration_seconds` | histogram | `method`, `route`, `status` |
//! | `outbox_events_published_total` | counter | |
//! | `outbox_publish_duration_seconds` | histogram (enqueue → broker ack) | |
//! | `outbox_backlog_customers` | gauge | |
//! | `projector_events_total` | counter | `outcome` = applied, stale, dead_lettered |
//! | `projector_unknown_types_total` | counter | |
//! | `projector_consumer_lag` | gauge | `topic`, `partition` |
//! | `mongodb_commands_total` | counter | `command` (in `mongo.rs`) |

use std::sync::OnceLock;
use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::middleware::Next;
use axum::response::Response;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

/// Latency buckets in seconds, from 1 ms to 10 s.
const BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
];

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// Installs the process-wide recorder once and returns its handle.
pub fn handle() -> PrometheusHandle {
    HANDLE
        .get_or_init(|| {
            let builder = || {
                PrometheusBuilder::new()
                    .set_buckets_for_metric(Matcher::Suffix("_seconds".to_owned()), &BUCKETS)
                    .unwrap_or_else(|_| PrometheusBuilder::new())
            };
            builder().install_recorder().unwrap_or_else(|e| {
                tracing::warn!(error = %e, "another metrics recorder is installed; /actuator/prometheus stays empty");
                builder().build_recorder().handle()
            })
        })
        .clone()
}

/// Middleware: counts requests and records their latency by route and status.
pub async fn track_http(request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().to_string();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let response = next.run(request).await;
    let labels = [
        ("method", method),
        ("route", route),
        ("status", response.status().as_u16().to_string()),
    ];
    metrics::counter!("http_requests_total", &labels).increment(1);
    metrics::histogram!("http_request_duration_seconds", &labels)
        .record(started.elapsed().as_secs_f64());
    response
}

/// Counts a request refused because the concurrency limit was reached.
pub fn record_shed() {
    metrics::counter!("http_requests_shed_total").increment(1);
}
