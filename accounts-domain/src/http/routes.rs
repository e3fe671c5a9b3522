//! Routes: customer create-or-update, read, history, list, delete and
//! erasure. Health,
//! metrics and API docs are added by `platform_infra::service`.

use std::sync::Arc;

use axum::extract::State;
use axum::handler::Handler;
use axum::http::StatusCode;
use axum::middleware;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use platform_infra::Problem;
use platform_infra::idempotency::{self, IdempotencyKeys};
use platform_infra::json::JsonBody;
use platform_infra::paging::{BadPaging, Paging};
use platform_infra::query::PathParams;
use platform_infra::trace_context::TraceParent;
use serde::Serialize;
use shared_events::{Address, Contact, Name};
use tokio::sync::Notify;

use super::error::ApiError;
use crate::domain::{
    ChangeOutcome, Customer, CustomerId, CustomerSubmission, MaskedCard, RawCustomer,
};
use crate::store::{CustomerStore, Deletion, Erasure, HistoryEntry};

/// What the handlers share.
#[derive(Clone)]
pub struct AppState {
    pub store: CustomerStore,
    /// Wakes the outbox relay after a write.
    pub relay_wake: Arc<Notify>,
    pub idempotency: IdempotencyKeys,
}

/// All routes of the service, without the standard layers.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route(
            "/accounts/customer/create",
            post(create_or_update.layer(middleware::from_fn_with_state(
                state.idempotency.clone(),
                idempotency::guard,
            ))),
        )
        .route(
            "/accounts/customer/{id}",
            get(get_customer).delete(delete_customer),
        )
        .route("/accounts/customer/{id}/history", get(customer_history))
        .route("/accounts/customer/{id}/erasure", post(erase_customer))
        .route("/accounts/customers", get(list_customers))
        .with_state(state)
}

/// The OpenAPI document of the accounts API.
#[derive(utoipa::OpenApi)]
#[openapi(
    info(
        title = "accounts",
        description = "System of record for customers",
        contact(name = "cqrs-platform maintainers")
    ),
    tags((name = "accounts", description = "Customers: create, update, read, delete, history")),
    paths(
        create_or_update,
        get_customer,
        delete_customer,
        erase_customer,
        customer_history,
        list_customers
    ),
    components(schemas(CustomerId))
)]
pub struct ApiDoc;

/// A stored customer as the API returns it: cards masked.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = Customer, example = crate::examples::seed_customer_response)]
#[serde(rename_all = "camelCase")]
pub struct CustomerResponse {
    pub id: String,
    #[schema(minimum = 1)]
    pub version: i64,
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
#[utoipa::path(
    post,
    path = "/accounts/customer/create",
    tag = "accounts",
    request_body = RawCustomer,
    params(("Idempotency-Key" = Option<String>, Header, pattern = "^[!-~]{1,255}$", description = "Makes a retry safe: the same key with the same body returns the first response (with `Idempotent-Replayed: true`) and changes nothing; with another body, 422")),
    responses(
        (status = 201, description = "Customer created (version 1)", body = CustomerResponse),
        (status = 200, description = "Customer updated (version + 1), or unchanged", body = CustomerResponse),
        (status = 400, description = "Malformed JSON", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not JSON", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid or missing fields, each named", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Concurrent writers kept winning, or a request with the same Idempotency-Key is in progress; retry", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body too large", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "MongoDB unreachable; nothing stored", body = Problem, content_type = "application/problem+json"),
    )
)]
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

/// Deletes a customer: `204`, and a `deleted` event carrying its last state
/// at a new version. Deleting again is a no-op `204`. The history stays
/// readable; creating the customer again continues its versions.
#[utoipa::path(
    delete,
    path = "/accounts/customer/{id}",
    tag = "accounts",
    params(("id" = CustomerId, Path, description = "Customer id")),
    responses(
        (status = 204, description = "Deleted (now or before)"),
        (status = 404, description = "Unknown customer", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Concurrent writers kept winning; retry", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "MongoDB unreachable; nothing changed", body = Problem, content_type = "application/problem+json"),
    )
)]
async fn delete_customer(
    State(state): State<AppState>,
    trace: Option<Extension<TraceParent>>,
    PathParams(id): PathParams<CustomerId>,
) -> Result<StatusCode, ApiError> {
    let traceparent = trace.map(|Extension(t)| t.to_string());
    match state.store.delete(id.as_str(), traceparent).await? {
        Deletion::Deleted(version) => {
            state.relay_wake.notify_one();
            tracing::info!(customer_id = %id, version, "customer deleted");
            Ok(StatusCode::NO_CONTENT)
        }
        Deletion::AlreadyDeleted => Ok(StatusCode::NO_CONTENT),
        Deletion::Missing => Err(ApiError::NotFound(id)),
    }
}

