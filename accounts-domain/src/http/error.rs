//! The accounts API's error type and its one mapping to problem+json.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use platform_infra::{FieldError, Problem};

use crate::domain::CustomerId;
use crate::store::StoreError;

/// Everything a handler can fail with.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("invalid request")]
    Invalid(Vec<FieldError>),
    #[error("customer {0} not found")]
    NotFound(CustomerId),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        match self {
            ApiError::Invalid(errors) => Problem::validation(errors).into_response(),
            ApiError::NotFound(id) => {
                Problem::not_found(format!("customer {id} does not exist")).into_response()
            }
            ApiError::Store(StoreError::Contended(id)) => Problem::status(StatusCode::CONFLICT)
                .with_detail(format!(
                    "customer {id} is being changed concurrently; retry"
                ))
                .into_response(),
            ApiError::Store(e) => Problem::store_failure(&e, e.is_transient()).into_response(),
        }
    }
}
