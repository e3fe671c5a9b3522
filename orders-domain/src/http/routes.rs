//! Routes: the seed's list and detail reads, and liveness.

use axum::extract::{Path, State};
use axum::routing::get;
use axum::{Json, Router};
use mongodb::bson::Bson;
use platform_infra::paging::Paging;
use serde::Serialize;
use shared_events::{Address, Contact, Name};

use super::error::ApiError;
use crate::store::{CustomerOrders, CustomerOrdersStore};

/// What the handlers share.
#[derive(Clone)]
pub struct AppState {
    pub store: CustomerOrdersStore,
}

/// All routes of the service, without the standard layers.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/orders/list", get(list))
        .route("/orders/order/{customer_id}", get(get_one))
        .with_state(state)
}

/// The seed's `CustomerOrders`, plus the replicated `version`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CustomerOrdersResponse {
    pub id: String,
    pub version: i64,
    pub name: Name,
    pub contact: Contact,
    pub addresses: Vec<Address>,
    pub orders: Vec<serde_json::Value>,
}

impl From<CustomerOrders> for CustomerOrdersResponse {
    fn from(c: CustomerOrders) -> Self {
        CustomerOrdersResponse {
            id: c.customer.id,
            version: c.customer.version,
            name: c.customer.name,
            contact: c.customer.contact,
            addresses: c.customer.addresses,
            orders: c
                .orders
                .into_iter()
                .map(|o| Bson::Document(o).into_relaxed_extjson())
                .collect(),
        }
    }
}

async fn list(
    State(state): State<AppState>,
    paging: Paging,
) -> Result<Json<Vec<CustomerOrdersResponse>>, ApiError> {
    let page = state.store.list(paging).await?;
    Ok(Json(page.into_iter().map(Into::into).collect()))
}

async fn get_one(
    State(state): State<AppState>,
    Path(customer_id): Path<String>,
) -> Result<Json<CustomerOrdersResponse>, ApiError> {
    let found = state.store.get(&customer_id).await?;
    Ok(Json(found.ok_or(ApiError::NotFound(customer_id))?.into()))
}