/// What an erasure request answers.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ErasureResponse {
    pub id: String,
    /// The version of the erasure event (`accounts.customer.erased.v1`).
    #[schema(minimum = 1)]
    pub version: i64,
}

/// Erases the customer's personal data (right to erasure, crypto-shredding):
/// `202`. In one write the data key and the personal fields are removed and
/// the erasure event is stored; the relay then publishes the key's tombstone
/// and `accounts.customer.erased.v1`, retrying until the broker takes them,
/// and orders drops the replica's personal data. Every event of the customer
/// in the topic is sealed with the deleted key, so none can be read again.
/// Erasing again is a no-op `202` with the same version. The customer counts
/// as deleted; creating it again starts a new key.
#[utoipa::path(
    post,
    path = "/accounts/customer/{id}/erasure",
    tag = "accounts",
    params(("id" = CustomerId, Path, description = "Customer id")),
    responses(
        (status = 202, description = "Erased here (now or before); the erasure reaches consumers through the topic", body = ErasureResponse),
        (status = 404, description = "Unknown customer", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Concurrent writers kept winning; retry", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "MongoDB unreachable; nothing changed", body = Problem, content_type = "application/problem+json"),
    )
)]
async fn erase_customer(
    State(state): State<AppState>,
    trace: Option<Extension<TraceParent>>,
    PathParams(id): PathParams<CustomerId>,
) -> Result<(StatusCode, Json<ErasureResponse>), ApiError> {
    let traceparent = trace.map(|Extension(t)| t.to_string());
    let version = match state.store.erase(id.as_str(), traceparent).await? {
        Erasure::Erased(version) => {
            state.relay_wake.notify_one();
            tracing::info!(customer_id = %id, version, "customer erased");
            version
        }
        Erasure::AlreadyErased(version) => version,
        Erasure::Missing => return Err(ApiError::NotFound(id)),
    };
    let body = ErasureResponse {
        id: id.into_string(),
        version,
    };
    Ok((StatusCode::ACCEPTED, Json(body)))
}

/// One customer, cards masked.
#[utoipa::path(
    get,
    path = "/accounts/customer/{id}",
    tag = "accounts",
    params(("id" = CustomerId, Path, description = "Customer id")),
    responses(
        (status = 200, description = "The customer, cards masked", body = CustomerResponse),
        (status = 404, description = "Unknown or deleted customer", body = Problem, content_type = "application/problem+json"),
    )
)]
async fn get_customer(
    State(state): State<AppState>,
    PathParams(id): PathParams<CustomerId>,
) -> Result<Json<CustomerResponse>, ApiError> {
    let customer = state
        .store
        .get(id.as_str())
        .await?
        .ok_or(ApiError::NotFound(id))?;
    Ok(Json(customer.into()))
}

/// The changes of the customer, oldest first, a page at a time: versions
/// `offset + 1` to `offset + limit`.
#[utoipa::path(
    get,
    path = "/accounts/customer/{id}/history",
    tag = "accounts",
    params(("id" = CustomerId, Path, description = "Customer id"), Paging),
    responses(
        (status = 200, description = "A page of changes, oldest first", body = Vec<HistoryEntry>),
        (status = 404, description = "Unknown customer", body = Problem, content_type = "application/problem+json"),
        BadPaging,
    )
)]
async fn customer_history(
    State(state): State<AppState>,
    PathParams(id): PathParams<CustomerId>,
    paging: Paging,
) -> Result<Json<Vec<HistoryEntry>>, ApiError> {
    let history = state
        .store
        .history(id.as_str(), paging)
        .await?
        .ok_or(ApiError::NotFound(id))?;
    Ok(Json(history))
}

/// A page of customers ordered by id.
#[utoipa::path(
    get,
    path = "/accounts/customers",
    tag = "accounts",
    params(Paging),
    responses(
        (status = 200, description = "A page of existing customers, ordered by id", body = Vec<CustomerResponse>),
        BadPaging,
    )
)]
async fn list_customers(
    State(state): State<AppState>,
    paging: Paging,
) -> Result<Json<Vec<CustomerResponse>>, ApiError> {
    let customers = state.store.list(paging).await?;
    Ok(Json(customers.into_iter().map(Into::into).collect()))
}
