//! The SQL text of each table-direction. Identifiers are always quoted; values never appear: they
//! are bound parameters, COPY data, or `current_setting('pgbisync.*')` settings that the engine sets
//! with bound parameters at the start of each transaction (COPY cannot take parameters).
//!
//! Each statement is written as a skeleton that reads like the SQL it produces; [`layout::fit`]
//! then breaks the lines a wide table makes too long. The runtime wraps some statements as
//! subqueries, so none ends in `;` or holds a `--` comment.

mod apply;
mod checks;
mod ddl;
pub mod deletes;
mod direct;
mod fragment;
mod layout;
pub mod names;
mod read;
mod rejects;
mod scope;
mod stage;
pub mod verify;

pub use checks::Constraint;
pub use ddl::{side_ddl, touch_function};
pub use direct::{DirectCheckText, DirectLoadText};
pub use fragment::{ident, Ident};
pub use names::{REJECTED, SET_ASIDE, STAGE};
pub use stage::stage_columns;

use crate::model::{Mode, TableDirection};
use layout::fit;

/// The text of all statements one table-direction runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableSqlText {
    pub read_full: String,
    pub read_incremental: Option<String>,
    pub probe_incremental: Option<String>,
    pub create_stage: String,
    pub copy_stage: String,
    pub dedup: Option<String>,
    pub checks: Vec<String>,
    pub settle: Option<String>,
    pub prepare: Vec<String>,
    pub prepared: Vec<&'static str>,
    pub apply: Vec<String>,
    pub ledger: Option<String>,
    pub born_in_cloud: Option<String>,
    pub describe_rejects: String,
    pub verify_source: String,
    pub verify_target: String,
    pub deletes: Option<deletes::DeleteSqlText>,
    pub direct: Option<DirectLoadText>,
}

pub fn table_sql(t: &TableDirection) -> TableSqlText {
    let all = |statements: Vec<String>| statements.into_iter().map(fit).collect();
    let checks = checks::checks(t);
    TableSqlText {
        read_full: fit(read::read(t, false)),
        read_incremental: (t.mode == Mode::Incremental && (t.tracking.is_some() || t.track_xmin))
            .then(|| fit(read::read(t, true))),
        probe_incremental: read::probe(t).filter(|_| t.mode == Mode::Incremental).map(fit),
        create_stage: fit(stage::create_stage(t)),
        copy_stage: fit(stage::copy_stage(t)),
        dedup: stage::dedup(t).map(fit),
        checks: checks.iter().map(|c| fit(checks::reject(c))).collect(),
        settle: apply::settle(t).map(fit),
        prepare: all(apply::prepare(t)),
        prepared: apply::prepared(t),
        apply: all(apply::apply(t)),
        ledger: apply::record_ledger(t).map(fit),
        born_in_cloud: apply::born_in_cloud_keys(t).map(fit),
        describe_rejects: fit(rejects::describe_rejects(t)),
        verify_source: fit(verify::source(t)),
        verify_target: fit(verify::target(t)),
        deletes: t.deletes.as_ref().map(|d| {
            let deletes::DeleteSqlText {
                keys_source,
                keys_target,
                gone_staged,
                settling,
                held,
                delete,
                forget,
                restore,
            } = deletes::delete_sql(t, d);
            deletes::DeleteSqlText {
                keys_source: fit(keys_source),
                keys_target: fit(keys_target),
                gone_staged: gone_staged.map(fit),
                settling: settling.map(|s| deletes::SettlingText {
                    compare: fit(s.compare),
                    gone: fit(s.gone),
                    changed: fit(s.changed),
                }),
                held: held.map(fit),
                delete: fit(delete),
                forget: forget.map(fit),
                restore: fit(restore),
            }
        }),
        direct: direct::direct_load(t, &checks).map(|d| DirectLoadText {
            copy: fit(d.copy),
            empty: fit(d.empty),
            checks: d
                .checks
                .into_iter()
                .map(|c| DirectCheckText { sql: fit(c.sql), lock: c.lock.map(fit), ..c })
                .collect(),
            columns: d.columns,
        }),
    }
}
