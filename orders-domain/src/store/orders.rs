//! The orders this service owns: one document per order, indexed by customer,
//! so placing an order is one insert whatever the customer ordered before,
//! and no document grows with a customer's orders.

use std::collections::HashMap;

use futures::TryStreamExt;
use mongodb::bson::{self, doc};
use mongodb::options::IndexOptions;
use mongodb::{Collection, Database, IndexModel};
use platform_infra::paging::Paging;
use serde::{Deserialize, Serialize};

use super::Result;
use crate::domain::order::Order;

/// An order as stored.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct OrderDocument {
    /// The order's guid.
    #[serde(rename = "_id")]
    id: String,
    /// When it was placed, as a BSON date: a customer's orders are listed in
    /// this order, oldest first. (Orders are only ever inserted; the local
    /// MongoDB-protocol server keeps inserted dates as dates.)
    placed_at: bson::DateTime,
    #[serde(flatten)]
    order: Order,
}

/// The owned-orders collection.
#[derive(Debug, Clone)]
pub struct OwnedOrders {
    collection: Collection<OrderDocument>,
}

impl OwnedOrders {
    pub fn new(database: &Database, collection: &str) -> Self {
        OwnedOrders {
            collection: database.collection(collection),
        }
    }

    /// The index a customer's orders are read by, in the order they were placed.
    pub async fn ensure_indexes(&self) -> Result<()> {
        let index = IndexModel::builder()
            .keys(doc! { "customerId": 1, "placedAt": 1 })
            .options(
                IndexOptions::builder()
                    .name("customer_orders".to_owned())
                    .build(),
            )
            .build();
        self.collection.create_index(index).await?;
        Ok(())
    }

    /// Stores a placed order: one insert.
    pub async fn insert(&self, order: &Order) -> Result<()> {
        let document = OrderDocument {
            id: order.guid.clone(),
            placed_at: bson::DateTime::now(),
            order: order.clone(),
        };
        self.collection.insert_one(document).await?;
        Ok(())
    }

    /// A page of `customer_id`'s orders, oldest first.
    pub async fn of_customer(&self, customer_id: &str, paging: Paging) -> Result<Vec<Order>> {
        let documents: Vec<OrderDocument> = self
            .collection
            .find(doc! { "customerId": customer_id })
            .sort(doc! { "placedAt": 1, "_id": 1 })
            .skip(paging.offset)
            .limit(i64::from(paging.limit))
            .await?
            .try_collect()
            .await?;
        Ok(documents.into_iter().map(|d| d.order).collect())
    }

    /// The orders of each of `customer_ids`, oldest first, in one query.
    pub async fn of_customers(&self, customer_ids: &[&str]) -> Result<HashMap<String, Vec<Order>>> {
        let documents: Vec<OrderDocument> = self
            .collection
            .find(doc! { "customerId": { "$in": customer_ids } })
            .sort(doc! { "placedAt": 1, "_id": 1 })
            .await?
            .try_collect()
            .await?;
        let mut by_customer: HashMap<String, Vec<Order>> = HashMap::new();
        for document in documents {
            by_customer
                .entry(document.order.customer_id.clone())
                .or_default()
                .push(document.order);
        }
        Ok(by_customer)
    }

    /// Removes the shipping address from every order of `customer_ids`
    /// (erased customers): the orders stay, without personal data.
    pub async fn erase_addresses(&self, customer_ids: &[&str]) -> Result<()> {
        if customer_ids.is_empty() {
            return Ok(());
        }
        self.collection
            .update_many(
                doc! { "customerId": { "$in": customer_ids } },
                doc! { "$unset": { "shippingAddress": "" } },
            )
            .await?;
        Ok(())
    }

    /// One order of a customer.
    pub async fn get(&self, customer_id: &str, guid: &str) -> Result<Option<Order>> {
        let found = self
            .collection
            .find_one(doc! { "_id": guid, "customerId": customer_id })
            .await?;
        Ok(found.map(|d| d.order))
    }
}
