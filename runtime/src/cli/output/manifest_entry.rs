//! A suggested manifest entry as YAML text, indented to paste under `tables:` in
//! `sync-schema.yaml`. Every note becomes a comment above the line it explains; what would not
//! build as it is (an undeclarable column, a reference to a table the manifest lacks, the reverse
//! section) is written commented out.

use crate::engine::introspect::{ColumnDecl, Entry, SyncDecl};

/// Comments wrap at this width, like the shipped manifest's.
const WIDTH: usize = 100;
/// `  - name:` under `tables:`.
const ENTRY: usize = 2;
const FIELD: usize = 4;
const ITEM: usize = 6;

/// All entries, a blank line between two.
pub fn render(entries: &[Entry]) -> String {
    entries.iter().map(render_entry).collect::<Vec<_>>().join("\n")
}

fn render_entry(e: &Entry) -> String {
    let mut y = Yaml::default();
    for note in &e.notes {
        y.comment(ENTRY, note);
    }
    y.line(ENTRY, &format!("- name: {}", e.name));
    if let Some(d) = &e.desktop {
        y.line(FIELD, &format!("desktop: {d}"));
    }
    if let Some(c) = &e.cloud {
        y.line(FIELD, &format!("cloud: {c}"));
    }
    columns(&mut y, "columns", &e.columns, true);
    columns(&mut y, "desktop_only", &e.desktop_only, false);
    columns(&mut y, "cloud_only", &e.cloud_only, false);
    if !e.renames.is_empty() {
        y.line(FIELD, "renames:");
        for r in &e.renames {
            for note in &r.notes {
                y.comment(ITEM, note);
            }
            y.line(ITEM, &format!("- {{ desktop: {}, cloud: {} }}", r.desktop, r.cloud));
        }
    }
    let t = &e.timestamps;
    for note in &t.notes {
        y.comment(FIELD, note);
    }
    let off: Vec<&str> =
        [("desktop", t.desktop), ("cloud", t.cloud)].iter().filter(|(_, on)| !on).map(|(s, _)| *s).collect();
    if !off.is_empty() {
        let flags: Vec<String> = off.iter().map(|s| format!("{s}: false")).collect();
        y.line(FIELD, &format!("timestamps: {{ {} }}", flags.join(", ")));
    }
    let k = &e.key;
    for note in &k.notes {
        y.comment(FIELD, note);
    }
    if !k.shared.is_empty() {
        y.line(FIELD, &format!("key: {}", list(&k.shared)));
    }
    for (field, columns) in [("desktop_key", &k.desktop), ("cloud_key", &k.cloud)] {
        if let Some(columns) = columns {
            y.line(FIELD, &format!("{field}: {}", list(columns)));
        }
    }
    for (field, columns) in &k.suggestions {
        y.line(FIELD, &format!("# {field}: {}", list(columns)));
    }
    if !e.references.is_empty() {
        let any_active = e.references.iter().any(|r| r.active);
        y.line(FIELD, if any_active { "references:" } else { "# references:" });
        for r in &e.references {
            for note in &r.notes {
                y.comment(ITEM, note);
            }
            let text = format!("- {{ columns: {}, table: {} }}", list(&r.columns), r.table);
            y.line(ITEM, &if r.active { text } else { format!("# {text}") });
        }
    }
    sync(&mut y, "forward", &e.forward);
    if let Some(reverse) = &e.reverse {
        sync(&mut y, "reverse", reverse);
    }
    y.text
}

/// A column list; a required one with nothing declarable is written `[]` so the entry still parses.
fn columns(y: &mut Yaml, field: &str, columns: &[ColumnDecl], required: bool) {
    if columns.is_empty() && !required {
        return;
    }
    let any = columns.iter().any(|c| c.declarable);
    match (any, required) {
        (true, _) => y.line(FIELD, &format!("{field}:")),
        (false, true) => y.line(FIELD, &format!("{field}: []")),
        (false, false) => y.line(FIELD, &format!("# {field}:")),
    }
    for c in columns {
        for note in &c.notes {
            y.comment(ITEM, note);
        }
        let text = format!("- {} {}{}", c.name, c.ty, if c.not_null { " not null" } else { "" });
        y.line(ITEM, &if c.declarable { text } else { format!("# {text}") });
    }
}

