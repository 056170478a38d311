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
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Output};
use std::time::Instant;

use tempfile::TempDir;

/// Names the directory of the PostgreSQL server binaries; overrides the search.
pub const PG_BIN_ENV: &str = "PGBISYNC_PG_BIN";
const OS_USER: &str = "postgres";
const PORT_ATTEMPTS: usize = 5;
const LOG_TAIL_LINES: usize = 30;
/// Settings the cluster manages itself; overriding them would break connecting or the port retry.
const MANAGED: [&str; 3] = ["port", "listen_addresses", "unix_socket_directories"];

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

/// The binaries one cluster uses, all from one installation where possible.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Binaries {
    initdb: PathBuf,
    pg_ctl: PathBuf,
    psql: PathBuf,
}

/// How server-side commands run: PostgreSQL refuses to run as root, so root switches to `postgres`.
#[derive(Debug, Clone)]
enum RunAs {
    Current,
    Runuser(PathBuf),
    Su,
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
            fs::set_permissions(dir, fs::Permissions::from_mode(0o755)).map_err(io("setting temp dir mode"))?;
            if let Some((uid, gid)) = owner {
                std::os::unix::fs::chown(dir, Some(uid), Some(gid))
                    .map_err(io("handing temp dir to the postgres user"))?;
            }
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
            let _ = writeln!(text, "unix_socket_directories = '{}'", conf_escape(&socket_dir.to_string_lossy()));
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
        let mut cmd = match (&self.run_as, server_side) {
            (RunAs::Runuser(runuser), true) => {
                let mut c = Command::new(runuser);
                c.args(["-u", OS_USER, "--"]).arg(program).args(args);
                c
            }
            (RunAs::Su, true) => {
                let mut script = String::from("exec");
                for word in std::iter::once(program.as_os_str()).chain(args.iter().copied()) {
                    script.push(' ');
                    script.push_str(&shell_quote(&word.to_string_lossy()));
                }
                let mut c = Command::new("su");
                c.args([OS_USER, "-s", "/bin/sh", "-c", &script]);
                c
            }
            _ => {
                let mut c = Command::new(program);
                c.args(args);
                c
            }
        };
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

fn shell_quote(word: &str) -> String {
    format!("'{}'", word.replace('\'', "'\\''"))
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

/// Decides who runs the server: ourselves, or (as root) the `postgres` user, whose uid/gid then
/// own the temp dir.
fn server_user() -> Result<(RunAs, Option<(u32, u32)>), ClusterError> {
    if effective_uid() != Some(0) {
        return Ok((RunAs::Current, None));
    }
    let id = |flag: &str| -> Result<u32, ClusterError> {
        let out = Command::new("id").args([flag, OS_USER]).output();
        let detail = match out {
            Ok(o) if o.status.success() => match String::from_utf8_lossy(&o.stdout).trim().parse() {
                Ok(n) => return Ok(n),
                Err(e) => format!("`id {flag} {OS_USER}` printed no number: {e}"),
            },
            Ok(o) => format!("`id {flag} {OS_USER}`: {}", String::from_utf8_lossy(&o.stderr).trim()),
            Err(e) => format!("running `id`: {e}"),
        };
        Err(ClusterError::NoPostgresUser { detail })
    };
    let owner = (id("-u")?, id("-g")?);
    let search = ["/usr/sbin", "/sbin", "/usr/bin", "/bin"].map(PathBuf::from).into_iter().chain(path_dirs());
    let run_as = search.map(|d| d.join("runuser")).find(|p| is_executable(p)).map_or(RunAs::Su, RunAs::Runuser);
    Ok((run_as, Some(owner)))
}

fn effective_uid() -> Option<u32> {
    if let Ok(status) = fs::read_to_string("/proc/self/status") {
        let line = status.lines().find(|l| l.starts_with("Uid:"))?;
        return line.split_whitespace().nth(2)?.parse().ok();
    }
    let out = Command::new("id").arg("-u").output().ok()?;
    String::from_utf8_lossy(&out.stdout).trim().parse().ok()
}

/// As root the server runs as `postgres`, which needs search permission on every ancestor.
fn traversable_by_others(dir: &Path) -> bool {
    dir.ancestors().skip(1).all(|a| fs::metadata(a).is_ok_and(|m| m.permissions().mode() & 0o001 != 0))
}

fn path_dirs() -> Vec<PathBuf> {
    std::env::var_os("PATH").map(|p| std::env::split_paths(&p).collect()).unwrap_or_default()
}

fn is_executable(path: &Path) -> bool {
    fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// The directories to search, in order. An explicit PGBISYNC_PG_BIN is the only candidate: a wrong
/// override should fail loudly rather than quietly run some other installation.
fn candidate_dirs() -> Vec<PathBuf> {
    if let Some(dir) = std::env::var_os(PG_BIN_ENV).filter(|d| !d.is_empty()) {
        return vec![PathBuf::from(dir)];
    }
    let mut versions: Vec<(Vec<u32>, PathBuf)> = fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| Some((version_key(e.file_name().to_str()?)?, e.path().join("bin"))))
        .collect();
    versions.sort_by(|a, b| b.0.cmp(&a.0));
    let mut dirs: Vec<PathBuf> = versions.into_iter().map(|(_, d)| d).collect();
    dirs.push(PathBuf::from("/usr/local/pgsql/bin"));
    if let Ok(out) = Command::new("pg_config").arg("--bindir").output() {
        let dir = String::from_utf8_lossy(&out.stdout).trim().to_owned();
        if out.status.success() && !dir.is_empty() {
            dirs.push(PathBuf::from(dir));
        }
    }
    dirs.extend(path_dirs());
    let mut seen = std::collections::HashSet::new();
    dirs.retain(|d| seen.insert(d.clone()));
    dirs
}

/// "15" -> [15], "9.6" -> [9, 6]; anything else is not a version dir.
fn version_key(name: &str) -> Option<Vec<u32>> {
    name.split('.').map(|part| part.parse().ok()).collect()
}

fn find_binaries() -> Result<Binaries, ClusterError> {
    find_binaries_in(&candidate_dirs())
}

/// The first directory holding initdb, pg_ctl and postgres; psql from the same one, else from any
/// candidate.
fn find_binaries_in(candidates: &[PathBuf]) -> Result<Binaries, ClusterError> {
    let has = |dir: &Path, name: &str| is_executable(&dir.join(name));
    let not_found = || ClusterError::BinariesNotFound { searched: candidates.to_vec() };
    let server =
        candidates.iter().find(|d| ["initdb", "pg_ctl", "postgres"].iter().all(|b| has(d, b))).ok_or_else(not_found)?;
    let psql_dir = std::iter::once(server).chain(candidates).find(|d| has(d, "psql")).ok_or_else(not_found)?;
    Ok(Binaries { initdb: server.join("initdb"), pg_ctl: server.join("pg_ctl"), psql: psql_dir.join("psql") })
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
    fn missing_binaries_name_the_search_and_the_fix() {
        let empty = tempfile::tempdir().unwrap();
        let err = find_binaries_in(&[empty.path().to_path_buf()]).unwrap_err();
        assert!(matches!(&err, ClusterError::BinariesNotFound { searched } if searched.len() == 1));
        let msg = err.to_string();
        assert!(msg.contains(&empty.path().display().to_string()), "{msg}");
        assert!(msg.contains("apt-get install postgresql") && msg.contains(PG_BIN_ENV), "{msg}");
        assert!(find_binaries_in(&[]).unwrap_err().to_string().contains("no candidate"));
    }

    #[test]
    fn helpers() {
        fn send_sync<T: Send + Sync>() {}
        send_sync::<Cluster>();
        send_sync::<ClusterError>();
        assert_eq!(version_key("15"), Some(vec![15]));
        assert_eq!(version_key("9.6"), Some(vec![9, 6]));
        assert_eq!(version_key("common"), None);
        assert!(version_key("10") > version_key("9.6"));
        assert_eq!(quote_ident("a\"b"), "\"a\"\"b\"");
        assert_eq!(conf_escape(r"it's \x"), r"it''s \\x");
        assert_eq!(shell_quote("a'b"), r"'a'\''b'");
        assert_eq!(percent_encode("a b/c"), "a%20b%2Fc");
    }
}
