//! Every manifest error the generator reports: each test breaks a small valid manifest in one place
//! and checks that the rendered message points at the offending token (line and column computed
//! from the fixture text, never hard-coded), names the table and the field, says what is wrong and
//! gives a fix.
//!
//! Tests marked `#[ignore = "BUG: ..."]` assert the correct behaviour of something the generator
//! gets wrong today; run them with `cargo test -p pgbisync-codegen --test validation -- --ignored`.

use pgbisync_codegen::{Diagnostic, Diagnostics};

/// The name messages show for the manifest.
const FILE: &str = "sync-schema.yaml";

/// A minimal valid manifest: `parent` syncs forward incrementally, `child` references it and syncs
/// forward in full. Each test edits one spot of it.
const BASE: &str = "\
version: 1
tables:
  - name: parent
    columns:
      - id integer not null
      - label text
      - changed timestamp
    key: [id]
    forward: { mode: incremental, strategy: upsert, track: updated_at }
  - name: child
    columns:
      - id integer not null
      - parent_id integer not null
      - amount numeric(8,2)
      - qty integer
    key: [id]
    references:
      - { columns: [parent_id], table: parent }
    forward:
      mode: full
      strategy: upsert
";

/// `child`'s forward section as BASE spells it, for tests that add to it.
const CHILD_FORWARD: &str = "    forward:\n      mode: full\n      strategy: upsert\n";

// Helpers.

/// `text` with the only occurrence of `from` replaced by `to`.
fn edit(text: &str, from: &str, to: &str) -> String {
    let n = text.matches(from).count();
    assert_eq!(n, 1, "the fixture should contain {from:?} exactly once, has it {n} times:\n{text}");
    text.replacen(from, to, 1)
}

/// BASE with one edit.
fn base_with(from: &str, to: &str) -> String {
    edit(BASE, from, to)
}

/// 1-based line and column of the `nth` (0-based) occurrence of `needle`.
fn at_nth(text: &str, needle: &str, nth: usize) -> (u64, u64) {
    let (offset, _) = text
        .match_indices(needle)
        .nth(nth)
        .unwrap_or_else(|| panic!("{needle:?} occurs fewer than {} times in:\n{text}", nth + 1));
    let before = &text[..offset];
    let line = before.matches('\n').count() as u64 + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    (line, (offset - line_start) as u64 + 1)
}

/// 1-based line and column of the only occurrence of `needle`.
fn at(text: &str, needle: &str) -> (u64, u64) {
    assert_eq!(text.matches(needle).count(), 1, "{needle:?} should occur exactly once in:\n{text}");
    at_nth(text, needle, 0)
}

/// The diagnostics for a manifest that must be rejected.
fn reject(text: &str) -> Diagnostics {
    match pgbisync_codegen::load_str(FILE, text) {
        Ok(model) => panic!(
            "the manifest should be rejected, but validated into {} table-directions:\n{text}",
            model.directions.len()
        ),
        Err(errors) => errors,
    }
}

/// The one diagnostic reported.
fn only(errors: &Diagnostics) -> &Diagnostic {
    assert_eq!(errors.0.len(), 1, "expected exactly one error, got {}:\n{errors}", errors.0.len());
    &errors.0[0]
}

/// The diagnostic whose message contains `message`.
fn find<'a>(errors: &'a Diagnostics, message: &str) -> &'a Diagnostic {
    errors
        .0
        .iter()
        .find(|d| d.message.contains(message))
        .unwrap_or_else(|| panic!("no error saying {message:?} among:\n{errors}"))
}

/// Checks the rendered diagnostic starts with `file:line:col: error: ` and ends with a fix.
fn check_position_and_fix(d: &Diagnostic, (line, column): (u64, u64)) -> String {
    let rendered = d.to_string();
    let head = format!("{FILE}:{line}:{column}: error: ");
    assert!(rendered.starts_with(&head), "expected the error at {line}:{column}, got:\n{rendered}");
    let fix = rendered.split_once("\n  fix: ").map(|(_, fix)| fix.trim()).unwrap_or_default();
    assert!(!fix.is_empty(), "the error should end with a fix:\n{rendered}");
    rendered
}

