//! Building the pgbisync binary from another manifest, as a deployment does after editing it.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The repository root (the root package owns the tests).
pub fn workspace() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Builds the pgbisync binary from `manifest` in a target directory of its own (so it never
/// disturbs the build running these tests); returns the build's output and the binary's path.
/// Every test that builds shares the directory, so each build after the first is incremental.
pub fn build_with(manifest: &Path) -> (std::process::Output, PathBuf) {
    let target = workspace().join("target").join("add-table-test");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let output = Command::new(cargo)
        .args(["build", "--quiet", "-p", "pgbisync-generated", "--bin", "pgbisync"])
        .current_dir(workspace())
        .env("PGBISYNC_MANIFEST", manifest)
        .env("CARGO_TARGET_DIR", &target)
        .output()
        .expect("running cargo build");
    (output, target.join("debug").join(format!("pgbisync{}", std::env::consts::EXE_SUFFIX)))
}
