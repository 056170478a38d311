//! Which shared columns a direction leaves out (`skip`), and how the target columns named in
//! `set` are filled: a constant, the apply time, or a lookup in another table on the target.

use std::collections::{BTreeMap, BTreeSet};

use super::Context;
use crate::manifest::{LookupDef, SetDef};
use crate::model::builder::{names, pos, Builder};
use crate::model::{Column, Computed, PgType, Side, Table};

/// What `skip` and the `set` rules make of the target: skipped columns (source names), constants by
/// column, computed columns, and the tables (by manifest name) the computed columns read.
pub(super) struct Rules {
    pub skipped: BTreeSet<String>,
    pub constants: BTreeMap<String, String>,
    pub computed: Vec<Computed>,
    pub depends_on: Vec<String>,
}

impl Builder {
    /// Source names of the shared columns `skip` names (it names them as `columns:` does: desktop names).
    pub(super) fn skipped(&mut self, cx: &Context) -> BTreeSet<String> {
        let mut skipped = BTreeSet::new();
        for s in &cx.d.value.skip {
            if cx.table.shared.contains(&s.value) {
                skipped.insert(cx.table.renames.to_source(cx.dir, &s.value));
            } else {
                self.error(
                    pos(s),
                    Some(cx.name()),
                    &cx.field("skip"),
                    format!("`{}` is not a column both sides share", s.value),
                    "skip a column listed under `columns:` (columns under desktop_only/cloud_only are never copied)",
                );
            }
        }
        skipped
    }

    pub(super) fn rules(&mut self, cx: &Context, skipped: BTreeSet<String>) -> Rules {
        let mut rules = Rules { skipped, constants: BTreeMap::new(), computed: Vec::new(), depends_on: Vec::new() };
        for (i, s) in cx.d.value.set.iter().enumerate() {
            let field = cx.field(&format!("set[{i}]"));
            self.rule(cx, &field, &s.value, i, &mut rules);
        }
        rules
    }

    fn rule(&mut self, cx: &Context, field: &str, s: &SetDef, index: usize, rules: &mut Rules) {
        let target = cx.target();
        let col_name = &s.column.value;
        let Some(col) = target.column(col_name) else {
            self.error(
                pos(&s.column),
                Some(cx.name()),
                &format!("{field}.column"),
                format!(
                    "`{col_name}` is not a column of {} table `{}` (columns: {})",
                    cx.dir.target().as_str(),
                    target.name,
                    names(&target.columns)
                ),
                "name a column of the target table",
            );
            return;
        };
        let count =
            s.constant.is_some() as u8 + s.now.as_ref().is_some_and(|n| n.value) as u8 + s.lookup.is_some() as u8;
        if count != 1 {
            self.error(
                pos(&cx.d.value.set[index]),
                Some(cx.name()),
                field,
                format!("column `{col_name}` needs exactly one rule, has {count}"),
                "give one of `const: ...`, `now: true`, `lookup: {table, by, take}`",
            );
            return;
        }
        if let Some(c) = &s.constant {
            if let Err(e) = col.ty.check_constant(&c.value) {
                self.error(pos(c), Some(cx.name()), &format!("{field}.const"), e, "give a value of the column's type");
                return;
            }
            rules.constants.insert(col_name.clone(), c.value.clone());
        } else if s.now.is_some() {
            if !matches!(col.ty, PgType::Timestamptz | PgType::Timestamp | PgType::Date) {
                self.error(
                    pos(&cx.d.value.set[index]),
                    Some(cx.name()),
                    &format!("{field}.now"),
                    format!("`now` fills a date or timestamp column, and `{col_name}` is {}", col.ty.canonical()),
                    "use `now` on a timestamptz, timestamp or date column",
                );
                return;
            }
            rules.computed.push(Computed::Now { column: col_name.clone() });
        } else if let Some(l) = &s.lookup {
            self.lookup(cx, field, col, &l.value, rules);
        }
    }

