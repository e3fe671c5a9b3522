//! Routes: the seed's list and detail reads, and placing and reading orders.
//! Health, metrics and API docs are added by `platform_infra::service`.

use std::time::Duration;

use axum::extract::State;
use axum::handler::Handler;
use axum::http::{StatusCode, header};
use axum::middleware;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use platform_infra::Problem;
use platform_infra::idempotency::{self, IdempotencyKeys};
use platform_infra::json::JsonBody;
use platform_infra::paging::{BadPaging, Paging};
use platform_infra::query::{self, PathParams, QueryParams};
use serde::{Deserialize, Serialize};
use shared_events::fields::CustomerId;
use shared_events::{Address, AddressType, Contact, Name};

use super::error::ApiError;
use crate::domain::order::{self, Order, OrderSubmission, RawOrder};
use crate::messaging::{AppliedFeed, VersionRead};
use crate::store::{CustomerOrders, CustomerOrdersStore};

/// What the handlers share.
#[derive(Clone)]
pub struct AppState {
    pub store: CustomerOrdersStore,
    pub idempotency: IdempotencyKeys,
    /// Announcements of applied changes, for reads with `minVersion`.
    pub applied: AppliedFeed,
    /// Longest such a read waits.
    pub read_wait: Duration,
}

/// All routes of the service, without the standard layers.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/orders/list", get(list))
        .route(
            "/orders/order/{customer_id}",
            get(get_one).post(create_order.layer(middleware::from_fn_with_state(
                state.idempotency.clone(),
                idempotency::guard,
            ))),
        )
        .route("/orders/order/{customer_id}/{order_guid}", get(get_order))
        .with_state(state)
}

/// The OpenAPI document of the orders API.
#[derive(utoipa::OpenApi)]
#[openapi(
    info(
        title = "orders",
        description = "System of record for orders, with a replica of the customers",
        contact(name = "cqrs-platform maintainers")
    ),
    tags((name = "orders", description = "Customers with their orders, and placing orders")),
    paths(list, get_one, create_order, get_order),
    components(schemas(CustomerId)),
    modifiers(&ExtensibleAddressTypes)
)]
pub struct ApiDoc;

/// The replica keeps address types it does not know (a tolerant reader of
/// newer events) and serves them as received, so this API documents the
/// type as extensible, where accounts, which writes them, lists a closed set.
struct ExtensibleAddressTypes;

impl utoipa::Modify for ExtensibleAddressTypes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        if let Some(components) = openapi.components.as_mut() {
            components.schemas.insert(
                "AddressType".to_owned(),
                AddressType::extensible_schema().into(),
            );
        }
    }
}

/// The seed's `CustomerOrders`, plus the replicated `version`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = CustomerOrders, example = customer_orders_example)]
#[serde(rename_all = "camelCase")]
pub struct CustomerOrdersResponse {
    pub id: String,
    pub version: i64,
    /// Absent once the customer's personal data is erased.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Name)]
    pub name: Option<Name>,
    /// Absent once the customer's personal data is erased.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Contact)]
    pub contact: Option<Contact>,
    pub addresses: Vec<Address>,
    /// The orders this service owns for the customer.
    pub orders: Vec<Order>,
    /// Present and `true` once the customer was deleted in accounts: its orders
    /// stay readable, new ones are refused.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub deleted: bool,
    /// Present and `true` once the customer's personal data was erased: the
    /// customer is anonymous, its orders stay without their addresses.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub erased: bool,
}

/// The replica of the golden `created` sample, before any order: the example of
/// the OpenAPI document.
fn customer_orders_example() -> serde_json::Value {
    let Ok(event) = shared_events::CustomerChangeEnvelope::decode(
        shared_events::samples::CUSTOMER_CREATED.as_bytes(),
    ) else {
        return serde_json::Value::Null;
    };
    let data = event.data;
    serde_json::to_value(CustomerOrdersResponse {
        id: data.id,
        version: data.version,
        name: Some(data.name),
        contact: Some(data.contact),
        addresses: data.addresses,
        orders: Vec::new(),
        deleted: false,
        erased: false,
    })
    .unwrap_or_default()
}

impl From<CustomerOrders> for CustomerOrdersResponse {
    fn from(c: CustomerOrders) -> Self {
        CustomerOrdersResponse {
            deleted: c.customer.deleted_at.is_some(),
            erased: c.customer.erased_at.is_some(),
            id: c.customer.id,
            version: c.customer.version,
            name: c.customer.name,
            contact: c.customer.contact,
            addresses: c.customer.addresses,
            orders: c.orders,
        }
    }
}

/// A page of customers with their orders, ordered by customer id.
#[utoipa::path(
    get,
    path = "/orders/list",
    tag = "orders",
    params(Paging),
    responses(
        (status = 200, description = "A page of customers with their orders, ordered by id", body = Vec<CustomerOrdersResponse>),
        BadPaging,
    )
)]
async fn list(
    State(state): State<AppState>,
    paging: Paging,
) -> Result<Json<Vec<CustomerOrdersResponse>>, ApiError> {
    let page = state.store.list(paging).await?;
    Ok(Json(page.into_iter().map(Into::into).collect()))
}

/// Largest version a client may ask for: the largest integer JSON clients
/// represent exactly.
const MAX_VERSION: i64 = (1 << 53) - 1;

