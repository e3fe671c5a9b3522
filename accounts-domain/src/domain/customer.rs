//! The customer aggregate: what a submission must contain, and how a change is
//! versioned and announced.

use chrono::{DateTime, Utc};
use platform_infra::FieldError;
use platform_infra::problem::FieldErrors;
use serde::Deserialize;
use shared_events::{
    Address, Contact, CustomerChangeEnvelope, CustomerChangeEvent, CustomerChangeType, Name,
};

use super::card::{MaskedCard, RawCard};
use shared_events::fields::{CustomerId, Email, OptionalText, Phone, PostalCode, RequiredText};

/// Most addresses, and most cards, one customer may have.
const MAX_ADDRESSES: usize = 10;
const MAX_CARDS: usize = 10;

/// A customer as the client sends it (the seed's body). `id` may be a JSON
/// number or string. No `Debug`, because it holds full card numbers.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = CustomerRequest, example = crate::examples::seed_customer)]
pub struct RawCustomer {
    /// A JSON string or non-negative integer; stored and returned as a string.
    #[serde(deserialize_with = "id_from_number_or_string")]
    #[schema(schema_with = id_schema)]
    pub id: String,
    pub name: Name,
    pub contact: Contact,
    #[schema(min_items = 1, max_items = 10)]
    pub addresses: Vec<Address>,
    #[serde(default)]
    #[schema(max_items = 10)]
    pub credit_cards: Vec<RawCard>,
}

/// Largest `id` accepted as a JSON number: the largest integer every JSON
/// parser represents exactly (2^53 − 1).
const MAX_NUMERIC_ID: u64 = 9_007_199_254_740_991;

/// `id`: a string of 1–64 of `A–Z a–z 0–9 . _ : -`, or a non-negative integer.
fn id_schema() -> utoipa::openapi::schema::Schema {
    use utoipa::openapi::schema::{ObjectBuilder, OneOfBuilder, Type};
    OneOfBuilder::new()
        .item(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .pattern(Some(CustomerId::pattern()))
                .examples(["123456"]),
        )
        .item(
            ObjectBuilder::new()
                .schema_type(Type::Integer)
                .minimum(Some(0))
                .maximum(Some(MAX_NUMERIC_ID as f64)),
        )
        .into()
}

fn id_from_number_or_string<'de, D: serde::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    struct IdVisitor;
    impl serde::de::Visitor<'_> for IdVisitor {
        type Value = String;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("a string or a non-negative integer")
        }
        fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<String, E> {
            if v > MAX_NUMERIC_ID {
                return Err(E::custom(
                    "invalid value, expected an integer up to 9007199254740991 (send larger ids as strings)",
                ));
            }
            Ok(v.to_string())
        }
        fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<String, E> {
            let v = u64::try_from(v)
                .map_err(|_| E::custom("invalid value, expected a non-negative integer"))?;
            self.visit_u64(v)
        }
        fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<String, E> {
            // JSON Schema counts 7.0 as an integer.
            if v.fract() == 0.0 && (0.0..=MAX_NUMERIC_ID as f64).contains(&v) {
                Ok(format!("{v:.0}"))
            } else {
                Err(E::custom("invalid value, expected a non-negative integer"))
            }
        }
        fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<String, E> {
            Ok(v.to_owned())
        }
    }
    d.deserialize_any(IdVisitor)
}

/// The part of a customer that a change replaces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CustomerProfile {
    pub name: Name,
    pub contact: Contact,
    pub addresses: Vec<Address>,
    pub credit_cards: Vec<MaskedCard>,
}

/// A checked create-or-update request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CustomerSubmission {
    pub id: CustomerId,
    pub profile: CustomerProfile,
}

/// A stored customer at a version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Customer {
    pub id: CustomerId,
    /// 1 on creation, +1 per change.
    pub version: i64,
    pub profile: CustomerProfile,
}

/// What an upsert did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeOutcome {
    Created,
    Updated,
    /// The submission equals the stored state: no new version, no event.
    Unchanged,
}

