//! The golden files under `samples/` are the wire contract: each must decode, and
//! encoding the decoded event must give back the same JSON.

use shared_events::{AddressType, CustomerChangeEnvelope, CustomerChangeType, DecodeError};

fn sample(name: &str) -> Vec<u8> {
    // The run-time value: a test binary reused from a shared target directory
    // may have been compiled in another checkout of the workspace.
    let root =
        std::env::var("CARGO_MANIFEST_DIR").unwrap_or_else(|_| env!("CARGO_MANIFEST_DIR").into());
    let path = format!("{root}/samples/{name}");
    std::fs::read(&path).unwrap_or_else(|e| panic!("read {path}: {e}"))
}

fn assert_round_trips(name: &str) -> CustomerChangeEnvelope {
    let bytes = sample(name);
    let event = CustomerChangeEnvelope::decode(&bytes).expect("golden sample decodes");
    let original: serde_json::Value = serde_json::from_slice(&bytes).expect("sample is JSON");
    let encoded: serde_json::Value =
        serde_json::from_slice(&event.to_json_vec()).expect("encoding is JSON");
    assert_eq!(encoded, original, "{name} does not round-trip");
    event
}

#[test]
fn created_sample_round_trips_and_names_the_created_type() {
    let event = assert_round_trips("customer-created.json");
    assert_eq!(event.event_type, CustomerChangeType::Created);
    assert_eq!(event.subject, "123456");
    assert_eq!(event.data.version, 1);
    assert_eq!(event.data.addresses.len(), 2);
    assert_eq!(event.data.addresses[1].address_type, AddressType::Shipping);
}

#[test]
fn updated_sample_with_optional_fields_absent_round_trips() {
    let event = assert_round_trips("customer-updated.json");
    assert_eq!(event.event_type, CustomerChangeType::Updated);
    assert_eq!(event.data.name.middle_name, None);
    assert_eq!(
        event.data.addresses[0].address_type,
        AddressType::ShippingAlternate
    );
}

#[test]
fn samples_carry_no_card_data() {
    for name in ["customer-created.json", "customer-updated.json"] {
        let text = String::from_utf8(sample(name)).expect("utf-8");
        assert!(!text.contains("creditCards"), "{name} mentions creditCards");
        assert!(!text.contains("1234-6789"), "{name} holds a card number");
    }
}

fn mutated(edit: impl FnOnce(&mut serde_json::Value)) -> Vec<u8> {
    let mut value: serde_json::Value =
        serde_json::from_slice(&sample("customer-created.json")).expect("json");
    edit(&mut value);
    serde_json::to_vec(&value).expect("json")
}

#[test]
fn decode_keeps_an_unknown_address_type_and_ignores_unknown_fields() {
    let bytes = mutated(|v| {
        v["data"]["addresses"][0]["type"] = "HOME".into();
        v["data"]["loyaltyTier"] = "gold".into();
        v["data"]["contact"]["fax"] = "+1 555 0100".into();
        v["extension"] = "x".into();
    });
    let event = CustomerChangeEnvelope::decode(&bytes).expect("a tolerant reader decodes it");
    assert_eq!(
        event.data.addresses[0].address_type,
        AddressType::Unrecognized("HOME".into())
    );
    assert!(!event.data.addresses[0].address_type.is_known());
    // Written back as received.
    let encoded: serde_json::Value = serde_json::from_slice(&event.to_json_vec()).expect("json");
    assert_eq!(encoded["data"]["addresses"][0]["type"], "HOME");
    assert!(encoded["data"].get("loyaltyTier").is_none());
}

#[test]
fn decode_rejects_unknown_type() {
    let bytes = mutated(|v| v["type"] = "accounts.customer.renamed".into());
    assert!(matches!(
        CustomerChangeEnvelope::decode(&bytes),
        Err(DecodeError::UnknownType(_))
    ));
}

#[test]
fn decode_rejects_version_zero_and_subject_mismatch() {
    let zero = mutated(|v| v["data"]["version"] = 0.into());
    assert!(matches!(
        CustomerChangeEnvelope::decode(&zero),
        Err(DecodeError::Invalid(_))
    ));
    let other = mutated(|v| v["subject"] = "999".into());
    assert!(matches!(
        CustomerChangeEnvelope::decode(&other),
        Err(DecodeError::Invalid(_))
    ));
}

#[test]
fn decode_rejects_garbage_empty_and_missing_fields() {
    assert!(matches!(
        CustomerChangeEnvelope::decode(b""),
        Err(DecodeError::Empty)
    ));
    assert!(matches!(
        CustomerChangeEnvelope::decode(b"{not json"),
        Err(DecodeError::Malformed(_))
    ));
    let no_id = mutated(|v| {
        v["data"].as_object_mut().expect("object").remove("id");
    });
    assert!(matches!(
        CustomerChangeEnvelope::decode(&no_id),
        Err(DecodeError::Malformed(_))
    ));
    let old_spec = mutated(|v| v["specversion"] = "0.3".into());
    assert!(matches!(
        CustomerChangeEnvelope::decode(&old_spec),
        Err(DecodeError::SpecVersion(_))
    ));
}
