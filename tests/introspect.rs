//! `pgbisync introspect` reads new tables from both live databases and prints their manifest
//! entry. The promise tested here is the whole loop of adding a table: paste the output into the
//! manifest, `cargo build`, and the new binary syncs and verifies the table with no hand edits.

mod support;

use support::build::{build_with, workspace};
use support::{count, run_binary_at, run_binary_in, scalar, Pair, TENANT};

/// A legacy-style desktop table: its own name, a key, a parent, an updated_at its own trigger
/// function keeps current, a desktop-only column and one of a type the manifest has no word for.
const DESKTOP_TABLE: &str = r#"
    ALTER TABLE jobshead ADD UNIQUE (job_id);
    CREATE TABLE mbinvoices (
        org_id numeric(3) NOT NULL,
        invoice_id numeric(10) PRIMARY KEY,
        job_id numeric(10) NOT NULL REFERENCES jobshead (job_id),
        amount numeric(12,2),
        invoice_notes varchar(100),
        issued date,
        legacy_flag char(1),
        doc_ref uuid,
        created_at timestamptz DEFAULT now(),
        updated_at timestamptz DEFAULT now()
    );
    CREATE FUNCTION mbinvoices_stamp() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF NEW.amount IS DISTINCT FROM OLD.amount THEN
            RAISE NOTICE 'amount changed';
        END IF;
        NEW.updated_at := clock_timestamp();
        RETURN NEW;
    END $$;
    CREATE TRIGGER mbinvoices_stamp BEFORE UPDATE ON mbinvoices FOR EACH ROW EXECUTE FUNCTION mbinvoices_stamp();
    INSERT INTO orgmaster (org_id, orgname) VALUES (1, 'Firm one'), (2, 'Firm two');
    INSERT INTO jobshead (org_id, job_id, client_id) VALUES (1, 101, 7), (1, 102, 7), (2, 201, 9);
    INSERT INTO mbinvoices (org_id, invoice_id, job_id, amount, invoice_notes, issued, legacy_flag, doc_ref) VALUES
        (1, 1, 101, 120.50, 'first', '2026-01-05', 'Y', gen_random_uuid()),
        (1, 2, 101, 80.00, NULL, '2026-01-06', NULL, NULL),
        (1, 3, 102, NULL, 'third', NULL, 'N', NULL),
        (2, 4, 201, 10.00, 'another firm', NULL, NULL, NULL);
"#;

