//! What `run --every --listen` tells a monitoring system: `/healthz` (is the sync keeping up?) and
//! `/metrics` (Prometheus text), from what each table and each pass of the run reported. The engine
//! knows nothing of it: the monitor is one more [`Observer`] of each pass, and the run loop hands it
//! each pass's outcome.

mod health;
mod http;
mod metrics;

use std::fmt::Display;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use chrono::{DateTime, Local, Utc};

use super::error::CommandError;
use super::schedule::Schedule;
use super::Invocation;
use crate::engine::{Connections, DeleteReport, Observer, Status, SyncOptions, TableReport};
use crate::spec::Direction;

/// The problems a failed pass's `/healthz` reason names before it says how many more there were.
const REASONS_SHOWN: usize = 3;

/// The state `/healthz` and `/metrics` read, updated as each table and pass finishes.
pub(super) struct Monitor {
    every: Duration,
    schedule: Schedule,
    dry_run: bool,
    state: Mutex<State>,
}

struct State {
    tables: Vec<TableState>,
    passes: Passes,
}

/// One table-direction over the life of the run.
struct TableState {
    direction: Direction,
    table: &'static str,
    /// The stored watermark: read from the metadata at start, then each sync's new one.
    watermark: Option<DateTime<Utc>>,
    last: Option<LastRun>,
    rows_written_total: u64,
    rows_set_aside_total: u64,
    rows_deleted_total: u64,
    failures_total: u64,
    delete_failures_total: u64,
}

impl TableState {
    /// A table not synced yet in this run: no watermark read, every counter at zero.
    fn new(direction: Direction, table: &'static str) -> TableState {
        TableState {
            direction,
            table,
            watermark: None,
            last: None,
            rows_written_total: 0,
            rows_set_aside_total: 0,
            rows_deleted_total: 0,
            failures_total: 0,
            delete_failures_total: 0,
        }
    }
}

/// The table's latest sync.
struct LastRun {
    rows_written: u64,
    rows_set_aside: u64,
    seconds: f64,
}

#[derive(Default)]
struct Passes {
    total: u64,
    failures_total: u64,
    /// When the pass in hand began; `None` between passes.
    running_since: Option<Instant>,
    /// What went wrong so far in the pass in hand, for its failure's reason.
    problems: Vec<Problem>,
    last: Option<PassOutcome>,
    /// When the latest pass that succeeded finished.
    last_success: Option<(Instant, DateTime<Utc>)>,
}

/// A table or delete check that failed (`failed`), or only set rows aside or held them.
struct Problem {
    failed: bool,
    text: String,
}

struct PassOutcome {
    finished: Instant,
    finished_at: DateTime<Utc>,
    took: Duration,
    /// Why the pass did not succeed; `None` when it did.
    failure: Option<String>,
}

impl Monitor {
    /// A monitor of the tables `options` select, for passes every `every`.
    pub(super) fn new(
        inv: &Invocation<'_>,
        options: &SyncOptions,
        every: Duration,
        schedule: Schedule,
    ) -> Arc<Monitor> {
        let tables = Direction::BOTH
            .iter()
            .flat_map(|d| inv.program.tables(*d, &options.tables))
            .map(|t| TableState::new(t.spec().direction, t.spec().name))
            .collect();
        Arc::new(Monitor {
            every,
            schedule,
            dry_run: options.dry_run,
            state: Mutex::new(State { tables, passes: Passes::default() }),
        })
    }

