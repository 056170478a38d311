//! `run --on-failure 'COMMAND'`: after a pass that did not fully succeed, run the firm's own command
//! (send a mail, post to a chat, page someone) with what went wrong. The command gets a short summary
//! in environment variables, the full text on stdin (a mail body as is: `mail -s ... it@firm`), and a
//! JSON document in `PGBISYNC_FAILURE_JSON` for scripts. It never stops or delays the sync for long:
//! it is given [`HOOK_TIMEOUT`], then killed, and its own failure is only logged.

use std::process::Stdio;
use std::sync::Mutex;
use std::time::Duration;

use chrono::Utc;
use tokio::io::AsyncWriteExt;

use crate::engine::{DeleteReport, Observer, Status, TableReport};
use crate::program::Program;

/// How long the command may run before it is killed.
const HOOK_TIMEOUT: Duration = Duration::from_secs(60);

/// Collects a pass's failures as its tables finish, then runs the command when the pass is over.
pub(super) struct FailureHook {
    command: String,
    /// Environment variables not handed to the command: the database URLs hold passwords.
    secrets: Vec<&'static str>,
    state: Mutex<HookState>,
}

#[derive(Default)]
struct HookState {
    failures: Vec<Failure>,
    /// Passes in a row that did not succeed, this one included.
    consecutive: u64,
}

/// One table or delete check that failed, or set rows aside or held them.
#[derive(Debug, Clone, serde::Serialize)]
struct Failure {
    direction: String,
    table: String,
    /// `failed`, `partial` (rows set aside), or `deletes failed` / `deletes held`.
    status: &'static str,
    rows_set_aside: u64,
    error: Option<String>,
}

impl FailureHook {
    pub(super) fn new(program: &Program, command: String) -> FailureHook {
        let m = program.manifest;
        FailureHook {
            command,
            secrets: vec![m.desktop_url_env, m.cloud_url_env],
            state: Mutex::new(HookState::default()),
        }
    }

