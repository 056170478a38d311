//! What a long-running `pgbisync run` tells the systems that watch it: `/healthz` and `/metrics`
//! with `--listen`, JSON log lines with `--log-format json`, and each table's lag in `status`.

mod support;

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use support::running::Running;
use support::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// One HTTP request on its own connection: the status code and the body, or `None` while nothing
/// listens.
async fn http(port: u16, method: &str, path: &str) -> Option<(u16, String)> {
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.ok()?;
    let request = format!("{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.ok()?;
    let mut response = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut response)).await.ok()?.ok()?;
    let response = String::from_utf8(response).expect("a UTF-8 response");
    let (head, body) = response.split_once("\r\n\r\n").expect("a response head and body");
    let status = head.split(' ').nth(1).and_then(|s| s.parse().ok()).expect("a status code");
    let length: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("Content-Length: "))
        .and_then(|n| n.parse().ok())
        .expect("a Content-Length");
    assert_eq!(length, body.len(), "Content-Length matches the body:\n{response}");
    Some((status, body.to_string()))
}

/// Asks `/healthz` every 200 ms until `wanted` accepts the answer; the answers seen if it never does.
async fn healthz_until(port: u16, within: Duration, wanted: impl Fn(u16, &str) -> bool) -> Result<String, String> {
    let mut seen = Vec::new();
    let deadline = tokio::time::Instant::now() + within;
    while tokio::time::Instant::now() < deadline {
        if let Some((status, body)) = http(port, "GET", "/healthz").await {
            if wanted(status, &body) {
                return Ok(body);
            }
            if seen.last() != Some(&(status, body.clone())) {
                seen.push((status, body));
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    Err(format!("{seen:#?}"))
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
        && !name.starts_with(|c: char| c.is_ascii_digit())
}

/// Parses `key="value",...}` (what follows a sample's `{`): the labels, and the text after the `}`.
fn parse_labels<'a>(mut rest: &'a str, line: &str) -> (BTreeMap<String, String>, &'a str) {
    let mut labels = BTreeMap::new();
    loop {
        if let Some(after) = rest.strip_prefix('}') {
            return (labels, after);
        }
        let (key, after) = rest.split_once("=\"").unwrap_or_else(|| panic!("a label is key=\"value\": {line}"));
        assert!(valid_name(key), "label name {key:?}: {line}");
        let mut value = String::new();
        let mut chars = after.char_indices();
        let end = loop {
            match chars.next() {
                Some((_, '\\')) => match chars.next().map(|(_, c)| c) {
                    Some('\\') => value.push('\\'),
                    Some('"') => value.push('"'),
                    Some('n') => value.push('\n'),
                    other => panic!("bad escape {other:?}: {line}"),
                },
                Some((i, '"')) => break i,
                Some((_, c)) => value.push(c),
                None => panic!("unclosed label value: {line}"),
            }
        };
        labels.insert(key.to_string(), value);
        rest = &after[end + 1..];
        match rest.strip_prefix(',') {
            Some(after) => rest = after,
            None => assert!(rest.starts_with('}'), "a , or }} after a label value: {line}"),
        }
    }
}

#[derive(Debug)]
struct Sample {
    name: String,
    labels: BTreeMap<String, String>,
    value: f64,
}

/// Parses the Prometheus text format strictly: `# HELP` then `# TYPE` before each metric's samples,
/// each sample `name{label="value",...} value`, label values with their escapes.
fn parse_prometheus(text: &str) -> (HashMap<String, String>, Vec<Sample>) {
    let mut types = HashMap::new();
    let mut helped = None;
    let mut samples = Vec::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let (name, help) = rest.split_once(' ').unwrap_or_else(|| panic!("HELP without text: {line}"));
            assert!(valid_name(name) && !help.is_empty(), "{line}");
            helped = Some(name.to_string());
        } else if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').unwrap_or_else(|| panic!("TYPE without a type: {line}"));
            assert_eq!(helped.as_deref(), Some(name), "HELP comes right before TYPE: {line}");
            assert!(["counter", "gauge"].contains(&kind), "{line}");
            assert!(types.insert(name.to_string(), kind.to_string()).is_none(), "one TYPE per metric: {line}");
        } else {
            assert!(!line.starts_with('#') && !line.is_empty(), "unexpected line: {line:?}");
            let name_end = line.find(['{', ' ']).unwrap_or_else(|| panic!("no value: {line}"));
            let name = &line[..name_end];
            assert!(valid_name(name), "{line}");
            assert_eq!(
                helped.as_deref(),
                Some(name),
                "a sample outside its metric's group (after its HELP and TYPE): {line}"
            );
            let (labels, rest) = match line[name_end..].strip_prefix('{') {
                Some(inner) => parse_labels(inner, line),
                None => (BTreeMap::new(), &line[name_end..]),
            };
            let value = rest.strip_prefix(' ').unwrap_or_else(|| panic!("one space before the value: {line}"));
            let value = match value {
                "+Inf" => f64::INFINITY,
                "-Inf" => f64::NEG_INFINITY,
                v => v.parse().unwrap_or_else(|_| panic!("not a number {v:?}: {line}")),
            };
            samples.push(Sample { name: name.to_string(), labels, value });
        }
    }
    (types, samples)
}

