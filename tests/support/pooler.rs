//! A PgBouncer in transaction mode in front of a test server, as Supabase's pooler on port 6543
//! is: each transaction may run on another server connection, and this PgBouncer (1.18 on
//! Debian 12) keeps no prepared statements between transactions.

use std::net::{TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Pooler {
    child: Child,
    port: u16,
    dir: tempfile::TempDir,
}

fn binary() -> &'static str {
    for candidate in ["/usr/sbin/pgbouncer", "/usr/bin/pgbouncer", "/usr/local/bin/pgbouncer"] {
        if std::path::Path::new(candidate).exists() {
            return candidate;
        }
    }
    panic!("pgbouncer is not installed: the pooler test needs it (apt-get install pgbouncer; .ci/run installs it)")
}

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines().find(|l| l.starts_with("Uid:")).and_then(|l| l.split_whitespace().nth(2).map(|u| u == "0"))
        })
        .unwrap_or(false)
}

impl Pooler {
    pub fn start(upstream_port: u16) -> Pooler {
        Pooler::start_with(upstream_port, 3)
    }

    /// With `pool_size` server connections to the upstream.
    pub fn start_with(upstream_port: u16, pool_size: u32) -> Pooler {
        let dir = tempfile::Builder::new().prefix("pgbisync-pooler-").tempdir().unwrap();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let users = dir.path().join("users.txt");
        std::fs::write(&users, "\"postgres\" \"\"\n").unwrap();
        let ini = dir.path().join("pgbouncer.ini");
        std::fs::write(
            &ini,
            format!(
                "[databases]\npostgres = host=127.0.0.1 port={upstream_port} dbname=postgres\n\n\
                 [pgbouncer]\nlisten_addr = 127.0.0.1\nlisten_port = {port}\nunix_socket_dir =\n\
                 auth_type = trust\nauth_file = {users}\npool_mode = transaction\n\
                 max_client_conn = 100\ndefault_pool_size = {pool_size}\nignore_startup_parameters = extra_float_digits,options\n",
                users = users.display()
            ),
        )
        .unwrap();
        for f in [&users, &ini] {
            std::fs::set_permissions(f, std::fs::Permissions::from_mode(0o644)).unwrap();
        }
        let log = std::fs::File::create(dir.path().join("pgbouncer.log")).unwrap();
        // PgBouncer, like PostgreSQL, will not run as root.
        let mut command = if is_root() {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--", binary()]);
            c
        } else {
            Command::new(binary())
        };
        let child = command.arg(&ini).stdout(Stdio::null()).stderr(log).spawn().expect("starting pgbouncer");
        let pooler = Pooler { child, port, dir };
        let deadline = Instant::now() + Duration::from_secs(15);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "pgbouncer did not start:\n{}", pooler.log());
            std::thread::sleep(Duration::from_millis(50));
        }
        pooler
    }

    pub fn url(&self) -> String {
        format!("postgresql://postgres@127.0.0.1:{}/postgres", self.port)
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("pgbouncer.log")).unwrap_or_default()
    }
}

impl Drop for Pooler {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
