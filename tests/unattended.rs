//! Running pgbisync unattended: `run --every --between` keeps to its schedule window, SIGHUP and
//! `pgbisync trigger` run a pass at once, `--on-failure` tells the firm what failed, and the
//! service files in `deploy/` are valid and run what they say.

#![cfg(unix)]

mod support;

use std::path::Path;
use std::time::Duration;

use support::running::Running;
use support::*;

fn env(pair: &Pair) -> Vec<(&'static str, String)> {
    vec![
        ("DESKTOP_DATABASE_URL", pair.desktop_url()),
        ("CLOUD_DATABASE_URL", pair.cloud_url()),
        ("PGBISYNC_ORG_ID", TENANT.into()),
    ]
}

fn borrowed<'a>(env: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    env.iter().map(|(k, v)| (*k, v.as_str())).collect()
}

/// Waits until the cloud holds `n` jobs.
async fn cloud_jobs(pair: &Pair, n: i64, run: &Running) {
    let cloud = pair.cloud_client().await;
    for _ in 0..300 {
        if count(&cloud, "pg_class WHERE relname = 'jobshead'").await == 1 && count(&cloud, "jobshead").await == n {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the cloud never held {n} jobs (it holds {}):\n{}", count(&cloud, "jobshead").await, run.log());
}

/// A window that opens two hours from now and closes an hour later, on this machine's local time.
fn window_later() -> String {
    let now = chrono::Local::now();
    let at = |h: i64| (now + chrono::Duration::hours(h)).format("%H:%M").to_string();
    format!("{}-{}", at(2), at(3))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outside_its_window_a_run_waits_and_a_trigger_or_sighup_runs_a_pass_at_once() {
    let pair = Pair::with_jobs().await;
    let dir = tempfile::tempdir().unwrap();
    let env = env(&pair);
    let window = window_later();
    let run = Running::start(
        &pgbisync_binary(),
        dir.path(),
        &borrowed(&env),
        &["run", "--every", "1s", "--between", &window],
    );
    run.wait_for("outside the schedule window", 1, Duration::from_secs(60)).await;
    // Three intervals go by: no pass starts outside the window.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let cloud = pair.cloud_client().await;
    assert_eq!(count(&cloud, "pg_class WHERE relname = '_sync_metadata'").await, 0, "no pass ran:\n{}", run.log());

    let (code, stdout, stderr) = run_binary_in(dir.path(), &borrowed(&env), &["trigger"]).await;
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(stdout.starts_with("trigger sent"), "{stdout}");
    cloud_jobs(&pair, 5, &run).await;
    run.wait_for("manual trigger: starting a pass now", 1, Duration::from_secs(10)).await;
    assert!(run.log().contains("pgbisync trigger (pid "), "the log names who asked:\n{}", run.log());
    // Back to waiting for the window, not a pass every second.
    run.wait_for("outside the schedule window", 2, Duration::from_secs(60)).await;

    pair.desktop_client()
        .await
        .batch_execute("INSERT INTO jobshead (org_id, job_id, client_id, work_desc) SELECT 1, g, 10, 'job' FROM generate_series(6, 8) g")
        .await
        .unwrap();
    run.signal("HUP").await;
    cloud_jobs(&pair, 8, &run).await;
    run.wait_for("trigger=SIGHUP", 1, Duration::from_secs(10)).await;
    assert_eq!(run.terminate().await, 0, "SIGTERM between passes exits with the last pass's code");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inside_its_window_a_run_syncs_at_once() {
    let pair = Pair::with_jobs().await;
    let dir = tempfile::tempdir().unwrap();
    let env = env(&pair);
    let now = chrono::Local::now();
    let window = format!(
        "{}-{}",
        (now - chrono::Duration::minutes(5)).format("%H:%M"),
        (now + chrono::Duration::hours(1)).format("%H:%M")
    );
    let run = Running::start(
        &pgbisync_binary(),
        dir.path(),
        &borrowed(&env),
        &["run", "--every", "1h", "--between", &window],
    );
    cloud_jobs(&pair, 5, &run).await;
    assert!(!run.log().contains("outside the schedule window"), "{}", run.log());
    assert_eq!(run.terminate().await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trigger_with_no_run_going_says_so_and_exits_3() {
    let pair = Pair::empty().await;
    let dir = tempfile::tempdir().unwrap();
    let env = env(&pair);
    let (code, stdout, stderr) = run_binary_in(dir.path(), &borrowed(&env), &["trigger"]).await;
    assert_eq!(code, 3, "{stdout}{stderr}");
    assert!(stderr.contains("no pgbisync run holds the lock") && stderr.contains("pgbisync run --every"), "{stderr}");
    let (code, stdout, _) = run_binary_in(dir.path(), &borrowed(&env), &["--json", "trigger"]).await;
    assert_eq!(code, 3);
    let doc: serde_json::Value = serde_json::from_str(&stdout).expect("one JSON document");
    assert_eq!(doc["triggered"], false, "{doc}");
}

/// The hook script of these tests: what it was given, on stdin and in its environment, into files.
const RECORDER: &str = "cat > \"$OUT/stdin.txt\"; env > \"$OUT/env.txt\"";

fn recorded(dir: &Path) -> Option<(String, String)> {
    let stdin = std::fs::read_to_string(dir.join("stdin.txt")).ok()?;
    let env = std::fs::read_to_string(dir.join("env.txt")).ok()?;
    Some((stdin, env))
}

fn var<'a>(env: &'a str, name: &str) -> Option<&'a str> {
    env.lines().find_map(|l| l.strip_prefix(name)?.strip_prefix('='))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_failure_runs_the_command_with_the_failed_tables_and_not_the_passwords() {
    let pair = Pair::with_jobs().await;
    pair.cloud_client().await.batch_execute("ALTER TABLE jobshead DROP COLUMN worklocation").await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().display().to_string();
    let mut env = env(&pair);
    env.push(("OUT", out));
    let (code, stdout, stderr) = run_binary_in(dir.path(), &borrowed(&env), &["run", "--on-failure", RECORDER]).await;
    assert_eq!(code, 1, "{stdout}{stderr}");
    let (stdin, vars) = recorded(dir.path()).unwrap_or_else(|| panic!("the hook did not run:\n{stderr}"));
    // jobshead syncs both ways, and the cloud table is either's source or target.
    assert!(stdin.starts_with("pgbisync: forward jobshead failed and 1 more\n"), "{stdin}");
    assert!(stdin.contains("\nreverse jobshead: failed\n"), "{stdin}");
    assert!(stdin.contains("worklocation"), "the report says why: {stdin}");
    assert_eq!(var(&vars, "PGBISYNC_FAILED_TABLES"), Some("forward/jobshead reverse/jobshead"), "{vars}");
    assert_eq!(var(&vars, "PGBISYNC_EXIT_CODE"), Some("1"));
    assert_eq!(var(&vars, "PGBISYNC_CONSECUTIVE_FAILURES"), Some("1"));
    assert_eq!(var(&vars, "PGBISYNC_SUMMARY"), Some("forward jobshead failed and 1 more"));
    let json: serde_json::Value =
        serde_json::from_str(var(&vars, "PGBISYNC_FAILURE_JSON").expect("the JSON report")).expect("valid JSON");
    assert_eq!(json["tables"][0]["table"], "jobshead", "{json}");
    assert_eq!(json["tables"][0]["status"], "failed", "{json}");
    for secret in ["CLOUD_DATABASE_URL", "DESKTOP_DATABASE_URL"] {
        assert!(var(&vars, secret).is_none(), "the hook must not see {secret}:\n{vars}");
    }

    // A pass that succeeds runs no command.
    std::fs::remove_file(dir.path().join("stdin.txt")).unwrap();
    let (code, _, stderr) =
        run_binary_in(dir.path(), &borrowed(&env), &["run", "--table", "orgmaster", "--on-failure", RECORDER]).await;
    assert_eq!(code, 0, "{stderr}");
    assert!(recorded(dir.path()).is_none(), "the hook ran after a pass that succeeded");
}

/// A long run whose cloud is down from the start does not exit: each pass that cannot start runs
/// the hook, counting the failures in a row, and the run keeps trying.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_every_whose_cloud_is_down_keeps_trying_and_alerts_each_pass() {
    let pair = Pair::empty().await;
    let dir = tempfile::tempdir().unwrap();
    let closed = format!("postgresql://postgres@127.0.0.1:{}/postgres", free_port());
    let out = dir.path().display().to_string();
    let env = [
        ("DESKTOP_DATABASE_URL", pair.desktop_url()),
        ("CLOUD_DATABASE_URL", closed),
        ("PGBISYNC_ORG_ID", TENANT.to_string()),
        ("OUT", out),
    ];
    let hook = format!("{RECORDER}; echo \"$PGBISYNC_CONSECUTIVE_FAILURES\" >> \"$OUT/count.txt\"");
    let mut run = Running::start(
        &pgbisync_binary(),
        dir.path(),
        &borrowed(&env),
        &["run", "--every", "1s", "--on-failure", &hook],
    );
    let counts = dir.path().join("count.txt");
    for _ in 0..300 {
        if std::fs::read_to_string(&counts).unwrap_or_default().lines().count() >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let seen = std::fs::read_to_string(&counts).unwrap_or_default();
    assert!(seen.starts_with("1\n2\n"), "the hook ran each pass, counting: {seen:?}\n{}", run.log());
    assert!(run.is_running(), "the run did not exit:\n{}", run.log());
    let (stdin, vars) = recorded(dir.path()).expect("the hook's report");
    assert!(stdin.starts_with("pgbisync: the pass could not run: cannot connect to the cloud database"), "{stdin}");
    assert_eq!(var(&vars, "PGBISYNC_EXIT_CODE"), Some("3"), "{vars}");
    assert_eq!(run.terminate().await, 3, "it exits with the last pass's code");
}

// The service files in deploy/.

fn deploy(path: &str) -> String {
    let file = build::workspace().join("deploy").join(path);
    std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("reading {}: {e}", file.display()))
}

/// A command line split as systemd's `ExecStart=` and Windows' argument parsing both do for the
/// simple lines of these files: on spaces, with double quotes grouping.
fn split(line: &str) -> Vec<String> {
    let (mut args, mut arg, mut quoted, mut any) = (Vec::new(), String::new(), false, false);
    for c in line.chars() {
        match c {
            '"' => (quoted, any) = (!quoted, true),
            ' ' if !quoted => {
                if any {
                    args.push(std::mem::take(&mut arg));
                }
                any = false;
            }
            c => {
                arg.push(c);
                any = true;
            }
        }
    }
    assert!(!quoted, "an unclosed quote in {line}");
    if any {
        args.push(arg);
    }
    args
}

fn unit_value<'a>(unit: &'a str, key: &str) -> &'a str {
    unit.lines().find_map(|l| l.strip_prefix(key)?.strip_prefix('=')).unwrap_or_else(|| panic!("no {key}= in the unit"))
}

/// The arguments given to pgbisync, with the port and the hook made fit for a test machine.
fn for_this_machine(args: &[String], port: u16, hook: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        out.push(a.clone());
        match a.as_str() {
            "--listen" => {
                let addr = it.next().expect("--listen has a value");
                assert!(addr.starts_with("127.0.0.1:"), "the service listens on the loopback only: {addr}");
                out.push(format!("127.0.0.1:{port}"));
            }
            "--on-failure" => {
                it.next().expect("--on-failure has a value");
                out.push(hook.to_string());
            }
            _ => {}
        }
    }
    out
}

/// Runs the service's pgbisync arguments against a pair: a manual trigger (the window may be
/// closed now) must sync the jobs, and SIGTERM must stop it cleanly.
async fn runs_a_pass(args: &[String]) {
    let pair = Pair::with_jobs().await;
    let dir = tempfile::tempdir().unwrap();
    let env = env(&pair);
    let args = for_this_machine(args, free_port(), "true");
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    let run = Running::start(&pgbisync_binary(), dir.path(), &borrowed(&env), &argv);
    let mut triggered = false;
    for _ in 0..300 {
        if run_binary_in(dir.path(), &borrowed(&env), &["trigger"]).await.0 == 0 {
            triggered = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(triggered, "the service's run never held the lock:\n{}", run.log());
    cloud_jobs(&pair, 5, &run).await;
    assert_eq!(run.terminate().await, 0, "SIGTERM stops the service cleanly");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_systemd_units_verify_and_the_service_runs_what_it_says() {
    let units = tempfile::tempdir().unwrap();
    let binary = pgbisync_binary().display().to_string();
    let names = ["pgbisync.service", "pgbisync-pass.service", "pgbisync-pass.timer"];
    for name in names {
        // The units name the installed binary; here it is the one just built.
        let text = deploy(&format!("systemd/{name}")).replace("/usr/local/bin/pgbisync", &binary);
        std::fs::write(units.path().join(name), text).unwrap();
    }
    let analyze = std::process::Command::new("systemd-analyze")
        .arg("verify")
        .arg("--man=no")
        .args(names.iter().map(|n| units.path().join(n)))
        .output()
        .expect("systemd-analyze, to check the units (apt-get install systemd)");
    let said = String::from_utf8_lossy(&analyze.stderr);
    assert!(analyze.status.success() && said.trim().is_empty(), "systemd-analyze verify:\n{said}");
    let timer = deploy("systemd/pgbisync-pass.timer");
    let calendar = std::process::Command::new("systemd-analyze")
        .args(["calendar", unit_value(&timer, "OnCalendar")])
        .output()
        .expect("systemd-analyze calendar");
    assert!(calendar.status.success(), "{}", String::from_utf8_lossy(&calendar.stderr));

    let service = deploy("systemd/pgbisync.service");
    assert_eq!(unit_value(&service, "ExecReload"), "/bin/kill -HUP $MAINPID", "reload is a manual trigger");
    let exec = split(unit_value(&service, "ExecStart"));
    assert_eq!(exec[0], "/usr/local/bin/pgbisync");
    runs_a_pass(&exec[1..]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_windows_task_is_valid_xml_and_runs_what_it_says() {
    let text = deploy("windows/pgbisync-task.xml");
    let doc = roxmltree::Document::parse(&text).expect("the task definition is well-formed XML");
    let task = doc.root_element();
    assert_eq!(task.tag_name().name(), "Task");
    assert_eq!(task.tag_name().namespace(), Some("http://schemas.microsoft.com/windows/2004/02/mit/task"));
    let element = |name: &str| {
        task.descendants()
            .find(|n| n.tag_name().name() == name)
            .and_then(|n| n.text())
            .unwrap_or_else(|| panic!("no <{name}> in the task"))
            .trim()
            .to_string()
    };
    assert!(element("Command").ends_with("\\pgbisync.exe"));
    assert_eq!(element("WorkingDirectory"), "C:\\pgbisync", "where its .env is read");
    assert_eq!(element("ExecutionTimeLimit"), "PT0S", "a long run is not stopped after 72 hours");
    assert_eq!(element("MultipleInstancesPolicy"), "IgnoreNew");
    assert!(task.descendants().any(|n| n.tag_name().name() == "BootTrigger"));
    assert!(task.descendants().any(|n| n.tag_name().name() == "RestartOnFailure"));
    runs_a_pass(&split(&element("Arguments"))).await;
}

#[test]
fn the_splitter_of_these_tests_groups_quoted_words() {
    assert_eq!(
        split(r#"run --between "Mon-Sat 08:00-20:00" --x "a b""#),
        ["run", "--between", "Mon-Sat 08:00-20:00", "--x", "a b"]
    );
    assert_eq!(split("a  b"), ["a", "b"]);
}
