//! The orders API's error type and its one mapping to problem+json.

use axum::response::{IntoResponse, Response};
use platform_infra::Problem;

use crate::store::StoreError;

/// Everything a handler can fail with.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("customer {0} not found")]
    NotFound(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        match self {
            ApiError::NotFound(id) => Problem::not_found(format!(
                "customer {id} is not known to the orders service (yet)"
            ))
            .into_response(),
            ApiError::Store(StoreError::Mongo(e)) if platform_infra::mongo::is_transient(&e) => {
                tracing::warn!(error = %e, "MongoDB unavailable");
                Problem::unavailable("the database is unavailable; retry later").into_response()
            }
            ApiError::Store(e) => {
                tracing::error!(error = %e, cause = ?std::error::Error::source(&e), "store failure");
                Problem::internal().into_response()
            }
        }
    }
}
