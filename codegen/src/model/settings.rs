//! The whole manifest, step by step: deployment-wide settings, then every table, then every
//! table's directions in sync order.

use std::collections::HashMap;

use super::builder::{pos, valid_identifier, Builder};
use super::order::sync_order;
use super::{DeleteGuard, Direction, Model, Settings, Table, TableDirection, Tenant};
use crate::diagnostic::Position;
use crate::manifest::{self, Manifest};

impl Builder {
    pub(super) fn model(&mut self, m: &Manifest) -> Model {
        if m.version.value != 1 {
            self.error(
                pos(&m.version),
                None,
                "version",
                format!("manifest version {} is not supported", m.version.value),
                "set `version: 1`",
            );
        }
        let settings = settings(m);
        self.check_setting_names(m);
        if m.delete_guard.max_percent.value > 100 {
            self.error(
                pos(&m.delete_guard.max_percent),
                None,
                "delete_guard.max_percent",
                format!("{}% is not a share of a table", m.delete_guard.max_percent.value),
                "give a percentage from 0 to 100 (default 10)",
            );
        }
        let tables = self.tables(m);
        self.check_cycles(&tables);
        self.declared = m.tables.iter().map(|t| t.value.name.value.clone()).collect();
        let directions = self.directions(&settings, &tables);
        if tables.is_empty() && self.problem_count() == 0 {
            self.error(
                Position::default(),
                None,
                "tables",
                "the manifest declares no tables".into(),
                "add at least one table under `tables:`",
            );
        }
        Model {
            file: self.file().to_string(),
            settings,
            tables: tables.into_iter().map(|(t, _)| t).collect(),
            directions,
        }
    }

    fn check_setting_names(&mut self, m: &Manifest) {
        for (field, value) in [
            ("origin.column", &m.origin.column),
            ("timestamps.created", &m.timestamps.created),
            ("timestamps.updated", &m.timestamps.updated),
            ("metadata.forward", &m.metadata.forward),
            ("metadata.reverse", &m.metadata.reverse),
            ("metadata.forward_rejects", &m.metadata.forward_rejects),
            ("metadata.reverse_rejects", &m.metadata.reverse_rejects),
            ("metadata.forward_deleted", &m.metadata.forward_deleted),
            ("metadata.reverse_deleted", &m.metadata.reverse_deleted),
            ("metadata.reverse_ledger", &m.metadata.reverse_ledger),
        ] {
            if !valid_identifier(&value.value) {
                self.error(
                    pos(value),
                    None,
                    field,
                    format!("`{}` is not a valid name", value.value),
                    "use lower-case letters, digits and `_`",
                );
            }
        }
        for (field, value) in [("origin.desktop", &m.origin.desktop), ("origin.cloud", &m.origin.cloud)] {
            if value.value.chars().count() != 1 {
                self.error(
                    pos(value),
                    None,
                    field,
                    format!("origin value `{}` must be one character (the origin column is char(1))", value.value),
                    "use a single letter such as D or M",
                );
            }
        }
    }

    /// Every valid table, each listed once.
    fn tables<'m>(&mut self, m: &'m Manifest) -> Vec<(Table, &'m manifest::Table)> {
        let mut seen: HashMap<String, u64> = HashMap::new();
        let mut tables = Vec::new();
        for t in &m.tables {
            let name = &t.value.name;
            if let Some(first) = seen.get(&name.value) {
                self.error(
                    pos(name),
                    Some(&name.value),
                    "name",
                    format!("table `{}` is listed twice (first at line {first})", name.value),
                    "merge the two entries into one",
                );
                continue;
            }
            seen.insert(name.value.clone(), pos(name).line);
            if let Some(table) = self.table(m, t) {
                tables.push((table, &t.value));
            }
        }
        tables
    }

    /// Forward tables in sync order, then reverse tables in sync order.
    fn directions(&mut self, settings: &Settings, tables: &[(Table, &manifest::Table)]) -> Vec<TableDirection> {
        let mut directions = Vec::new();
        for dir in Direction::BOTH {
            let mut list = Vec::new();
            for (table, def) in tables {
                let d = match dir {
                    Direction::Forward => &def.forward,
                    Direction::Reverse => &def.reverse,
                };
                if let Some(d) = d {
                    let cx = super::direction::Context { settings, tables, table, def, dir, d };
                    if let Some(td) = self.direction(&cx) {
                        list.push(td);
                    }
                }
            }
            directions.extend(sync_order(list));
        }
        super::direction::link_referrers(&mut directions);
        directions
    }
}

fn settings(m: &Manifest) -> Settings {
    Settings {
        desktop_url_env: m.connections.desktop_url_env.value.clone(),
        cloud_url_env: m.connections.cloud_url_env.value.clone(),
        forward_metadata: m.metadata.forward.value.clone(),
        reverse_metadata: m.metadata.reverse.value.clone(),
        forward_rejects: m.metadata.forward_rejects.value.clone(),
        reverse_rejects: m.metadata.reverse_rejects.value.clone(),
        forward_deleted: m.metadata.forward_deleted.value.clone(),
        reverse_deleted: m.metadata.reverse_deleted.value.clone(),
        reverse_ledger: m.metadata.reverse_ledger.value.clone(),
        origin_column: m.origin.column.value.clone(),
        origin_desktop: m.origin.desktop.value.clone(),
        origin_cloud: m.origin.cloud.value.clone(),
        created_column: m.timestamps.created.value.clone(),
        updated_column: m.timestamps.updated.value.clone(),
        tenant: m
            .tenant
            .as_ref()
            .map(|t| Tenant { column: t.value.column.value.clone(), env: t.value.env.value.clone() }),
        lookback_seconds: m.lookback_seconds,
        delete_guard: DeleteGuard {
            max_percent: m.delete_guard.max_percent.value,
            min_rows: m.delete_guard.min_rows.value,
        },
    }
}
