//! Running the Postman collection with newman (from the npm registry, installed
//! once into the cache) against running services.

use std::path::Path;

use anyhow::Context;
use tokio::process::Command;

use crate::install::{cache_dir, run_checked};

const NEWMAN_VERSION: &str = "6.2.2";

/// Runs `postman/` under `root` against the given service URLs.
pub async fn run(root: &Path, accounts_url: &str, orders_url: &str) -> anyhow::Result<()> {
    let prefix = cache_dir()
        .join("tools")
        .join(format!("newman-{NEWMAN_VERSION}"));
    let newman = prefix.join("node_modules/.bin/newman");
    if !newman.exists() {
        eprintln!("devstack: installing newman {NEWMAN_VERSION} with npm");
        std::fs::create_dir_all(&prefix).context("cannot create the newman directory")?;
        run_checked(
            Command::new("npm")
                .args(["install", "--no-audit", "--no-fund", "--loglevel=error"])
                .arg(format!("newman@{NEWMAN_VERSION}"))
                .current_dir(&prefix),
        )
        .await?;
    }
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
