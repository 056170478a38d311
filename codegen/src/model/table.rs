//! One table as both sides hold it: its columns (shared, renamed, one-sided, bookkeeping), its keys.

use std::collections::HashMap;

use serde_saphyr::Spanned;

use super::builder::{names, pos, valid_identifier, Builder};
use super::{Column, Renames, Side, SideName, Table};
use crate::diagnostic::Position;
use crate::manifest::{self, Manifest};
use crate::types::PgType;

/// The columns of both sides as they are declared, each name once per side.
struct Columns {
    table: String,
    desktop: Vec<Column>,
    cloud: Vec<Column>,
    /// Desktop names of the shared (`columns:`) entries.
    shared: Vec<String>,
    seen: HashMap<(SideName, String), u64>,
}

impl Columns {
    /// Adds a column to a side; a second declaration of a name is reported (when `report`) and dropped.
    fn new(table: &str) -> Columns {
        Columns {
            table: table.to_string(),
            desktop: Vec::new(),
            cloud: Vec::new(),
            shared: Vec::new(),
            seen: HashMap::new(),
        }
    }

    fn push(&mut self, b: &mut Builder, side: SideName, col: Column, at: Position, field: &str, report: bool) {
        if let Some(first) = self.seen.get(&(side, col.name.clone())) {
            if report {
                b.error(
                    at,
                    Some(&self.table),
                    field,
                    format!(
                        "column `{}` is declared twice on the {} side (first at line {first})",
                        col.name,
                        side.as_str()
                    ),
                    "remove one of the two declarations",
                );
            }
            return;
        }
        self.seen.insert((side, col.name.clone()), at.line);
        match side {
            SideName::Desktop => self.desktop.push(col),
            SideName::Cloud => self.cloud.push(col),
        }
    }
}

impl Builder {
    pub(super) fn table(&mut self, m: &Manifest, t: &Spanned<manifest::Table>) -> Option<Table> {
        let def = &t.value;
        let name = def.name.value.clone();
        let before = self.problem_count();
        self.check_table_names(def);
        let renames = Renames::of(def);
        let mut columns = self.declared_columns(def, &renames);
        self.check_renames_once(def);
        for r in &def.renames {
            if !columns.shared.contains(&r.value.desktop.value) {
                self.error(
                    pos(&r.value.desktop),
                    Some(&name),
                    "renames.desktop",
                    format!("`{}` is not a shared column of the table", r.value.desktop.value),
                    "rename a column listed under `columns:`",
                );
            }
        }
        let flags = def.timestamps.as_ref().map(|f| (f.value.desktop, f.value.cloud)).unwrap_or((true, true));
        add_bookkeeping(m, flags, &mut columns);
        let (desktop_key, cloud_key) = self.keys(def, &renames, &columns);
        if self.problem_count() > before {
            return None;
        }
        let side = |side, name: &Option<Spanned<String>>, columns, key, on: bool| Side {
            side,
            name: name.as_ref().map(|n| n.value.clone()).unwrap_or_else(|| def.name.value.clone()),
            columns,
            key,
            touched: on.then(|| m.timestamps.updated.value.clone()),
            bookkeeping: if on {
                vec![m.timestamps.created.value.clone(), m.timestamps.updated.value.clone()]
            } else {
                Vec::new()
            },
        };
        Some(Table {
            line: pos(&def.name).line,
            desktop: side(SideName::Desktop, &def.desktop, columns.desktop, desktop_key, flags.0),
            cloud: side(SideName::Cloud, &def.cloud, columns.cloud, cloud_key, flags.1),
            shared: columns.shared,
            renames,
            name,
        })
    }

    /// Each column renamed at most once, and no two columns renamed to one cloud name: either
    /// would leave a column that no direction copies.
    fn check_renames_once(&mut self, def: &manifest::Table) {
        let mut desktop: HashMap<&str, u64> = HashMap::new();
        let mut cloud: HashMap<&str, u64> = HashMap::new();
        for r in &def.renames {
            let (d, c) = (&r.value.desktop, &r.value.cloud);
            if let Some(first) = desktop.insert(&d.value, pos(d).line) {
                self.error(
                    pos(d),
                    Some(&def.name.value),
                    "renames.desktop",
                    format!("column `{}` is renamed twice (first at line {first})", d.value),
                    "keep one rename per column",
                );
            } else if let Some(first) = cloud.insert(&c.value, pos(c).line) {
                self.error(
                    pos(c),
                    Some(&def.name.value),
                    "renames.cloud",
                    format!("two columns are renamed to `{}` (first at line {first})", c.value),
                    "give each renamed column its own cloud name",
                );
            }
        }
    }

