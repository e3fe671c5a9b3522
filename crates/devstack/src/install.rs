//! Installing the local servers, once, into a cache keyed by version.
//!
//! - tansu (Kafka protocol) with `cargo install --locked`, about 10 minutes on
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
                "devstack: installing tansu {TANSU_VERSION} (first run only; ~10 min on 2 cores)"
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
        let nx_27017 = python_tools(
            &format!("nx-27017-{NX_27017_VERSION}"),
            &[format!("nx-27017=={NX_27017_VERSION}")],
            "nx-27017",
        )
        .await?
        .join("nx-27017");
        Ok(Tools { tansu, nx_27017 })
    }
}

/// A virtualenv `name` under the tools cache with `packages` (pip
/// requirement strings) installed, created the first time; returns its `bin`
/// directory. `probe` names an executable in it that shows the install is
/// complete.
pub async fn python_tools(name: &str, packages: &[String], probe: &str) -> anyhow::Result<PathBuf> {
    let venv = cache_dir().join("tools").join(name);
    let bin = venv.join("bin");
    if !bin.join(probe).exists() {
        eprintln!(
            "devstack: installing {} into a virtualenv",
            packages.join(" ")
        );
        run_checked(Command::new("python3").args(["-m", "venv"]).arg(&venv)).await?;
        run_checked(
            Command::new(bin.join("pip"))
                .args(["install", "--quiet"])
                .args(packages),
        )
        .await?;
        if !bin.join(probe).exists() {
            bail!(
                "pip installed {} but {probe} is missing",
                packages.join(" ")
            );
        }
    }
    Ok(bin)
}

/// A directory `name` under the tools cache with the npm `packages`
/// (`name@version`) installed, the first time; returns its `node_modules`.
/// `probe` is a path in `node_modules` that shows the install is complete.
pub async fn npm_tools(name: &str, packages: &[String], probe: &str) -> anyhow::Result<PathBuf> {
    let prefix = cache_dir().join("tools").join(name);
    let modules = prefix.join("node_modules");
    if !modules.join(probe).exists() {
        eprintln!("devstack: installing {} with npm", packages.join(" "));
        std::fs::create_dir_all(&prefix)
            .with_context(|| format!("cannot create {}", prefix.display()))?;
        run_checked(
            Command::new("npm")
                .args(["install", "--no-audit", "--no-fund", "--loglevel=error"])
                .args(packages)
                .current_dir(&prefix),
        )
        .await?;
        if !modules.join(probe).exists() {
            bail!(
                "npm installed {} but {probe} is missing",
                packages.join(" ")
            );
        }
    }
    Ok(modules)
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
