//! A `pgbisync` process left running in the background (`run --every`), its output collected as it
//! runs so a full pipe never stalls it, for tests that act on it while it runs.

use std::path::Path;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};

pub struct Running {
    child: tokio::process::Child,
    printed: Arc<Mutex<String>>,
}

impl Running {
    /// Starts the binary at `binary` in `dir` with `env` (and none of pgbisync's variables but those).
    pub fn start(binary: &Path, dir: &Path, env: &[(&str, &str)], args: &[&str]) -> Running {
        let mut command = tokio::process::Command::new(binary);
        command.args(args).current_dir(dir).kill_on_drop(true).stdout(Stdio::piped()).stderr(Stdio::piped());
        for name in ["DESKTOP_DATABASE_URL", "CLOUD_DATABASE_URL", "PGBISYNC_ORG_ID", "PGBISYNC_LOG"] {
            command.env_remove(name);
        }
        command.envs(env.iter().copied());
        let mut child = command.spawn().expect("starting pgbisync");
        let printed = Arc::new(Mutex::new(String::new()));
        for stream in [
            child.stdout.take().map(|s| Box::new(s) as Box<dyn tokio::io::AsyncRead + Send + Unpin>),
            child.stderr.take().map(|s| Box::new(s) as _),
        ] {
            let (printed, stream) = (Arc::clone(&printed), stream.expect("a piped stream"));
            tokio::spawn(async move {
                let mut lines = BufReader::new(stream).lines();
                while let Ok(Some(line)) = lines.next_line().await {
                    let mut printed = printed.lock().unwrap();
                    printed.push_str(&line);
                    printed.push('\n');
                }
            });
        }
        Running { child, printed }
    }

    /// Everything it printed so far, stdout and stderr interleaved by line.
    pub fn log(&self) -> String {
        self.printed.lock().unwrap().clone()
    }

    /// Waits until it has printed `text` `times` times or more; panics with its output if not within `within`.
    pub async fn wait_for(&self, text: &str, times: usize, within: Duration) {
        let deadline = tokio::time::Instant::now() + within;
        while self.log().matches(text).count() < times {
            assert!(
                tokio::time::Instant::now() < deadline,
                "pgbisync never printed {text:?} {times} time(s):\n{}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub fn is_running(&mut self) -> bool {
        self.child.try_wait().expect("polling pgbisync").is_none()
    }

    /// Sends a signal by name (`HUP`, `TERM`).
    #[cfg(unix)]
    pub async fn signal(&self, name: &str) {
        let pid = self.child.id().expect("pgbisync is running").to_string();
        let sent = tokio::process::Command::new("kill").args([&format!("-{name}"), &pid]).status().await;
        assert!(sent.expect("running kill").success(), "kill -{name} {pid}");
    }

    /// Stops it with SIGTERM as systemd does and returns its exit code.
    #[cfg(unix)]
    pub async fn terminate(mut self) -> i32 {
        self.signal("TERM").await;
        let status = tokio::time::timeout(Duration::from_secs(60), self.child.wait())
            .await
            .unwrap_or_else(|_| panic!("pgbisync did not exit within 60 s of SIGTERM:\n{}", self.log()))
            .expect("waiting for pgbisync");
        status.code().unwrap_or_else(|| panic!("killed by the signal, not stopped:\n{}", self.log()))
    }
}