/// Checks the whole rendered diagnostic: position, table, field, message and a fix.
fn check(d: &Diagnostic, position: (u64, u64), table: Option<&str>, field: &str, message: &str) {
    let rendered = check_position_and_fix(d, position);
    let (line, column) = position;
    let about = match table {
        Some(t) => format!("table `{t}`, field `{field}`: "),
        None => format!("field `{field}`: "),
    };
    let head = format!("{FILE}:{line}:{column}: error: {about}");
    assert!(rendered.starts_with(&head), "expected the error to start with {head:?}, got:\n{rendered}");
    assert!(rendered.contains(message), "expected the message to say {message:?}, got:\n{rendered}");
}

// Valid manifests.

#[test]
fn base_manifest_is_valid() {
    let model = pgbisync_codegen::load_str(FILE, BASE).unwrap_or_else(|e| panic!("{e}"));
    let names: Vec<&str> = model.directions.iter().map(|t| t.table.as_str()).collect();
    assert_eq!(names, ["parent", "child"]);
}

#[test]
fn shipped_manifest_validates_with_25_table_directions() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../sync-schema.yaml");
    let text = std::fs::read_to_string(path).expect("read the shipped manifest");
    let model =
        pgbisync_codegen::load_str(path, &text).unwrap_or_else(|e| panic!("the shipped manifest is invalid:\n{e}"));
    let forward =
        model.directions.iter().filter(|t| t.direction == pgbisync_codegen::model::Direction::Forward).count();
    let reverse =
        model.directions.iter().filter(|t| t.direction == pgbisync_codegen::model::Direction::Reverse).count();
    assert_eq!((model.directions.len(), forward, reverse), (25, 16, 9));
    // Forward first, then reverse, each parent before its children.
    let first_reverse =
        model.directions.iter().position(|t| t.direction == pgbisync_codegen::model::Direction::Reverse);
    assert_eq!(first_reverse, Some(16));
    for (i, t) in model.directions.iter().enumerate() {
        for parent in &t.depends_on {
            let p = model.directions.iter().position(|p| &p.table == parent && p.direction == t.direction);
            if let Some(p) = p {
                assert!(p < i, "{} {} syncs before its parent {parent}", t.table, t.direction.as_str());
            }
        }
    }
    pgbisync_codegen::generate_str(FILE, &text).unwrap_or_else(|e| panic!("{e}"));
}

// Errors of the reader.

#[test]
fn yaml_syntax_error() {
    let text = base_with("    key: [id]\n    references:", "    key [id]\n    references:");
    let errors = reject(&text);
    let rendered = check_position_and_fix(only(&errors), at(&text, "key [id]"));
    assert!(rendered.contains("field `(YAML syntax)`"), "{rendered}");
    assert!(rendered.contains("expected ':'"), "{rendered}");
    assert!(rendered.contains("indentation, quoting, a missing `:` or `-`"), "{rendered}");
}

#[test]
fn reader_messages_do_not_repeat_error_and_position() {
    for text in [
        base_with("    key: [id]\n    references:", "    key [id]\n    references:"),
        base_with("      strategy: upsert\n", "      strategi: upsert\n"),
        base_with("      mode: full\n", "      mode: full\n      mode: full\n"),
    ] {
        let rendered = reject(&text).to_string();
        assert_eq!(rendered.matches("error:").count(), 1, "{rendered}");
        assert!(!rendered.contains(" column "), "the position is already in the `file:line:col:` prefix:\n{rendered}");
    }
}

#[test]
fn unknown_key_in_a_tables_forward_section() {
    let text = base_with("      strategy: upsert\n", "      strategi: upsert\n");
    let errors = reject(&text);
    let rendered = check_position_and_fix(only(&errors), at(&text, "strategi:"));
    assert!(rendered.contains("table `child`, field `"), "{rendered}");
    assert!(rendered.contains("strategi`: "), "{rendered}");
    assert!(rendered.contains("unknown field `strategi`, expected one of mode, strategy,"), "{rendered}");
    assert!(rendered.contains("check the spelling"), "{rendered}");
}

#[test]
fn unknown_key_names_its_table_and_path() {
    let text = base_with("      strategy: upsert\n", "      strategi: upsert\n");
    let errors = reject(&text);
    check(only(&errors), at(&text, "strategi:"), Some("child"), "forward.strategi", "unknown field `strategi`");
}

