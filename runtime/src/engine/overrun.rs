//! A set-based statement that runs far past what a linear plan takes is reported while it runs.
//! A plan gone quadratic (a nested loop over a table whose statistics are stale) once ran for 9
//! minutes with nothing said, and looked like a hang; the table deadline (`--table-timeout`, an
//! hour by default) is what ends it, and this says what is going on long before.

use std::future::Future;
use std::time::{Duration, Instant};

use crate::spec::TableSpec;

/// Reported past this many times the time a linear plan takes.
const FAR_PAST: u32 = 10;

/// What any statement costs before its rows: planning, round trips, a short lock wait.
const FLOOR: Duration = Duration::from_millis(500);

/// Per staged row, what the slowest linear statement takes: the apply into a cloud table whose
/// foreign-key triggers run per row, about 10 µs (1M rows: 10.7 s through a COPY pipe).
const PER_STAGED_ROW: Duration = Duration::from_micros(10);

/// Per byte of the target, what reading it once takes (a hash join's scan of a 200 MB desktop
/// table: 0.43 s, about 2 ns a byte), with room for a cold cache.
const PER_TARGET_BYTE: Duration = Duration::from_nanos(5);

/// The time the statements of one table's batch should each take, and whom to name past it.
pub(crate) struct Watch {
    spec: &'static TableSpec,
    staged: u64,
    target_bytes: u64,
    expected: Duration,
}

impl Watch {
    pub(crate) fn new(spec: &'static TableSpec, staged: u64, target_bytes: u64) -> Watch {
        let expected = FLOOR + PER_STAGED_ROW.mul_f64(staged as f64) + PER_TARGET_BYTE.mul_f64(target_bytes as f64);
        Watch { spec, staged, target_bytes, expected }
    }

    /// Runs `statement`, warning at `FAR_PAST` times the expected time and at each doubling after,
    /// and never cuts it short: a statement that is merely slow still finishes, and the table
    /// deadline bounds the rest.
    pub(crate) async fn run<T>(&self, step: &str, statement: impl Future<Output = T>) -> T {
        let started = Instant::now();
        let mut report_at = self.expected * FAR_PAST;
        tokio::pin!(statement);
        loop {
            tokio::select! {
                biased;
                out = &mut statement => return out,
                () = tokio::time::sleep_until((started + report_at).into()) => {
                    let spec = self.spec;
                    tracing::warn!(
                        table = spec.name,
                        direction = spec.direction.as_str(),
                        step,
                        staged = self.staged,
                        target_bytes = self.target_bytes,
                        "the {step} statement has run {:.0?}, over {}x the {:.1?} a linear plan takes for {} staged rows \
                         and a target of {}; it goes on. Either the planner chose a nested loop over statistics \
                         that are stale (run `ANALYZE {}` on the {}, then sync again), or it waits on another \
                         session (see pg_stat_activity), or a trigger on the table is slow; --table-timeout ends it",
                        started.elapsed(),
                        (started.elapsed().as_secs_f64() / self.expected.as_secs_f64()) as u64,
                        self.expected,
                        self.staged,
                        megabytes(self.target_bytes),
                        spec.target.name,
                        spec.target.side.as_str(),
                    );
                    report_at *= 2;
                }
            }
        }
    }
}

fn megabytes(bytes: u64) -> String {
    format!("{:.1} MB", bytes as f64 / 1e6)
}
