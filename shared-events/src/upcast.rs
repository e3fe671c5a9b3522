//! The upcaster: every record of the change topic, whichever contract version
//! wrote it, read as one [`CustomerChange`].
//!
//! The topic keeps every record forever, so a replay meets version 1
//! (plaintext) and version 2 (sealed) records side by side, and readers take
//! both through [`CustomerRecord::decode`] and [`CustomerRecord::upcast`].
//! A sealed record whose data key is gone (the customer was erased) upcasts
//! to a change without personal data, exactly like the erasure event itself.

use chrono::{DateTime, Utc};
use serde::Deserialize;
use uuid::Uuid;

use crate::crypto::DataKey;
use crate::envelope::DecodeError;
use crate::event::{CustomerChangeEnvelope, CustomerChangeType};
use crate::sealed::{PersonalData, SealedChangeEnvelope, SealedChangeType};

/// What a change did to the customer, whatever the contract version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeKind {
    Created,
    Updated,
    Deleted,
    /// The personal data was erased.
    Erased,
}

/// A change as readers work with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CustomerChange {
    pub id: String,
    pub version: i64,
    pub kind: ChangeKind,
    /// The CloudEvents id.
    pub event_id: Uuid,
    pub time: DateTime<Utc>,
    /// `None` once erased: in the erasure event, and in any sealed event
    /// whose data key is gone.
    pub personal: Option<PersonalData>,
}

/// A record of the change topic, decoded by the contract version of its type.
#[derive(Debug, Clone, PartialEq)]
pub enum CustomerRecord {
    /// `accounts.customer.*.v1`: plaintext.
    V1(CustomerChangeEnvelope),
    /// `accounts.customer.*.v2` and `accounts.customer.erased.v1`: sealed.
    V2(SealedChangeEnvelope),
}

/// A CloudEvents type of either contract version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, Deserialize, utoipa::ToSchema)]
#[serde(untagged)]
pub enum CustomerEventType {
    V1(CustomerChangeType),
    V2(SealedChangeType),
}

impl CustomerEventType {
    pub fn as_str(self) -> &'static str {
        match self {
            CustomerEventType::V1(t) => t.as_str(),
            CustomerEventType::V2(t) => t.as_str(),
        }
    }
}

/// Just the `type` attribute, to pick the contract.
#[derive(Deserialize)]
struct TypeOnly {
    #[serde(rename = "type")]
    event_type: String,
}

