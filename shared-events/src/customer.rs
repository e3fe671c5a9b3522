//! Customer value types shared by both services, with the seed's camelCase JSON
//! field names.
//!
//! These describe data that has already been accepted by the accounts service; the
//! accounts service's request parsing is where input is checked, with the rules
//! of [`crate::fields`], whose schemas these types publish.

use serde::{Deserialize, Serialize};

use utoipa::openapi::RefOr;
use utoipa::openapi::extensions::ExtensionsBuilder;
use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};

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
///
/// A tolerant reader's enum: a value this build does not know, from a newer
/// producer, is kept verbatim as [`AddressType::Unrecognized`] (and written
/// back as received) instead of failing the whole event. Input parsing in
/// accounts refuses it; the event contract marks the list as extensible
/// (`x-extensible-enum`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(from = "String", into = "String")]
pub enum AddressType {
    Billing,
    Shipping,
    ShippingAlternate,
    /// A value outside [`AddressType::KNOWN`], as received.
    Unrecognized(String),
}

impl AddressType {
    /// Every value this build knows, in wire form.
    pub const KNOWN: [&'static str; 3] = ["BILLING", "SHIPPING", "SHIPPING_ALTERNATE"];

    /// The wire name (`BILLING`, `SHIPPING`, `SHIPPING_ALTERNATE`, or the
    /// unrecognized value).
    pub fn as_str(&self) -> &str {
        match self {
            AddressType::Billing => "BILLING",
            AddressType::Shipping => "SHIPPING",
            AddressType::ShippingAlternate => "SHIPPING_ALTERNATE",
            AddressType::Unrecognized(value) => value,
        }
    }

    /// Whether the value is one of [`AddressType::KNOWN`].
    pub fn is_known(&self) -> bool {
        !matches!(self, AddressType::Unrecognized(_))
    }

    /// The schema of a reader that keeps unknown values: a string, with the
    /// known values listed as `x-extensible-enum` (an annotation, so a
    /// schema validator accepts any string, as the reader does).
    pub fn extensible_schema() -> Schema {
        let mut schema = ObjectBuilder::new()
            .schema_type(Type::String)
            .description(Some(
                "What the address is used for. The listed values are the ones known today; \
                 readers keep any other value as received.",
            ))
            .build();
        schema.extensions = Some(
            ExtensionsBuilder::new()
                .add("x-extensible-enum", AddressType::KNOWN.to_vec())
                .build(),
        );
        Schema::Object(schema)
    }
}

impl From<String> for AddressType {
    fn from(value: String) -> Self {
        match value.as_str() {
            "BILLING" => AddressType::Billing,
            "SHIPPING" => AddressType::Shipping,
            "SHIPPING_ALTERNATE" => AddressType::ShippingAlternate,
            _ => AddressType::Unrecognized(value),
        }
    }
}

impl From<AddressType> for String {
    fn from(value: AddressType) -> Self {
        match value {
            AddressType::Unrecognized(value) => value,
            known => known.as_str().to_owned(),
        }
    }
}

/// The strict schema, of what a producer may write: one of
/// [`AddressType::KNOWN`].
impl utoipa::PartialSchema for AddressType {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .description(Some("What an address is used for."))
            .enum_values(Some(AddressType::KNOWN))
            .into()
    }
}

impl utoipa::ToSchema for AddressType {}

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
