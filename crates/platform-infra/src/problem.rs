//! RFC 9457 problem details (`application/problem+json`), the one error body shape
//! of both services.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

/// Media type of every error body.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// `Retry-After` of every 503.
pub const RETRY_AFTER_SECONDS: &str = "5";

/// One invalid input field: `field` is a dotted path such as `name.firstName` or
/// `addresses[1].postalCode`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        FieldError {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// The invalid fields of one request, collected so that all are reported at
/// once, in request order.
#[derive(Debug, Default)]
pub struct FieldErrors(Vec<FieldError>);

impl FieldErrors {
    /// Records that `field` is invalid.
    pub fn push(&mut self, field: &str, message: &str) {
        self.0.push(FieldError::new(field, message));
    }

    /// Records several, already named.
    pub fn extend(&mut self, errors: impl IntoIterator<Item = FieldError>) {
        self.0.extend(errors);
    }

    /// `parsed`, or `None` with its rejection recorded under `field`.
    pub fn check<T, E: std::fmt::Display>(
        &mut self,
        field: &str,
        parsed: Result<T, E>,
    ) -> Option<T> {
        parsed
            .map_err(|message| self.push(field, &message.to_string()))
            .ok()
    }

    /// An optional field: absent is fine, present must parse.
    pub fn check_optional<T, E: std::fmt::Display>(
        &mut self,
        field: &str,
        value: Option<&str>,
        parse: impl Fn(&str) -> Result<T, E>,
    ) -> Option<T> {
        value.and_then(|value| self.check(field, parse(value)))
    }

    /// `Ok` when no field was invalid, else every invalid field.
    pub fn into_result(self) -> Result<(), Vec<FieldError>> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(self.0)
        }
    }
}

/// A problem details body. Build one with the constructors, then add detail.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[schema(example = json!({
    "type": "/problems/validation-error",
    "title": "Request body is invalid",
    "status": 422,
    "detail": "invalid field contact.email: must be an e-mail address like name@example.com",
    "errors": [{"field": "contact.email", "message": "must be an e-mail address like name@example.com"}]
}))]
pub struct Problem {
    #[serde(rename = "type")]
    pub problem_type: String,
    pub title: String,
    #[serde(serialize_with = "serialize_status")]
    #[schema(value_type = u16)]
    pub status: StatusCode,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
}

fn serialize_status<S: serde::Serializer>(status: &StatusCode, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u16(status.as_u16())
}

impl Problem {
    /// A problem whose type is just its HTTP status (`about:blank`).
    pub fn status(status: StatusCode) -> Self {
        Problem {
            problem_type: "about:blank".to_owned(),
            title: status.canonical_reason().unwrap_or("Error").to_owned(),
            status,
            detail: None,
            errors: Vec::new(),
        }
    }

    /// A problem with its own type URI and title.
    pub fn typed(status: StatusCode, problem_type: &str, title: &str) -> Self {
        Problem {
            problem_type: problem_type.to_owned(),
            title: title.to_owned(),
            status,
            detail: None,
            errors: Vec::new(),
        }
    }

    /// 422 listing the invalid fields.
    pub fn validation(errors: Vec<FieldError>) -> Self {
        let detail = match errors.as_slice() {
            [one] => format!("invalid field {}: {}", one.field, one.message),
            many => format!("{} invalid fields", many.len()),
        };
        Problem::typed(
            StatusCode::UNPROCESSABLE_ENTITY,
            "/problems/validation-error",
            "Request body is invalid",
        )
        .with_detail(detail)
        .with_errors(errors)
    }

    /// 404 for a resource that does not exist.
    pub fn not_found(detail: impl Into<String>) -> Self {
        Problem::status(StatusCode::NOT_FOUND).with_detail(detail)
    }

    /// 500 that says nothing about the cause; log the cause where this is built.
    pub fn internal() -> Self {
        Problem::status(StatusCode::INTERNAL_SERVER_ERROR)
            .with_detail("the request could not be completed; see the service log")
    }

    /// The answer to a store operation that failed: 503 when the database is
    /// unreachable or failing over (`transient`; logged as a WARN), else a 500
    /// that says nothing about the cause (logged as an ERROR with its chain).
    pub fn store_failure(error: &(dyn std::error::Error + 'static), transient: bool) -> Self {
        if transient {
            tracing::warn!(error = %error, "database unavailable");
            Problem::unavailable("the database is unavailable; nothing was changed, retry later")
        } else {
            tracing::error!(error = %error, cause = ?error.source(), "store failure");
            Problem::internal()
        }
    }

    /// 503 for a dependency that is down; the response says when to retry.
    pub fn unavailable(detail: impl Into<String>) -> Self {
        Problem::status(StatusCode::SERVICE_UNAVAILABLE).with_detail(detail)
    }

    pub fn with_detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }

    pub fn with_errors(mut self, errors: Vec<FieldError>) -> Self {
        self.errors = errors;
        self
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let body = serde_json::to_vec(&self).unwrap_or_default();
        let mut response = (self.status, body).into_response();
        response
            .headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
        if self.status == StatusCode::SERVICE_UNAVAILABLE {
            response.headers_mut().insert(
                header::RETRY_AFTER,
                HeaderValue::from_static(RETRY_AFTER_SECONDS),
            );
        }
        response
    }
}