    /// The pass ended with `code` (or could not run: `error`). Runs the command unless it succeeded.
    pub(super) async fn pass_finished(&self, code: i32, error: Option<&str>) {
        let (failures, consecutive) = {
            let mut state = self.lock();
            let failures = std::mem::take(&mut state.failures);
            if code == super::exit::OK {
                state.consecutive = 0;
                return;
            }
            state.consecutive += 1;
            (failures, state.consecutive)
        };
        let summary = summary(&failures, error, code);
        let text = body(&failures, error, code, consecutive);
        let json = serde_json::json!({
            "at": Utc::now(),
            "exit_code": code,
            "consecutive_failures": consecutive,
            "error": error,
            "tables": failures,
        });
        let tables: Vec<String> = failures.iter().map(|f| format!("{}/{}", f.direction, f.table)).collect();
        let mut command = shell(&self.command);
        for var in &self.secrets {
            command.env_remove(var);
        }
        command
            .env("PGBISYNC_EXIT_CODE", code.to_string())
            .env("PGBISYNC_FAILED_TABLES", tables.join(" "))
            .env("PGBISYNC_SUMMARY", &summary)
            .env("PGBISYNC_CONSECUTIVE_FAILURES", consecutive.to_string())
            .env("PGBISYNC_FAILURE_JSON", json.to_string())
            .stdin(Stdio::piped())
            .kill_on_drop(true);
        tracing::info!(command = %self.command, summary = %summary, "running the --on-failure command");
        if let Err(e) = run_bounded(command, text).await {
            tracing::warn!(command = %self.command, error = %e, "the --on-failure command did not succeed");
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HookState> {
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl Observer for FailureHook {
    fn table_finished(&self, r: &TableReport) {
        let status = match r.status {
            Status::Ok => return,
            Status::Partial => "partial",
            Status::Failed => "failed",
        };
        self.lock().failures.push(Failure {
            direction: r.direction.to_string(),
            table: r.table.clone(),
            status,
            rows_set_aside: r.rejected,
            error: r.error.clone(),
        });
    }

    fn deletes_finished(&self, r: &DeleteReport) {
        let status = if r.is_failure() {
            "deletes failed"
        } else if r.held > 0 {
            "deletes held"
        } else {
            return;
        };
        let error = if r.held > 0 && !r.is_failure() {
            Some(format!("{} deleted row(s) held: other rows still reference them", r.held))
        } else {
            r.error.clone()
        };
        self.lock().failures.push(Failure {
            direction: r.direction.to_string(),
            table: r.table.clone(),
            status,
            rows_set_aside: 0,
            error,
        });
    }
}

/// One line: `PGBISYNC_SUMMARY`, and what the log says.
fn summary(failures: &[Failure], error: Option<&str>, code: i32) -> String {
    if let Some(e) = error {
        return format!("the pass could not run: {e}");
    }
    match failures {
        [] => format!("the pass ended with exit code {code}"),
        [one] => format!("{} {} {}", one.direction, one.table, one.status),
        [first, rest @ ..] => format!("{} {} {} and {} more", first.direction, first.table, first.status, rest.len()),
    }
}

/// The text on stdin: a subject-like first line, then one paragraph per table.
fn body(failures: &[Failure], error: Option<&str>, code: i32, consecutive: u64) -> String {
    let host = std::env::var("HOSTNAME").or_else(|_| std::env::var("COMPUTERNAME")).unwrap_or_default();
    let mut text = format!("pgbisync: {}\n\n", summary(failures, error, code));
    text.push_str(&format!("at {} (UTC){}\n", Utc::now().format("%Y-%m-%d %H:%M:%S"), on(&host)));
    text.push_str(&format!("exit code {code}; passes in a row that did not succeed: {consecutive}\n"));
    for f in failures {
        text.push_str(&format!("\n{} {}: {}", f.direction, f.table, f.status));
        if f.rows_set_aside > 0 {
            text.push_str(&format!(", {} row(s) set aside (see `pgbisync status`)", f.rows_set_aside));
        }
        if let Some(e) = &f.error {
            text.push_str(&format!("\n  {e}"));
        }
        text.push('\n');
    }
    text
}

fn on(host: &str) -> String {
    if host.is_empty() {
        String::new()
    } else {
        format!(" on {host}")
    }
}

/// The platform's shell running `command`: the firm writes it as it would at a prompt.
fn shell(command: &str) -> tokio::process::Command {
    #[cfg(unix)]
    {
        let mut c = tokio::process::Command::new("sh");
        c.arg("-c").arg(command);
        c
    }
    #[cfg(not(unix))]
    {
        let mut c = tokio::process::Command::new("cmd");
        c.arg("/C").arg(command);
        c
    }
}

async fn run_bounded(mut command: tokio::process::Command, stdin: String) -> Result<(), String> {
    let mut child = command.spawn().map_err(|e| format!("cannot start it: {e}"))?;
    if let Some(mut pipe) = child.stdin.take() {
        // A command that does not read its stdin closes the pipe: that is not its failure.
        let _ = pipe.write_all(stdin.as_bytes()).await;
    }
    match tokio::time::timeout(HOOK_TIMEOUT, child.wait()).await {
        Ok(Ok(status)) if status.success() => Ok(()),
        Ok(Ok(status)) => Err(format!("it exited with {status}")),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => {
            let _ = child.kill().await;
            Err(format!("it ran longer than {} s and was stopped", HOOK_TIMEOUT.as_secs()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failure(table: &str, status: &'static str, error: Option<&str>) -> Failure {
        Failure {
            direction: "forward".into(),
            table: table.into(),
            status,
            rows_set_aside: 0,
            error: error.map(str::to_string),
        }
    }

    #[test]
    fn the_summary_names_the_first_failure_and_counts_the_rest() {
        let one = [failure("jobshead", "failed", Some("cannot connect"))];
        assert_eq!(summary(&one, None, 3), "forward jobshead failed");
        let two = [failure("jobshead", "failed", None), failure("clients", "partial", None)];
        assert_eq!(summary(&two, None, 1), "forward jobshead failed and 1 more");
        assert_eq!(
            summary(&[], Some("cannot connect to the cloud"), 3),
            "the pass could not run: cannot connect to the cloud"
        );
        let text = body(&one, None, 3, 2);
        assert!(text.starts_with("pgbisync: forward jobshead failed\n"), "{text}");
        assert!(text.contains("passes in a row that did not succeed: 2"), "{text}");
        assert!(text.contains("forward jobshead: failed\n  cannot connect\n"), "{text}");
    }
}
