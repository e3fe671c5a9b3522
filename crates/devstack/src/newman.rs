//! Running the Postman collection with newman (from the npm registry, installed
//! once into the cache) against running services.

use std::path::Path;

use tokio::process::Command;

use crate::install::{npm_tools, run_checked};

const NEWMAN_VERSION: &str = "6.2.2";

/// Runs `postman/` under `root` against the given service URLs.
pub async fn run(root: &Path, accounts_url: &str, orders_url: &str) -> anyhow::Result<()> {
    let newman = npm_tools(
        &format!("newman-{NEWMAN_VERSION}"),
        &[format!("newman@{NEWMAN_VERSION}")],
        ".bin/newman",
    )
    .await?
    .join(".bin/newman");
    let postman = root.join("postman");
    run_checked(
        Command::new(&newman)
            .arg("run")
            .arg(postman.join("cqrs-platform.postman_collection.json"))
            .arg("-e")
            .arg(postman.join("local.postman_environment.json"))
            .args(["--env-var", &format!("accountsUrl={accounts_url}")])
            .args(["--env-var", &format!("ordersUrl={orders_url}")])
            .args(["--color", "off"]),
    )
    .await?;
    eprintln!("devstack: newman passed");
    Ok(())
}
