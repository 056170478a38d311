//! Nothing waits forever: a host that accepts and never answers, a lock another session holds, a
//! table that stops making progress. Each wait is bounded, named, and the run goes on or exits 3.

mod support;

use std::time::{Duration, Instant};

use support::*;
use tokio_postgres::Client;

async fn exec(client: &Client, sql: &str) {
    client.batch_execute(sql).await.unwrap_or_else(|e| panic!("{sql}: {}", pgbisync_runtime::describe(&e)));
}

/// A listener that accepts every connection and never says a word (a stalled pooler); its address.
async fn silent_listener() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("binding a port");
    let port = listener.local_addr().expect("its address").port();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    format!("postgresql://u@127.0.0.1:{port}/db")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_host_that_accepts_and_never_answers_is_given_up_on_after_connect_timeout() {
    let pair = Pair::with_schema().await;
    let silent = silent_listener().await;
    let dir = tempfile::tempdir().expect("an empty working directory");
    let desktop = pair.desktop_url();
    for (url, wait) in [(format!("{silent}?connect_timeout=2"), 2), (silent.clone(), 15)] {
        let env = [("PGBISYNC_ORG_ID", TENANT), ("DESKTOP_DATABASE_URL", &*desktop), ("CLOUD_DATABASE_URL", &*url)];
        let started = Instant::now();
        let (code, _, stderr) = run_binary_in(dir.path(), &env, &["forward"]).await;
        let took = started.elapsed();
        assert_eq!(code, 3, "stderr:\n{stderr}");
        assert!(
            stderr.contains("did not finish the handshake within") && stderr.contains("connect_timeout"),
            "{stderr}"
        );
        assert!(stderr.contains("cloud"), "the side is named:\n{stderr}");
        let wait = Duration::from_secs(wait);
        assert!(took >= wait && took < wait + Duration::from_secs(20), "waited {took:?} for a {wait:?} timeout");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lock_another_session_holds_fails_its_table_naming_the_session_and_the_others_go_on() {
    let (pair, _) = Pair::with_sample(small_sample()).await;
    pair.forward().await;
    // A migration left open in another session: it holds jobshead.
    let holder = pair.cloud_client().await;
    exec(&holder, "SET application_name = 'the migration'; BEGIN; LOCK TABLE jobshead IN ACCESS EXCLUSIVE MODE").await;
    let pid: i32 = scalar(&holder, "SELECT pg_backend_pid()").await;
    let dir = tempfile::tempdir().expect("an empty working directory");
    let (desktop, cloud) = (pair.desktop_url(), pair.cloud_url());
    let env = [("PGBISYNC_ORG_ID", TENANT), ("DESKTOP_DATABASE_URL", &*desktop), ("CLOUD_DATABASE_URL", &*cloud)];
    let started = Instant::now();
    let (code, stdout, stderr) = run_binary_in(
        dir.path(),
        &env,
        &["forward", "--full", "--lock-timeout", "2s", "--table", "jobshead", "--table", "reminder"],
    )
    .await;
    assert!(started.elapsed() < Duration::from_secs(60), "bounded by the lock timeout");
    assert_eq!(code, 1, "stdout:\n{stdout}\nstderr:\n{stderr}");
    let failed = stderr.lines().find(|l| l.contains("forward jobshead")).unwrap_or_default();
    for part in ["lock timeout", &format!("pid {pid}"), "the migration", "idle in transaction"] {
        assert!(failed.contains(part), "the error names {part:?}:\n{stderr}");
    }
    // reminder syncs after jobshead (and reads nothing of it).
    let after = stdout.lines().find(|l| l.starts_with("forward reminder")).unwrap_or_default();
    assert!(!after.is_empty() && !after.contains("failed"), "the next table still synced:\n{stdout}");
    exec(&holder, "ROLLBACK").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_table_that_stops_making_progress_fails_at_its_deadline_with_exit_3() {
    let (pair, _) = Pair::with_sample(small_sample()).await;
    pair.forward().await;
    let holder = pair.cloud_client().await;
    exec(&holder, "BEGIN; LOCK TABLE jobshead IN ACCESS EXCLUSIVE MODE").await;
    let dir = tempfile::tempdir().expect("an empty working directory");
    let (desktop, cloud) = (pair.desktop_url(), pair.cloud_url());
    let env = [("PGBISYNC_ORG_ID", TENANT), ("DESKTOP_DATABASE_URL", &*desktop), ("CLOUD_DATABASE_URL", &*cloud)];
    let args = [
        "forward",
        "--full",
        "--lock-timeout",
        "1h",
        "--table-timeout",
        "3s",
        "--table",
        "jobshead",
        "--table",
        "reminder",
    ];
    let started = Instant::now();
    let (code, stdout, stderr) = run_binary_in(dir.path(), &env, &args).await;
    assert!(started.elapsed() < Duration::from_secs(60), "bounded by the table deadline");
    assert_eq!(code, 3, "stdout:\n{stdout}\nstderr:\n{stderr}");
    assert!(stderr.contains("did not finish within 3 s (--table-timeout)"), "{stderr}");
    // reminder syncs after jobshead (and reads nothing of it).
    let after = stdout.lines().find(|l| l.starts_with("forward reminder")).unwrap_or_default();
    assert!(!after.is_empty() && !after.contains("failed"), "the next table still synced:\n{stdout}");
    exec(&holder, "ROLLBACK").await;
}