fn value(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    samples
        .iter()
        .find(|s| s.name == name && labels.iter().all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v)))
        .map(|s| s.value)
}

#[test]
fn the_prometheus_parser_of_these_tests_refuses_what_the_format_does() {
    let (_, samples) = parse_prometheus("# HELP m h\n# TYPE m gauge\nm{a=\"x\\\"y\",b=\"\\\\\"} 1.5\nm 2\n");
    assert_eq!(samples[0].labels["a"], "x\"y");
    assert_eq!(samples[0].labels["b"], "\\");
    assert_eq!(samples[1].value, 2.0);
    for bad in [
        "m 1\n",
        "# HELP m h\n# TYPE m gauge\n# HELP n h\n# TYPE n gauge\nm 1\n",
        "# HELP m h\n# TYPE m gauge\nm{a=x} 1\n",
        "# HELP m h\n# TYPE m gauge\nm  1\n",
        "# TYPE m gauge\nm 1\n",
    ] {
        assert!(std::panic::catch_unwind(|| parse_prometheus(bad)).is_err(), "accepted {bad:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listen_serves_metrics_and_healthz_follows_the_cloud_going_away_and_coming_back() {
    let pair = Pair::with_jobs().await;
    let port = free_port();
    let (desktop, cloud, dir) = (pair.desktop_url(), pair.cloud_url(), tempfile::tempdir().unwrap());
    let env = [
        ("DESKTOP_DATABASE_URL", desktop.as_str()),
        ("CLOUD_DATABASE_URL", cloud.as_str()),
        ("PGBISYNC_ORG_ID", TENANT),
    ];
    let listen = format!("127.0.0.1:{port}");
    let mut child =
        Running::start(&pgbisync_binary(), dir.path(), &env, &["run", "--every", "1s", "--listen", &listen]);
    let log = || child.log();

    // Before the first pass has finished it is not healthy yet; then it is.
    let first =
        healthz_until(port, Duration::from_secs(60), |_, _| true).await.unwrap_or_else(|e| panic!("{e}\n{}", log()));
    assert!(first.starts_with("starting") || first.starts_with("ok"), "{first}");
    let ok = healthz_until(port, Duration::from_secs(60), |status, _| status == 200)
        .await
        .unwrap_or_else(|seen| panic!("/healthz never answered 200: {seen}\n{}", log()));
    assert!(ok.starts_with("ok: last pass succeeded"), "{ok}");

    let (status, text) = http(port, "GET", "/metrics").await.expect("/metrics answers");
    assert_eq!(status, 200);
    let (types, samples) = parse_prometheus(&text);
    let jobshead = [("table", "jobshead"), ("direction", "forward")];
    // The watermark is the desktop's clock at the read, less the manifest's 60 s lookback.
    let lag =
        value(&samples, "pgbisync_table_lag_seconds", &jobshead).unwrap_or_else(|| panic!("no jobshead lag:\n{text}"));
    assert!((59.0..120.0).contains(&lag), "jobshead forward lag {lag}:\n{text}");
    assert_eq!(value(&samples, "pgbisync_table_rows_written_total", &jobshead), Some(5.0), "{text}");
    assert!(value(&samples, "pgbisync_table_rows_written", &jobshead).is_some_and(|n| n == 5.0 || n == 0.0), "{text}");
    assert!(
        value(&samples, "pgbisync_table_duration_seconds", &jobshead).is_some_and(|s| (0.0..30.0).contains(&s)),
        "{text}"
    );
    assert_eq!(value(&samples, "pgbisync_table_failures_total", &jobshead), Some(0.0), "{text}");
    assert_eq!(value(&samples, "pgbisync_table_rows_set_aside", &jobshead), Some(0.0), "{text}");
    assert_eq!(value(&samples, "pgbisync_last_pass_success", &[]), Some(1.0), "{text}");
    assert!(value(&samples, "pgbisync_passes_total", &[]).is_some_and(|n| n >= 1.0), "{text}");
    let now = chrono::Utc::now().timestamp() as f64;
    assert!(
        value(&samples, "pgbisync_last_pass_timestamp_seconds", &[]).is_some_and(|t| (now - t).abs() < 30.0),
        "{text}"
    );
    assert_eq!(types["pgbisync_table_rows_written_total"], "counter");
    assert_eq!(types["pgbisync_table_lag_seconds"], "gauge");
    // Every table-direction of the manifest has its counters, under both labels.
    let tables = samples.iter().filter(|s| s.name == "pgbisync_table_failures_total").count();
    assert_eq!(tables, pair.program.tables.len(), "{text}");
    println!("a scrape of /metrics:\n{text}");

    assert_eq!(http(port, "GET", "/nothing").await.map(|r| r.0), Some(404));
    assert_eq!(http(port, "POST", "/metrics").await.map(|r| r.0), Some(405));

    // The cloud goes away: the next pass fails and /healthz says why, naming the cloud.
    let cloud = &pair.cloud;
    tokio::task::block_in_place(|| cloud.shut_down()).expect("shutting the cloud down");
    let down = healthz_until(port, Duration::from_secs(60), |status, _| status == 503)
        .await
        .unwrap_or_else(|seen| panic!("/healthz stayed healthy with the cloud down: {seen}\n{}", log()));
    assert!(down.starts_with("last pass failed: ") && down.contains("cloud"), "{down}");
    println!("/healthz with the cloud down: 503 {down}");
    let (_, text) = http(port, "GET", "/metrics").await.expect("/metrics answers while the cloud is down");
    let (_, samples) = parse_prometheus(&text);
    assert_eq!(value(&samples, "pgbisync_last_pass_success", &[]), Some(0.0), "{text}");
    assert!(value(&samples, "pgbisync_pass_failures_total", &[]).is_some_and(|n| n >= 1.0), "{text}");

    // It comes back on the same port: the run reconnects and is healthy again.
    tokio::task::block_in_place(|| cloud.start_again()).expect("starting the cloud again");
    healthz_until(port, Duration::from_secs(60), |status, _| status == 200)
        .await
        .unwrap_or_else(|seen| panic!("/healthz did not recover with the cloud back: {seen}\n{}", log()));
    let survived = child.is_running();
    assert!(survived, "the run survived the outage:\n{}", child.log());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn log_format_json_writes_one_object_per_line_with_each_tables_result_as_fields() {
    let pair = Pair::with_jobs().await;
    let dir = tempfile::tempdir().expect("an empty working directory");
    let (desktop_url, cloud_url) = (pair.desktop_url(), pair.cloud_url());
    let env = [
        ("DESKTOP_DATABASE_URL", desktop_url.as_str()),
        ("CLOUD_DATABASE_URL", cloud_url.as_str()),
        ("PGBISYNC_ORG_ID", TENANT),
    ];
    let (code, stdout, stderr) = run_binary_in(dir.path(), &env, &["--log-format", "json", "forward"]).await;
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    let objects: Vec<serde_json::Value> = stderr
        .lines()
        .map(|l| {
            serde_json::from_str(l).unwrap_or_else(|e| panic!("a stderr line that is not JSON ({e}): {l}\n{stderr}"))
        })
        .collect();
    let jobshead = objects
        .iter()
        .find(|o| o["message"] == "table finished" && o["table"] == "jobshead")
        .unwrap_or_else(|| panic!("no jobshead result in the log:\n{stderr}"));
    assert_eq!(jobshead["direction"], "forward", "{jobshead}");
    assert_eq!(jobshead["rows"], 5, "{jobshead}");
    assert_eq!(jobshead["status"], "ok", "{jobshead}");
    assert!(
        jobshead["duration_ms"].is_u64() && jobshead["level"] == "INFO" && jobshead["timestamp"].is_string(),
        "{jobshead}"
    );
    let pass =
        objects.iter().find(|o| o["message"] == "pass finished").unwrap_or_else(|| panic!("no pass line:\n{stderr}"));
    assert_eq!(pass["rows"], 6, "five jobs and their firm: {pass}");
    // stdout keeps its human lines.
    assert!(stdout.lines().any(|l| l.starts_with("forward jobshead")), "{stdout}");

    // An error is a JSON line too, naming the side it could not reach.
    let closed = format!("postgresql://postgres@127.0.0.1:{}/postgres", free_port());
    let env = [
        ("DESKTOP_DATABASE_URL", desktop_url.as_str()),
        ("CLOUD_DATABASE_URL", closed.as_str()),
        ("PGBISYNC_ORG_ID", TENANT),
    ];
    let (code, _, stderr) = run_binary_in(dir.path(), &env, &["--log-format", "json", "forward"]).await;
    assert_eq!(code, 3, "{stderr}");
    let objects: Vec<serde_json::Value> =
        stderr.lines().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}"))).collect();
    assert!(
        objects.iter().any(|o| o["level"] == "ERROR" && o["message"].as_str().is_some_and(|m| m.contains("cloud"))),
        "{stderr}"
    );

    // The human log stays as it was: no result events, no JSON.
    let env = [
        ("DESKTOP_DATABASE_URL", desktop_url.as_str()),
        ("CLOUD_DATABASE_URL", cloud_url.as_str()),
        ("PGBISYNC_ORG_ID", TENANT),
    ];
    let (code, _, stderr) = run_binary_in(dir.path(), &env, &["forward"]).await;
    assert_eq!(code, 0, "{stderr}");
    assert!(!stderr.contains("table finished") && !stderr.contains('{'), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_shows_each_tables_lag_and_its_kept_deletes() {
    let pair = Pair::with_jobs().await;
    let dir = tempfile::tempdir().expect("an empty working directory");
    let (desktop_url, cloud_url) = (pair.desktop_url(), pair.cloud_url());
    let env = [
        ("DESKTOP_DATABASE_URL", desktop_url.as_str()),
        ("CLOUD_DATABASE_URL", cloud_url.as_str()),
        ("PGBISYNC_ORG_ID", TENANT),
    ];
    assert_eq!(run_binary_in(dir.path(), &env, &["run", "-q"]).await.0, 0);
    // A job deleted on the desktop: the next run deletes it from the cloud and keeps its copy.
    pair.desktop_client().await.batch_execute("DELETE FROM jobshead WHERE job_id = 5").await.expect("deleting a job");
    assert_eq!(run_binary_in(dir.path(), &env, &["forward", "-q"]).await.0, 0);

    let (code, stdout, stderr) = run_binary_in(dir.path(), &env, &["status", "--json"]).await;
    assert_eq!(code, 0, "{stderr}");
    let status: serde_json::Value = serde_json::from_str(&stdout).expect("one JSON document");
    let rows = status["tables"].as_array().expect("tables");
    let jobshead = rows.iter().find(|r| r["table"] == "jobshead" && r["direction"] == "forward").expect("jobshead");
    let watermark: chrono::DateTime<chrono::Utc> =
        jobshead["watermark"].as_str().expect("a watermark").parse().expect("RFC 3339");
    let lag = jobshead["lag_seconds"].as_i64().unwrap_or_else(|| panic!("no lag: {jobshead}"));
    // The watermark trails the run by the manifest's 60 s lookback; the lag is from it to now.
    assert!((59..120).contains(&lag), "{jobshead}");
    assert!((lag - (chrono::Utc::now() - watermark).num_seconds()).abs() <= 2, "{jobshead}");
    assert_eq!(jobshead["deleted_kept"], 1, "{jobshead}");
    assert!(rows.iter().all(|r| r["lag_seconds"].is_i64()), "every table synced has a lag: {stdout}");

    let (_, stdout, _) = run_binary_in(dir.path(), &env, &["status"]).await;
    let header = stdout.lines().next().expect("a header");
    assert!(header.contains("lag (s)") && header.contains("deleted"), "{stdout}");
    let line = stdout.lines().find(|l| l.starts_with("forward   jobshead ")).unwrap_or_else(|| panic!("{stdout}"));
    let words: Vec<&str> = line.split_whitespace().collect();
    // direction, table, watermark (date, time, UTC), lag
    let shown: i64 = words[5].parse().unwrap_or_else(|_| panic!("no lag in {line}"));
    assert!((lag..lag + 10).contains(&shown), "{line}");
    // ... last run (date, time, UTC), rows, status, rejects, deleted (kept)
    assert_eq!(words[12], "1", "the kept delete, in its column: {line}\n{header}");
}