    fn check_table_names(&mut self, def: &manifest::Table) {
        let name = &def.name.value;
        if !valid_identifier(name) {
            self.error(
                pos(&def.name),
                Some(name),
                "name",
                format!("`{name}` is not a valid table name"),
                "use lower-case letters, digits and `_`",
            );
        }
        for side_name in [&def.desktop, &def.cloud].into_iter().flatten() {
            if !valid_identifier(&side_name.value) {
                self.error(
                    pos(side_name),
                    Some(name),
                    "desktop/cloud",
                    format!("`{}` is not a valid table name", side_name.value),
                    "use lower-case letters, digits and `_`",
                );
            }
        }
        if def.forward.is_none() && def.reverse.is_none() {
            self.error(
                pos(&def.name),
                Some(name),
                "forward/reverse",
                "the table syncs in neither direction".into(),
                "add a `forward:` or `reverse:` section (or remove the table)",
            );
        }
    }

    /// `columns:` on both sides (renamed on the cloud), then `desktop_only:` and `cloud_only:`.
    fn declared_columns(&mut self, def: &manifest::Table, renames: &Renames) -> Columns {
        let name = def.name.value.as_str();
        let mut columns = Columns::new(name);
        for (i, c) in def.columns.iter().enumerate() {
            let field = format!("columns[{i}]");
            if let Some(col) = self.column(name, &field, c) {
                let mut cloud = col.clone();
                cloud.name = renames.to_cloud(&col.name);
                columns.shared.push(col.name.clone());
                columns.push(self, SideName::Desktop, col, pos(c), &field, true);
                // The same entry on the cloud side: a repeat was already reported for the desktop.
                columns.push(self, SideName::Cloud, cloud, pos(c), &field, false);
            }
        }
        for (side, list, label) in
            [(SideName::Desktop, &def.desktop_only, "desktop_only"), (SideName::Cloud, &def.cloud_only, "cloud_only")]
        {
            for (i, c) in list.iter().enumerate() {
                let field = format!("{label}[{i}]");
                if let Some(col) = self.column(name, &field, c) {
                    columns.push(self, side, col, pos(c), &field, true);
                }
            }
        }
        columns
    }

    /// The desktop key and the cloud key (target-side names), each checked against its side.
    fn keys(&mut self, def: &manifest::Table, renames: &Renames, columns: &Columns) -> (Vec<String>, Vec<String>) {
        let name = def.name.value.as_str();
        let shared_key = def.key.as_ref();
        let desktop_field = if def.desktop_key.is_some() { "desktop_key" } else { "key" };
        let desktop_key = def.desktop_key.as_ref().or(shared_key);
        let desktop_key = self.key(name, desktop_field, desktop_key, &columns.desktop, |k| k.to_string(), true);
        let cloud_key = match def.cloud_key.as_ref() {
            Some(k) => self.key(name, "cloud_key", Some(k), &columns.cloud, |k| k.to_string(), true),
            // The shared key was checked on the desktop side already (unless desktop_key replaced it).
            None => {
                self.key(name, "key", shared_key, &columns.cloud, |k| renames.to_cloud(k), def.desktop_key.is_some())
            }
        };
        (desktop_key, cloud_key)
    }

    fn key(
        &mut self,
        table: &str,
        field: &str,
        key: Option<&Spanned<Vec<Spanned<String>>>>,
        columns: &[Column],
        side_name: impl Fn(&str) -> String,
        report: bool,
    ) -> Vec<String> {
        let Some(key) = key else { return Vec::new() };
        let mut out = Vec::new();
        for k in &key.value {
            let col_name = side_name(&k.value);
            match columns.iter().find(|c| c.name == col_name) {
                None | Some(Column { nullable: true, .. }) if !report => {}
                None => self.error(
                    pos(k),
                    Some(table),
                    field,
                    format!("key column `{}` is not a column of the table (columns: {})", k.value, names(columns)),
                    "name a declared column, or declare the column",
                ),
                Some(c) if c.nullable => self.error(
                    pos(k),
                    Some(table),
                    field,
                    format!("key column `{}` is nullable; a key must identify every row", k.value),
                    "declare the column `not null`",
                ),
                Some(_) => out.push(col_name),
            }
        }
        out
    }
}

/// The created/updated columns each side keeps for itself, and the cloud's origin column, unless
/// the manifest declares them.
fn add_bookkeeping(m: &Manifest, (desktop, cloud): (bool, bool), columns: &mut Columns) {
    let stamp = |c: &Spanned<String>| Column {
        name: c.value.clone(),
        ty: PgType::Timestamptz,
        declared: "timestamptz".into(),
        nullable: true,
    };
    for (on, list) in [(desktop, &mut columns.desktop), (cloud, &mut columns.cloud)] {
        if on {
            for c in [&m.timestamps.created, &m.timestamps.updated] {
                if !list.iter().any(|x| x.name == c.value) {
                    list.push(stamp(c));
                }
            }
        }
    }
    if !columns.cloud.iter().any(|c| c.name == m.origin.column.value) {
        columns.cloud.push(Column {
            name: m.origin.column.value.clone(),
            ty: PgType::Char(1),
            declared: "char(1)".into(),
            nullable: true,
        });
    }
}
