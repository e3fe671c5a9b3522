//! Driving a service's whole HTTP application (its `Router` with every layer)
//! in-process with `oneshot`: no socket, no servers. For statuses and
//! problem+json shapes that do not depend on stored data; what depends on
//! storage is tested against the real servers.

use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode, header};
use mongodb::options::{ClientOptions, ServerAddress};
use serde_json::Value;
use tower::ServiceExt;

/// A database handle that is never reached: the driver connects lazily, and
/// a router test that touched it would fail fast (nothing listens on port 9).
pub fn unreachable_database() -> mongodb::Database {
    let options = ClientOptions::builder()
        .hosts(vec![ServerAddress::Tcp {
            host: "127.0.0.1".to_owned(),
            port: Some(9),
        }])
        .server_selection_timeout(Duration::from_millis(100))
        .build();
    mongodb::Client::with_options(options)
        .expect("client options are valid")
        .database("router-test")
}

/// An answer of the application.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    /// The body as JSON (`Null` when empty or not JSON).
    pub body: Value,
}

impl Reply {
    /// Asserts a problem+json body with `status`, and returns it.
    pub fn problem(&self, status: StatusCode) -> &Value {
        assert_eq!(self.status, status, "{:#}", self.body);
        assert_eq!(
            self.headers[header::CONTENT_TYPE],
            "application/problem+json",
            "{:#}",
            self.body
        );
        assert_eq!(self.body["status"], status.as_u16(), "{:#}", self.body);
        assert!(self.body["title"].is_string(), "{:#}", self.body);
        assert!(self.body["type"].is_string(), "{:#}", self.body);
        &self.body
    }

    /// The `field` of each entry of a problem's `errors`.
    pub fn error_fields(&self) -> Vec<&str> {
        crate::error_fields(&self.body)
    }
}

/// Sends `request` through `app`.
pub async fn call(app: &Router, request: Request<Body>) -> Reply {
    let response = app
        .clone()
        .oneshot(request)
        .await
        .expect("the router is infallible");
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .expect("body");
    Reply {
        status,
        headers,
        body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    }
}

/// `GET uri`.
pub async fn get(app: &Router, uri: &str) -> Reply {
    call(app, Request::get(uri).body(Body::empty()).expect("request")).await
}

/// `method uri` with a body of `content_type`.
pub async fn send(
    app: &Router,
    method: &str,
    uri: &str,
    content_type: &str,
    body: impl Into<Body>,
) -> Reply {
    let request = Request::builder()
        .method(method)
        .uri(uri)
        .header(header::CONTENT_TYPE, content_type)
        .body(body.into())
        .expect("request");
    call(app, request).await
}

/// `POST uri` with a JSON body.
pub async fn post_json(app: &Router, uri: &str, body: &Value) -> Reply {
    send(app, "POST", uri, "application/json", body.to_string()).await
}

/// Asserts that an unknown route is a 404 problem and an unsupported method
/// on `route` a 405 problem.
pub async fn assert_unknown_route_and_method_are_problems(app: &Router, route: &str) {
    get(app, "/no/such/route")
        .await
        .problem(StatusCode::NOT_FOUND);
    let delete = Request::delete(route).body(Body::empty()).expect("request");
    call(app, delete)
        .await
        .problem(StatusCode::METHOD_NOT_ALLOWED);
}