fn sync(y: &mut Yaml, direction: &str, d: &SyncDecl) {
    for note in &d.notes {
        y.comment(FIELD, note);
    }
    let mut parts = vec![format!("mode: {}", d.mode.as_str()), format!("strategy: {}", d.strategy.as_str())];
    if let Some(track) = &d.track {
        parts.push(format!("track: {track}"));
    }
    if d.keep_deletes {
        parts.push("deletes: keep".into());
    }
    let text = format!("{direction}: {{ {} }}", parts.join(", "));
    y.line(FIELD, &if d.active { text } else { format!("# {text}") });
}

fn list(columns: &[String]) -> String {
    format!("[{}]", columns.join(", "))
}

#[derive(Default)]
struct Yaml {
    text: String,
}

impl Yaml {
    fn line(&mut self, indent: usize, text: &str) {
        self.text.push_str(&" ".repeat(indent));
        self.text.push_str(text);
        self.text.push('\n');
    }

    /// `# text`, wrapped at word boundaries.
    fn comment(&mut self, indent: usize, text: &str) {
        let room = WIDTH.saturating_sub(indent + 2).max(40);
        let mut line = String::new();
        for word in text.split_whitespace() {
            if !line.is_empty() && line.len() + 1 + word.len() > room {
                self.line(indent, &format!("# {line}"));
                line.clear();
            }
            if !line.is_empty() {
                line.push(' ');
            }
            line.push_str(word);
        }
        if !line.is_empty() {
            self.line(indent, &format!("# {line}"));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::introspect::catalog::{LiveColumn, LiveForeignKey, LiveIndex, LiveTable, LiveTrigger};
    use crate::engine::introspect::{suggest, KnownTable, Pair};
    use crate::spec::{DeleteGuard, ManifestSpec, Side, TenantSpec};

    /// The shipped manifest's settings.
    static MANIFEST: ManifestSpec = ManifestSpec {
        path: "sync-schema.yaml",
        desktop_url_env: "DESKTOP_DATABASE_URL",
        cloud_url_env: "CLOUD_DATABASE_URL",
        forward_metadata: "_sync_metadata",
        reverse_metadata: "_reverse_sync_metadata",
        forward_rejects: "_sync_rejects",
        reverse_rejects: "_reverse_sync_rejects",
        forward_deleted: "_sync_deleted",
        reverse_deleted: "_reverse_sync_deleted",
        reverse_ledger: "_reverse_sync_ledger",
        origin_column: "source",
        origin_desktop: "D",
        origin_cloud: "M",
        created_column: "created_at",
        updated_column: "updated_at",
        tenant: Some(TenantSpec { column: "org_id", env: "PGBISYNC_ORG_ID" }),
        lookback_seconds: 60,
        delete_guard: DeleteGuard { max_percent: 10, min_rows: 100 },
    };

    const SHIPPED: &str = include_str!("../../../../sync-schema.yaml");

    fn known() -> Vec<KnownTable> {
        vec![KnownTable {
            name: "jobshead".into(),
            desktop: "jobshead".into(),
            cloud: "jobshead".into(),
            desktop_key: vec!["job_id".into()],
            cloud_key: vec!["job_id".into()],
            cloud_has_tenant: true,
        }]
    }

    fn col(name: &str, ty: &str, not_null: bool) -> LiveColumn {
        LiveColumn {
            name: name.into(),
            format_type: ty.into(),
            not_null,
            default: None,
            identity: None,
            computed: false,
        }
    }

    fn stamps() -> Vec<LiveColumn> {
        vec![col("created_at", "timestamp with time zone", false), col("updated_at", "timestamp with time zone", false)]
    }

    fn table(side: Side, name: &str, columns: Vec<LiveColumn>) -> LiveTable {
        LiveTable {
            side,
            schema: "public".into(),
            name: name.into(),
            columns,
            unique: Vec::new(),
            foreign_keys: Vec::new(),
            triggers: Vec::new(),
        }
    }

    fn primary_key(name: &str, columns: &[&str]) -> LiveIndex {
        LiveIndex { name: name.into(), primary: true, columns: columns.iter().map(|c| c.to_string()).collect() }
    }

    fn touch_trigger(name: &str) -> LiveTrigger {
        LiveTrigger {
            name: name.into(),
            tgtype: 1 | (1 << 1) | (1 << 4),
            enabled: true,
            function_source: "BEGIN NEW.updated_at := now(); RETURN NEW; END".into(),
        }
    }

    /// Renders the entries and checks the generator accepts them appended to the shipped manifest.
    fn render_and_build(pairs: &[Pair]) -> (String, Vec<Entry>) {
        let entries = suggest(pairs, &MANIFEST, &known());
        let yaml = render(&entries);
        if let Err(e) = pgbisync_codegen::load_str("sync-schema.yaml", &format!("{SHIPPED}\n{yaml}")) {
            panic!("the generator refuses the entry:\n{yaml}\n{e}");
        }
        (yaml, entries)
    }

    #[test]
    fn a_keyless_table_says_so_and_offers_the_key_lines_commented_out() {
        let mut columns = vec![
            col("org_id", "numeric(3,0)", true),
            col("visit_id", "numeric(8,0)", true),
            col("visitnotes", "character varying(200)", false),
        ];
        columns.extend(stamps());
        let desktop = table(Side::Desktop, "mbvisits", columns);
        let (yaml, entries) = render_and_build(&[Pair { desktop: Some(desktop), cloud: None }]);
        assert!(yaml.contains("  - name: mbvisits\n"), "{yaml}");
        assert!(yaml.contains("      - org_id numeric(3) not null\n"), "{yaml}");
        assert!(yaml.contains("      - visitnotes varchar(200)\n"), "{yaml}");
        assert!(!yaml.contains("created_at"), "timestamps are bookkeeping, never declared:\n{yaml}");
        assert!(yaml.contains("# no key: the desktop table has no primary key"), "{yaml}");
        for line in ["    # key: [visit_id]\n", "    # desktop_key: []\n", "    # cloud_key: [visit_id]\n"] {
            assert!(yaml.contains(line), "offers {line:?}:\n{yaml}");
        }
        assert!(yaml.contains("    forward: { mode: full, strategy: replace_origin }\n"), "{yaml}");
        assert!(yaml.contains("the cloud table was not"), "says what it assumed:\n{yaml}");
        assert!(entries[0].reverse.is_none(), "reverse needs a desktop key");
    }

    #[test]
    fn both_sides_give_one_sided_and_renamed_columns_and_an_incremental_upsert() {
        let mut d_cols = vec![
            col("org_id", "numeric(3,0)", true),
            col("invoice_id", "numeric(10,0)", true),
            col("job_id", "numeric(10,0)", true),
            col("invoice_notes", "character varying(100)", false),
            col("legacy_flag", "character(1)", false),
            col("doc_ref", "uuid", false),
        ];
        d_cols.extend(stamps());
        let mut desktop = table(Side::Desktop, "mbinvoices", d_cols);
        desktop.unique.push(primary_key("mbinvoices_pkey", &["invoice_id"]));
        desktop.triggers.push(touch_trigger("mbinvoices_touch"));
        desktop.foreign_keys.push(LiveForeignKey {
            name: "mbinvoices_job_id_fkey".into(),
            columns: vec!["job_id".into()],
            parent_schema: "public".into(),
            parent: "jobshead".into(),
            parent_columns: vec!["job_id".into()],
        });
        let mut c_cols = vec![
            col("org_id", "numeric(3,0)", true),
            col("invoice_id", "numeric(10,0)", true),
            col("job_id", "numeric(10,0)", true),
            col("notes", "character varying(100)", false),
            col("paid", "boolean", false),
            LiveColumn {
                default: Some("nextval('invoices_line_seq'::regclass)".into()),
                ..col("line", "bigint", true)
            },
            col("source", "character(1)", false),
        ];
        c_cols.extend(stamps());
        let mut cloud = table(Side::Cloud, "invoices", c_cols);
        cloud.unique.push(primary_key("invoices_pkey", &["invoice_id"]));
        cloud.triggers.push(touch_trigger("invoices_touch"));

        let (yaml, entries) = render_and_build(&[Pair { desktop: Some(desktop), cloud: Some(cloud) }]);
        let e = &entries[0];
        assert!(yaml.contains("  - name: invoices\n    desktop: mbinvoices\n"), "{yaml}");
        assert!(yaml.contains("    desktop_only:\n      - legacy_flag char(1)\n"), "{yaml}");
        assert!(yaml.contains("    cloud_only:\n      - paid boolean\n"), "{yaml}");
        assert!(yaml.contains("      - line bigserial not null\n"), "numbered by the cloud:\n{yaml}");
        assert!(yaml.contains("      - { desktop: invoice_notes, cloud: notes }\n"), "{yaml}");
        assert!(yaml.contains("      - invoice_notes varchar(100)\n"), "a renamed column is shared:\n{yaml}");
        assert!(yaml.contains("      # - doc_ref uuid\n"), "an undeclarable type is commented out:\n{yaml}");
        assert!(yaml.contains("type uuid has no manifest spelling"), "{yaml}");
        assert!(e.warnings.iter().any(|w| w.contains("column doc_ref") && w.contains("uuid")), "{:?}", e.warnings);
        assert!(!yaml.contains("- source "), "the origin column is the manifest's own:\n{yaml}");
        assert!(yaml.contains("    key: [invoice_id]\n"), "{yaml}");
        assert!(yaml.contains("      - { columns: [job_id], table: jobshead }\n"), "{yaml}");
        assert!(yaml.contains("    forward: { mode: incremental, strategy: upsert, track: updated_at }\n"), "{yaml}");
        assert!(yaml.contains("trigger mbinvoices_touch"), "says why incremental:\n{yaml}");
        assert!(
            yaml.contains("    # reverse: { mode: incremental, strategy: insert_only, track: updated_at }\n"),
            "{yaml}"
        );
    }

    #[test]
    fn a_reference_to_a_table_outside_the_manifest_is_commented_out_and_one_without_a_trigger_is_full() {
        let mut columns = vec![
            col("org_id", "numeric(3,0)", true),
            col("pay_id", "integer", true),
            col("vendor_id", "integer", true),
        ];
        columns.extend(stamps());
        let mut desktop = table(Side::Desktop, "payments", columns);
        desktop.unique.push(LiveIndex {
            name: "payments_pay_id_key".into(),
            primary: false,
            columns: vec!["pay_id".into()],
        });
        desktop.foreign_keys.push(LiveForeignKey {
            name: "payments_vendor_id_fkey".into(),
            columns: vec!["vendor_id".into()],
            parent_schema: "public".into(),
            parent: "vendors".into(),
            parent_columns: vec!["vendor_id".into()],
        });
        let (yaml, _) = render_and_build(&[Pair { desktop: Some(desktop), cloud: None }]);
        assert!(yaml.contains("    # references:\n"), "{yaml}");
        assert!(yaml.contains("      # - { columns: [vendor_id], table: vendors }\n"), "{yaml}");
        assert!(yaml.contains("vendors is not in the manifest"), "{yaml}");
        assert!(yaml.contains("unique index payments_pay_id_key"), "{yaml}");
        assert!(yaml.contains("    forward: { mode: full, strategy: upsert }\n"), "{yaml}");
        assert!(yaml.contains("no enabled BEFORE UPDATE trigger sets updated_at"), "{yaml}");
    }
}
