//! The one place that knows which YAML reader we use (serde-saphyr: maintained, reports line and
//! column, and rejects duplicate keys, which the archived serde_yaml silently accepted).

use serde_saphyr::{DuplicateKeyPolicy, Options};

use crate::diagnostic::{Diagnostic, Position};
use crate::manifest::Manifest;

/// Parses the manifest text; syntax errors, unknown keys, wrong shapes and duplicate keys all come
/// back as one diagnostic with the reader's position.
pub fn parse(file: &str, text: &str) -> Result<Manifest, Diagnostic> {
    let mut options = Options::default();
    options.duplicate_keys = DuplicateKeyPolicy::Error;
    serde_saphyr::from_str_with_options::<Manifest>(text, options).map_err(|error| {
        let position = error.location().map(Position::from_location).unwrap_or_default();
        let message = strip_position(&first_line(&error.to_string()));
        let fix = fix_for(&message);
        let table = table_at(text, position.line);
        Diagnostic { file: file.to_string(), position, table, field: field_of(&message), message, fix }
    })
}

/// The reader's message, without the source snippet it appends.
fn first_line(message: &str) -> String {
    message.lines().next().unwrap_or(message).trim().to_string()
}

/// The reader prefixes `error: line N column M:`; the diagnostic prints the position itself.
fn strip_position(message: &str) -> String {
    let m = message.trim_start_matches("error:").trim_start();
    match m.strip_prefix("line ").and_then(|rest| rest.split_once(": ")) {
        Some((pos, rest)) if pos.contains("column") => rest.to_string(),
        _ => m.to_string(),
    }
}

/// The table whose entry encloses `line`: the last `- name:` at or above it, when the error is under `tables:`.
fn table_at(text: &str, line: u64) -> Option<String> {
    if line == 0 {
        return None;
    }
    let mut in_tables = false;
    let mut current = None;
    for (i, l) in text.lines().enumerate() {
        if i as u64 >= line {
            break;
        }
        if l.starts_with("tables:") {
            in_tables = true;
        } else if !l.starts_with([' ', '-', '#']) && !l.trim().is_empty() {
            in_tables = false;
            current = None;
        }
        let t = l.trim_start();
        if in_tables {
            if let Some(name) = t.strip_prefix("- name:") {
                current = Some(name.split('#').next().unwrap_or("").trim().trim_matches(['"', '\'']).to_string());
            }
        }
    }
    current.filter(|n| !n.is_empty())
}

/// The field the reader complained about, when its message quotes one.
fn field_of(message: &str) -> String {
    let quoted: Vec<&str> = message.split('`').collect();
    if quoted.len() >= 3 {
        quoted[1].to_string()
    } else {
        "(document)".to_string()
    }
}

fn fix_for(message: &str) -> String {
    let lower = message.to_ascii_lowercase();
    if lower.contains("unknown field") {
        "check the spelling; the README's manifest section lists every key".into()
    } else if lower.contains("duplicate") {
        "remove one of the two entries; a key may appear once in a mapping".into()
    } else if lower.contains("missing field") {
        "add the field; the README's manifest section shows a complete table".into()
    } else if lower.contains("unknown variant") {
        "use one of the values the message lists".into()
    } else {
        "fix the YAML at that position (indentation, quoting, a missing `:` or `-`)".into()
    }
}
