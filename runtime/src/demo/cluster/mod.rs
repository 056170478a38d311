//! A throwaway local PostgreSQL cluster, for `pgbisync demo` and the end-to-end tests.
//!
//! Each [`Cluster`] lives in its own temp dir (data dir, unix socket dir, server log), listens on
//! a free loopback port with trust auth, and is torn down on drop, so many can run side by side.
//! Everything here is blocking `std::process`: async callers wrap it in `spawn_blocking`.

use std::ffi::OsStr;
use std::fmt::Write as _;
use std::fs;
use std::io::Write as _;
use std::net::{Ipv4Addr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Instant;

use tempfile::TempDir;

mod binaries;
mod error;
mod user;

use binaries::{find_binaries, Binaries};
pub use error::ClusterError;
use user::{hand_over, server_user, traversable_by_others, RunAs};

/// Names the directory of the PostgreSQL server binaries; overrides the search.
pub const PG_BIN_ENV: &str = "PGBISYNC_PG_BIN";
const OS_USER: &str = "postgres";
const PORT_ATTEMPTS: usize = 5;
const LOG_TAIL_LINES: usize = 30;
/// Settings the cluster manages itself; overriding them would break connecting or the port retry.
const MANAGED: [&str; 3] = ["port", "listen_addresses", "unix_socket_directories"];

/// A command line of mixed `&str` and `&Path` words.
macro_rules! os {
    ($($word:expr),* $(,)?) => { [$(AsRef::<OsStr>::as_ref($word)),*] };
}

/// How to configure one cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterOptions {
    /// Used in messages and as the temp dir prefix, e.g. "desktop".
    pub name: String,
    /// The server's `timezone`, e.g. "Asia/Kolkata": the tests give each side a different one.
    pub timezone: String,
    /// Extra `postgresql.conf` settings, applied after the defaults (so they may override them).
    pub extra_settings: Vec<(String, String)>,
}

impl ClusterOptions {
    pub fn new(name: impl Into<String>, timezone: impl Into<String>) -> Self {
        Self { name: name.into(), timezone: timezone.into(), extra_settings: Vec::new() }
    }
}

/// A running throwaway PostgreSQL server. Dropping it stops the server and deletes all its files.
#[derive(Debug)]
pub struct Cluster {
    name: String,
    port: u16,
    bins: Binaries,
    run_as: RunAs,
    root: PathBuf,
    data_dir: PathBuf,
    log_file: PathBuf,
    temp: Option<TempDir>,
}

