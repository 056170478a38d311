//! `pgbisync check` beyond the columns: the source trigger an incremental read relies on, the
//! target's key, and target NOT NULL constraints the manifest does not declare. Each finding names
//! the side, table and column, and prints SQL that fixes it when pasted into psql.

mod support;

use support::*;

/// Runs the real binary's `check` (with `extra` flags) against the pair; exit code and stdout.
async fn check(pair: &Pair, extra: &[&str]) -> (i32, String) {
    let dir = tempfile::tempdir().expect("a working directory without a .env");
    let (desktop, cloud) = (pair.desktop_url(), pair.cloud_url());
    let mut args = vec!["--desktop-url", desktop.as_str(), "--cloud-url", cloud.as_str()];
    args.extend_from_slice(extra);
    args.push("check");
    let (code, stdout, _) = run_binary_in(dir.path(), &[("PGBISYNC_ORG_ID", TENANT)], &args).await;
    (code, stdout)
}

fn json(stdout: &str) -> serde_json::Value {
    serde_json::from_str(stdout).unwrap_or_else(|e| panic!("not one JSON document ({e}):\n{stdout}"))
}

/// The fix printed under the finding that starts with `finding`: its indented lines, as printed.
fn printed_fix(stdout: &str, finding: &str) -> String {
    let mut lines = stdout.lines().skip_while(|l| !l.starts_with(finding));
    assert!(lines.next().is_some(), "no finding {finding:?} in:\n{stdout}");
    let fix: Vec<&str> = lines.take_while(|l| l.starts_with("    ")).collect();
    assert!(!fix.is_empty(), "finding {finding:?} has no fix:\n{stdout}");
    fix.join("\n")
}