impl CustomerRecord {
    /// Decodes a record value of either contract version. A type of neither
    /// is [`DecodeError::UnknownType`].
    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        if bytes.is_empty() {
            return Err(DecodeError::Empty);
        }
        let TypeOnly { event_type } = serde_json::from_slice(bytes)?;
        if CustomerChangeType::parse(&event_type).is_some() {
            return CustomerChangeEnvelope::decode(bytes).map(CustomerRecord::V1);
        }
        if SealedChangeType::parse(&event_type).is_some() {
            return SealedChangeEnvelope::decode(bytes).map(CustomerRecord::V2);
        }
        Err(DecodeError::UnknownType(event_type))
    }

    pub fn customer_id(&self) -> &str {
        match self {
            CustomerRecord::V1(e) => &e.data.id,
            CustomerRecord::V2(e) => &e.data.id,
        }
    }

    pub fn version(&self) -> i64 {
        match self {
            CustomerRecord::V1(e) => e.data.version,
            CustomerRecord::V2(e) => e.data.version,
        }
    }

    pub fn event_type(&self) -> CustomerEventType {
        match self {
            CustomerRecord::V1(e) => CustomerEventType::V1(e.event_type),
            CustomerRecord::V2(e) => CustomerEventType::V2(e.event_type),
        }
    }

    /// The CloudEvents id.
    pub fn event_id(&self) -> Uuid {
        match self {
            CustomerRecord::V1(e) => e.id,
            CustomerRecord::V2(e) => e.id,
        }
    }

    pub fn time(&self) -> DateTime<Utc> {
        match self {
            CustomerRecord::V1(e) => e.time,
            CustomerRecord::V2(e) => e.time,
        }
    }

    /// The id of the data key this record's personal data is sealed with;
    /// `None` for plaintext records and the erasure event.
    pub fn key_id(&self) -> Option<&str> {
        match self {
            CustomerRecord::V2(e) => e.data.personal.as_ref().map(|s| s.key_id.as_str()),
            CustomerRecord::V1(_) => None,
        }
    }

    /// The change this record announces. `key` is the customer's data key
    /// with the id [`CustomerRecord::key_id`] names, or `None` if the reader
    /// has none (it was erased): the change then carries no personal data.
    /// A key that does not open the record is an error: the record was
    /// tampered with, or sealed for another customer or version.
    pub fn upcast(self, key: Option<&DataKey>) -> Result<CustomerChange, DecodeError> {
        match self {
            CustomerRecord::V1(e) => Ok(CustomerChange {
                kind: match e.event_type {
                    CustomerChangeType::Created => ChangeKind::Created,
                    CustomerChangeType::Updated => ChangeKind::Updated,
                    CustomerChangeType::Deleted => ChangeKind::Deleted,
                },
                event_id: e.id,
                time: e.time,
                personal: Some(PersonalData {
                    name: e.data.name,
                    contact: e.data.contact,
                    addresses: e.data.addresses,
                }),
                id: e.data.id,
                version: e.data.version,
            }),
            CustomerRecord::V2(e) => {
                let personal = match key {
                    Some(key) => e.open(key)?,
                    None => None,
                };
                Ok(CustomerChange {
                    kind: match e.event_type {
                        SealedChangeType::Created => ChangeKind::Created,
                        SealedChangeType::Updated => ChangeKind::Updated,
                        SealedChangeType::Deleted => ChangeKind::Deleted,
                        SealedChangeType::Erased => ChangeKind::Erased,
                    },
                    event_id: e.id,
                    time: e.time,
                    personal,
                    id: e.data.id,
                    version: e.data.version,
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::samples;

    fn v1() -> CustomerChangeEnvelope {
        CustomerChangeEnvelope::decode(samples::CUSTOMER_CREATED.as_bytes()).expect("sample")
    }

    #[test]
    fn a_plaintext_and_a_sealed_record_of_the_same_change_upcast_alike() {
        let key = DataKey::generate().expect("random");
        let plain = v1();
        let sealed = SealedChangeEnvelope::seal(&plain, &key).expect("sealed");
        let bytes = sealed.to_json_vec();
        let text = String::from_utf8_lossy(&bytes);
        assert!(text.contains("accounts.customer.created.v2"), "{text}");
        assert!(!text.contains(&plain.data.contact.email), "{text}");
        assert!(!text.contains(&plain.data.name.first_name), "{text}");

        let from_v1 = CustomerRecord::decode(&plain.to_json_vec())
            .expect("v1")
            .upcast(None)
            .expect("v1");
        let record = CustomerRecord::decode(&bytes).expect("v2");
        assert_eq!(record.key_id(), Some(key.id()));
        let from_v2 = record.upcast(Some(&key)).expect("opens");
        assert_eq!(from_v1, from_v2);
        assert_eq!(from_v2.kind, ChangeKind::Created);
    }

    #[test]
    fn a_sealed_record_without_its_key_upcasts_without_personal_data() {
        let key = DataKey::generate().expect("random");
        let sealed = SealedChangeEnvelope::seal(&v1(), &key).expect("sealed");
        let change = CustomerRecord::decode(&sealed.to_json_vec())
            .expect("v2")
            .upcast(None)
            .expect("upcasts");
        assert_eq!((change.personal, change.version), (None, 1));
        let other = DataKey::generate().expect("random");
        let wrong = CustomerRecord::decode(&sealed.to_json_vec())
            .expect("v2")
            .upcast(Some(&other));
        assert!(matches!(wrong, Err(DecodeError::Invalid(_))), "{wrong:?}");
    }

    #[test]
    fn a_sealed_record_moved_to_another_version_does_not_open() {
        let key = DataKey::generate().expect("random");
        let mut sealed = SealedChangeEnvelope::seal(&v1(), &key).expect("sealed");
        sealed.data.version = 2;
        let moved = CustomerRecord::decode(&sealed.to_json_vec())
            .expect("v2")
            .upcast(Some(&key));
        assert!(matches!(moved, Err(DecodeError::Invalid(_))), "{moved:?}");
    }

    #[test]
    fn the_erasure_event_carries_no_personal_data_and_must_not() {
        let erased = SealedChangeEnvelope::erased("123456", 4, Utc::now());
        let bytes = erased.to_json_vec();
        let change = CustomerRecord::decode(&bytes)
            .expect("decodes")
            .upcast(None)
            .expect("upcasts");
        assert_eq!(
            (change.kind, change.personal, change.version),
            (ChangeKind::Erased, None, 4)
        );
        let mut value: serde_json::Value = serde_json::from_slice(&bytes).expect("json");
        value["type"] = "accounts.customer.updated.v2".into();
        let missing = CustomerRecord::decode(value.to_string().as_bytes());
        assert!(
            matches!(missing, Err(DecodeError::Invalid(_))),
            "{missing:?}"
        );
    }

    #[test]
    fn a_type_of_neither_contract_is_unknown() {
        let mut value: serde_json::Value =
            serde_json::from_str(samples::CUSTOMER_CREATED).expect("json");
        value["type"] = "accounts.customer.created.v3".into();
        assert!(matches!(
            CustomerRecord::decode(value.to_string().as_bytes()),
            Err(DecodeError::UnknownType(t)) if t == "accounts.customer.created.v3"
        ));
        assert!(matches!(
            CustomerRecord::decode(b"{oops"),
            Err(DecodeError::Malformed(_))
        ));
        assert!(matches!(
            CustomerRecord::decode(b""),
            Err(DecodeError::Empty)
        ));
    }
}