#[test]
fn unknown_key_at_top_level() {
    let text = base_with("version: 1\n", "version: 1\nlookback_secnds: 30\n");
    let errors = reject(&text);
    check(
        only(&errors),
        at(&text, "lookback_secnds"),
        None,
        "lookback_secnds",
        "unknown field `lookback_secnds`, expected one of",
    );
    assert!(errors.to_string().contains("lookback_seconds"), "the message should list the right spelling:\n{errors}");
}

#[test]
fn duplicate_key_in_a_mapping() {
    let text = base_with("      mode: full\n", "      mode: full\n      mode: incremental\n");
    let errors = reject(&text);
    // The second `mode` is the one to remove.
    let rendered = check_position_and_fix(only(&errors), at(&text, "mode: incremental\n"));
    assert!(rendered.contains("duplicate mapping key"), "{rendered}");
    assert!(rendered.contains("remove one of the two entries"), "{rendered}");
}

#[test]
fn duplicate_key_names_the_key_without_library_advice() {
    let text = base_with("      mode: full\n", "      mode: full\n      mode: incremental\n");
    let errors = reject(&text);
    let d = only(&errors);
    check_position_and_fix(d, at(&text, "mode: incremental\n"));
    assert!(d.field == "mode" || d.field == "forward.mode", "the field should be the duplicated key, is {:?}", d.field);
    assert!(!d.message.contains("DuplicateKeyPolicy"), "a manifest author cannot set library options:\n{d}");
}

// Columns and types.

#[test]
fn unknown_postgresql_type() {
    let text = base_with("      - qty integer\n", "      - qty intger\n");
    let errors = reject(&text);
    check(
        only(&errors),
        at(&text, "qty intger"),
        Some("child"),
        "columns[3]",
        "column `qty` has unknown PostgreSQL type `intger`",
    );
    assert!(errors.to_string().contains("fix: use one of: smallint, integer,"), "{errors}");
}

#[test]
fn column_declared_twice() {
    let text = base_with("      - qty integer\n", "      - qty integer\n      - amount integer\n");
    let errors = reject(&text);
    let d = find(&errors, "column `amount` is declared twice");
    check(d, at(&text, "amount integer"), Some("child"), "columns[4]", "column `amount` is declared twice");
}

#[test]
fn column_declared_twice_is_reported_once() {
    let text = base_with("      - qty integer\n", "      - qty integer\n      - amount integer\n");
    let errors = reject(&text);
    check(only(&errors), at(&text, "amount integer"), Some("child"), "columns[4]", "column `amount` is declared twice");
}

#[test]
fn column_names_reserved_by_the_stage_are_rejected() {
    for reserved in ["_n", "_track"] {
        let text = base_with("      - qty integer\n", &format!("      - qty integer\n      - {reserved} integer\n"));
        let errors = reject(&text);
        let d = only(&errors);
        check_position_and_fix(d, at(&text, &format!("{reserved} integer")));
        assert_eq!(d.table.as_deref(), Some("child"));
        assert_eq!(d.field, "columns[4]");
    }
}

// Keys.

#[test]
fn key_column_that_is_not_a_column() {
    let text = base_with("    key: [id]\n    references:", "    key: [idx]\n    references:");
    let errors = reject(&text);
    let d = errors.0.iter().find(|d| d.field == "key").unwrap_or_else(|| panic!("no error on field `key`:\n{errors}"));
    check(
        d,
        at(&text, "idx"),
        Some("child"),
        "key",
        "key column `idx` is not a column of the table (columns: id, parent_id,",
    );
}

#[test]
fn nullable_key_column() {
    let text = base_with("    key: [id]\n    references:", "    key: [qty]\n    references:");
    let errors = reject(&text);
    let d = errors.0.iter().find(|d| d.field == "key").unwrap_or_else(|| panic!("no error on field `key`:\n{errors}"));
    check(d, at(&text, "qty]"), Some("child"), "key", "key column `qty` is nullable");
    assert!(d.fix.contains("not null"), "{d}");
}

#[test]
fn shared_key_errors_are_reported_once_under_key() {
    for (key, message) in [("idx", "is not a column of the table"), ("qty", "is nullable")] {
        let text = base_with("    key: [id]\n    references:", &format!("    key: [{key}]\n    references:"));
        let errors = reject(&text);
        check(only(&errors), at(&text, &format!("{key}]")), Some("child"), "key", message);
    }
}

