//! Query-string extraction whose every rejection is a 400 problem+json.

use axum::extract::{FromRequestParts, Query};
use axum::http::StatusCode;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use crate::problem::{FieldError, Problem};

/// Like axum's `Query`, but a malformed query string answers
/// `/problems/invalid-query` instead of plain text.
#[derive(Debug, Clone, Copy)]
pub struct QueryParams<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for QueryParams<T> {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let Query(value) = Query::<T>::from_request_parts(parts, state)
            .await
            .map_err(|e| invalid_query().with_detail(e.body_text()))?;
        Ok(QueryParams(value))
    }
}

/// 400 naming the query parameter that is out of range.
pub fn out_of_range(parameter: &str, message: String) -> Problem {
    invalid_query().with_errors(vec![FieldError::new(parameter, message)])
}

fn invalid_query() -> Problem {
    Problem::typed(
        StatusCode::BAD_REQUEST,
        "/problems/invalid-query",
        "Invalid query parameters",
    )
}

/// Like axum's `Path`, but the parameters are parsed into `T` (ids that
/// parse themselves, such as a customer id), and one that does not parse
/// answers a 404 problem: an id that cannot exist names nothing.
#[derive(Debug, Clone, Copy)]
pub struct PathParams<T>(pub T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for PathParams<T> {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        use axum::extract::Path;
        use axum::extract::path::ErrorKind;
        use axum::extract::rejection::PathRejection;
        match Path::<T>::from_request_parts(parts, state).await {
            Ok(Path(value)) => Ok(PathParams(value)),
            // The value does not parse (the parser's message could echo it).
            Err(PathRejection::FailedToDeserializePathParams(e))
                if matches!(
                    e.kind(),
                    ErrorKind::Message(_)
                        | ErrorKind::ParseError { .. }
                        | ErrorKind::ParseErrorAtIndex { .. }
                        | ErrorKind::ParseErrorAtKey { .. }
                        | ErrorKind::InvalidUtf8InPathParam { .. }
                        | ErrorKind::DeserializeError { .. }
                ) =>
            {
                Err(Problem::not_found("no such resource"))
            }
            Err(e) => Err(Problem::status(e.status()).with_detail(e.body_text())),
        }
    }
}