async fn exec(client: &tokio_postgres::Client, sql: &str) {
    client.batch_execute(sql).await.unwrap_or_else(|e| panic!("{sql}: {e}"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_manifests_own_schema_passes_and_keyless_desktop_targets_are_only_warnings() {
    let pair = Pair::with_schema().await;
    let (code, out) = check(&pair, &[]).await;
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("both databases match the manifest"), "{out}");
    assert!(out.contains("warning: desktop table orgmaster: no primary key or unique index on (org_id)"), "{out}");
    assert!(out.contains(r#"    ALTER TABLE "orgmaster" ADD PRIMARY KEY ("org_id");"#), "{out}");

    let report = json(&check(&pair, &["--json"]).await.1);
    assert_eq!(report["differences"], serde_json::json!([]), "{report}");
    let warnings = report["warnings"].as_array().expect("a warnings list");
    let reverse = pair.program.tables.iter().filter(|t| t.spec().direction == pgbisync_runtime::Direction::Reverse);
    assert_eq!(warnings.len(), reverse.count(), "one per reverse target (the demo desktop has no keys): {report}");
    assert!(warnings.iter().all(|w| w["side"] == "desktop"), "{report}");

    let (code, out) = check(&pair, &["-q"]).await;
    assert_eq!(code, 0);
    assert!(!out.contains("warning:"), "--quiet leaves out the warnings: {out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_incremental_source_without_its_touch_trigger_fails_and_the_printed_sql_restores_it() {
    let pair = Pair::with_schema().await;
    let desktop = pair.desktop_client().await;
    // An AFTER trigger calling the same function sets nothing: it does not count.
    exec(
        &desktop,
        "DROP TRIGGER jobshead_touch ON jobshead; \
         CREATE TRIGGER too_late AFTER UPDATE ON jobshead FOR EACH ROW EXECUTE FUNCTION pgbisync_touch_updated_at()",
    )
    .await;

    let (code, out) = check(&pair, &[]).await;
    assert_eq!(code, 1, "{out}");
    let finding = "desktop table jobshead, column updated_at: the forward sync reads";
    let fix = printed_fix(&out, finding);
    assert!(fix.contains(r#"CREATE TRIGGER "jobshead_touch" BEFORE INSERT OR UPDATE ON "jobshead""#), "{fix}");
    let report = json(&check(&pair, &["--json"]).await.1);
    let differences = report["differences"].as_array().unwrap();
    assert_eq!(differences.len(), 1, "only the dropped trigger differs: {report}");
    let function = pgbisync_codegen::sql::touch_function("updated_at");
    assert!(
        differences[0]["fix"].as_str().unwrap().starts_with(&function),
        "the fix creates the demo DDL's own touch function: {report}"
    );

    // Pasted as printed (indented), the fix makes check pass, and an edit moves updated_at.
    exec(&desktop, &fix).await;
    let (code, out) = check(&pair, &[]).await;
    assert_eq!(code, 0, "{out}");
    exec(
        &desktop,
        "INSERT INTO jobshead (org_id, job_id, client_id) VALUES (1, 1, 1); \
         UPDATE jobshead SET updated_at = '2000-01-01' WHERE job_id = 1;",
    )
    .await;
    let before: bool = scalar(&desktop, "SELECT updated_at > '2000-01-02' FROM jobshead").await;
    assert!(before, "the trigger stamps even an update that sets updated_at itself");

    // A trigger that is there but disabled is named, and enabling it is the fix.
    exec(&desktop, "ALTER TABLE mbreminder DISABLE TRIGGER mbreminder_touch").await;
    let (code, out) = check(&pair, &[]).await;
    assert_eq!(code, 1, "{out}");
    let fix = printed_fix(&out, "desktop table mbreminder, column updated_at:");
    assert!(out.contains("(trigger mbreminder_touch is disabled)"), "{out}");
    assert_eq!(fix, r#"    ALTER TABLE "mbreminder" ENABLE TRIGGER "mbreminder_touch";"#);
    exec(&desktop, &fix).await;
    assert_eq!(check(&pair, &[]).await.0, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cloud_target_without_its_primary_key_fails_with_the_alter_that_adds_it() {
    let pair = Pair::with_schema().await;
    let cloud = pair.cloud_client().await;
    exec(&cloud, "ALTER TABLE jobshead DROP CONSTRAINT jobshead_pkey").await;

    let (code, out) = check(&pair, &[]).await;
    assert_eq!(code, 1, "{out}");
    let fix = printed_fix(&out, "cloud table jobshead: no primary key or unique index on (job_id)");
    assert_eq!(fix, r#"    ALTER TABLE "jobshead" ADD PRIMARY KEY ("job_id");"#);
    exec(&cloud, &fix).await;
    assert_eq!(check(&pair, &[]).await.0, 0);

    // A unique index on the key is as good as a primary key.
    exec(&cloud, "ALTER TABLE jobshead DROP CONSTRAINT jobshead_pkey; CREATE UNIQUE INDEX ON jobshead (job_id)").await;
    let (code, out) = check(&pair, &[]).await;
    assert_eq!(code, 0, "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cloud_column_not_null_where_the_manifest_allows_null_fails_but_columns_the_cloud_fills_do_not() {
    let pair = Pair::with_schema().await;
    let cloud = pair.cloud_client().await;
    // Filled by the cloud or by pgbisync itself, never NULL from the source: not findings.
    exec(
        &cloud,
        "ALTER TABLE jobshead ALTER COLUMN created_at SET NOT NULL, ALTER COLUMN updated_at SET NOT NULL, \
         ALTER COLUMN source SET NOT NULL; \
         ALTER TABLE cliunimaster ALTER COLUMN org_id SET NOT NULL",
    )
    .await;
    let (code, out) = check(&pair, &[]).await;
    assert_eq!(code, 0, "{out}");

    exec(&cloud, "ALTER TABLE jobshead ALTER COLUMN work_desc SET NOT NULL").await;
    let (code, out) = check(&pair, &[]).await;
    assert_eq!(code, 1, "{out}");
    let finding = "cloud table jobshead, column work_desc: column is NOT NULL, the manifest says nullable";
    let fix = printed_fix(&out, finding);
    assert_eq!(fix, r#"    ALTER TABLE "jobshead" ALTER COLUMN "work_desc" DROP NOT NULL;"#);
    assert!(out.contains("declare the column `not null` in the manifest"), "{out}");
    let report = json(&check(&pair, &["--json"]).await.1);
    assert_eq!(report["differences"].as_array().unwrap().len(), 1, "{report}");
    exec(&cloud, &fix).await;
    assert_eq!(check(&pair, &[]).await.0, 0);
}
