//! Checking the published documents with validators other people wrote:
//!
//! - both OpenAPI documents (`*/openapi.json`, kept equal to what the services
//!   serve by a test) with `openapi-spec-validator` and Spectral's
//!   `spectral:oas` ruleset (errors fail; warnings are printed);
//! - the AsyncAPI document with the official AsyncAPI parser;
//! - `docker/compose.yaml` against the Compose Specification's JSON Schema
//!   (as vendored by `check-jsonschema`).
//!
//! The Python tools go into a cached virtualenv, the npm ones into a cached
//! directory, both keyed by version.

use std::path::Path;

use tokio::process::Command;

use crate::install::{npm_tools, python_tools, run_checked};

const OPENAPI_SPEC_VALIDATOR_VERSION: &str = "0.9.0";
const CHECK_JSONSCHEMA_VERSION: &str = "0.39.0";
const SPECTRAL_VERSION: &str = "6.16.3";
const ASYNCAPI_PARSER_VERSION: &str = "3.6.6";

/// The OpenAPI documents, relative to the workspace root.
const OPENAPI_DOCUMENTS: [&str; 2] = ["accounts-domain/openapi.json", "orders-domain/openapi.json"];
const ASYNCAPI_DOCUMENT: &str = "shared-events/contract/asyncapi.json";
const COMPOSE_FILE: &str = "docker/compose.yaml";

/// Installs the validators if needed and runs them on the documents under
/// `root`.
pub async fn run(root: &Path) -> anyhow::Result<()> {
    let bin = python_tools(
        &format!("contracts-osv-{OPENAPI_SPEC_VALIDATOR_VERSION}-cjs-{CHECK_JSONSCHEMA_VERSION}"),
        &[
            format!("openapi-spec-validator=={OPENAPI_SPEC_VALIDATOR_VERSION}"),
            format!("check-jsonschema=={CHECK_JSONSCHEMA_VERSION}"),
        ],
        "check-jsonschema",
    )
    .await?;
    let node_modules = npm_tools(
        &format!("contracts-spectral-{SPECTRAL_VERSION}-asyncapi-{ASYNCAPI_PARSER_VERSION}"),
        &[
            format!("@stoplight/spectral-cli@{SPECTRAL_VERSION}"),
            format!("@asyncapi/parser@{ASYNCAPI_PARSER_VERSION}"),
        ],
        "@asyncapi/parser/package.json",
    )
    .await?;
    let spectral = node_modules.join(".bin/spectral");

    let openapi: Vec<_> = OPENAPI_DOCUMENTS.iter().map(|d| root.join(d)).collect();
    for document in &openapi {
        run_checked(Command::new(bin.join("openapi-spec-validator")).arg(document)).await?;
    }
    eprintln!(
        "devstack: openapi-spec-validator: 0 errors in {} documents",
        openapi.len()
    );
    run_checked(
        Command::new(&spectral)
            .arg("lint")
            .arg("--ruleset")
            .arg(root.join("tools/spectral.yaml"))
            .args(["--fail-severity", "error", "--display-only-failures"])
            .args(&openapi),
    )
    .await?;
    eprintln!("devstack: Spectral spectral:oas: 0 errors");
    run_checked(
        Command::new("node")
            .arg(root.join("tools/asyncapi_check.cjs"))
            .arg(root.join(ASYNCAPI_DOCUMENT))
            .env("NODE_PATH", &node_modules),
    )
    .await?;
    run_checked(
        Command::new(bin.join("check-jsonschema"))
            .args(["--builtin-schema", "vendor.compose-spec"])
            .arg(root.join(COMPOSE_FILE)),
    )
    .await?;
    eprintln!("devstack: {COMPOSE_FILE} matches the Compose Specification");
    Ok(())
}
