//! Runs the code generator on the manifest; a manifest error stops the build with its message.

use std::path::PathBuf;

fn main() {
    // PGBISYNC_MANIFEST builds another manifest (the tests use it to add a table to a copy).
    let (manifest, display) = match std::env::var_os("PGBISYNC_MANIFEST") {
        Some(path) => (PathBuf::from(&path), PathBuf::from(path).display().to_string()),
        None => (
            PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"))
                .join("../sync-schema.yaml"),
            "sync-schema.yaml".to_string(),
        ),
    };
    println!("cargo:rerun-if-changed={}", manifest.display());
    println!("cargo:rerun-if-env-changed=PGBISYNC_MANIFEST");
    let code = match pgbisync_codegen::generate_file(&manifest, &display) {
        Ok(code) => code,
        Err(diagnostics) => {
            eprintln!("\n{diagnostics}\n");
            std::process::exit(1);
        }
    };
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR")).join("tables.rs");
    if let Err(e) = std::fs::write(&out, code) {
        eprintln!("cannot write {}: {e}", out.display());
        std::process::exit(1);
    }
}
