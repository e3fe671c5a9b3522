//! Orders: parsing a request into an order, exact decimal arithmetic, and the
//! shipping-address snapshot.
//!
//! Prices are exact decimals. They are accepted as a JSON string (`"19.99"`,
//! exact at any length) or a JSON number (exact up to 15 significant digits,
//! which is what a JSON number survives in most clients), with at most 4
//! decimal places, and are always returned as strings.

use chrono::{DateTime, Utc};
use platform_infra::FieldError;
use platform_infra::problem::FieldErrors;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use shared_events::fields::{OptionalText, RequiredText};
use shared_events::{Address, AddressType};

/// Most items in one order.
pub const MAX_ITEMS: usize = 100;
/// Largest quantity of one item.
pub const MAX_QUANTITY: u32 = 10_000;
/// Most decimal places of a price.
const MAX_PRICE_SCALE: u32 = 4;

/// An order as the client sends it.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schema(as = OrderRequest, example = json!({
    "orderItems": [
        {"product": {"guid": "p-100", "title": "Coffee beans", "description": "1 kg", "price": "19.99"}, "quantity": 2},
        {"product": {"guid": "p-200", "title": "Grinder", "price": 45.5}, "quantity": 1}
    ]
}))]
pub struct RawOrder {
    #[schema(min_items = 1, max_items = 100)]
    pub order_items: Vec<RawOrderItem>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schema(as = OrderItemRequest)]
pub struct RawOrderItem {
    pub product: RawProduct,
    /// 1 to 10 000.
    #[schema(value_type = i64, minimum = 1, maximum = 10000)]
    pub quantity: serde_json::Number,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schema(as = ProductRequest)]
pub struct RawProduct {
    #[schema(schema_with = RequiredText::schema)]
    pub guid: String,
    #[schema(schema_with = RequiredText::schema)]
    pub title: String,
    #[serde(default)]
    #[schema(schema_with = OptionalText::schema)]
    pub description: Option<String>,
    /// A decimal string such as `"19.99"` or a JSON number; ≥ 0, at most 4
    /// decimal places.
    #[schema(schema_with = price_schema)]
    pub price: PriceInput,
}

/// `price`: a decimal string, or a JSON number (which JSON Schema cannot limit
/// to 4 decimal places; more are refused with 422).
fn price_schema() -> utoipa::openapi::schema::Schema {
    use utoipa::openapi::schema::{ObjectBuilder, OneOfBuilder, Type};
    OneOfBuilder::new()
        .item(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .pattern(Some(r"^[0-9]{1,9}(\.[0-9]{1,4})?$"))
                .examples(["19.99"]),
        )
        .item(
            ObjectBuilder::new()
                .schema_type(Type::Number)
                .minimum(Some(0))
                .maximum(Some(1_000_000_000)),
        )
        .into()
}

/// A price as sent: a JSON number or a string.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum PriceInput {
    Number(serde_json::Number),
    Text(String),
}

/// What an order is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum OrderStatus {
    Created,
}

/// A product as ordered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Product {
    pub guid: String,
    pub title: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Exact decimal, as a string.
    #[schema(value_type = String, example = "19.99")]
    pub price: Decimal,
}

/// One line of an order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OrderItem {
    pub product: Product,
    pub quantity: u32,
}

/// A placed order, as stored and returned.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Order {
    /// Server-generated UUID.
    pub guid: String,
    pub customer_id: String,
    pub status: OrderStatus,
    /// RFC 3339.
    pub created_at: String,
    pub order_items: Vec<OrderItem>,
    /// Sum of price × quantity, exact, as a string.
    #[schema(value_type = String, example = "85.48")]
    pub total: Decimal,
    /// The customer's SHIPPING address when the order was placed (else BILLING,
    /// else any other address); later address changes do not alter it.
    /// Absent once the customer's personal data is erased.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shipping_address: Option<Address>,
}

/// Checked order lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderSubmission {
    pub items: Vec<OrderItem>,
}

fn parse_price(input: &PriceInput) -> Result<Decimal, &'static str> {
    const INVALID: &str = "must be a decimal number ≥ 0 with at most 4 decimal places, as a string like \"19.99\" or a JSON number";
    let text = match input {
        PriceInput::Number(n) => n.to_string(),
        PriceInput::Text(s) => s.clone(),
    };
    let simple = !text.is_empty()
        && text.chars().all(|c| c.is_ascii_digit() || c == '.')
        && text.chars().filter(|&c| c == '.').count() <= 1;
    let price: Decimal = simple.then(|| text.parse().ok()).flatten().ok_or(INVALID)?;
    if price.scale() > MAX_PRICE_SCALE || price > Decimal::from(1_000_000_000_u32) {
        return Err(INVALID);
    }
    Ok(price.normalize())
}

impl OrderSubmission {
    /// Checks every line and reports all problems at once.
    pub fn parse(raw: RawOrder) -> Result<Self, Vec<FieldError>> {
        let mut fields = FieldErrors::default();
        if raw.order_items.is_empty() {
            fields.push("orderItems", "at least one item is required");
        }
        if raw.order_items.len() > MAX_ITEMS {
            fields.push("orderItems", "at most 100 items are accepted");
        }
        let items: Vec<OrderItem> = raw
            .order_items
            .into_iter()
            .enumerate()
            .filter_map(|(i, item)| parse_item(&mut fields, &format!("orderItems[{i}]"), item))
            .collect();
        fields.into_result()?;
        Ok(OrderSubmission { items })
    }
}

