//! The model builder's state: the problems found so far, reported all at once at the end, and the
//! parsing of one column declaration that every column list shares.

use std::collections::BTreeSet;

use serde_saphyr::Spanned;

use super::{Column, Model};
use crate::diagnostic::{Diagnostic, Diagnostics, Position};
use crate::types::{PgType, KNOWN_TYPES};

pub(super) struct Builder {
    file: String,
    problems: Vec<Diagnostic>,
    /// Every table name the file declares, valid or not: a reference to a table with its own
    /// error is not also an "unknown table".
    pub(super) declared: BTreeSet<String>,
}

pub(super) fn pos<T>(s: &Spanned<T>) -> Position {
    Position::of(s)
}

/// A column name as SQL and Rust will both accept it unquoted in messages; quoting happens anyway.
pub(super) fn valid_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_lowercase() || c == '_')
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && name.len() <= 63
}

/// Column names for messages.
pub(super) fn names(columns: &[Column]) -> String {
    columns.iter().map(|c| c.name.as_str()).collect::<Vec<_>>().join(", ")
}

impl Builder {
    pub(super) fn new(file: &str) -> Builder {
        Builder { file: file.to_string(), problems: Vec::new(), declared: BTreeSet::new() }
    }

    pub(super) fn file(&self) -> &str {
        &self.file
    }

    /// The model when nothing was wrong, or every problem found.
    pub(super) fn finish(self, model: Model) -> Result<Model, Diagnostics> {
        if self.problems.is_empty() {
            Ok(model)
        } else {
            Err(Diagnostics(self.problems))
        }
    }

    /// How many problems are recorded: a step compares before and after to know whether it failed.
    pub(super) fn problem_count(&self) -> usize {
        self.problems.len()
    }

    pub(super) fn error(&mut self, at: Position, table: Option<&str>, field: &str, message: String, fix: &str) {
        self.problems.push(Diagnostic {
            file: self.file.clone(),
            position: at,
            table: table.map(str::to_string),
            field: field.to_string(),
            message,
            fix: fix.to_string(),
        });
    }

    /// Parses `name type [not null]`.
    pub(super) fn column(&mut self, table: &str, field: &str, spec: &Spanned<String>) -> Option<Column> {
        let text = spec.value.trim();
        let (body, nullable) = match text.to_ascii_lowercase().strip_suffix("not null") {
            Some(rest) => (text[..rest.len()].trim().to_string(), false),
            None => (text.to_string(), true),
        };
        let Some((name, ty_text)) = body.split_once(char::is_whitespace) else {
            self.error(
                pos(spec),
                Some(table),
                field,
                format!("column `{text}` needs a name and a type"),
                "write `name type`, e.g. `org_id numeric(3) not null`",
            );
            return None;
        };
        if !valid_identifier(name) {
            self.error(
                pos(spec),
                Some(table),
                field,
                format!("`{name}` is not a valid column name"),
                "use lower-case letters, digits and `_`, starting with a letter or `_`",
            );
            return None;
        }
        if pgbisync_contract::names::is_reserved_column(name) {
            self.error(
                pos(spec),
                Some(table),
                field,
                format!("column name `{name}` is reserved for pgbisync's staging table"),
                "rename the column (names `_n`, `_track` and `_pgbisync*` are reserved)",
            );
            return None;
        }
        let ty_text = ty_text.trim();
        let Some(ty) = PgType::parse(ty_text) else {
            self.error(
                pos(spec),
                Some(table),
                field,
                format!("column `{name}` has unknown PostgreSQL type `{ty_text}`"),
                &format!("use one of: {KNOWN_TYPES}"),
            );
            return None;
        };
        let nullable = nullable && !ty.is_generated();
        Some(Column { name: name.to_string(), ty, declared: ty_text.to_string(), nullable })
    }
}