#[test]
fn upsert_when_the_target_generates_its_key() {
    // The cloud key is a cloud_only bigserial: the desktop cannot provide it, so upsert cannot match rows.
    let text = base_with(
        "    key: [id]\n    references:",
        "    cloud_only:\n      - cloud_id bigserial not null\n    cloud_key: [cloud_id]\n    references:",
    );
    let errors = reject(&text);
    check(
        only(&errors),
        at(&text, "upsert\n"),
        Some("child"),
        "forward.strategy",
        "strategy upsert matches rows by key, but the cloud key (cloud_id) is not among the columns the source provides",
    );
    assert!(errors.to_string().contains("or use replace_origin"), "{errors}");
}

#[test]
fn upsert_without_any_key() {
    let text = base_with("    key: [id]\n    references:", "    references:");
    let errors = reject(&text);
    check(
        only(&errors),
        at(&text, "upsert\n"),
        Some("child"),
        "forward.strategy",
        "strategy upsert matches rows by key, but the cloud table `child` has no key",
    );
}

// Tracking.

#[test]
fn tracking_column_that_is_not_a_column() {
    let text = base_with("track: updated_at", "track: modified_at");
    let errors = reject(&text);
    check(
        only(&errors),
        at(&text, "modified_at"),
        Some("parent"),
        "forward.track",
        "tracking column `modified_at` is not a column of desktop table `parent` (columns: id, label, changed, created_at, updated_at)",
    );
}

#[test]
fn tracking_column_that_is_not_timestamptz() {
    let text = base_with("track: updated_at", "track: label");
    let errors = reject(&text);
    check(
        only(&errors),
        at(&text, "label }"),
        Some("parent"),
        "forward.track",
        "tracking column `label` is text, not timestamptz",
    );
    assert!(errors.to_string().contains("fix: track a timestamptz column"), "{errors}");
}

#[test]
fn tracking_column_that_is_timestamp_without_time_zone() {
    let text = base_with("track: updated_at", "track: changed");
    let errors = reject(&text);
    check(
        only(&errors),
        at(&text, "changed }"),
        Some("parent"),
        "forward.track",
        "tracking column `changed` is timestamp without time zone, not timestamptz",
    );
}

#[test]
fn incremental_mode_without_a_tracking_column() {
    let text = base_with(", track: updated_at }", " }");
    let errors = reject(&text);
    check(
        only(&errors),
        at(&text, "incremental"),
        Some("parent"),
        "forward.mode",
        "incremental mode needs a tracking column, and none is given",
    );
    assert!(errors.to_string().contains("add `track: updated_at`"), "{errors}");
}

// Replace_origin.

#[test]
fn replace_origin_with_incremental_mode() {
    let text = base_with("strategy: upsert, track", "strategy: replace_origin, track");
    let errors = reject(&text);
    check(
        only(&errors),
        at(&text, "replace_origin"),
        Some("parent"),
        "forward.strategy",
        "an incremental read would delete every row not changed since the last run",
    );
    assert!(errors.to_string().contains("fix: use `mode: full` with replace_origin"), "{errors}");
}

#[test]
fn replace_origin_in_reverse() {
    let text = base_with(
        "    forward: { mode: incremental",
        "    reverse: { mode: full, strategy: replace_origin }\n    forward: { mode: incremental",
    );
    let errors = reject(&text);
    check(
        only(&errors),
        at(&text, "replace_origin"),
        Some("parent"),
        "reverse.strategy",
        "replace_origin needs the origin column on the target",
    );
    assert!(errors.to_string().contains("use insert_only or upsert for reverse tables"), "{errors}");
}

// Skip and set rules.

#[test]
fn skip_of_a_column_that_is_not_shared() {
    let text = edit(
        &base_with(
            "    key: [id]\n    references:",
            "    desktop_only:\n      - memo text\n    key: [id]\n    references:",
        ),
        CHILD_FORWARD,
        &format!("{CHILD_FORWARD}      skip: [memo]\n"),
    );
    let errors = reject(&text);
    check(only(&errors), at(&text, "memo]"), Some("child"), "forward.skip", "`memo` is not a column both sides share");
}

