//! The small pieces statements are built from. Identifiers reach SQL only through [`Ident`] (or
//! [`ident`]), which quotes them; values never do (see the module docs of [`super`]).

use std::fmt;

use super::names::ROW_NUMBER;
use crate::model::Column;

/// An identifier that displays double-quoted (embedded quotes doubled), so a name formatted into
/// a statement cannot forget its quotes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ident<'a>(pub &'a str);

impl Ident<'_> {
    /// The name as the database stores it, unquoted.
    pub fn as_str(&self) -> &str {
        self.0
    }
}

impl fmt::Display for Ident<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "\"{}\"", self.0.replace('"', "\"\""))
    }
}

pub fn ident(name: &str) -> String {
    Ident(name).to_string()
}

pub(crate) fn literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

/// A `pgbisync.*` setting's value, as text (`name` is one of the setting names in `names`). A
/// scalar subquery, so the server reads (and casts) it once per statement: a bare
/// `current_setting()` is evaluated per row, which at 1M rows was half of a filtered scan's time.
pub(crate) fn setting(name: &str) -> String {
    format!("(SELECT current_setting({}))", literal(name))
}

/// A setting's value as SQL type `ty`, read and cast once per statement (see [`setting`]).
pub(crate) fn setting_as(name: &str, ty: &str) -> String {
    format!("(SELECT CAST(current_setting({}) AS {ty}))", literal(name))
}

pub(crate) fn cast_setting(name: &str, col: &Column) -> String {
    setting_as(name, &col.ty.canonical())
}

pub(crate) fn list(items: impl IntoIterator<Item = String>) -> String {
    items.into_iter().collect::<Vec<_>>().join(", ")
}

/// Quoted identifiers, as a list.
pub(crate) fn idents<'a>(names: impl IntoIterator<Item = &'a String>) -> String {
    list(names.into_iter().map(|n| ident(n)))
}

/// `alias."col"` for each column.
pub(crate) fn prefixed<'a>(
    alias: &'a str,
    cols: impl IntoIterator<Item = &'a String> + 'a,
) -> impl Iterator<Item = String> + 'a {
    cols.into_iter().map(move |c| format!("{alias}.{}", Ident(c)))
}

/// Conditions joined by `AND`, one per line after the first, the `AND`s indented under `indent`.
pub(crate) fn and_lines(conditions: &[String], indent: &str) -> String {
    conditions.join(&format!("\n{indent}  AND "))
}

/// An optional `WHERE` clause on lines of its own, at `indent`: empty without conditions (so a
/// statement without them has no empty line), else a newline, `WHERE` and the conditions.
pub(crate) fn where_clause(conditions: &[String], indent: &str) -> String {
    if conditions.is_empty() {
        String::new()
    } else {
        format!("\n{indent}WHERE {}", and_lines(conditions, indent))
    }
}

/// Target row `t` and staged row `s` have the same key.
pub(crate) fn key_match(key: &[String]) -> String {
    key.iter().map(|k| format!("t.{k} = s.{k}", k = Ident(k))).collect::<Vec<_>>().join(" AND ")
}

/// Content of a row as text, to break ties and to compare rows without a key.
pub(crate) fn row_text(alias: &str, cols: &[String]) -> String {
    format!("ROW({})::text", list(prefixed(alias, cols)))
}

/// The staged rows of this batch: the engine runs the apply statements over ranges of `_n`.
pub(crate) fn batch_range(alias: &str) -> String {
    format!("{alias}.{ROW_NUMBER} BETWEEN $1 AND $2")
}
