//! Customer value types shared by both services, with the seed's camelCase JSON
//! field names.
//!
//! These describe data that has already been accepted by the accounts service; the
//! accounts service's request parsing is where input is checked, with the rules
//! of [`crate::fields`], whose schemas these types publish.

use serde::{Deserialize, Serialize};

use crate::fields::{Email, OptionalText, Phone, PostalCode, RequiredText};

/// A customer's name. `title`, `middleName` and `suffix` are optional.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Name {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(schema_with = OptionalText::schema)]
    pub title: Option<String>,
    #[schema(schema_with = RequiredText::schema)]
    pub first_name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(schema_with = OptionalText::schema)]
    pub middle_name: Option<String>,
    #[schema(schema_with = RequiredText::schema)]
    pub last_name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(schema_with = OptionalText::schema)]
    pub suffix: Option<String>,
}

/// How to reach a customer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Contact {
    #[schema(schema_with = Phone::schema)]
    pub primary_phone: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(schema_with = Phone::optional_schema)]
    pub secondary_phone: Option<String>,
    #[schema(schema_with = Email::schema)]
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
    #[schema(schema_with = OptionalText::schema)]
    pub description: Option<String>,
    #[schema(schema_with = RequiredText::schema)]
    pub address1: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(schema_with = OptionalText::schema)]
    pub address2: Option<String>,
    #[schema(schema_with = RequiredText::schema)]
    pub city: String,
    #[schema(schema_with = RequiredText::schema)]
    pub state: String,
    #[schema(schema_with = PostalCode::schema)]
    pub postal_code: String,
}