    /// Reads the stored watermarks (so the lag of a table is known before its first sync here),
    /// binds `addr` and serves `/healthz` and `/metrics` on it for as long as the process runs.
    pub(super) async fn listen(
        self: &Arc<Self>,
        inv: &Invocation<'_>,
        connections: Option<&mut Connections>,
        addr: SocketAddr,
    ) -> Result<(), CommandError> {
        let stored = match connections {
            Some(connections) => stored_watermarks(inv, connections).await,
            None => Err(CommandError::Usage("the databases are not reachable yet".into())),
        };
        match stored {
            Ok(rows) => {
                let mut state = self.lock();
                for (direction, table, watermark) in rows {
                    if let Some(t) = state.table(direction, &table) {
                        t.watermark = watermark;
                    }
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the stored watermarks; lag is known after each table's sync")
            }
        }
        let listener = tokio::net::TcpListener::bind(addr).await.map_err(|e| {
            CommandError::Usage(format!(
                "cannot listen on {addr} for /healthz and /metrics: {e}; choose another --listen port, or stop what uses it"
            ))
        })?;
        let bound = listener.local_addr().unwrap_or(addr);
        if !bound.ip().is_loopback() {
            tracing::warn!(
                address = %bound,
                "/healthz and /metrics are served on a non-loopback address: other machines can read them (no authentication)"
            );
        }
        tracing::info!(address = %bound, "serving http://{bound}/healthz and http://{bound}/metrics");
        tokio::spawn(http::serve(listener, Arc::clone(self)));
        Ok(())
    }

    /// A pass begins.
    pub(super) fn pass_started(&self) {
        let mut state = self.lock();
        state.passes.running_since = Some(Instant::now());
        state.passes.problems.clear();
    }

    /// A pass ended: with its exit code, or the error that stopped it.
    pub(super) fn pass_finished(&self, result: &Result<i32, CommandError>) {
        let mut state = self.lock();
        let failure = match result {
            Ok(0) => None,
            Ok(code) => Some(failure_reason(&state.passes.problems, *code)),
            Err(e) => Some(format!("last pass failed: {e}")),
        };
        let took = state.passes.running_since.take().map(|s| s.elapsed()).unwrap_or_default();
        state.passes.record(took, failure);
    }

    /// A pass could not even begin (the run lock could not be taken again).
    pub(super) fn pass_not_started(&self, error: &dyn Display) {
        let mut state = self.lock();
        state.passes.running_since = None;
        state.passes.record(Duration::ZERO, Some(format!("last pass could not start: {error}")));
    }

    /// `/healthz`: whether the run is healthy, and why (or why not), as one line.
    fn health(&self) -> (bool, String) {
        let window = health::Window::of(&self.schedule, &Local::now());
        health::judge(&self.lock().passes, self.every, Instant::now(), window)
    }

    /// `/metrics`: the Prometheus text exposition.
    fn metrics(&self) -> String {
        metrics::render(&self.lock(), self.every, Utc::now())
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic elsewhere while holding the lock leaves counts that are still worth serving.
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl State {
    fn table(&mut self, direction: Direction, table: &str) -> Option<&mut TableState> {
        self.tables.iter_mut().find(|t| t.direction == direction && t.table == table)
    }
}

impl Passes {
    fn record(&mut self, took: Duration, failure: Option<String>) {
        let (finished, finished_at) = (Instant::now(), Utc::now());
        self.total += 1;
        if failure.is_some() {
            self.failures_total += 1;
        } else {
            self.last_success = Some((finished, finished_at));
        }
        self.last = Some(PassOutcome { finished, finished_at, took, failure });
    }
}

impl Observer for Monitor {
    fn table_finished(&self, r: &TableReport) {
        let dry_run = self.dry_run;
        let mut state = self.lock();
        let problem = match r.status {
            Status::Ok => None,
            Status::Partial => Some(Problem {
                failed: false,
                text: format!("{} {}: {} row(s) set aside", r.direction, r.table, r.rejected),
            }),
            Status::Failed => Some(Problem {
                failed: true,
                text: format!("{} {}: {}", r.direction, r.table, r.error.as_deref().unwrap_or("failed")),
            }),
        };
        state.passes.problems.extend(problem);
        let Some(t) = state.table(r.direction, &r.table) else { return };
        t.last = Some(LastRun {
            rows_written: r.rows_written,
            rows_set_aside: r.rejected,
            seconds: r.millis as f64 / 1000.0,
        });
        t.rows_written_total += r.rows_written;
        t.rows_set_aside_total += r.rejected;
        if r.status == Status::Failed {
            t.failures_total += 1;
        }
        // A failed table keeps its stored watermark; a dry run stores none.
        if let (Some(watermark), false) = (r.watermark_to, dry_run) {
            t.watermark = Some(watermark);
        }
    }

    fn deletes_finished(&self, r: &DeleteReport) {
        let mut state = self.lock();
        if r.is_failure() {
            let reason = r.error.as_deref().unwrap_or("failed");
            let text = format!("{} {} deletes: {reason}", r.direction, r.table);
            state.passes.problems.push(Problem { failed: true, text });
        } else if r.held > 0 {
            let text = format!("{} {} deletes: {} row(s) held", r.direction, r.table, r.held);
            state.passes.problems.push(Problem { failed: false, text });
        }
        let Some(t) = state.table(r.direction, &r.table) else { return };
        t.rows_deleted_total += r.deleted;
        if r.is_failure() {
            t.delete_failures_total += 1;
        }
    }
}

/// Why a pass that ran did not succeed: its failed tables first, then the rows it set aside or held.
fn failure_reason(problems: &[Problem], code: i32) -> String {
    if problems.is_empty() {
        return format!("last pass failed with exit code {code}");
    }
    let mut ordered: Vec<&Problem> = problems.iter().collect();
    ordered.sort_by_key(|p| !p.failed);
    let head = if ordered[0].failed { "last pass failed" } else { "last pass incomplete" };
    let shown: Vec<&str> = ordered.iter().take(REASONS_SHOWN).map(|p| p.text.as_str()).collect();
    let mut reason = format!("{head}: {}", shown.join("; "));
    if problems.len() > REASONS_SHOWN {
        reason.push_str(&format!(" (and {} more)", problems.len() - REASONS_SHOWN));
    }
    reason
}

/// Every table-direction's stored watermark, from both metadata tables.
async fn stored_watermarks(
    inv: &Invocation<'_>,
    connections: &mut Connections,
) -> Result<Vec<(Direction, String, Option<DateTime<Utc>>)>, CommandError> {
    let scope = inv.scope()?;
    let (rows, _) = super::status::read(inv.program, connections, &scope).await?;
    Ok(rows.into_iter().map(|r| (r.direction, r.table, r.watermark)).collect())
}

/// `--listen`: a bare port is on the loopback address; any other address is given in full.
pub(super) fn parse_listen(s: &str) -> Result<SocketAddr, String> {
    let s = s.trim();
    if let Ok(port) = s.parse::<u16>() {
        return Ok((Ipv4Addr::LOCALHOST, port).into());
    }
    if let Some(port) = s.strip_prefix("localhost:").and_then(|p| p.parse::<u16>().ok()) {
        return Ok((Ipv4Addr::LOCALHOST, port).into());
    }
    s.parse::<SocketAddr>()
        .map_err(|_| format!("`{s}` is not a port or an address and port such as 9750, 127.0.0.1:9750 or [::1]:9750"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bare_port_listens_on_the_loopback_only() {
        assert_eq!(parse_listen("9750").unwrap(), "127.0.0.1:9750".parse().unwrap());
        assert_eq!(parse_listen("localhost:9750").unwrap(), "127.0.0.1:9750".parse().unwrap());
        assert_eq!(parse_listen("0.0.0.0:9750").unwrap(), "0.0.0.0:9750".parse().unwrap());
        assert_eq!(parse_listen("[::1]:9750").unwrap(), "[::1]:9750".parse().unwrap());
        assert!(parse_listen("0.0.0.0").unwrap_err().contains("127.0.0.1:9750"));
        assert!(parse_listen("99999").is_err());
    }

    #[test]
    fn a_failed_pass_names_its_failures_first_and_counts_the_rest() {
        let problem = |failed, text: &str| Problem { failed, text: text.to_string() };
        let problems = [
            problem(false, "forward b: 2 row(s) set aside"),
            problem(true, "forward a: cannot connect"),
            problem(true, "forward c: x"),
            problem(true, "forward d: y"),
        ];
        assert_eq!(
            failure_reason(&problems, 3),
            "last pass failed: forward a: cannot connect; forward c: x; forward d: y (and 1 more)"
        );
        assert_eq!(failure_reason(&problems[..1], 1), "last pass incomplete: forward b: 2 row(s) set aside");
        assert_eq!(failure_reason(&[], 1), "last pass failed with exit code 1");
    }
}
