//! Adding a table is: edit the YAML, `cargo build`, run the binary. This builds the real binary from
//! a copy of the shipped manifest with one more table, and checks `pgbisync tables` lists it; then
//! breaks the copy and checks the build stops with the line and the field.

mod support;

use std::process::Command;

use support::build::{build_with, workspace};

const NEW_TABLE: &str = r#"
  - name: invoices
    desktop: mbinvoices
    columns:
      - org_id numeric(3) not null
      - invoice_id numeric(10) not null
      - job_id numeric(10) not null
      - amount numeric(12,2)
      - issued date
    key: [invoice_id]
    references:
      - { columns: [job_id], table: jobshead }
    forward: { mode: incremental, strategy: upsert, track: updated_at }
"#;

#[test]
fn adding_a_table_to_the_manifest_and_building_yields_a_binary_that_lists_it() {
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("sync-schema.yaml");
    let shipped = std::fs::read_to_string(workspace().join("sync-schema.yaml")).unwrap();
    std::fs::write(&copy, format!("{shipped}{NEW_TABLE}")).unwrap();

    let (output, binary) = build_with(&copy);
    assert!(output.status.success(), "cargo build failed:\n{}", String::from_utf8_lossy(&output.stderr));
    let listed = Command::new(&binary).args(["tables", "--json"]).output().expect("running the new binary");
    assert!(listed.status.success());
    let doc: serde_json::Value = serde_json::from_slice(&listed.stdout).unwrap();
    let tables = doc["tables"].as_array().unwrap();
    assert_eq!(tables.len(), 26, "25 shipped table-directions plus the new one");
    let new = tables.iter().find(|t| t["table"] == "invoices").expect("invoices is listed");
    assert_eq!(new["desktop"], "mbinvoices");
    assert_eq!(new["cloud"], "invoices");
    assert_eq!(new["direction"], "forward");
    assert_eq!(new["mode"], "incremental");
    let position = |name: &str| tables.iter().position(|t| t["table"] == name && t["direction"] == "forward").unwrap();
    assert!(position("invoices") > position("jobshead"), "a child syncs after its parent");

    // Break the copy: a typo in a key stops the build with the line and the field.
    let broken = format!("{shipped}{}", NEW_TABLE.replace("track: updated_at", "trak: updated_at"));
    std::fs::write(&copy, &broken).unwrap();
    let (output, _) = build_with(&copy);
    assert!(!output.status.success(), "a broken manifest must fail the build");
    let stderr = String::from_utf8_lossy(&output.stderr);
    let line = broken.lines().position(|l| l.contains("trak:")).unwrap() + 1;
    assert!(stderr.contains(&format!("sync-schema.yaml:{line}:")), "names the line {line}:\n{stderr}");
    assert!(stderr.contains("table `invoices`") && stderr.contains("forward.trak"), "names table and field:\n{stderr}");
}
