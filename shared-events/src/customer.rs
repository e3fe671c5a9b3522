//! Customer value types shared by both services, with the seed's camelCase JSON
//! field names.
//!
//! These describe data that has already been accepted by the accounts service; the
//! accounts service's request parsing is where input is checked.

use serde::{Deserialize, Serialize};

/// A customer's name. `title`, `middleName` and `suffix` are optional.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Name {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    pub first_name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub middle_name: Option<String>,
    pub last_name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suffix: Option<String>,
}

/// How to reach a customer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Contact {
    pub primary_phone: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secondary_phone: Option<String>,
    pub email: String,
}

/// What an address is used for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum AddressType {
    Billing,
    Shipping,
    ShippingAlternate,
}

impl AddressType {
    /// The wire name (`BILLING`, `SHIPPING`, `SHIPPING_ALTERNATE`).
    pub fn as_str(self) -> &'static str {
        match self {
            AddressType::Billing => "BILLING",
            AddressType::Shipping => "SHIPPING",
            AddressType::ShippingAlternate => "SHIPPING_ALTERNATE",
        }
    }
}

/// A postal address of a customer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Address {
    #[serde(rename = "type")]
    pub address_type: AddressType,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub address1: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address2: Option<String>,
    pub city: String,
    pub state: String,
    pub postal_code: String,
}