impl CustomerSubmission {
    /// Checks every field and reports all problems at once, each named by its
    /// path in the request.
    pub fn parse(raw: RawCustomer) -> Result<Self, Vec<FieldError>> {
        let mut fields = FieldErrors::default();
        let id = fields.check("id", CustomerId::parse(&raw.id));
        check_name(&mut fields, &raw.name);
        check_contact(&mut fields, &raw.contact);
        check_addresses(&mut fields, &raw.addresses);
        if raw.credit_cards.len() > MAX_CARDS {
            fields.push("creditCards", "at most 10 credit cards are accepted");
        }
        let mut credit_cards = Vec::with_capacity(raw.credit_cards.len());
        for (i, card) in raw.credit_cards.into_iter().enumerate() {
            match MaskedCard::from_raw(card, &format!("creditCards[{i}]")) {
                Ok(masked) => credit_cards.push(masked),
                Err(card_errors) => fields.extend(card_errors),
            }
        }
        fields.into_result()?;
        Ok(CustomerSubmission {
            id: id.ok_or_else(Vec::new)?,
            profile: CustomerProfile {
                name: raw.name,
                contact: raw.contact,
                addresses: raw.addresses,
                credit_cards,
            },
        })
    }
}

fn check_name(fields: &mut FieldErrors, name: &Name) {
    fields.check("name.firstName", RequiredText::parse(&name.first_name));
    fields.check("name.lastName", RequiredText::parse(&name.last_name));
    fields.check_optional("name.title", name.title.as_deref(), OptionalText::parse);
    fields.check_optional(
        "name.middleName",
        name.middle_name.as_deref(),
        OptionalText::parse,
    );
    fields.check_optional("name.suffix", name.suffix.as_deref(), OptionalText::parse);
}

fn check_contact(fields: &mut FieldErrors, contact: &Contact) {
    fields.check("contact.primaryPhone", Phone::parse(&contact.primary_phone));
    fields.check_optional(
        "contact.secondaryPhone",
        contact.secondary_phone.as_deref(),
        Phone::parse,
    );
    fields.check("contact.email", Email::parse(&contact.email));
}

fn check_addresses(fields: &mut FieldErrors, addresses: &[Address]) {
    if addresses.is_empty() {
        fields.push("addresses", "at least one address is required");
    }
    if addresses.len() > MAX_ADDRESSES {
        fields.push("addresses", "at most 10 addresses are accepted");
    }
    for (i, a) in addresses.iter().enumerate() {
        let field = |f: &str| format!("addresses[{i}].{f}");
        if !a.address_type.is_known() {
            // The shared type keeps unknown values for readers of newer
            // events; a producer writes only the known ones.
            fields.push(
                &field("type"),
                "must be one of BILLING, SHIPPING, SHIPPING_ALTERNATE",
            );
        }
        fields.check(&field("address1"), RequiredText::parse(&a.address1));
        fields.check_optional(
            &field("address2"),
            a.address2.as_deref(),
            OptionalText::parse,
        );
        fields.check_optional(
            &field("description"),
            a.description.as_deref(),
            OptionalText::parse,
        );
        fields.check(&field("city"), RequiredText::parse(&a.city));
        fields.check(&field("state"), RequiredText::parse(&a.state));
        fields.check(&field("postalCode"), PostalCode::parse(&a.postal_code));
    }
}

impl Customer {
    /// The first version of a newly submitted customer.
    pub fn create(submission: CustomerSubmission) -> Customer {
        Customer {
            id: submission.id,
            version: 1,
            profile: submission.profile,
        }
    }

    /// Applies a submission to the stored customer. `Unchanged` keeps the
    /// version; anything else increments it by exactly one.
    pub fn change(&self, profile: CustomerProfile) -> (Customer, ChangeOutcome) {
        if profile == self.profile {
            return (self.clone(), ChangeOutcome::Unchanged);
        }
        let next = Customer {
            id: self.id.clone(),
            version: self.version + 1,
            profile,
        };
        (next, ChangeOutcome::Updated)
    }

    /// The version after `version` of customer `id`, with `profile`: a
    /// customer created again after it was deleted or erased.
    pub fn next_of(id: &CustomerId, version: i64, profile: CustomerProfile) -> Customer {
        Customer {
            id: id.clone(),
            version: version + 1,
            profile,
        }
    }

