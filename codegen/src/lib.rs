//! pgbisync's code generator: `sync-schema.yaml` -> [`manifest::Manifest`] (the file as written) ->
//! [`model::Model`] (validated and resolved) -> formatted Rust (with its SQL) for the generated crate.
//! It knows YAML, Rust tokens and SQL text; it never talks to a database.

pub mod diagnostic;
pub mod emit;
pub mod manifest;
pub mod model;
pub mod sql;
pub mod types;
mod yaml;

use std::path::Path;

pub use diagnostic::{Diagnostic, Diagnostics};
pub use model::Model;
/// The verify SQL lives with the other statements; this keeps its old path.
pub use sql::verify;

/// Parses and validates manifest text; `file` names it in messages.
pub fn load_str(file: &str, text: &str) -> Result<Model, Diagnostics> {
    let manifest = yaml::parse(file, text).map_err(|d| Diagnostics(vec![*d]))?;
    Model::build(file, &manifest)
}

/// Generates the Rust source for manifest text.
pub fn generate_str(file: &str, text: &str) -> Result<String, Diagnostics> {
    let model = load_str(file, text)?;
    Ok(emit::generate(&model, file))
}

/// What `build.rs` calls: reads the manifest, validates it, and returns the generated source.
/// `display` is how messages and the generated header name the file.
pub fn generate_file(path: &Path, display: &str) -> Result<String, Diagnostics> {
    let display = display.to_string();
    let text = std::fs::read_to_string(path).map_err(|e| {
        Diagnostics(vec![Diagnostic {
            file: display.clone(),
            position: Default::default(),
            table: None,
            field: "(file)".into(),
            message: format!("cannot read the manifest: {e}"),
            fix:
                "create sync-schema.yaml at the repository root (see the README), or set PGBISYNC_MANIFEST to its path"
                    .into(),
        }])
    })?;
    generate_str(&display, &text)
}
