//! Proof that a source table is as it was at the last look, read from the server's own change
//! counters rather than from the rows: a delete check that would scan a million keys on each side
//! to find none gone, or a full read that would copy a million rows to write none, is skipped when
//! the proof is the one recorded when it last ran.
//!
//! A key can leave the source only by a DELETE, an UPDATE (of the key or of the column that puts the
//! row in the tenant's scope), a TRUNCATE or a rewrite; a row read in full changes by those or by
//! an INSERT. The proof is the table's cumulative `n_tup_upd` and `n_tup_del` counters (and
//! `n_tup_ins`, for a full read) with its `relfilenode` (which TRUNCATE, CLUSTER, VACUUM FULL and a
//! rewriting ALTER change), pinned to the statistics' lifetime: the database's last reset (a reset
//! of one table's counters moves it too) and the server's start (a crash discards the counters).
//!
//! The counters are only as good as their flush. Since PostgreSQL 15 a backend adds what its
//! committed transactions did to the shared counters when it goes idle, at most once a second,
//! else 10 s later; before 15 the statistics travelled by UDP and could be dropped, so no proof is
//! given there. A backend that was busy, or went idle less than 11 s ago, may hold a change not yet
//! counted: while any other session of the database is in that state, no proof is given and the
//! work runs (the session holding the run lock only holds it; the reading session itself asks for
//! its own counts to be flushed first, as it may have written the table in the other direction). The
//! proof recorded is the one read *before* the work's snapshot, so a change the work misses moves
//! the counters past it: at worst a change is found one run late, never missed. None is given
//! either where the counters cannot be trusted at all: a view, a partitioned or foreign table, a
//! standby (replayed changes are not counted), `track_counts` off, statistics of other sessions
//! this role may not see. The target's identity is part of it (a restored cloud, a recreated
//! table), and so is the statement the proof stands for (a manifest that changed the key, the
//! columns or the scope).
//! A proof is trusted for a day at most: the work runs at least daily whatever the counters say.

use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio_postgres::types::Type;
use tokio_postgres::{Client, GenericClient};

use super::names::ident;
use crate::spec::{Side, TableSpec};

/// How long a proof spares the work: past this, it runs whatever the counters say.
const TRUSTED_FOR: Duration = Duration::from_secs(24 * 60 * 60);

/// Seconds a session may hold counts it has not flushed after going idle (PostgreSQL's 10 s idle
/// flush, and a margin).
const FLUSH_WINDOW_SECONDS: f64 = 11.0;

/// What the proof must rule out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Counting {
    /// A key gone: inserts do not matter.
    KeysLost,
    /// Any row changed, added or gone.
    AnyChange,
}

/// Flushes this session's own pending counts (it goes idle after this statement, which a proof
/// read outside a transaction follows); PL/pgSQL so that an older server parses it.
const FLUSH_OWN: &str = "DO $$ BEGIN IF current_setting('server_version_num')::int >= 150000 THEN \
     PERFORM pg_stat_force_next_flush(); END IF; END $$";

/// Each named source table's counters, in the order named, NULL where they cannot prove anything.
/// The statistics functions are called directly, not through the `pg_stat_*` views, which cost
/// more to plan than the rest. `backend_type` is read through `to_jsonb` so the statement parses on
/// a server older than 10 (which gets no proof).
fn source_sql() -> String {
    format!(
        "SELECT CASE WHEN c.relkind = 'r' AND current_setting('server_version_num')::int >= 150000 \
     AND NOT pg_is_in_recovery() AND current_setting('track_counts')::bool \
     AND NOT EXISTS (SELECT FROM pg_stat_get_activity(NULL) a WHERE a.datid = d.oid \
         AND a.pid <> pg_backend_pid() AND a.pid IS DISTINCT FROM ({RUN_LOCK_HOLDER}) \
         AND (to_jsonb(a) ->> 'backend_type') IS DISTINCT FROM 'autovacuum worker' \
         AND (a.state IS DISTINCT FROM 'idle' OR a.state_change > clock_timestamp() - make_interval(secs => $3))) \
     THEN concat_ws(' ', c.oid, c.relfilenode, CASE WHEN t.any_change THEN pg_stat_get_tuples_inserted(c.oid) END, \
     pg_stat_get_tuples_updated(c.oid), pg_stat_get_tuples_deleted(c.oid), \
     coalesce(pg_stat_get_db_stat_reset_time(d.oid)::text, '-'), pg_postmaster_start_time(), md5(t.statement)) END \
     FROM unnest($1::text[], $2::text[], $4::bool[]) WITH ORDINALITY AS t(name, statement, any_change, n) \
     CROSS JOIN pg_database d LEFT JOIN pg_class c ON c.oid = to_regclass(t.name) \
     WHERE d.datname = current_database() ORDER BY t.n",
        RUN_LOCK_HOLDER = super::lock::holder_sql()
    )
}

