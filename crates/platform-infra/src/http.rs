//! Serving an axum router: request ids, a trace span per request that names the
//! matched route, problem+json for unknown routes, and graceful shutdown.

use std::net::SocketAddr;

use axum::Router;
use axum::extract::{MatchedPath, Request};
use axum::http::{HeaderName, StatusCode};
use axum::response::IntoResponse;
use tokio::net::TcpListener;
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

/// Adds the layers every service wants around its routes.
pub fn with_standard_layers(router: Router) -> Router {
    router
        .fallback(unknown_route)
        .method_not_allowed_fallback(method_not_allowed)
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
