//! The checked-in contract documents match the types, and the schema refuses
//! what the decoder refuses (the golden samples are checked against it, and
//! every release, in `compatibility.rs`).

use platform_testkit::assert_file_in_sync;
use serde_json::Value;
use shared_events::contract::{self, ASYNCAPI_FILE};
use shared_events::{samples, topics};

#[test]
fn json_schema_files_match_the_types() {
    for subject in contract::SUBJECTS {
        assert_file_in_sync(&format!("contract/{}", subject.file), &(subject.schema)());
    }
}

#[test]
fn asyncapi_file_matches_the_types() {
    assert_file_in_sync(&format!("contract/{ASYNCAPI_FILE}"), &contract::asyncapi());
}

fn validator() -> jsonschema::Validator {
    jsonschema::validator_for(&contract::json_schema()).expect("the schema is valid JSON Schema")
}

#[test]
fn schema_rejects_what_the_decoder_rejects() {
    let validator = validator();
    let valid: Value = serde_json::from_str(samples::CUSTOMER_CREATED).expect("JSON");
    let broken = [
        ("/type", Value::from("accounts.customer.exploded.v1")),
        ("/specversion", Value::from("0.3")),
        ("/data/version", Value::from("one")),
        ("/data/version", Value::from(0)),
    ];
    for (pointer, replacement) in broken {
        let mut event = valid.clone();
        *event.pointer_mut(pointer).expect("field exists") = replacement;
        assert!(!validator.is_valid(&event), "{pointer} accepted");
    }
    let mut no_name = valid.clone();
    no_name["data"]
        .as_object_mut()
        .expect("data")
        .remove("name");
    assert!(!validator.is_valid(&no_name), "missing data.name accepted");
}

#[test]
fn schema_accepts_unknown_fields_and_an_unknown_address_type() {
    let validator = validator();
    let mut event: Value = serde_json::from_str(samples::CUSTOMER_CREATED).expect("JSON");
    event["data"]["addresses"][0]["type"] = "HOME".into();
    event["data"]["loyaltyTier"] = "gold".into();
    event["data"]["name"]["nickname"] = "Jo".into();
    let errors: Vec<String> = validator
        .iter_errors(&event)
        .map(|e| e.to_string())
        .collect();
    assert!(errors.is_empty(), "{errors:?}");
}

#[test]
fn asyncapi_names_the_topics_and_every_event_type() {
    let doc = contract::asyncapi();
    assert_eq!(doc["asyncapi"], "3.0.0");
    assert_eq!(
        doc["channels"]["customerChange"]["address"],
        topics::CUSTOMER_CHANGE
    );
    assert_eq!(
        doc["channels"]["customerChangeDeadLetters"]["address"],
        topics::CUSTOMER_CHANGE_DLT
    );
    let names: Vec<&str> = doc["components"]["messages"]
        .as_object()
        .expect("messages")
        .values()
        .filter_map(|m| m["name"].as_str())
        .collect();
    for change in shared_events::CustomerChangeType::ALL {
        assert!(names.contains(&change.as_str()), "{names:?}");
    }
    for change in shared_events::SealedChangeType::ALL {
        assert!(names.contains(&change.as_str()), "{names:?}");
    }
    assert_eq!(
        doc["channels"]["customerKeys"]["address"],
        topics::CUSTOMER_KEYS
    );
    assert_eq!(
        doc["channels"]["customerState"]["address"],
        topics::CUSTOMER_STATE
    );
}
