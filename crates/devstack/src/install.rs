//! Installing the local servers, once, into a cache keyed by version.
//!
//! - tansu (Kafka protocol) with `cargo install --locked`, about 20 minutes on
//!   two cores the first time;
//! - nx-27017 (MongoDB protocol) with pip into its own virtualenv.

use std::path::PathBuf;

use anyhow::{Context, bail};
use tokio::process::Command;

/// tansu release used locally.
pub const TANSU_VERSION: &str = "0.6.0";
/// nx-27017 release used locally.
pub const NX_27017_VERSION: &str = "0.8.1";

/// Paths of the installed server executables.
pub struct Tools {
    pub tansu: PathBuf,
    pub nx_27017: PathBuf,
}

/// `$DEVSTACK_CACHE`, else `$XDG_CACHE_HOME/cqrs-platform`, else
/// `~/.cache/cqrs-platform`.
pub fn cache_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("DEVSTACK_CACHE") {
        return PathBuf::from(dir);
    }
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(|| PathBuf::from(".cache"));
    base.join("cqrs-platform")
}

impl Tools {
    /// Installs whatever is missing and returns the executables.
    pub async fn ensure() -> anyhow::Result<Tools> {
        let tools_dir = cache_dir().join("tools");
        let tansu_root = tools_dir.join(format!("tansu-{TANSU_VERSION}"));
        let tansu = tansu_root.join("bin/tansu");
        if !tansu.exists() {
            eprintln!(
                "devstack: installing tansu {TANSU_VERSION} (first run only; ~20 min on 2 cores)"
            );
            let status = Command::new("cargo")
                .args(["install", "tansu", "--locked", "--version", TANSU_VERSION])
                .args(["--features", "dynostore,libsql", "--root"])
                .arg(&tansu_root)
                .env("CARGO_TARGET_DIR", cache_dir().join("tansu-build"))
                .status()
                .await
                .context("cannot run cargo install")?;
            if !status.success() || !tansu.exists() {
                bail!("cargo install tansu failed ({status})");
            }
        }
        let venv = tools_dir.join(format!("nx-27017-{NX_27017_VERSION}"));
        let nx_27017 = venv.join("bin/nx-27017");
        if !nx_27017.exists() {
            eprintln!("devstack: installing nx-27017 {NX_27017_VERSION} into a virtualenv");
            run_checked(Command::new("python3").args(["-m", "venv"]).arg(&venv)).await?;
            run_checked(Command::new(venv.join("bin/pip")).args([
                "install",
                "--quiet",
                &format!("nx-27017=={NX_27017_VERSION}"),
            ]))
            .await?;
            if !nx_27017.exists() {
                bail!(
                    "pip installed nx-27017 but {} is missing",
                    nx_27017.display()
                );
            }
        }
        Ok(Tools { tansu, nx_27017 })
    }
}

/// Runs `command` and fails unless it exits successfully.
pub async fn run_checked(command: &mut Command) -> anyhow::Result<()> {
    let status = command
        .status()
        .await
        .with_context(|| format!("cannot run {command:?}"))?;
    if !status.success() {
        bail!("{command:?} failed ({status})");
    }
    Ok(())
}
