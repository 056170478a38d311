//! Which side writes which column of a row: the side a row was born on owns all of it, except the
//! columns `desktop_owns:` gives the desktop on rows born in the cloud (an approval of a leave
//! request filed on mobile). Every column of a row has one writer, so edits on the two sides of one
//! row never fight.

use super::Context;
use crate::model::builder::{pos, Builder};

impl Builder {
    /// The desktop-owned columns as this direction's target names (checked once, by the direction
    /// that reports the table's problems).
    pub(super) fn desktop_owns(&mut self, cx: &Context) -> Vec<String> {
        let table = cx.table;
        let report = cx.reports_table_problems();
        let mut owned = Vec::new();
        for c in &cx.def.desktop_owns {
            let name = &c.value;
            let problem = if !table.shared.contains(name) {
                Some((
                    format!("`{name}` is not a shared column of the table (columns: {})", table.shared.join(", ")),
                    "name a column listed under `columns:`",
                ))
            } else if table.desktop.key.contains(name) || table.cloud.key.contains(&table.renames.to_cloud(name)) {
                Some((
                    format!(
                        "`{name}` is a key column: a key identifies the row on both sides, so one side cannot own it"
                    ),
                    "remove it from desktop_owns",
                ))
            } else if cx.settings.tenant.as_ref().is_some_and(|t| &t.column == name) {
                Some((
                    format!("`{name}` is the tenant column: a row's firm cannot change"),
                    "remove it from desktop_owns",
                ))
            } else if owned.contains(&cx.table.renames.to_target(cx.dir, name)) {
                Some((format!("`{name}` is listed twice"), "list each column once"))
            } else {
                None
            };
            match problem {
                Some((message, fix)) => {
                    if report {
                        self.error(pos(c), Some(cx.name()), "desktop_owns", message, fix);
                    }
                }
                None => owned.push(cx.table.renames.to_target(cx.dir, name)),
            }
        }
        if report && !cx.def.desktop_owns.is_empty() && cx.def.forward.is_none() {
            self.error(
                pos(&cx.def.desktop_owns[0]),
                Some(cx.name()),
                "desktop_owns",
                "the desktop owns columns, but no forward direction carries them to the cloud".into(),
                "add `forward: { mode: incremental, strategy: upsert, track: updated_at }`",
            );
        }
        owned
    }
}