#[test]
fn a_column_renamed_twice_or_two_columns_renamed_alike_fail_with_the_line() {
    let text = base_with(
        "    key: [id]\n    references:",
        "    renames:\n      - { desktop: amount, cloud: total }\n      - { desktop: amount, cloud: sum }\n    key: [id]\n    references:",
    );
    let errors = reject(&text);
    check(
        only(&errors),
        at(&text, "amount, cloud: sum"),
        Some("child"),
        "renames.desktop",
        "column `amount` is renamed twice",
    );

    let text = base_with(
        "    key: [id]\n    references:",
        "    renames:\n      - { desktop: amount, cloud: total }\n      - { desktop: id, cloud: total }\n    key: [id]\n    references:",
    );
    let errors = reject(&text);
    let second = at_nth(&text, "total", 1);
    assert!(
        errors
            .0
            .iter()
            .any(|e| e.position.line == second.0 && e.message.contains("two columns are renamed to `total`")),
        "{errors:#?}"
    );
}

#[test]
fn reverse_skip_of_a_renamed_column_takes_its_manifest_name() {
    // Everywhere else (key, references) shared columns go by their desktop name.
    let text = base_with(
        "    key: [id]\n    references:",
        "    renames: [{ desktop: amount, cloud: total }]\n    key: [id]\n    references:",
    );
    let text = edit(
        &text,
        CHILD_FORWARD,
        &format!("{CHILD_FORWARD}    reverse: {{ mode: full, strategy: insert_only, skip: [amount] }}\n"),
    );
    let model = pgbisync_codegen::load_str(FILE, &text).unwrap_or_else(|e| panic!("{e}"));
    let reverse = model
        .directions
        .iter()
        .find(|t| t.table == "child" && t.direction == pgbisync_codegen::model::Direction::Reverse)
        .unwrap();
    assert!(reverse.staged.iter().all(|s| s.name != "amount"), "amount is skipped in reverse");
}

#[test]
fn constant_that_is_not_a_value_of_the_column_type() {
    let text = edit(BASE, CHILD_FORWARD, &format!("{CHILD_FORWARD}      set: [{{column: qty, const: \"abc\"}}]\n"));
    let errors = reject(&text);
    check(
        only(&errors),
        at(&text, "\"abc\""),
        Some("child"),
        "forward.set[0].const",
        "`abc` is not a valid integer constant",
    );
    assert!(errors.to_string().contains("fix: give a value of the column's type"), "{errors}");
}

#[test]
fn lookup_of_an_unknown_table() {
    let text = edit(
        BASE,
        CHILD_FORWARD,
        &format!("{CHILD_FORWARD}      set:\n        - column: qty\n          lookup: {{ table: parnet, by: [id], take: id }}\n"),
    );
    let errors = reject(&text);
    check(
        only(&errors),
        at(&text, "parnet"),
        Some("child"),
        "forward.set[0].lookup.table",
        "lookup names unknown table `parnet` (tables: parent, child)",
    );
}

#[test]
fn lookup_take_of_an_unknown_column() {
    let text = edit(
        BASE,
        CHILD_FORWARD,
        &format!("{CHILD_FORWARD}      set:\n        - column: qty\n          lookup: {{ table: parent, by: [id], take: idd }}\n"),
    );
    let errors = reject(&text);
    check(
        only(&errors),
        at(&text, "idd"),
        Some("child"),
        "forward.set[0].lookup.take",
        "`idd` is not a column of `parent` on the cloud side (columns: id, label,",
    );
}

// References.

#[test]
fn reference_to_an_unknown_table() {
    let text = base_with("table: parent }", "table: parnet }");
    let errors = reject(&text);
    check(
        only(&errors),
        at(&text, "parnet"),
        Some("child"),
        "references[0].table",
        "reference to unknown table `parnet` (tables: parent, child)",
    );
}

#[test]
fn reference_to_an_unknown_column() {
    let text = base_with("columns: [parent_id]", "columns: [parentid]");
    let errors = reject(&text);
    check(
        only(&errors),
        at(&text, "parentid"),
        Some("child"),
        "references[0].columns",
        "reference column `parentid` is not a column of the table (columns: id, parent_id,",
    );
}

