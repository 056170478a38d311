//! SIGTERM, what systemd sends to stop a service, is handled like Ctrl-C: the pass in hand finishes
//! and is recorded, the stop is logged, and the run exits with the pass's code.

#![cfg(unix)]

mod support;

use std::process::Stdio;
use std::time::Duration;

use support::*;
use tokio::io::{AsyncBufReadExt, BufReader};

/// Starts `pgbisync run --every 1h` against the pair and sends SIGTERM once `ready` matches a line
/// of its stdout; returns the exit code, everything it printed, and its stderr.
async fn terminate_when(pair: &Pair, ready: impl Fn(&str) -> bool) -> (i32, String, String) {
    let mut child = tokio::process::Command::new(pgbisync_binary())
        .args(["run", "--every", "1h"])
        .env("DESKTOP_DATABASE_URL", pair.desktop_url())
        .env("CLOUD_DATABASE_URL", pair.cloud_url())
        .env("PGBISYNC_ORG_ID", TENANT)
        .env_remove("PGBISYNC_LOG")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("starting pgbisync");
    let pid = child.id().expect("pid").to_string();
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let mut printed = String::new();
    let found = tokio::time::timeout(Duration::from_secs(120), async {
        while let Some(line) = lines.next_line().await.expect("reading stdout") {
            printed.push_str(&line);
            printed.push('\n');
            if ready(&line) {
                return true;
            }
        }
        false
    })
    .await
    .unwrap_or(false);
    assert!(found, "pgbisync never printed the line to stop at:\n{printed}");
    let kill = tokio::process::Command::new("kill").args(["-TERM", &pid]).status().await.expect("running kill");
    assert!(kill.success());
    while let Ok(Some(line)) = lines.next_line().await {
        printed.push_str(&line);
        printed.push('\n');
    }
    let output = tokio::time::timeout(Duration::from_secs(60), child.wait_with_output())
        .await
        .expect("pgbisync did not exit within 60 s of SIGTERM")
        .expect("waiting for pgbisync");
    let code = output.status.code().unwrap_or_else(|| panic!("killed by the signal, not stopped:\n{printed}"));
    (code, printed, String::from_utf8_lossy(&output.stderr).into_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_between_passes_exits_with_the_last_passs_code() {
    let (pair, _) = Pair::with_sample(small_sample()).await;
    let (code, printed, stderr) = terminate_when(&pair, |l| l.contains(" table(s): ") && l.starts_with("25")).await;
    // The sample's orphans are set aside: the pass's code is 1.
    assert_eq!(code, 1, "{printed}\n{stderr}");
    assert!(stderr.contains("stop requested between passes"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_in_the_middle_of_a_pass_finishes_the_table_in_hand_records_it_and_stops() {
    let (pair, _) = Pair::with_sample(small_sample()).await;
    let (code, printed, stderr) = terminate_when(&pair, |l| l.starts_with("forward orgmaster")).await;
    assert!(code == 0 || code == 1, "the code of the tables that ran ({code}):\n{printed}\n{stderr}");
    assert!(stderr.contains("finishing the table in hand"), "{stderr}");
    let summary = printed.lines().find(|l| l.contains(" table(s): ")).unwrap_or_default();
    let ran: Vec<&str> = printed
        .lines()
        .filter(|l| l.starts_with("forward ") && !l.contains(" deletes "))
        .filter_map(|l| l.split_whitespace().nth(1))
        .collect();
    assert!(!ran.is_empty() && ran.len() < 16, "stopped partway, after {ran:?}:\n{printed}");
    assert!(summary.starts_with(&format!("{} table(s): ", ran.len())), "{printed}");
    // Every table that ran is recorded; none of the others started.
    let cloud = pair.cloud_client().await;
    assert_eq!(count(&cloud, "_sync_metadata WHERE last_run_at IS NOT NULL").await as usize, ran.len());
    let desktop = pair.desktop_client().await;
    let reverse: i64 = scalar(&desktop, "SELECT count(*) FROM pg_class WHERE relname = '_reverse_sync_metadata'").await;
    assert_eq!(reverse, 0, "reverse never began");
}