impl Cluster {
    /// Initialises a fresh data dir and starts the server on a free loopback port (blocking).
    pub fn start(options: ClusterOptions) -> Result<Cluster, ClusterError> {
        let began = Instant::now();
        let settings = render_settings(&options)?;
        let bins = find_binaries()?;
        let (run_as, owner) = server_user()?;
        let name = options.name.clone();
        let io = |action: &str| {
            let (cluster, action) = (name.clone(), action.to_owned());
            move |source| ClusterError::Io { cluster, action, source }
        };
        let safe: String = name.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' { c } else { '_' }).collect();
        let temp =
            tempfile::Builder::new().prefix(&format!("pgbisync-{safe}-")).tempdir().map_err(io("creating temp dir"))?;
        let root = temp.path().to_path_buf();
        if owner.is_some() && !traversable_by_others(&root) {
            return Err(ClusterError::TempDirUnreachable { cluster: name, dir: root });
        }
        let socket_dir = root.join("socket");
        fs::create_dir(&socket_dir).map_err(io("creating socket dir"))?;
        for dir in [&root, &socket_dir] {
            // The server user must be able to traverse to, and write in, both.
            hand_over(dir, owner).map_err(io("handing temp dir to the server user"))?;
        }
        let mut cluster = Cluster {
            name: name.clone(),
            port: 0,
            bins,
            run_as,
            data_dir: root.join("data"),
            log_file: root.join("server.log"),
            root,
            temp: Some(temp),
        };
        let data = cluster.data_dir.clone();
        let flags = ["--auth=trust", "--encoding=UTF8", "--locale=C", "--no-sync"];
        let initdb = cluster.bins.initdb.clone();
        cluster.run(&initdb, &os!["-D", &data, "-U", OS_USER, flags[0], flags[1], flags[2], flags[3]], true)?;

        // Settings go in an included file (no shell quoting), rewritten for each port attempt.
        let conf = cluster.data_dir.join("postgresql.conf");
        fs::OpenOptions::new()
            .append(true)
            .open(&conf)
            .and_then(|mut f| f.write_all(b"\n# pgbisync throwaway cluster\ninclude 'pgbisync.conf'\n"))
            .map_err(io("appending to postgresql.conf"))?;
        let mut ports = Vec::new();
        for _ in 0..PORT_ATTEMPTS {
            let port = free_port().map_err(io("picking a free port"))?;
            ports.push(port);
            let mut text = settings.clone();
            let _ = writeln!(text, "port = {port}\nlisten_addresses = '127.0.0.1'");
            // Windows servers make no Unix-domain socket by default; the URL uses TCP anyway.
            let sockets = if cfg!(unix) { socket_dir.to_string_lossy().into_owned() } else { String::new() };
            let _ = writeln!(text, "unix_socket_directories = '{}'", conf_escape(&sockets));
            fs::write(cluster.data_dir.join("pgbisync.conf"), text).map_err(io("writing pgbisync.conf"))?;
            let log_start = fs::metadata(&cluster.log_file).map(|m| m.len()).unwrap_or(0);
            let args = os!["-D", &data, "-l", &cluster.log_file, "-w", "-t", "60", "start"];
            let pg_ctl = cluster.bins.pg_ctl.clone();
            match cluster.run(&pg_ctl, &args, true) {
                Ok(_) => {
                    cluster.port = port;
                    let elapsed = began.elapsed();
                    tracing::debug!(cluster = %name, port, ?elapsed, "cluster started");
                    return Ok(cluster);
                }
                Err(ClusterError::Command { .. })
                    if cluster.log_since(log_start).contains("Address already in use") =>
                {
                    tracing::debug!(cluster = %name, port, "port taken meanwhile, retrying");
                }
                Err(e) => return Err(e),
            }
        }
        Err(ClusterError::PortsExhausted { cluster: name, ports, log_tail: cluster.log_tail() })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// A libpq URL for `database`; trust auth on loopback, so no password.
    pub fn url(&self, database: &str) -> String {
        format!("postgresql://postgres@127.0.0.1:{}/{}", self.port, percent_encode(database))
    }

    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// The server log, for diagnosing a failing test.
    pub fn log_file(&self) -> &Path {
        &self.log_file
    }

    pub fn create_database(&self, name: &str) -> Result<(), ClusterError> {
        self.psql("postgres", &format!("CREATE DATABASE {}", quote_ident(name))).map(drop)
    }

    /// Runs `sql` in `database` with psql; returns its unaligned, tuples-only output
    /// (e.g. "Asia/Kolkata\n"). Handy for the demo and for tests.
    pub fn psql(&self, database: &str, sql: &str) -> Result<String, ClusterError> {
        let conninfo =
            format!("host=127.0.0.1 port={} user=postgres dbname='{}'", self.port, conninfo_escape(database));
        let args = os!["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-d", &conninfo, "-c", sql];
        let out = self.run(&self.bins.psql, &args, false)?;
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// Stops the server (fast shutdown) and deletes its files, reporting any failure.
    pub fn stop(mut self) -> Result<(), ClusterError> {
        self.pg_ctl_stop("fast")?;
        if let Some(temp) = self.temp.take() {
            temp.close().map_err(|source| ClusterError::Io {
                cluster: self.name.clone(),
                action: "removing temp dir".into(),
                source,
            })?;
        }
        Ok(())
    }

    /// Stops the server (fast shutdown) and keeps its data dir and port, for a test of an outage;
    /// [`Cluster::start_again`] brings the same server back.
    pub fn shut_down(&self) -> Result<(), ClusterError> {
        self.pg_ctl_stop("fast")
    }

    /// Starts a server [`Cluster::shut_down`] stopped, on the same data dir and port. Fails, naming
    /// the port in the log tail, when another process took the port meanwhile.
    pub fn start_again(&self) -> Result<(), ClusterError> {
        let args = os!["-D", &self.data_dir, "-l", &self.log_file, "-w", "-t", "60", "start"];
        self.run(&self.bins.pg_ctl, &args, true).map(drop)
    }

    fn pg_ctl_stop(&self, mode: &str) -> Result<(), ClusterError> {
        if !self.data_dir.join("postmaster.pid").exists() {
            return Ok(());
        }
        let args = os!["-D", &self.data_dir, "-m", mode, "-w", "stop"];
        self.run(&self.bins.pg_ctl, &args, true).map(drop)
    }

    /// Runs `program`, as the server user when `server_side`; a failure becomes an error with
    /// the command line, its output and (server side) the server log tail.
    fn run(&self, program: &Path, args: &[&OsStr], server_side: bool) -> Result<Output, ClusterError> {
        let mut cmd = self.run_as.command(program, args, server_side);
        // TZ skips initdb's slow time zone probe; a cwd the server user can enter avoids a warning.
        cmd.current_dir(&self.root).env("TZ", "UTC");
        for var in ["PGOPTIONS", "PGSERVICE", "PGHOSTADDR", "PGDATA"] {
            cmd.env_remove(var);
        }
        let command = describe(&cmd);
        tracing::debug!(cluster = %self.name, %command, "running");
        let out = cmd.output().map_err(|source| ClusterError::Io {
            cluster: self.name.clone(),
            action: format!("running `{command}`"),
            source,
        })?;
        if out.status.success() {
            return Ok(out);
        }
        let output = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        let log_tail = if server_side { self.log_tail() } else { String::new() };
        Err(ClusterError::Command { cluster: self.name.clone(), command, status: out.status, output, log_tail })
    }

    fn log_since(&self, offset: u64) -> String {
        let bytes = fs::read(&self.log_file).unwrap_or_default();
        let start = usize::try_from(offset).unwrap_or(usize::MAX).min(bytes.len());
        String::from_utf8_lossy(&bytes[start..]).into_owned()
    }

    fn log_tail(&self) -> String {
        let log = self.log_since(0);
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(LOG_TAIL_LINES)..].join("\n")
    }
}

impl Drop for Cluster {
    /// Immediate stop: the data is thrown away anyway, so there is no point in a checkpoint.
    fn drop(&mut self) {
        if let Err(e) = self.pg_ctl_stop("immediate") {
            tracing::debug!(cluster = %self.name, error = %e, "stopping cluster on drop failed");
        }
        // `temp` (a TempDir) removes the directory as it drops.
    }
}

/// Validates the options and renders them as postgresql.conf lines (all but the port-related ones).
fn render_settings(options: &ClusterOptions) -> Result<String, ClusterError> {
    let base = [
        ("timezone", options.timezone.as_str()),
        ("log_timezone", "UTC"),
        ("fsync", "off"),
        ("synchronous_commit", "off"),
        ("full_page_writes", "off"),
        ("max_connections", "50"),
        ("shared_buffers", "64MB"),
    ];
    let extra = options.extra_settings.iter().map(|(n, v)| (n.as_str(), v.as_str()));
    let mut text = String::new();
    for (i, (name, value)) in base.into_iter().chain(extra).enumerate() {
        let invalid = |reason| ClusterError::InvalidSetting { name: name.to_owned(), value: value.to_owned(), reason };
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.') {
            return Err(invalid("a setting name is letters, digits, `_` and `.`"));
        }
        if value.chars().any(|c| c.is_control()) {
            return Err(invalid("a setting value cannot hold control characters such as a newline"));
        }
        if i >= base.len() && MANAGED.contains(&name.to_ascii_lowercase().as_str()) {
            return Err(invalid("this setting is managed by the cluster itself"));
        }
        let _ = writeln!(text, "{name} = '{}'", conf_escape(value));
    }
    Ok(text)
}