#[test]
fn references_that_form_a_cycle() {
    // parent -> child -> parent: reported once, at the reference that closes the cycle.
    let text = base_with(
        "    key: [id]\n    forward: { mode: incremental",
        "    key: [id]\n    references:\n      - { columns: [id], table: child }\n    forward: { mode: incremental",
    );
    let errors = reject(&text);
    check(
        only(&errors),
        at(&text, "parent }"),
        Some("child"),
        "references",
        "references form a cycle: parent -> child -> parent",
    );
    assert!(errors.to_string().contains("fix: remove one reference of the cycle"), "{errors}");
}

#[test]
fn an_error_in_a_parent_does_not_make_it_unknown_to_its_children() {
    let text = base_with("      - label text\n", "      - label txet\n");
    let errors = reject(&text);
    check(
        only(&errors),
        at(&text, "label txet"),
        Some("parent"),
        "columns[1]",
        "column `label` has unknown PostgreSQL type `txet`",
    );
}

// Tables.

#[test]
fn table_listed_twice() {
    let text = base_with(
        "  - name: child\n",
        "  - name: parent\n    columns: [id integer not null]\n    key: [id]\n    forward: { mode: full, strategy: upsert }\n  - name: child\n",
    );
    let errors = reject(&text);
    let (first_line, _) = at_nth(&text, "name: parent", 0);
    let second = at_nth(&text, "parent\n", 1);
    check(
        only(&errors),
        second,
        Some("parent"),
        "name",
        &format!("table `parent` is listed twice (first at line {first_line})"),
    );
    assert!(errors.to_string().contains("fix: merge the two entries into one"), "{errors}");
}

// Several at once.

#[test]
fn several_errors_are_reported_together() {
    let text = base_with("version: 1\n", "version: 2\n");
    let text = edit(&text, "track: updated_at", "track: label");
    let text = edit(&text, CHILD_FORWARD, &format!("{CHILD_FORWARD}      set: [{{column: qty, const: \"abc\"}}]\n"));
    let errors = reject(&text);
    assert_eq!(errors.0.len(), 3, "expected three errors:\n{errors}");
    check(find(&errors, "version 2"), at(&text, "2\n"), None, "version", "manifest version 2 is not supported");
    check(
        find(&errors, "tracking column"),
        at(&text, "label }"),
        Some("parent"),
        "forward.track",
        "tracking column `label` is text",
    );
    check(
        find(&errors, "constant"),
        at(&text, "\"abc\""),
        Some("child"),
        "forward.set[0].const",
        "`abc` is not a valid integer constant",
    );
    // Rendered one after the other, in file order.
    let lines: Vec<u64> = errors.0.iter().map(|d| d.position.line).collect();
    let mut sorted = lines.clone();
    sorted.sort();
    assert_eq!(lines, sorted, "errors in file order:\n{errors}");
    assert_eq!(errors.to_string().matches("\n  fix: ").count(), 3, "{errors}");
}

// Deletes.

/// BASE under a tenant scope: `parent` has the tenant column, `child` only a reference to it.
fn with_tenant() -> String {
    let text = base_with("version: 1\n", "version: 1\ntenant: { column: org_id, env: ORG }\n");
    edit(
        &text,
        "      - id integer not null\n      - label text",
        "      - id integer not null\n      - org_id integer\n      - label text",
    )
}

#[test]
fn forward_upsert_tables_propagate_deletes_unless_kept() {
    let model = pgbisync_codegen::load_str(FILE, BASE).unwrap_or_else(|e| panic!("{e}"));
    assert!(model.directions.iter().all(|d| d.deletes.is_some()), "propagate is the default");
    let kept = edit(BASE, CHILD_FORWARD, &format!("{CHILD_FORWARD}      deletes: keep\n"));
    let model = pgbisync_codegen::load_str(FILE, &kept).unwrap_or_else(|e| panic!("{e}"));
    assert!(model.directions[0].deletes.is_some() && model.directions[1].deletes.is_none());
    // The parent learns which tables point at it, to hold rows they still reference.
    let model = pgbisync_codegen::load_str(FILE, BASE).unwrap_or_else(|e| panic!("{e}"));
    let referrers = &model.directions[0].deletes.as_ref().map(|d| d.referrers.clone()).unwrap_or_default();
    assert_eq!(referrers.iter().map(|r| r.name.as_str()).collect::<Vec<_>>(), ["child"]);
}

