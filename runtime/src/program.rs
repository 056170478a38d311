//! Everything the generated crate hands the runtime: the manifest's settings, the compiled tables in
//! sync order, and DDL shaped like each table.

use crate::codec::CompiledTable;
use crate::spec::{Direction, ManifestSpec, Side};

/// DDL for one table on both sides, for `demo` and the tests.
#[derive(Debug, Clone, Copy)]
pub struct TableSchema {
    pub name: &'static str,
    pub desktop_ddl: &'static str,
    pub cloud_ddl: &'static str,
}

#[derive(Clone, Copy)]
pub struct Program {
    pub manifest: &'static ManifestSpec,
    pub tables: &'static [&'static dyn CompiledTable],
    pub schema: &'static [TableSchema],
    pub schema_functions: &'static [&'static str],
    pub generated_source: &'static str,
}

impl Program {
    /// The tables of one direction, in sync order, optionally limited to the named ones.
    pub fn tables(&self, direction: Direction, only: &[String]) -> Vec<&'static dyn CompiledTable> {
        self.tables
            .iter()
            .copied()
            .filter(|t| t.spec().direction == direction)
            .filter(|t| only.is_empty() || only.iter().any(|n| t.spec().answers_to(n)))
            .collect()
    }

    /// Names in `only` that match no table of the given directions.
    pub fn unknown_tables<'a>(&self, directions: &[Direction], only: &'a [String]) -> Vec<&'a str> {
        only.iter()
            .filter(|n| !self.tables.iter().any(|t| directions.contains(&t.spec().direction) && t.spec().answers_to(n)))
            .map(String::as_str)
            .collect()
    }

    /// SQL that creates one side's tables as the manifest declares them (all, or the one whose
    /// name on that side is `only`), with the trigger functions they use; `None` when `only`
    /// names no table of that side. Safe to run again: the functions are `CREATE OR REPLACE`.
    pub fn ddl(&self, side: Side, only: Option<&str>) -> Option<String> {
        let of_side = |t: &TableSchema| match side {
            Side::Desktop => t.desktop_ddl,
            Side::Cloud => t.cloud_ddl,
        };
        let tables: Vec<&str> = self
            .schema
            .iter()
            .filter(|t| only.is_none_or(|name| self.side_name(t.name, side) == Some(name)))
            .map(of_side)
            .collect();
        if tables.is_empty() {
            return None;
        }
        Some(self.schema_functions.iter().copied().chain(tables).collect::<Vec<_>>().join("\n\n") + "\n")
    }

    /// What the table the manifest calls `name` is called on `side`.
    fn side_name(&self, name: &str, side: Side) -> Option<&'static str> {
        let spec = self.tables.iter().map(|t| t.spec()).find(|s| s.name == name)?;
        [spec.source, spec.target].into_iter().find(|t| t.side == side).map(|t| t.name)
    }
}
