//! The compatibility gate: the current contract against every released one,
//! both ways (a schema registry's `FULL_TRANSITIVE`), and the gate's own
//! check that it fails on a breaking change to the real contract.

use std::path::PathBuf;

use serde_json::{Value, json};
use shared_events::compatibility;
use shared_events::contract::{self, Subject};
use shared_events::samples;

/// The released versions of a subject's schema, oldest first.
fn releases(subject: &Subject) -> Vec<(String, Value)> {
    // The run-time value: a test binary reused from a shared target directory
    // may have been compiled in another checkout of the workspace.
    let root =
        std::env::var("CARGO_MANIFEST_DIR").unwrap_or_else(|_| env!("CARGO_MANIFEST_DIR").into());
    let dir = PathBuf::from(root).join(subject.history);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("read {}: {e}", dir.display()))
        .map(|entry| entry.expect("directory entry").path())
        .filter(|path| path.to_string_lossy().ends_with(".schema.json"))
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|path| {
            let text = std::fs::read_to_string(&path).expect("read a release");
            let name = path
                .file_name()
                .expect("file name")
                .to_string_lossy()
                .into_owned();
            (
                name,
                serde_json::from_str(&text).expect("a release is JSON"),
            )
        })
        .collect()
}

#[test]
fn every_schema_is_fully_compatible_with_every_one_of_its_releases() {
    for subject in &contract::SUBJECTS {
        let current = (subject.schema)();
        let releases = releases(subject);
        assert!(!releases.is_empty(), "no release under {}", subject.history);
        for (name, released) in &releases {
            let errors = compatibility::full(&current, released);
            let file = subject.file;
            assert!(
                errors.is_empty(),
                "{file} against {name}:\n{}",
                errors.join("\n")
            );
        }
    }
}

#[test]
fn every_schema_is_its_latest_release() {
    for subject in &contract::SUBJECTS {
        let (name, latest) = releases(subject).pop().expect("a release");
        assert_eq!(
            latest,
            (subject.schema)(),
            "{} changed since release {name}; once the gate passes, add it to {} as the next release",
            subject.file,
            subject.history
        );
    }
}

#[test]
fn the_current_schema_and_every_release_accept_the_records_written_today() {
    let current = ("current".to_owned(), contract::json_schema());
    for (name, released) in std::iter::once(current).chain(releases(&contract::SUBJECTS[0])) {
        let validator = jsonschema::validator_for(&released).expect("a release is a JSON Schema");
        for sample in [samples::CUSTOMER_CREATED, samples::CUSTOMER_UPDATED] {
            let value: Value = serde_json::from_str(sample).expect("sample is JSON");
            let errors: Vec<String> = validator
                .iter_errors(&value)
                .map(|e| e.to_string())
                .collect();
            assert!(errors.is_empty(), "{name}: {errors:?}");
        }
    }
}

/// A change to a schema.
type Edit = fn(&mut Value);

#[test]
fn the_gate_refuses_breaking_changes_to_the_contract() {
    let (_, released) = releases(&contract::SUBJECTS[0]).pop().expect("a release");
    let breaking: [(&str, Edit); 5] = [
        ("a new required field", |s| {
            s["$defs"]["CustomerChangeEvent"]["required"]
                .as_array_mut()
                .expect("required")
                .push(json!("loyaltyTier"));
            s["$defs"]["CustomerChangeEvent"]["properties"]["loyaltyTier"] =
                json!({ "type": "string" });
        }),
        ("a new event type in the closed list", |s| {
            s["properties"]["type"]["enum"]
                .as_array_mut()
                .expect("enum")
                .push(json!("accounts.customer.erased.v1"));
        }),
        ("a retyped version", |s| {
            s["$defs"]["CustomerChangeEvent"]["properties"]["version"] =
                json!({ "type": "string" });
        }),
        ("a shorter maximum", |s| {
            s["$defs"]["Name"]["properties"]["firstName"]["maxLength"] = json!(50);
        }),
        ("an optional field made required", |s| {
            s["$defs"]["Name"]["required"]
                .as_array_mut()
                .expect("required")
                .push(json!("middleName"));
        }),
    ];
    for (change, edit) in breaking {
        let mut current = contract::json_schema();
        edit(&mut current);
        assert!(
            !compatibility::full(&current, &released).is_empty(),
            "{change} passed the gate"
        );
    }
}