    /// A lookup must name a table of the manifest and match its whole target-side key, so it finds
    /// at most one row.
    fn lookup(&mut self, cx: &Context, field: &str, col: &Column, l: &LookupDef, rules: &mut Rules) {
        let Some((other, _)) = cx.tables.iter().find(|(t, _)| t.name == l.table.value) else {
            if !self.declared.contains(&l.table.value) {
                self.error(
                    pos(&l.table),
                    Some(cx.name()),
                    &format!("{field}.lookup.table"),
                    format!("lookup names unknown table `{}` (tables: {})", l.table.value, table_names(cx.tables)),
                    "name a table of the manifest",
                );
            }
            return;
        };
        let other_target = other.target(cx.dir);
        let ok = self.lookup_columns(cx, field, col, l, other_target, &rules.skipped);
        let by: Vec<&str> = l.by.iter().map(|b| b.value.as_str()).collect();
        let whole_key = other_target.key.iter().map(String::as_str).collect::<Vec<_>>() == by;
        if ok && !l.by.is_empty() && !whole_key {
            self.error(
                pos(&l.table),
                Some(cx.name()),
                &format!("{field}.lookup.by"),
                format!(
                    "a lookup must match the whole key of `{}` on the {} side ({}), so it finds at most one row; `by` is [{}]",
                    other_target.name,
                    cx.dir.target().as_str(),
                    other_target.key.join(", "),
                    by.join(", ")
                ),
                "list the looked-up table's key columns in `by`",
            );
            return;
        }
        if l.by.is_empty() {
            self.error(
                pos(&l.table),
                Some(cx.name()),
                &format!("{field}.lookup.by"),
                "a lookup needs at least one `by` column".into(),
                "list the columns to match, e.g. `by: [job_id]`",
            );
            return;
        }
        if ok {
            rules.computed.push(Computed::Lookup {
                column: col.name.clone(),
                table: other_target.name.clone(),
                by: by.iter().map(|b| b.to_string()).collect(),
                take: l.take.value.clone(),
            });
            if other.name != cx.table.name {
                rules.depends_on.push(other.name.clone());
            }
        }
    }

    /// The `by` columns exist on both tables and `take` is a column of the looked-up table of the
    /// filled column's type; false after reporting what is not.
    fn lookup_columns(
        &mut self,
        cx: &Context,
        field: &str,
        col: &Column,
        l: &LookupDef,
        other: &Side,
        skipped: &BTreeSet<String>,
    ) -> bool {
        let mut ok = true;
        let shared = cx.table.shared_for(cx.dir);
        for b in &l.by {
            let copied = shared.iter().any(|(src, t)| *t == b.value && !skipped.contains(src));
            if !copied || other.column(&b.value).is_none() {
                self.error(
                    pos(b),
                    Some(cx.name()),
                    &format!("{field}.lookup.by"),
                    format!(
                        "lookup key `{}` must be a column copied into `{}` and a column of `{}` on the {} side",
                        b.value,
                        cx.target().name,
                        other.name,
                        cx.dir.target().as_str()
                    ),
                    "name a column both tables have",
                );
                ok = false;
            }
        }
        match other.column(&l.take.value) {
            None => {
                self.error(
                    pos(&l.take),
                    Some(cx.name()),
                    &format!("{field}.lookup.take"),
                    format!(
                        "`{}` is not a column of `{}` on the {} side (columns: {})",
                        l.take.value,
                        other.name,
                        cx.dir.target().as_str(),
                        names(&other.columns)
                    ),
                    "name a column of the looked-up table",
                );
                ok = false;
            }
            Some(c) if c.ty.canonical() != col.ty.canonical() => {
                self.error(
                    pos(&l.take),
                    Some(cx.name()),
                    &format!("{field}.lookup.take"),
                    format!(
                        "`{}.{}` is {} but `{}` is {}",
                        other.name,
                        l.take.value,
                        c.ty.canonical(),
                        col.name,
                        col.ty.canonical()
                    ),
                    "take a column of the same type",
                );
                ok = false;
            }
            Some(_) => {}
        }
        ok
    }
}

pub(super) fn table_names(tables: &[(Table, &crate::manifest::Table)]) -> String {
    tables.iter().map(|(t, _)| t.name.as_str()).collect::<Vec<_>>().join(", ")
}