/// postgresql.conf string syntax: `'` doubles and `\` escapes.
fn conf_escape(value: &str) -> String {
    value.replace('\\', "\\\\").replace('\'', "''")
}

fn conninfo_escape(value: &str) -> String {
    value.replace('\\', "\\\\").replace('\'', "\\'")
}

/// Quotes an SQL identifier, so any database name (spaces, quotes, capitals) works.
fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

fn percent_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn describe(cmd: &Command) -> String {
    let words = std::iter::once(cmd.get_program()).chain(cmd.get_args());
    words.map(|w| w.to_string_lossy().into_owned()).collect::<Vec<_>>().join(" ")
}

/// Asks the OS for a free loopback port. Another process may take it before the server binds
/// it, hence the retry in [`Cluster::start`].
fn free_port() -> std::io::Result<u16> {
    Ok(TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?.local_addr()?.port())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpStream;

    fn start(name: &str, tz: &str) -> Cluster {
        match Cluster::start(ClusterOptions::new(name, tz)) {
            Ok(c) => c,
            Err(e) => panic!("starting cluster {name}: {e}"),
        }
    }

    #[test]
    fn starts_with_timezone_creates_database_and_stops() {
        let cluster = start("tz-test", "Asia/Kolkata");
        TcpStream::connect(("127.0.0.1", cluster.port())).expect("server accepts TCP on its port");
        assert_eq!(cluster.psql("postgres", "show timezone").unwrap().trim(), "Asia/Kolkata");
        assert_eq!(cluster.psql("postgres", "show log_timezone").unwrap().trim(), "UTC");
        assert_eq!(cluster.psql("postgres", "show fsync").unwrap().trim(), "off");
        let odd = "My \"odd\" db's name";
        cluster.create_database(odd).unwrap();
        assert_eq!(cluster.psql(odd, "select current_database()").unwrap().trim(), odd);
        cluster.create_database("app").unwrap();
        assert!(cluster.url("app").ends_with(&format!("127.0.0.1:{}/app", cluster.port())));
        let err = cluster.psql("app", "select nonsense_column").unwrap_err().to_string();
        assert!(err.contains("nonsense_column"), "{err}");
        let data_dir = cluster.data_dir().to_path_buf();
        assert!(data_dir.join("PG_VERSION").exists());
        cluster.stop().unwrap();
        assert!(!data_dir.exists(), "stop removes the data dir");
    }

    #[test]
    fn two_clusters_at_once_and_drop_cleans_up() {
        let desktop = start("desktop", "Asia/Kolkata");
        let cloud = start("cloud", "UTC");
        assert_ne!(desktop.port(), cloud.port());
        assert_ne!(desktop.data_dir(), cloud.data_dir());
        assert_eq!(cloud.psql("postgres", "show timezone").unwrap().trim(), "UTC");
        assert_eq!(desktop.psql("postgres", "show timezone").unwrap().trim(), "Asia/Kolkata");
        let (dir, port) = (desktop.data_dir().to_path_buf(), desktop.port());
        drop(desktop);
        assert!(!dir.exists(), "drop removes the data dir");
        assert!(TcpStream::connect(("127.0.0.1", port)).is_err(), "drop stops the server");
        cloud.stop().unwrap();
    }

    #[test]
    fn shut_down_and_start_again_keep_the_port_and_the_data() {
        let cluster = start("outage", "UTC");
        cluster.psql("postgres", "CREATE TABLE kept (n int); INSERT INTO kept VALUES (7)").unwrap();
        cluster.shut_down().unwrap();
        assert!(TcpStream::connect(("127.0.0.1", cluster.port())).is_err(), "shut down stops the server");
        assert!(cluster.data_dir().join("PG_VERSION").exists(), "and keeps its data");
        cluster.start_again().unwrap();
        assert_eq!(cluster.psql("postgres", "SELECT n FROM kept").unwrap().trim(), "7");
    }

    #[test]
    fn extra_settings_apply_and_bad_ones_are_rejected() {
        let mut options = ClusterOptions::new("extra", "UTC");
        options.extra_settings.push(("work_mem".into(), "7MB".into()));
        let cluster = Cluster::start(options).unwrap();
        assert_eq!(cluster.psql("postgres", "show work_mem").unwrap().trim(), "7MB");
        drop(cluster);
        for (name, value) in [("port", "5432"), ("work_mem", "1MB\nfsync = on"), ("bad name", "1")] {
            let mut options = ClusterOptions::new("bad", "UTC");
            options.extra_settings.push((name.into(), value.into()));
            let err = Cluster::start(options).unwrap_err();
            assert!(matches!(err, ClusterError::InvalidSetting { .. }), "{err}");
        }
    }

    #[test]
    fn failed_start_reports_log_tail() {
        let err = Cluster::start(ClusterOptions::new("badtz", "Not/AZone")).unwrap_err().to_string();
        assert!(err.contains("server log tail") && err.contains("Not/AZone"), "{err}");
    }

    #[test]
    fn helpers() {
        fn send_sync<T: Send + Sync>() {}
        send_sync::<Cluster>();
        send_sync::<ClusterError>();
        assert_eq!(quote_ident("a\"b"), "\"a\"\"b\"");
        assert_eq!(conf_escape(r"it's \x"), r"it''s \\x");
        assert_eq!(percent_encode("a b/c"), "a%20b%2Fc");
    }
}