/// Each named target table's identity, in the order named: a new table or a restored server is a
/// new one. Not its counters: on a cloud shared by many firms, every other firm's writes would move
/// them, and a full table would be read again on every run. A change someone else made to the
/// target's copy of this firm's rows is put back by the next full read: when the source changes,
/// and daily.
const TARGET: &str =
    "SELECT CASE WHEN c.oid IS NOT NULL THEN concat_ws(' ', c.oid, c.relfilenode, pg_postmaster_start_time()) END \
     FROM unnest($1::text[]) WITH ORDINALITY AS t(name, n) LEFT JOIN pg_class c ON c.oid = to_regclass(t.name) \
     ORDER BY t.n";

/// What one proof is asked for: a table, what it must rule out, and the statement (the SQL and
/// settings of the work it spares) it stands for.
pub(crate) struct Ask<'a> {
    pub spec: &'a TableSpec,
    pub counting: Counting,
    pub statement: String,
}

/// The proof for one table now, or `None` when the source's counters prove nothing. The error
/// names its side.
pub(crate) async fn proof(
    spec: &TableSpec,
    counting: Counting,
    statement: &str,
    source: &Client,
    target: &impl GenericClient,
) -> Result<Option<String>, (Side, tokio_postgres::Error)> {
    let ask = Ask { spec, counting, statement: statement.to_string() };
    Ok(proofs(std::slice::from_ref(&ask), source, target).await?.pop().flatten())
}

/// The proofs for tables of one direction now, in the order asked: one statement on each side
/// whatever their number.
pub(crate) async fn proofs(
    asks: &[Ask<'_>],
    source: &Client,
    target: &impl GenericClient,
) -> Result<Vec<Option<String>>, (Side, tokio_postgres::Error)> {
    let Some(first) = asks.first() else { return Ok(Vec::new()) };
    let (on_source, on_target) = (first.spec.direction.source(), first.spec.direction.target());
    let names: Vec<String> = asks.iter().map(|a| ident(a.spec.source.name)).collect();
    let statements: Vec<&str> = asks.iter().map(|a| a.statement.as_str()).collect();
    let any_change: Vec<bool> = asks.iter().map(|a| a.counting == Counting::AnyChange).collect();
    // Unnamed statements (`query_typed`): a transaction-mode pooler may run a named one's bind
    // on another server connection than its prepare.
    let params: [(&(dyn tokio_postgres::types::ToSql + Sync), Type); 4] = [
        (&names, Type::TEXT_ARRAY),
        (&statements, Type::TEXT_ARRAY),
        (&FLUSH_WINDOW_SECONDS, Type::FLOAT8),
        (&any_change, Type::BOOL_ARRAY),
    ];
    // Sent together: the server flushes at the end of the first, before it reads the second; the
    // target is asked for its identities meanwhile.
    let sql = source_sql();
    let counters = async {
        let (_, counters) = tokio::try_join!(source.batch_execute(FLUSH_OWN), source.query_typed(&sql, &params))
            .map_err(|e| (on_source, e))?;
        Ok(counters)
    };
    let targets: Vec<String> = asks.iter().map(|a| ident(a.spec.target.name)).collect();
    let identities =
        async { target.query_typed(TARGET, &[(&targets, Type::TEXT_ARRAY)]).await.map_err(|e| (on_target, e)) };
    let (counters, identities) = tokio::try_join!(counters, identities)?;
    let proofs = counters.iter().zip(&identities).map(|(counters, identity)| {
        let counters = counters.get::<_, Option<String>>(0)?;
        let identity = identity.get::<_, Option<String>>(0)?;
        Some(format!("{counters} / {identity}"))
    });
    Ok(proofs.collect())
}

/// True when `now` equals the proof recorded at `recorded_at`, less than a day ago.
pub(crate) fn holds(now: Option<&str>, recorded: Option<&str>, recorded_at: Option<DateTime<Utc>>) -> bool {
    let trusted = chrono::Duration::from_std(TRUSTED_FOR).unwrap_or_default();
    let recent = recorded_at.is_some_and(|at| at + trusted > Utc::now());
    recent && now.is_some() && now == recorded
}
