//! The one place that knows which YAML reader we use (serde-saphyr: maintained, reports line and
//! column, and rejects duplicate keys, which the archived serde_yaml silently accepted).

use serde_saphyr::{DuplicateKeyPolicy, MessageFormatter, Options, UserMessageFormatter};

use crate::diagnostic::{Diagnostic, Position};
use crate::manifest::Manifest;

/// Parses the manifest text; syntax errors, unknown keys, wrong shapes and duplicate keys all come
/// back as one diagnostic with the reader's position.
pub fn parse(file: &str, text: &str) -> Result<Manifest, Box<Diagnostic>> {
    let mut options = Options::default();
    options.duplicate_keys = DuplicateKeyPolicy::Error;
    serde_saphyr::from_str_with_options::<Manifest>(text, options).map_err(|error| {
        let position = error.location().map(Position::from_location).unwrap_or_default();
        // The user-facing formatter words messages for people writing YAML (no library settings),
        // without the position, which the diagnostic prints itself.
        let message = first_line(&UserMessageFormatter.format_message(error.without_snippet()));
        let fix = fix_for(&message);
        let table = table_at(text, position.line);
        let field = match (field_of(&message), parent_keys(text, position)) {
            (leaf, parents) if !parents.is_empty() && leaf != "(YAML syntax)" => {
                format!("{}.{leaf}", parents.join("."))
            }
            (leaf, _) => leaf,
        };
        Box::new(Diagnostic { file: file.to_string(), position, table, field, message, fix })
    })
}

/// The reader's message, without the source snippet it appends.
fn first_line(message: &str) -> String {
    message.lines().next().unwrap_or(message).trim().to_string()
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

/// The mapping keys enclosing a position, from its table entry down (`forward` for a key under
/// `forward:`), read from indentation; the reader itself reports only the leaf.
fn parent_keys(text: &str, at: crate::diagnostic::Position) -> Vec<String> {
    let lines: Vec<&str> = text.lines().collect();
    let Some(error_line) = (at.line as usize).checked_sub(1).filter(|l| *l < lines.len()) else { return Vec::new() };
    let mut stack: Vec<(usize, String)> = Vec::new();
    let key_of = |content: &str| -> Option<(String, String)> {
        let (key, rest) = content.split_once(':')?;
        let key = key.trim();
        (!key.is_empty() && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'))
            .then(|| (key.to_string(), rest.trim().to_string()))
    };
    for (i, raw) in lines.iter().enumerate().take(error_line + 1) {
        let trimmed = raw.trim_start();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let mut indent = raw.len() - trimmed.len();
        let mut content = trimmed;
        if let Some(item) = content.strip_prefix("- ") {
            // A list item starts a new entry: its first key sits two columns further in.
            indent += 2;
            content = item;
            while stack.last().is_some_and(|(ind, _)| *ind >= indent) {
                stack.pop();
            }
        }
        while stack.last().is_some_and(|(ind, _)| *ind >= indent) {
            stack.pop();
        }
        let Some((key, rest)) = key_of(content) else { continue };
        if i == error_line {
            // An error inside a one-line flow mapping (`forward: { ... }`) belongs to that key.
            if let Some(open) = raw.find('{') {
                if (at.column as usize) > open + 1 && rest.starts_with('{') {
                    stack.push((indent, key));
                }
            }
            break;
        }
        if rest.is_empty() || rest.starts_with('#') {
            stack.push((indent, key));
        }
    }
    // Keys above the table entry (`tables`) are implied by the table name.
    stack.into_iter().map(|(_, k)| k).filter(|k| k != "tables").collect()
}

/// The field the reader complained about, when its message quotes one.
fn field_of(message: &str) -> String {
    let quoted: Vec<&str> = message.split('`').collect();
    if quoted.len() >= 3 {
        quoted[1].to_string()
    } else {
        "(YAML syntax)".to_string()
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
        "fix the YAML at that position or just above it (an unclosed `[` or `{`, indentation, quoting, a missing `:` or `-`)".into()
    }
}