/// Query of a read that must see at least a given version.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(rename_all = "camelCase")]
pub struct Consistency {
    /// Read-your-writes: the `version` that accounts answered for the change.
    /// The read waits (up to `replica.read_wait_ms`) until the replica has
    /// applied it; if it has not by then, 503 with `Retry-After`, or 404 if the
    /// customer is not replicated at all.
    #[param(minimum = 1, maximum = 9007199254740991_i64)]
    min_version: Option<i64>,
}

/// One customer with a page of its orders (oldest first; `limit` and
/// `offset` page the orders).
#[utoipa::path(
    get,
    path = "/orders/order/{customer_id}",
    tag = "orders",
    params(("customer_id" = CustomerId, Path, description = "Customer id"), Paging, Consistency),
    responses(
        (status = 200, description = "The customer with their orders", body = CustomerOrdersResponse),
        (status = 400, description = "Invalid `minVersion` or paging parameters", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Not replicated (yet)", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The replica has not reached `minVersion` within `replica.read_wait_ms` (it holds an older version): retry after `Retry-After`; a version accounts never made stays 409", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "MongoDB unreachable", body = Problem, content_type = "application/problem+json"),
    )
)]
async fn get_one(
    State(state): State<AppState>,
    PathParams(customer_id): PathParams<CustomerId>,
    orders: Paging,
    QueryParams(consistency): QueryParams<Consistency>,
) -> Result<Json<CustomerOrdersResponse>, ApiError> {
    let Some(wanted) = consistency.min_version else {
        let found = state.store.get(customer_id.as_str(), orders).await?;
        return Ok(Json(found.ok_or(ApiError::NotFound(customer_id))?.into()));
    };
    if !(1..=MAX_VERSION).contains(&wanted) {
        return Err(ApiError::Query(query::out_of_range(
            "minVersion",
            format!("must be between 1 and {MAX_VERSION}"),
        )));
    }
    let read = state
        .applied
        .read_at_least(
            &state.store,
            customer_id.as_str(),
            orders,
            wanted,
            state.read_wait,
        )
        .await?;
    match read {
        VersionRead::Found(found) => Ok(Json((*found).into())),
        VersionRead::Missing => Err(ApiError::NotFound(customer_id)),
        VersionRead::Behind(version) => Err(ApiError::Behind {
            customer_id,
            version,
            wanted,
        }),
    }
}

/// Places an order for a customer known to the replica. The order keeps a
/// snapshot of the address it ships to.
#[utoipa::path(
    post,
    path = "/orders/order/{customer_id}",
    tag = "orders",
    params(
        ("customer_id" = CustomerId, Path, description = "Customer id"),
        ("Idempotency-Key" = Option<String>, Header, pattern = "^[!-~]{1,255}$", description = "Makes a retry safe: the same key with the same body returns the first order (with `Idempotent-Replayed: true`) and places no second one; with another body, 422"),
    ),
    request_body = RawOrder,
    responses(
        (status = 201, description = "Order placed; `Location` names it", body = Order),
        (status = 400, description = "Malformed JSON", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Customer not replicated (yet)", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body too large", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not JSON", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The customer was deleted, or a request with the same Idempotency-Key is in progress", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid items, each named; or the customer has no address", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "MongoDB unreachable; nothing stored", body = Problem, content_type = "application/problem+json"),
    )
)]
async fn create_order(
    State(state): State<AppState>,
    PathParams(customer_id): PathParams<CustomerId>,
    JsonBody(raw): JsonBody<RawOrder>,
) -> Result<impl IntoResponse, ApiError> {
    let submission = OrderSubmission::parse(raw).map_err(ApiError::Invalid)?;
    let customer = state
        .store
        .customer(customer_id.as_str())
        .await?
        .ok_or_else(|| ApiError::NotFound(customer_id.clone()))?;
    if customer.deleted_at.is_some() {
        return Err(ApiError::CustomerDeleted(customer_id));
    }
    let address = order::shipping_address(&customer.addresses)
        .cloned()
        .ok_or_else(|| ApiError::NoAddress(customer_id.clone()))?;
    let placed = Order::place(
        customer_id.as_str(),
        submission,
        address,
        chrono::Utc::now(),
    );
    state.store.add_order(&placed).await?;
    metrics::counter!("orders_placed_total").increment(1);
    let location = format!("/orders/order/{customer_id}/{}", placed.guid);
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, location)],
        Json(placed),
    ))
}

/// One order of a customer.
#[utoipa::path(
    get,
    path = "/orders/order/{customer_id}/{order_guid}",
    tag = "orders",
    params(
        ("customer_id" = CustomerId, Path, description = "Customer id"),
        ("order_guid" = String, Path, description = "Order guid, a UUID"),
    ),
    responses(
        (status = 200, description = "The order", body = Order),
        (status = 404, description = "Unknown customer or order", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "MongoDB unreachable", body = Problem, content_type = "application/problem+json"),
    )
)]
async fn get_order(
    State(state): State<AppState>,
    PathParams((customer_id, order_guid)): PathParams<(CustomerId, uuid::Uuid)>,
) -> Result<Json<Order>, ApiError> {
    let found = state
        .store
        .order(customer_id.as_str(), &order_guid.to_string())
        .await?;
    Ok(Json(found.ok_or(ApiError::OrderNotFound {
        customer_id,
        order_guid,
    })?))
}
