//! Why a cluster could not be started, used or stopped.

use std::path::PathBuf;
use std::process::ExitStatus;

use super::{OS_USER, PG_BIN_ENV, PORT_ATTEMPTS};

/// Why a cluster could not be started, used or stopped; each variant says which cluster and what
/// to do, since these surface in test failures and in `pgbisync demo`.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    /// No directory holds the server binaries.
    #[error(
        "PostgreSQL server binaries (initdb, pg_ctl, postgres, psql) not found; searched: {}. \
         Install the PostgreSQL server binaries (e.g. `apt-get install postgresql`) \
         or set {PG_BIN_ENV} to the directory holding them (e.g. /usr/lib/postgresql/15/bin)",
        list_paths(.searched)
    )]
    BinariesNotFound { searched: Vec<PathBuf> },
    /// Running as root, and no `postgres` OS user to hand the server to.
    #[error(
        "running as root, which PostgreSQL refuses, and there is no `{OS_USER}` OS user \
         to run the server as ({detail}); create one (e.g. `useradd --system {OS_USER}`) \
         or run as a non-root user"
    )]
    NoPostgresUser { detail: String },
    /// A setting in [`ClusterOptions`] that would corrupt postgresql.conf or break the cluster.
    #[error("invalid server setting `{name}` = {value:?}: {reason}")]
    InvalidSetting { name: String, value: String, reason: &'static str },
    /// As root, the temp dir lies under a directory the `postgres` user cannot enter.
    #[error(
        "cluster `{cluster}`: the `{OS_USER}` user cannot reach temp dir {} \
         (an ancestor lacks o+x); point TMPDIR at a world-traversable directory such as /tmp",
        .dir.display()
    )]
    TempDirUnreachable { cluster: String, dir: PathBuf },
    /// A file system or process-spawn failure.
    #[error("cluster `{cluster}`: {action}: {source}")]
    Io {
        cluster: String,
        action: String,
        #[source]
        source: std::io::Error,
    },
    /// A command exited unsuccessfully; carries its output and, server side, the log tail.
    #[error(
        "cluster `{cluster}`: `{command}` failed ({status}){}{}",
        section("output", .output),
        section("server log tail", .log_tail)
    )]
    Command { cluster: String, command: String, status: ExitStatus, output: String, log_tail: String },
    /// Every port tried was taken before the server could bind it.
    #[error(
        "cluster `{cluster}`: no free port after {PORT_ATTEMPTS} attempts (tried {ports:?}){}",
        section("server log tail", .log_tail)
    )]
    PortsExhausted { cluster: String, ports: Vec<u16>, log_tail: String },
}

fn list_paths(paths: &[PathBuf]) -> String {
    if paths.is_empty() {
        return "(no candidate directories)".to_owned();
    }
    paths.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ")
}

fn section(title: &str, body: &str) -> String {
    let body = body.trim_end();
    if body.is_empty() {
        String::new()
    } else {
        format!("\n--- {title} ---\n{body}")
    }
}
