//! The log on stderr: human lines by default, or with `--log-format json` one JSON object per line
//! for a log collector (journald, Docker, a Windows service wrapper), every field at the top level.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

use super::args::LogFormat;
use crate::engine::results;

/// Logs to stderr in the human format: info by default, more with each `-v`, warnings only with
/// `-q`; `PGBISYNC_LOG` (an `EnvFilter`) overrides.
pub fn init_logging(verbose: u8, quiet: bool) {
    init(LogFormat::Human, verbose, quiet);
}

/// Logs to stderr in `format`, at the level `-v`/`-q` ask for; `PGBISYNC_LOG` overrides.
pub fn init(format: LogFormat, verbose: u8, quiet: bool) {
    let level = if quiet {
        "warn"
    } else {
        match verbose {
            0 => "info",
            1 => "debug",
            _ => "trace",
        }
    };
    // The human log leaves out the per-table result events: each table's line on stdout says it.
    let results = match format {
        LogFormat::Human => "off",
        LogFormat::Json => level,
    };
    let filter = EnvFilter::try_from_env("PGBISYNC_LOG")
        .unwrap_or_else(|_| EnvFilter::new(format!("warn,pgbisync_runtime={level},{}={results}", results::TARGET)));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Human => builder.with_target(false).with_ansi(std::io::stderr().is_terminal()).try_init(),
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .with_span_list(false)
            .with_ansi(false)
            .try_init(),
    };
}
