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
    #[schema(max_length = 200)]
    pub title: Option<String>,
    #[schema(
        min_length = 1,
        max_length = 200,
        pattern = r"[^\x00-\x20\x7f-\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff]"
    )]
    pub first_name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(max_length = 200)]
    pub middle_name: Option<String>,
    #[schema(
        min_length = 1,
        max_length = 200,
        pattern = r"[^\x00-\x20\x7f-\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff]"
    )]
    pub last_name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(max_length = 200)]
    pub suffix: Option<String>,
}

/// How to reach a customer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Contact {
    #[schema(max_length = 25, pattern = r"^\+?[ .()-]*([0-9][ .()-]*){7,15}$")]
    pub primary_phone: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(max_length = 25, pattern = r"^\+?[ .()-]*([0-9][ .()-]*){7,15}$")]
    pub secondary_phone: Option<String>,
    #[schema(
        max_length = 254,
        pattern = r"^[^@\x00-\x20\x7f]+@[^@.\x00-\x20\x7f]+(\.[^@.\x00-\x20\x7f]+)+$"
    )]
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
    #[schema(max_length = 200)]
    pub description: Option<String>,
    #[schema(
        min_length = 1,
        max_length = 200,
        pattern = r"[^\x00-\x20\x7f-\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff]"
    )]
    pub address1: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(max_length = 200)]
    pub address2: Option<String>,
    #[schema(
        min_length = 1,
        max_length = 200,
        pattern = r"[^\x00-\x20\x7f-\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff]"
    )]
    pub city: String,
    #[schema(
        min_length = 1,
        max_length = 200,
        pattern = r"[^\x00-\x20\x7f-\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff]"
    )]
    pub state: String,
    /// 3–10 letters, digits, spaces or dashes, starting and ending with a
    /// letter or digit.
    #[schema(pattern = r"^[A-Za-z0-9][A-Za-z0-9 -]{1,8}[A-Za-z0-9]$")]
    pub postal_code: String,
}
