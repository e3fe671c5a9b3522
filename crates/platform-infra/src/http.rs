//! Serving an axum router: request ids, a trace span per request that names the
//! matched route, problem+json for unknown routes, and graceful shutdown.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::{HeaderName, StatusCode};
use axum::middleware::Next;
use axum::response::IntoResponse;
use axum::response::Response;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::{DefaultOnResponse, TraceLayer};
use tracing::Level;

use crate::config::HttpSettings;
use crate::metrics;
use crate::problem::Problem;
use crate::shutdown::CancellationToken;
use crate::trace_context;

/// Header carrying the request id, set when the client did not send one.
pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Binds the configured address (port 0 picks a free one).
pub async fn bind(settings: &HttpSettings) -> std::io::Result<(TcpListener, SocketAddr)> {
    let listener = TcpListener::bind((settings.host.as_str(), settings.port)).await?;
    let addr = listener.local_addr()?;
    Ok((listener, addr))
}

/// Adds the layers every service wants around its routes: body size limit,
/// request timeout, concurrency limit, trace context, metrics, request ids.
pub fn with_standard_layers(router: Router, settings: &HttpSettings) -> Router {
    let limits = Limits {
        timeout: Duration::from_millis(settings.request_timeout_ms),
        permits: Arc::new(Semaphore::new(settings.max_concurrent_requests)),
    };
    router
        .fallback(unknown_route)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(settings.body_limit_bytes))
        .layer(axum::middleware::from_fn_with_state(limits, limit))
        .layer(axum::middleware::from_fn(trace_context::propagate))
        .layer(axum::middleware::from_fn(metrics::track_http))
        .layer(PropagateRequestIdLayer::new(REQUEST_ID))
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(|req: &Request| {
                    let route = req
                        .extensions()
                        .get::<MatchedPath>()
                        .map(MatchedPath::as_str)
                        .unwrap_or("unmatched");
                    let request_id = req
                        .headers()
                        .get(REQUEST_ID)
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("");
                    let span =
                        tracing::info_span!("http", method = %req.method(), route, request_id);
                    if let Some(parent) = trace_context::TraceParent::from_headers(req.headers()) {
                        parent.continue_in(&span);
                    }
                    span
                })
                .on_response(DefaultOnResponse::new().level(Level::INFO)),
        )
        .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
}

/// The time and concurrency limits of one service.
#[derive(Clone)]
struct Limits {
    timeout: Duration,
    permits: Arc<Semaphore>,
}

/// Sheds load beyond the concurrency limit at once (503 with `Retry-After`,
/// rather than queueing until clients time out), and answers 503 for a request
/// that takes longer than the timeout, reading a slow client's body included.
/// Probes and metrics are exempt, so an overloaded instance is not restarted
/// for being busy.
async fn limit(State(limits): State<Limits>, request: Request, next: Next) -> Response {
    if request.uri().path().starts_with("/actuator/") {
        return next.run(request).await;
    }
    let Ok(_permit) = limits.permits.clone().try_acquire_owned() else {
        crate::metrics::record_shed();
        return Problem::status(StatusCode::SERVICE_UNAVAILABLE)
            .with_detail("too many requests in progress; retry shortly")
            .into_response();
    };
    match tokio::time::timeout(limits.timeout, next.run(request)).await {
        Ok(response) => response,
        Err(_) => Problem::status(StatusCode::SERVICE_UNAVAILABLE)
            .with_detail(format!(
                "the request took longer than {} ms",
                limits.timeout.as_millis()
            ))
            .into_response(),
    }
}

async fn unknown_route() -> impl IntoResponse {
    Problem::status(StatusCode::NOT_FOUND).with_detail("no such route")
}

async fn method_not_allowed() -> impl IntoResponse {
    Problem::status(StatusCode::METHOD_NOT_ALLOWED)
        .with_detail("this route does not accept that method")
}

/// The API documentation routes: the OpenAPI document at
/// `/api-docs/openapi.json` and Swagger UI at `/swagger-ui` (served from files
/// compiled into the binary, nothing fetched at run time).
pub fn api_docs(openapi: utoipa::openapi::OpenApi) -> Router {
    utoipa_swagger_ui::SwaggerUi::new("/swagger-ui")
        .url("/api-docs/openapi.json", openapi)
        .into()
}

/// Serves `router` until `shutdown` is cancelled, then stops accepting and lets
/// in-flight requests finish.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    axum::serve(listener, router)
        .with_graceful_shutdown(async move { shutdown.cancelled().await })
        .await
}
