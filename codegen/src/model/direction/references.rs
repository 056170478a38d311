//! The parents a direction checks staged rows against before applying: each reference names a
//! table of the manifest and one column per key column of that table's target side.

use super::mapping::table_names;
use super::Context;
use crate::manifest::Reference;
use crate::model::builder::{names, pos, Builder};
use crate::model::{ReferenceCheck, StagedColumn};

impl Builder {
    pub(super) fn references(
        &mut self,
        cx: &Context,
        staged: &[StagedColumn],
        depends_on: &mut Vec<String>,
    ) -> Vec<ReferenceCheck> {
        let mut references = Vec::new();
        for (i, r) in cx.def.references.iter().enumerate() {
            if let Some(check) = self.reference(cx, &format!("references[{i}]"), &r.value, staged) {
                depends_on.push(check.parent.clone());
                references.push(check);
            }
        }
        references
    }

    fn reference(
        &mut self,
        cx: &Context,
        field: &str,
        r: &Reference,
        staged: &[StagedColumn],
    ) -> Option<ReferenceCheck> {
        let report = cx.reports_table_problems();
        let Some((parent, _)) = cx.tables.iter().find(|(t, _)| t.name == r.table.value) else {
            if report && !self.declared.contains(&r.table.value) {
                self.error(
                    pos(&r.table),
                    Some(cx.name()),
                    &format!("{field}.table"),
                    format!("reference to unknown table `{}` (tables: {})", r.table.value, table_names(cx.tables)),
                    "name a table of the manifest",
                );
            }
            return None;
        };
        let parent_target = parent.target(cx.dir);
        if r.columns.len() != parent_target.key.len() {
            if report {
                self.error(
                    pos(&r.table),
                    Some(cx.name()),
                    &format!("{field}.columns"),
                    format!(
                        "{} column(s) reference `{}`, whose {} key has {} column(s) ({})",
                        r.columns.len(),
                        parent.name,
                        cx.dir.target().as_str(),
                        parent_target.key.len(),
                        parent_target.key.join(", ")
                    ),
                    "list one column per key column of the parent",
                );
            }
            return None;
        }
        let mut pairs = Vec::new();
        let mut ok = true;
        let desktop = &cx.table.desktop;
        for (c, pk) in r.columns.iter().zip(&parent_target.key) {
            let tgt = cx.table.renames.to_target(cx.dir, &c.value);
            if desktop.column(&c.value).is_none() {
                if report {
                    self.error(
                        pos(c),
                        Some(cx.name()),
                        &format!("{field}.columns"),
                        format!(
                            "reference column `{}` is not a column of the table (columns: {})",
                            c.value,
                            names(&desktop.columns)
                        ),
                        "name a column listed under `columns:`",
                    );
                }
                ok = false;
            } else if staged.iter().any(|s| s.name == tgt) {
                pairs.push((tgt, pk.clone()));
            } else {
                ok = false;
            }
        }
        ok.then(|| ReferenceCheck { parent: parent.name.clone(), parent_table: parent_target.name.clone(), pairs })
    }
}
