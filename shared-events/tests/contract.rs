//! The checked-in contract documents match the types, and the golden samples
//! are valid against the schema (and invalid ones are not).

use std::path::PathBuf;

use serde_json::Value;
use shared_events::contract::{self, ASYNCAPI_FILE, SCHEMA_FILE};
use shared_events::{samples, topics};

fn contract_dir() -> PathBuf {
    let root =
        std::env::var("CARGO_MANIFEST_DIR").unwrap_or_else(|_| env!("CARGO_MANIFEST_DIR").into());
    PathBuf::from(root).join("contract")
}

/// Compares the generated document with the checked-in file, or rewrites the
/// file when `UPDATE_CONTRACT=1`.
fn assert_in_sync(file: &str, generated: &Value) {
    let path = contract_dir().join(file);
    let text = format!(
        "{}\n",
        serde_json::to_string_pretty(generated).expect("JSON")
    );
    if std::env::var_os("UPDATE_CONTRACT").is_some() {
        std::fs::create_dir_all(contract_dir()).expect("contract dir");
        std::fs::write(&path, &text).expect("write contract file");
        return;
    }
    let stored =
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    assert!(
        stored == text,
        "{} is out of date with the shared-events types; regenerate it with \
         `UPDATE_CONTRACT=1 cargo test -p shared-events --test contract`",
        path.display()
    );
}

#[test]
fn json_schema_file_matches_the_types() {
    assert_in_sync(SCHEMA_FILE, &contract::json_schema());
}

#[test]
fn asyncapi_file_matches_the_types() {
    assert_in_sync(ASYNCAPI_FILE, &contract::asyncapi());
}

fn validator() -> jsonschema::Validator {
    jsonschema::validator_for(&contract::json_schema()).expect("the schema is valid JSON Schema")
}

#[test]
fn golden_samples_are_valid_against_the_schema() {
    let validator = validator();
    for sample in [samples::CUSTOMER_CREATED, samples::CUSTOMER_UPDATED] {
        let value: Value = serde_json::from_str(sample).expect("sample is JSON");
        let errors: Vec<String> = validator
            .iter_errors(&value)
            .map(|e| e.to_string())
            .collect();
        assert!(errors.is_empty(), "{errors:?}");
    }
}

#[test]
fn schema_rejects_what_the_decoder_rejects() {
    let validator = validator();
    let valid: Value = serde_json::from_str(samples::CUSTOMER_CREATED).expect("JSON");
    let broken = [
        ("/type", Value::from("accounts.customer.exploded.v1")),
        ("/specversion", Value::from("0.3")),
        ("/data/addresses/0/type", Value::from("HOME")),
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
}
