//! Whether a direction deletes the target rows whose source row is gone, and how it keeps those
//! deletes to the run's tenant and away from rows other rows still point at.

use super::Context;
use crate::manifest::DeletesDef;
use crate::model::builder::{pos, Builder};
use crate::model::{Deletes, Direction, Mode, ReferenceCheck, Referrer, ScopeParent, Strategy, TableDirection};

impl Builder {
    /// Upsert tables propagate deletes unless the manifest says `deletes: keep`: forward deletes the
    /// desktop-born cloud rows the desktop no longer has; reverse deletes the desktop copies (the
    /// ledger's rows) of mobile-born rows the cloud no longer has.
    pub(super) fn deletes(&mut self, cx: &Context, references: &[ReferenceCheck]) -> Option<Deletes> {
        let d = &cx.d.value;
        let wanted = d.deletes.as_ref().map(|s| s.value);
        let able = cx.strategy() == Strategy::Upsert;
        if let (Some(DeletesDef::Propagate), false, Some(at)) = (wanted, able, d.deletes.as_ref()) {
            self.error(
                pos(at),
                Some(cx.name()),
                &cx.field("deletes"),
                format!("deletes propagate only for upsert tables; this is {} {}", cx.dir.as_str(), cx.strategy()),
                "remove `deletes:` (replace_origin already deletes what the source no longer has)",
            );
        }
        if let Some(every) = &d.deletes_every_seconds {
            if cx.mode() != Mode::Incremental || !able || wanted == Some(DeletesDef::Keep) {
                self.error(
                    pos(every),
                    Some(cx.name()),
                    &cx.field("deletes_every_seconds"),
                    "a delete check interval applies to incremental upsert tables that propagate deletes".into(),
                    "remove it: full tables check for deletes on every run",
                );
            }
        }
        if !able || wanted == Some(DeletesDef::Keep) {
            return None;
        }
        let scope_through = self.delete_scope(cx, references)?;
        Some(Deletes {
            every_seconds: d.deletes_every_seconds.as_ref().map_or(0, |s| s.value),
            scope_through,
            referrers: Vec::new(),
        })
    }

    /// `Some(None)` when the table has the tenant column itself (or no tenant scope is declared),
    /// `Some(Some(parent))` when a parent carries it, `None` (with an error) when nothing bounds the
    /// deletes to one firm.
    fn delete_scope(&mut self, cx: &Context, references: &[ReferenceCheck]) -> Option<Option<ScopeParent>> {
        let Some(tenant) = cx.settings.tenant.as_ref() else { return Some(None) };
        if cx.dir == Direction::Reverse {
            // Reverse deletes only rows of the firm's ledger.
            return Some(None);
        }
        let cloud_name = |t: &crate::model::Table| t.renames.to_cloud(&tenant.column);
        if cx.target().column(&cloud_name(cx.table)).is_some() {
            return Some(None);
        }
        let through = references.iter().find_map(|r| {
            let (parent, _) = cx.tables.iter().find(|(t, _)| t.name == r.parent)?;
            let column = parent.target(cx.dir).column(&cloud_name(parent))?;
            Some(ScopeParent { table: r.parent_table.clone(), pairs: r.pairs.clone(), tenant: column.clone() })
        });
        if through.is_none() {
            self.error(
                pos(&cx.d.value.strategy),
                Some(cx.name()),
                &cx.field("deletes"),
                format!(
                    "deletes must stay within one firm, and `{}` has no tenant column `{}`, nor a reference to a \
                     table that has it",
                    cx.target().name,
                    tenant.column
                ),
                "add a `references:` entry to a parent table with the tenant column, or set `deletes: keep`",
            );
            return None;
        }
        Some(through)
    }
}

/// Tells each table that deletes which target tables reference it, from the other directions'
/// references on the same side.
pub(in crate::model) fn link_referrers(directions: &mut [TableDirection]) {
    let links: Vec<(Direction, String, Referrer)> = directions
        .iter()
        .flat_map(|child| {
            child.references.iter().filter(|r| r.parent != child.table).map(|r| {
                let referrer =
                    Referrer { name: child.table.clone(), table: child.target.name.clone(), pairs: r.pairs.clone() };
                (child.direction, r.parent.clone(), referrer)
            })
        })
        .collect();
    for t in directions.iter_mut() {
        let Some(deletes) = t.deletes.as_mut() else { continue };
        deletes.referrers = links
            .iter()
            .filter(|(dir, parent, _)| *dir == t.direction && *parent == t.table)
            .map(|(_, _, r)| r.clone())
            .collect();
    }
}