#[test]
fn deletes_on_a_table_that_cannot_delete() {
    let text = edit(BASE, "      strategy: upsert\n", "      strategy: insert_only\n      deletes: propagate\n");
    let errors = reject(&text);
    check(only(&errors), at(&text, "propagate"), Some("child"), "forward.deletes", "only for upsert tables");
}

#[test]
fn a_delete_interval_on_a_full_table() {
    let text = edit(BASE, CHILD_FORWARD, &format!("{CHILD_FORWARD}      deletes_every_seconds: 600\n"));
    let errors = reject(&text);
    check(only(&errors), at(&text, "600"), Some("child"), "forward.deletes_every_seconds", "incremental");
}

#[test]
fn a_table_without_the_tenant_column_deletes_through_its_parent() {
    let model = pgbisync_codegen::load_str(FILE, &with_tenant()).unwrap_or_else(|e| panic!("{e}"));
    let child = model.directions.iter().find(|d| d.table == "child").and_then(|d| d.deletes.clone());
    let through = child.and_then(|d| d.scope_through).map(|p| (p.table, p.pairs));
    assert_eq!(through, Some(("parent".to_string(), vec![("parent_id".to_string(), "id".to_string())])));
}

#[test]
fn deletes_that_nothing_bounds_to_one_firm() {
    let text = edit(&with_tenant(), "    references:\n      - { columns: [parent_id], table: parent }\n", "");
    let errors = reject(&text);
    let d = find(&errors, "deletes must stay within one firm");
    assert!(d.fix.contains("deletes: keep"), "{d}");
    check(d, at_nth(&text, "upsert", 1), Some("child"), "forward.deletes", "has no tenant column `org_id`");
    // Kept deletes need no bound.
    let kept = edit(&text, CHILD_FORWARD, &format!("{CHILD_FORWARD}      deletes: keep\n"));
    pgbisync_codegen::load_str(FILE, &kept).unwrap_or_else(|e| panic!("{e}"));
}

#[test]
fn a_delete_guard_above_one_hundred_percent() {
    let text = base_with("version: 1\n", "version: 1\ndelete_guard: { max_percent: 150 }\n");
    let errors = reject(&text);
    check(only(&errors), at(&text, "150"), None, "delete_guard.max_percent", "is not a share of a table");
}

// Column ownership.

/// BASE where `parent` also syncs back, and the desktop owns `owned` of its cloud-born rows.
fn owning(owned: &str) -> String {
    let text = base_with(
        "    forward: { mode: incremental, strategy: upsert, track: updated_at }\n",
        "    forward: { mode: incremental, strategy: upsert, track: updated_at }\n    reverse: { mode: incremental, strategy: upsert, track: updated_at }\n",
    );
    edit(
        &text,
        "    key: [id]\n    forward: { mode: incremental",
        &format!("    key: [id]\n    desktop_owns: [{owned}]\n    forward: {{ mode: incremental"),
    )
}

#[test]
fn desktop_owned_columns_reach_both_directions_by_their_names() {
    let model = pgbisync_codegen::load_str(FILE, &owning("label")).unwrap_or_else(|e| panic!("{e}"));
    let parent: Vec<_> = model.directions.iter().filter(|d| d.table == "parent").collect();
    assert_eq!(parent.len(), 2);
    assert!(parent.iter().all(|d| d.desktop_owns == ["label"]), "{parent:#?}");
}

#[test]
fn a_key_column_cannot_be_owned_by_the_other_side() {
    let text = owning("id");
    let errors = reject(&text);
    check(only(&errors), at_nth(&text, "id]", 1), Some("parent"), "desktop_owns", "is a key column");
}

#[test]
fn an_owned_column_must_be_a_shared_column_listed_once() {
    let text = owning("nosuch");
    check(only(&reject(&text)), at(&text, "nosuch"), Some("parent"), "desktop_owns", "is not a shared column");
    let text = owning("label, label");
    check(only(&reject(&text)), at_nth(&text, "label", 2), Some("parent"), "desktop_owns", "listed twice");
}

#[test]
fn desktop_owned_columns_need_a_forward_direction_to_carry_them() {
    let text = edit(
        &owning("label"),
        "    forward: { mode: incremental, strategy: upsert, track: updated_at }\n    reverse",
        "    reverse",
    );
    let errors = reject(&text);
    check(only(&errors), at(&text, "label]"), Some("parent"), "desktop_owns", "no forward direction carries them");
}