    /// The next version of this customer with `profile`, whatever changed:
    /// for creating a deleted customer again and for deleting one.
    pub fn succeeded_by(&self, profile: CustomerProfile) -> Customer {
        Customer {
            id: self.id.clone(),
            version: self.version + 1,
            profile,
        }
    }

    /// The event announcing this version: replicated fields only, no cards.
    pub fn change_event(
        &self,
        change_type: CustomerChangeType,
        time: DateTime<Utc>,
    ) -> CustomerChangeEnvelope {
        let data = CustomerChangeEvent {
            id: self.id.as_str().to_owned(),
            version: self.version,
            name: self.profile.name.clone(),
            contact: self.profile.contact.clone(),
            addresses: self.profile.addresses.clone(),
        };
        CustomerChangeEnvelope::customer_change(change_type, data, time)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use platform_testkit::SEED_CUSTOMER_JSON as SEED_BODY;

    fn seed() -> CustomerSubmission {
        let raw: RawCustomer = serde_json::from_str(SEED_BODY).expect("seed body parses");
        CustomerSubmission::parse(raw).unwrap_or_else(|e| panic!("seed body invalid: {e:?}"))
    }

    #[test]
    fn seed_body_parses_with_numeric_id_as_string_and_masked_cards() {
        let s = seed();
        assert_eq!(s.id.as_str(), "123456");
        assert_eq!(s.profile.addresses.len(), 2);
        let last4: Vec<_> = s
            .profile
            .credit_cards
            .iter()
            .map(|c| c.last4.as_str())
            .collect();
        assert_eq!(last4, ["0000", "6666"]);
    }

    #[test]
    fn every_invalid_field_is_reported() {
        let mut value: serde_json::Value = serde_json::from_str(SEED_BODY).expect("json");
        value["id"] = "bad id".into();
        value["name"]["firstName"] = " ".into();
        value["contact"]["email"] = "nobody".into();
        value["addresses"][1]["postalCode"] = "".into();
        let raw: RawCustomer = serde_json::from_value(value).expect("shape ok");
        let errors = CustomerSubmission::parse(raw).expect_err("invalid");
        let fields: Vec<_> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "id",
                "name.firstName",
                "contact.email",
                "addresses[1].postalCode"
            ]
        );
    }

    #[test]
    fn no_addresses_is_rejected() {
        let mut value: serde_json::Value = serde_json::from_str(SEED_BODY).expect("json");
        value["addresses"] = serde_json::json!([]);
        let raw: RawCustomer = serde_json::from_value(value).expect("shape ok");
        let errors = CustomerSubmission::parse(raw).expect_err("invalid");
        assert_eq!(errors[0].field, "addresses");
    }

    #[test]
    fn negative_numeric_id_is_rejected_by_the_parser() {
        let mut value: serde_json::Value = serde_json::from_str(SEED_BODY).expect("json");
        value["id"] = (-5).into();
        assert!(serde_json::from_value::<RawCustomer>(value).is_err());
    }

    #[test]
    fn version_starts_at_one_and_grows_by_one_per_real_change() {
        let v1 = Customer::create(seed());
        assert_eq!(v1.version, 1);
        let (same, outcome) = v1.change(v1.profile.clone());
        assert_eq!((same.version, outcome), (1, ChangeOutcome::Unchanged));
        let mut profile = v1.profile.clone();
        profile.name.last_name = "Smith".into();
        let (v2, outcome) = v1.change(profile);
        assert_eq!((v2.version, outcome), (2, ChangeOutcome::Updated));
    }

    #[test]
    fn change_event_carries_replicated_fields_and_no_card_data() {
        let v1 = Customer::create(seed());
        let event = v1.change_event(CustomerChangeType::Created, Utc::now());
        assert_eq!(event.subject, "123456");
        assert_eq!(event.data.version, 1);
        assert_eq!(event.data.addresses.len(), 2);
        let json = String::from_utf8(event.to_json_vec()).expect("utf-8");
        assert!(
            !json.contains("0000-0000") && !json.contains("creditCards"),
            "{json}"
        );
    }
}
