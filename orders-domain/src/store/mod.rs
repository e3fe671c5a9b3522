//! MongoDB storage of the orders service.
//!
//! Three kinds of collection, so that rebuilding the customer replica can never
//! lose an order:
//!
//! - **owned orders**, `<collection>` (seed default `customer.orders`): one
//!   document per order, indexed by customer (see [`orders`]). This service is
//!   the system of record for it; the projection never writes it.
//! - **replica generations**, `<collection>_replica_<n>`: the customer fields
//!   replicated from accounts, `{_id, version, name, contact, addresses}`
//!   (no personal fields once the customer is erased). A
//!   rebuild fills generation n+1 from the event store while generation n keeps
//!   serving.
//! - **meta**, `<collection>_meta`: the pointer to the active replica generation.
//!   Each process caches it for a bounded time, and a switch waits that time
//!   out, so that a rebuild loses no event and no read is served from a retired
//!   generation once the switch returns (see [`pointer`]).

mod orders;
mod pointer;
mod replica;

use std::sync::Arc;

use mongodb::Database;
use platform_infra::paging::Paging;
use shared_events::{ChangeKind, CustomerChange};

use crate::domain::ApplyOutcome;
use crate::domain::order::Order;
pub use orders::OwnedOrders;
pub use pointer::{POINTER_LIFETIME, ReplicaPointer, SWITCH_SETTLE, Settle};
pub use replica::{ReplicaCollection, ReplicaDocument};

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("MongoDB operation failed")]
    Mongo(#[from] mongodb::error::Error),
    #[error("cannot encode the replica update")]
    Encode(#[from] mongodb::bson::ser::Error),
    #[error("the replica pointer is missing or unreadable")]
    NoPointer,
    #[error("a stored order is unreadable")]
    Decode(#[from] mongodb::bson::de::Error),
}

impl StoreError {
    /// Whether retrying later can succeed without anything changing (MongoDB
    /// unreachable or failing over), as opposed to an error in the data.
    pub fn is_transient(&self) -> bool {
        match self {
            StoreError::Mongo(e) => platform_infra::mongo::is_transient(e),
            StoreError::Encode(_) | StoreError::NoPointer | StoreError::Decode(_) => false,
        }
    }
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// A customer with the orders this service owns, as the API shows it.
#[derive(Debug, Clone)]
pub struct CustomerOrders {
    pub customer: ReplicaDocument,
    pub orders: Vec<Order>,
}

/// The orders service's collections.
#[derive(Debug, Clone)]
pub struct CustomerOrdersStore {
    database: Database,
    base: String,
    owned: OwnedOrders,
    /// Shared by every clone, so a process caches one pointer.
    pointer: Arc<ReplicaPointer>,
}

impl CustomerOrdersStore {
    /// `collection` is the owned-orders collection; the others are named after it.
    pub fn new(database: &Database, collection: &str) -> Self {
        CustomerOrdersStore {
            database: database.clone(),
            base: collection.to_owned(),
            owned: OwnedOrders::new(database, collection),
            pointer: Arc::new(ReplicaPointer::new(
                database.collection::<mongodb::bson::Document>(&format!("{collection}_meta")),
            )),
        }
    }

    /// The replica collection of `generation`.
    pub fn replica(&self, generation: i64) -> ReplicaCollection {
        ReplicaCollection::new(
            &self.database,
            &format!("{}_replica_{generation}", self.base),
            generation,
        )
    }

    /// The generation after `previous`, emptied of anything a failed rebuild
    /// left in it: where a rebuild writes before it switches reads.
    pub async fn empty_generation_after(
        &self,
        previous: &ReplicaCollection,
    ) -> Result<ReplicaCollection> {
        let next = self.replica(previous.generation() + 1);
        self.database
            .collection::<mongodb::bson::Document>(next.name())
            .drop()
            .await?;
        Ok(next)
    }

    /// Creates the orders' index, and the pointer to generation 1 unless one
    /// exists.
    #[tracing::instrument(skip(self))]
    pub async fn init(&self) -> Result<()> {
        self.owned.ensure_indexes().await?;
        let first = self.replica(1);
        self.pointer.init(first.generation(), first.name()).await
    }

    /// The replica generation reads and the projector use now: no round trip
    /// while the cached pointer is fresh (see [`pointer`]).
    pub async fn active_replica(&self) -> Result<ReplicaCollection> {
        Ok(self.replica(self.pointer.generation().await?))
    }

    /// Points reads and every projector at `to`, if the active generation is
    /// still `from` (compare-and-set). Returns when no process uses `from` any
    /// more ([`SWITCH_SETTLE`] after the switch), or `None` if the active
    /// generation was not `from`.
    #[tracing::instrument(skip(self, to), fields(to = to.name()))]
    pub async fn switch_replica(
        &self,
        from: i64,
        to: &ReplicaCollection,
    ) -> Result<Option<Settle>> {
        self.pointer.switch(from, to.generation(), to.name()).await
    }

    /// Applies a change event to the active replica (see
    /// [`ReplicaCollection::apply`]). An erasure also removes the shipping
    /// addresses from the customer's orders, which stay.
    pub async fn apply(&self, change: &CustomerChange) -> Result<ApplyOutcome> {
        let outcome = self.active_replica().await?.apply(change).await?;
        if change.kind == ChangeKind::Erased {
            self.owned.erase_addresses(&[change.id.as_str()]).await?;
        }
        Ok(outcome)
    }

    /// One customer with a page of its orders, if the customer is in the
    /// replica.
    #[tracing::instrument(skip(self))]
    pub async fn get(&self, id: &str, orders: Paging) -> Result<Option<CustomerOrders>> {
        let Some(customer) = self.active_replica().await?.get(id).await? else {
            return Ok(None);
        };
        let orders = self.owned.of_customer(id, orders).await?;
        Ok(Some(CustomerOrders { customer, orders }))
    }

    /// A page of customers with their orders, ordered by customer id.
    #[tracing::instrument(skip(self))]
    pub async fn list(&self, paging: Paging) -> Result<Vec<CustomerOrders>> {
        let customers = self.active_replica().await?.page(paging).await?;
        let ids: Vec<&str> = customers.iter().map(|c| c.id.as_str()).collect();
        let mut owned = self.owned.of_customers(&ids).await?;
        Ok(customers
            .into_iter()
            .map(|customer| {
                let orders = owned.remove(&customer.id).unwrap_or_default();
                CustomerOrders { customer, orders }
            })
            .collect())
    }

    /// The replicated customer, if known.
    pub async fn customer(&self, id: &str) -> Result<Option<ReplicaDocument>> {
        self.active_replica().await?.get(id).await
    }

    /// Stores a placed order: one insert.
    #[tracing::instrument(skip_all, fields(customer_id = %order.customer_id, order = %order.guid))]
    pub async fn add_order(&self, order: &Order) -> Result<()> {
        self.owned.insert(order).await
    }

    /// One order of a customer.
    pub async fn order(&self, customer_id: &str, guid: &str) -> Result<Option<Order>> {
        self.owned.get(customer_id, guid).await
    }
}
