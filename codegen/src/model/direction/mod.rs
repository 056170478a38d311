//! One table in one direction: what is read, how it is staged and matched, what it depends on.
//! Resolved in small steps, each in its own file: `tracking` (the change-tracking column and what
//! mode and strategy allow), `mapping` (skipped columns and `set` rules), `staged` (the staged and
//! read columns, key, dedup, tenant scope), `references` (parents checked before applying) and
//! `deletes` (whether and within what rows the target's deletes happen), `ownership` (which
//! side writes which columns of a row).

mod deletes;
mod mapping;
mod ownership;
mod references;
mod staged;
mod tracking;

use std::collections::BTreeSet;

use serde_saphyr::Spanned;

pub(super) use deletes::link_referrers;

use super::builder::Builder;
use super::{Direction, Mode, Settings, Side, Strategy, Table, TableDirection};
use crate::manifest::{self, DirectionDef};

/// Everything a direction's steps read.
pub(super) struct Context<'a> {
    pub settings: &'a Settings,
    pub tables: &'a [(Table, &'a manifest::Table)],
    pub table: &'a Table,
    pub def: &'a manifest::Table,
    pub dir: Direction,
    pub d: &'a Spanned<DirectionDef>,
}

impl Context<'_> {
    fn name(&self) -> &str {
        &self.table.name
    }

    /// `forward.` or `reverse.`, for field names in messages.
    fn field(&self, rest: &str) -> String {
        format!("{}.{rest}", self.dir.as_str())
    }

    fn source(&self) -> &Side {
        self.table.source(self.dir)
    }

    fn target(&self) -> &Side {
        self.table.target(self.dir)
    }

    fn mode(&self) -> Mode {
        self.d.value.mode.value
    }

    fn strategy(&self) -> Strategy {
        self.d.value.strategy.value
    }

    /// Problems of the table itself (its references) are reported by one direction only: forward
    /// when the table has one, else reverse.
    fn reports_table_problems(&self) -> bool {
        self.dir == Direction::Forward || self.def.forward.is_none()
    }
}

impl Builder {
    pub(super) fn direction(&mut self, cx: &Context) -> Option<TableDirection> {
        let before = self.problem_count();
        let tracking = self.tracking(cx);
        self.check_mode_and_strategy(cx);
        let skipped = self.skipped(cx);
        let mut rules = self.rules(cx, skipped);
        let staged = staged::staged(cx, &rules, tracking.as_deref());
        let key = self.key_and_dedup(cx, &staged.staged);
        let (tenant_source, tenant_target) = self.tenant_columns(cx);
        let references = self.references(cx, &staged.staged, &mut rules.depends_on);
        let deletes = self.deletes(cx, &references);
        let desktop_owns = self.desktop_owns(cx);
        if self.problem_count() > before {
            return None;
        }
        let mut seen = BTreeSet::new();
        rules.depends_on.retain(|d| seen.insert(d.clone()));
        Some(TableDirection {
            table: cx.name().to_string(),
            direction: cx.dir,
            line: cx.table.line,
            source: cx.source().clone(),
            target: cx.target().clone(),
            mode: cx.mode(),
            strategy: cx.strategy(),
            tracking,
            track_xmin: tracking::tracks_xmin(cx),
            read: staged.read,
            staged: staged.staged,
            computed: rules.computed,
            key: key.key,
            dedup: key.dedup,
            origin_column: cx.settings.origin_column.clone(),
            tenant_source,
            tenant_target,
            references,
            depends_on: rules.depends_on,
            deletes,
            desktop_owns,
            ledger: (cx.dir == Direction::Reverse || cx.def.reverse.is_some())
                .then(|| cx.settings.reverse_ledger.clone()),
        })
    }
}
