//! The orders API's error type and its one mapping to problem+json.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use platform_infra::{FieldError, Problem};

use shared_events::fields::CustomerId;

use crate::store::StoreError;

/// Everything a handler can fail with.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("customer {0} not found")]
    NotFound(CustomerId),
    #[error("order {order_guid} of customer {customer_id} not found")]
    OrderNotFound {
        customer_id: CustomerId,
        order_guid: uuid::Uuid,
    },
    #[error("customer {0} was deleted")]
    CustomerDeleted(CustomerId),
    #[error("customer {0} has no address to ship to")]
    NoAddress(CustomerId),
    #[error("customer {customer_id} is at version {version}, not yet {wanted}")]
    Behind {
        customer_id: CustomerId,
        version: i64,
        wanted: i64,
    },
    #[error("invalid query")]
    Query(Problem),
    #[error("invalid request")]
    Invalid(Vec<FieldError>),
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
            ApiError::OrderNotFound {
                customer_id,
                order_guid,
            } => Problem::not_found(format!("customer {customer_id} has no order {order_guid}"))
                .into_response(),
            ApiError::NoAddress(id) => Problem::validation(vec![FieldError::new(
                "customer_id",
                format!("customer {id} has no address to ship to"),
            )])
            .into_response(),
            ApiError::CustomerDeleted(id) => Problem::status(StatusCode::CONFLICT)
                .with_detail(format!(
                    "customer {id} was deleted; its orders stay readable but it cannot order"
                ))
                .into_response(),
            ApiError::Behind {
                customer_id,
                version,
                wanted,
            } => {
                // Not a server fault: the replica is fine, it does not hold the
                // version asked for (yet, or ever, if accounts never made it).
                let mut response = Problem::status(StatusCode::CONFLICT)
                    .with_detail(format!(
                        "the replica of customer {customer_id} is at version {version}, not yet {wanted}; retry, or check that accounts has version {wanted}"
                    ))
                    .into_response();
                response.headers_mut().insert(
                    axum::http::header::RETRY_AFTER,
                    axum::http::HeaderValue::from_static("1"),
                );
                response
            }
            ApiError::Query(problem) => problem.into_response(),
            ApiError::Invalid(errors) => Problem::validation(errors).into_response(),
            ApiError::Store(e) => Problem::store_failure(&e, e.is_transient()).into_response(),
        }
    }
}
