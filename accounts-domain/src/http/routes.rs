//! Routes: customer create-or-update, read, list, and liveness.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use platform_infra::json::JsonBody;
use platform_infra::paging::Paging;
use platform_infra::trace_context::TraceParent;
use serde::Serialize;
use shared_events::{Address, Contact, Name};
use tokio::sync::Notify;

use super::error::ApiError;
use crate::domain::{ChangeOutcome, Customer, CustomerSubmission, MaskedCard, RawCustomer};
use crate::store::{CustomerStore, HistoryEntry};

/// What the handlers share.
#[derive(Clone)]
pub struct AppState {
    pub store: CustomerStore,
    /// Wakes the outbox relay after a write.
    pub relay_wake: Arc<Notify>,
}

/// All routes of the service, without the standard layers.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/accounts/customer/create", post(create_or_update))
        .route("/accounts/customer/{id}", get(get_customer))
        .route("/accounts/customer/{id}/history", get(customer_history))
        .route("/accounts/customers", get(list_customers))
        .with_state(state)
}

/// A stored customer as the API returns it: cards masked.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CustomerResponse {
    pub id: String,
    pub version: u64,
    pub name: Name,
    pub contact: Contact,
    pub addresses: Vec<Address>,
    pub credit_cards: Vec<MaskedCard>,
}

impl From<Customer> for CustomerResponse {
    fn from(c: Customer) -> Self {
        CustomerResponse {
            id: c.id.into_string(),
            version: c.version,
            name: c.profile.name,
            contact: c.profile.contact,
            addresses: c.profile.addresses,
            credit_cards: c.profile.credit_cards,
        }
    }
}

/// `201 Created` for a new customer, `200 OK` for an update (or a submission
/// equal to the stored state, which creates no new version).
async fn create_or_update(
    State(state): State<AppState>,
    trace: Option<Extension<TraceParent>>,
    JsonBody(raw): JsonBody<RawCustomer>,
) -> Result<impl IntoResponse, ApiError> {
    let submission = CustomerSubmission::parse(raw).map_err(ApiError::Invalid)?;
    let traceparent = trace.map(|Extension(t)| t.to_string());
    let upserted = state.store.upsert(submission, traceparent).await?;
    let status = match upserted.outcome {
        ChangeOutcome::Created => StatusCode::CREATED,
        ChangeOutcome::Updated | ChangeOutcome::Unchanged => StatusCode::OK,
    };
    if upserted.outcome != ChangeOutcome::Unchanged {
        state.relay_wake.notify_one();
    }
    tracing::info!(customer_id = %upserted.customer.id, version = upserted.customer.version,
        outcome = ?upserted.outcome, "customer stored");
    Ok((status, Json(CustomerResponse::from(upserted.customer))))
}

async fn get_customer(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<CustomerResponse>, ApiError> {
    let customer = state.store.get(&id).await?.ok_or(ApiError::NotFound(id))?;
    Ok(Json(customer.into()))
}

/// Every change of the customer, oldest first, from the accounts store.
async fn customer_history(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Vec<HistoryEntry>>, ApiError> {
    let history = state
        .store
        .history(&id)
        .await?
        .ok_or(ApiError::NotFound(id))?;
    Ok(Json(history))
}

async fn list_customers(
    State(state): State<AppState>,
    paging: Paging,
) -> Result<Json<Vec<CustomerResponse>>, ApiError> {
    let customers = state.store.list(paging).await?;
    Ok(Json(customers.into_iter().map(Into::into).collect()))
}
