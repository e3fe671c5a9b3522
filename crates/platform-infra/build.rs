//! Records the git commit (`GIT_COMMIT`, else `git rev-parse`) and the build
//! time for `/actuator/info`.

use std::process::Command;

fn main() {
    // GIT_COMMIT wins: image builds pass it as a build argument, because the
    // build context has no .git (see docker/Dockerfile and ./dev image).
    let commit = std::env::var("GIT_COMMIT")
        .ok()
        .filter(|c| !c.trim().is_empty())
        .or_else(|| {
            Command::new("git")
                .args(["rev-parse", "--short=12", "HEAD"])
                .output()
                .ok()
                .filter(|o| o.status.success())
                .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        })
        .unwrap_or_else(|| "unknown".to_owned());
    let built = Command::new("date")
        .args(["-u", "+%Y-%m-%dT%H:%M:%SZ"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_else(|| "unknown".to_owned());
    println!("cargo:rustc-env=PLATFORM_GIT_COMMIT={commit}");
    println!("cargo:rustc-env=PLATFORM_BUILD_TIME={built}");
    println!("cargo:rerun-if-changed=../../.git/HEAD");
    println!("cargo:rerun-if-changed=../../.git/refs/heads");
    println!("cargo:rerun-if-env-changed=GIT_COMMIT");
}