/// The cloud's copy: the notes column under a shorter name, and a column only the cloud has.
const CLOUD_TABLE: &str = r#"
    CREATE TABLE invoices (
        org_id numeric(3) NOT NULL,
        invoice_id numeric(10) PRIMARY KEY,
        job_id numeric(10) NOT NULL REFERENCES jobshead (job_id),
        amount numeric(12,2),
        notes varchar(100),
        issued date,
        paid boolean NOT NULL DEFAULT false,
        source char(1) DEFAULT 'D',
        created_at timestamptz DEFAULT now(),
        updated_at timestamptz DEFAULT now()
    );
    CREATE TRIGGER invoices_touch BEFORE UPDATE ON invoices FOR EACH ROW EXECUTE FUNCTION pgbisync_touch_updated_at();
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_introspected_entry_pasted_into_the_manifest_builds_and_syncs_the_table() {
    let pair = Pair::with_schema().await;
    let (desktop, cloud) = (pair.desktop_client().await, pair.cloud_client().await);
    desktop.batch_execute(DESKTOP_TABLE).await.expect("creating the desktop table");
    cloud.batch_execute(CLOUD_TABLE).await.expect("creating the cloud table");
    let dir = tempfile::tempdir().expect("a working directory");
    let (desktop_url, cloud_url) = (pair.desktop_url(), pair.cloud_url());
    let urls = ["--desktop-url", desktop_url.as_str(), "--cloud-url", cloud_url.as_str()];
    let with_urls = |args: &[&'static str]| -> Vec<String> { urls.iter().chain(args).map(|s| s.to_string()).collect() };
    let tenant = [("PGBISYNC_ORG_ID", TENANT)];

    let args = with_urls(&["introspect", "--desktop", "mbinvoices", "--cloud", "invoices"]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let (code, entry, stderr) = run_binary_in(dir.path(), &tenant, &args).await;
    assert_eq!(code, 0, "introspect failed:\n{stderr}");
    // Shown with --nocapture: what a user pastes.
    eprintln!("pgbisync introspect printed:\n{entry}\nand on stderr:\n{stderr}");
    for line in [
        "  - name: invoices\n    desktop: mbinvoices\n",
        "      - org_id numeric(3) not null\n",
        "      - amount numeric(12,2)\n",
        "      - invoice_notes varchar(100)\n",
        "    desktop_only:\n      - legacy_flag char(1)\n",
        "      # - doc_ref uuid\n",
        "    cloud_only:\n      - paid boolean not null\n",
        "      - { desktop: invoice_notes, cloud: notes }\n",
        "    key: [invoice_id]\n",
        "      - { columns: [job_id], table: jobshead }\n",
        "# foreign key mbinvoices_job_id_fkey on the desktop",
        "    forward: { mode: incremental, strategy: upsert, track: updated_at }\n",
        "    # reverse: { mode: incremental, strategy: insert_only, track: updated_at }\n",
    ] {
        assert!(entry.contains(line), "the entry has {line:?}:\n{entry}");
    }
    assert!(entry.contains("trigger mbinvoices_stamp"), "names the trigger that makes it incremental:\n{entry}");
    assert!(
        stderr.contains("warning: desktop table mbinvoices, column doc_ref: type uuid cannot be declared"),
        "the undeclarable column is named on stderr:\n{stderr}"
    );

    let copy = dir.path().join("sync-schema.yaml");
    let shipped = std::fs::read_to_string(workspace().join("sync-schema.yaml")).expect("the shipped manifest");
    std::fs::write(&copy, format!("{shipped}\n{entry}")).expect("writing the manifest copy");
    let (output, binary) = tokio::task::spawn_blocking(move || build_with(&copy)).await.expect("build task");
    assert!(output.status.success(), "the pasted entry does not build:\n{}", String::from_utf8_lossy(&output.stderr));

    let run = |args: &[&'static str]| {
        let args = with_urls(args);
        let binary = binary.clone();
        let dir = dir.path().to_path_buf();
        async move {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            run_binary_at(&binary, &dir, &tenant, &args).await
        }
    };
    let (code, _, stderr) = run(&["check"]).await;
    assert_eq!(code, 0, "check finds the live tables as the entry declares them:\n{stderr}");
    let (code, stdout, stderr) = run(&["forward"]).await;
    assert_eq!(code, 0, "forward:\n{stdout}\n{stderr}");
    assert_eq!(count(&cloud, "invoices WHERE source = 'D' AND org_id = 1").await, 3, "this firm's rows arrived");
    assert_eq!(count(&cloud, "invoices WHERE org_id = 2").await, 0, "another firm's rows stay home");
    let notes: String = scalar(&cloud, "SELECT notes FROM invoices WHERE invoice_id = 1").await;
    assert_eq!(notes, "first", "the renamed column carries the desktop's value");
    let (code, stdout, stderr) = run(&["verify", "--table", "invoices"]).await;
    assert_eq!(code, 0, "verify:\n{stdout}\n{stderr}");

    // The trigger the entry relies on: an edit is read by the next incremental run.
    desktop.batch_execute("UPDATE mbinvoices SET amount = 99.99 WHERE invoice_id = 3").await.expect("an edit");
    let (code, stdout, stderr) = run(&["forward", "--table", "invoices"]).await;
    assert_eq!(code, 0, "second forward:\n{stdout}\n{stderr}");
    let amount: String = scalar(&cloud, "SELECT amount::text FROM invoices WHERE invoice_id = 3").await;
    assert_eq!(amount, "99.99", "the edit arrived");
    let (code, stdout, stderr) = run(&["verify", "--table", "invoices"]).await;
    assert_eq!(code, 0, "verify after the edit:\n{stdout}\n{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn introspect_connects_only_to_the_sides_asked_for_and_names_a_missing_table() {
    let pair = Pair::empty().await;
    let desktop = pair.desktop_client().await;
    desktop
        .batch_execute("CREATE TABLE visits (org_id numeric(3) NOT NULL, visit_id integer NOT NULL, note text)")
        .await
        .expect("a keyless table");
    let dir = tempfile::tempdir().expect("a working directory");
    let desktop_url = pair.desktop_url();

    // No cloud URL anywhere: reading the desktop alone needs none.
    let args = ["--desktop-url", desktop_url.as_str(), "introspect", "--desktop", "visits"];
    let (code, entry, stderr) = run_binary_in(dir.path(), &[], &args).await;
    assert_eq!(code, 0, "{stderr}");
    assert!(entry.contains("# no key: the desktop table has no primary key"), "{entry}");
    assert!(entry.contains("    # key: [visit_id]\n") && entry.contains("    # cloud_key: [visit_id]\n"), "{entry}");
    assert!(entry.contains("    forward: { mode: full, strategy: replace_origin }\n"), "{entry}");
    assert!(entry.contains("timestamps: { desktop: false, cloud: false }"), "{entry}");

    let args = ["--desktop-url", desktop_url.as_str(), "introspect", "--desktop", "visit"];
    let (code, _, stderr) = run_binary_in(dir.path(), &[], &args).await;
    assert_eq!(code, 2, "a table that does not exist is a usage error:\n{stderr}");
    assert!(stderr.contains("the desktop database has no table `visit`"), "names side and table:\n{stderr}");

    let (code, _, stderr) = run_binary_in(dir.path(), &[], &["introspect", "--cloud", "visits"]).await;
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("CLOUD_DATABASE_URL"), "asks for the cloud URL, the side requested:\n{stderr}");
    assert!(!stderr.contains("DESKTOP_DATABASE_URL"), "not for the desktop's:\n{stderr}");
}