/// One order line, its fields named under `at`.
fn parse_item(fields: &mut FieldErrors, at: &str, item: RawOrderItem) -> Option<OrderItem> {
    let product = item.product;
    let guid = fields.check(
        &format!("{at}.product.guid"),
        RequiredText::parse(&product.guid),
    );
    let title = fields.check(
        &format!("{at}.product.title"),
        RequiredText::parse(&product.title),
    );
    fields.check_optional(
        &format!("{at}.product.description"),
        product.description.as_deref(),
        OptionalText::parse,
    );
    let price = fields.check(&format!("{at}.product.price"), parse_price(&product.price));
    let quantity = fields.check(&format!("{at}.quantity"), parse_quantity(&item.quantity));
    Some(OrderItem {
        product: Product {
            guid: guid?.into_string(),
            title: title?.into_string(),
            description: product.description,
            price: price?,
        },
        quantity: quantity?,
    })
}

/// A quantity from 1 to [`MAX_QUANTITY`]; JSON Schema counts 3.0 as an
/// integer, so it is accepted as one.
fn parse_quantity(quantity: &serde_json::Number) -> Result<u32, &'static str> {
    let whole = quantity.as_i64().or_else(|| {
        quantity
            .as_f64()
            .filter(|f| f.fract() == 0.0 && f.abs() < 1.0e15)
            .map(|f| f as i64)
    });
    whole
        .and_then(|q| u32::try_from(q).ok())
        .filter(|q| (1..=MAX_QUANTITY).contains(q))
        .ok_or("must be an integer from 1 to 10000")
}

/// The address an order ships to: SHIPPING, else BILLING, else any other.
pub fn shipping_address(addresses: &[Address]) -> Option<&Address> {
    [AddressType::Shipping, AddressType::Billing]
        .iter()
        .find_map(|wanted| addresses.iter().find(|a| a.address_type == *wanted))
        .or_else(|| addresses.first())
}

impl Order {
    /// A new order for `customer_id`, shipping to `address`.
    pub fn place(
        customer_id: &str,
        submission: OrderSubmission,
        address: Address,
        now: DateTime<Utc>,
    ) -> Order {
        let total = submission
            .items
            .iter()
            .map(|i| i.product.price * Decimal::from(i.quantity))
            .sum::<Decimal>()
            .normalize();
        Order {
            guid: uuid::Uuid::new_v4().to_string(),
            customer_id: customer_id.to_owned(),
            status: OrderStatus::Created,
            created_at: now.to_rfc3339(),
            order_items: submission.items,
            total,
            shipping_address: Some(address),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(items: serde_json::Value) -> RawOrder {
        serde_json::from_value(serde_json::json!({ "orderItems": items })).expect("shape")
    }

    fn address(address_type: AddressType, city: &str) -> Address {
        Address {
            address_type,
            description: None,
            address1: "1 Main St".into(),
            address2: None,
            city: city.into(),
            state: "CA".into(),
            postal_code: "12345".into(),
        }
    }

    #[test]
    fn totals_are_exact_for_string_and_number_prices() {
        let submission = OrderSubmission::parse(raw(serde_json::json!([
            {"product": {"guid": "a", "title": "A", "price": "0.1"}, "quantity": 3},
            {"product": {"guid": "b", "title": "B", "price": 0.2}, "quantity": 1},
            {"product": {"guid": "c", "title": "C", "price": "19.99"}, "quantity": 1000}
        ])))
        .expect("valid");
        let order = Order::place(
            "c1",
            submission,
            address(AddressType::Billing, "X"),
            Utc::now(),
        );
        // 0.3 + 0.2 + 19990: no binary floating point residue.
        assert_eq!(order.total.to_string(), "19990.5");
        let json = serde_json::to_value(&order).expect("json");
        assert_eq!(json["total"], "19990.5");
        assert_eq!(json["orderItems"][1]["product"]["price"], "0.2");
    }

    #[test]
    fn every_bad_line_is_reported_with_its_field() {
        let errors = OrderSubmission::parse(raw(serde_json::json!([
            {"product": {"guid": "", "title": "A", "price": "-1"}, "quantity": 0},
            {"product": {"guid": "b", "title": "B", "price": "1.23456"}, "quantity": 20000},
            {"product": {"guid": "c", "title": "C", "price": "1e3"}, "quantity": 1}
        ])))
        .expect_err("invalid");
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "orderItems[0].product.guid",
                "orderItems[0].product.price",
                "orderItems[0].quantity",
                "orderItems[1].product.price",
                "orderItems[1].quantity",
                "orderItems[2].product.price"
            ]
        );
        assert!(OrderSubmission::parse(raw(serde_json::json!([]))).is_err());
    }

    #[test]
    fn ships_to_shipping_else_billing_else_any() {
        let both = [
            address(AddressType::Billing, "B"),
            address(AddressType::Shipping, "S"),
        ];
        assert_eq!(shipping_address(&both).map(|a| a.city.as_str()), Some("S"));
        let billing = [
            address(AddressType::ShippingAlternate, "A"),
            address(AddressType::Billing, "B"),
        ];
        assert_eq!(
            shipping_address(&billing).map(|a| a.city.as_str()),
            Some("B")
        );
        let other = [address(AddressType::ShippingAlternate, "A")];
        assert_eq!(shipping_address(&other).map(|a| a.city.as_str()), Some("A"));
        assert!(shipping_address(&[]).is_none());
    }
}
