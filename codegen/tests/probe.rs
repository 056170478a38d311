const BASE: &str = r#"version: 1
tables:
  - name: parent
    columns:
      - id integer not null
      - label text
    key: [id]
    forward: { mode: incremental, strategy: upsert, track: updated_at }
  - name: child
    columns:
      - id integer not null
      - parent_id integer not null
      - amount numeric(8,2)
    key: [id]
    references:
      - { columns: [parent_id], table: parent }
    forward:
      mode: full
      strategy: upsert
"#;

fn show(label: &str, text: &str) {
    match pgbisync_codegen::load_str("sync-schema.yaml", text) {
        Ok(m) => println!("=== {label}: OK ({} directions)", m.directions.len()),
        Err(e) => println!("=== {label}:\n{e}\n{:?}", e.0.iter().map(|d| (d.position, &d.field)).collect::<Vec<_>>()),
    }
}

#[test]
fn probe() {
    show("_n col", &BASE.replace("      - amount numeric(8,2)\n", "      - amount numeric(8,2)\n      - _n integer\n      - _track integer\n"));
    show("rev skip desktop name", &BASE.replace("    key: [id]\n    references", "    renames: [{desktop: amount, cloud: amt}]\n    key: [id]\n    references").replace("    forward:\n      mode: full\n      strategy: upsert\n", "    reverse:\n      mode: full\n      strategy: upsert\n      skip: [amount]\n"));
    show("rename unknown", &BASE.replace("    key: [id]\n    references", "    renames: [{desktop: amont, cloud: amt}]\n    key: [id]\n    references"));
}
