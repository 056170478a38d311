//! Manifest errors: each names the file, the line and column, the table and field it is about, and the fix.

use std::fmt;

use serde_saphyr::{Location, Spanned};

/// A position in the manifest; line 0 means unknown (a default the file did not spell).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Position {
    pub line: u64,
    pub column: u64,
}

impl Position {
    pub fn of<T>(spanned: &Spanned<T>) -> Position {
        Position::from_location(spanned.referenced)
    }

    pub fn from_location(location: Location) -> Position {
        Position { line: location.line(), column: location.column() }
    }
}

/// One problem with the manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub file: String,
    pub position: Position,
    /// The table the problem is in, when it is in one.
    pub table: Option<String>,
    /// The field, as a path from the table (or the top level): `forward.track`, `columns[3]`.
    pub field: String,
    pub message: String,
    pub fix: String,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file)?;
        if self.position.line > 0 {
            write!(f, ":{}", self.position.line)?;
            if self.position.column > 0 {
                write!(f, ":{}", self.position.column)?;
            }
        }
        write!(f, ": error: ")?;
        if let Some(table) = &self.table {
            write!(f, "table `{table}`, ")?;
        }
        write!(f, "field `{}`: {}", self.field, self.message)?;
        if !self.fix.is_empty() {
            write!(f, "\n  fix: {}", self.fix)?;
        }
        Ok(())
    }
}

/// All problems found in one manifest; validation reports them together so one build shows them all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostics(pub Vec<Diagnostic>);

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, d) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{d}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Diagnostics {}
