//! From live tables to a manifest entry: which columns both sides share, which are one-sided or
//! renamed, the key, the references, the tracking column and the mode and strategy they allow.
//! Every decision follows what the generator accepts (`codegen/src/model`), so the entry builds
//! as pasted; every guess carries a note saying why it was made.

use std::collections::{BTreeMap, HashSet};

use super::catalog::{LiveColumn, LiveIndex, LiveTable};
use super::entry::{ColumnDecl, Entry, Key, ReferenceDecl, Rename, SyncDecl, Timestamps};
use super::manifest_type::{manifest_type, numbered_type};
use crate::engine::names::ident;
use crate::program::Program;
use crate::spec::{Direction, ManifestSpec, Mode, Side, Strategy};

/// The live tables of one entry: one side's, or both.
#[derive(Debug, Clone, Default)]
pub struct Pair {
    pub desktop: Option<LiveTable>,
    pub cloud: Option<LiveTable>,
}

/// A table the compiled manifest already has, as references to it and duplicates of it need it.
#[derive(Debug, Clone, PartialEq)]
pub struct KnownTable {
    pub name: String,
    pub desktop: String,
    pub cloud: String,
    /// The key a desktop foreign key must name (desktop names, in the manifest key's order).
    pub desktop_key: Vec<String>,
    /// The key a cloud foreign key must name (cloud names).
    pub cloud_key: Vec<String>,
    pub cloud_has_tenant: bool,
}

impl KnownTable {
    /// Every table of the compiled program, once each. A reference is checked against the key of
    /// its parent's target side, so the forward direction decides when the parent has one.
    pub fn of_program(program: &Program) -> Vec<KnownTable> {
        let mut known: Vec<KnownTable> = Vec::new();
        for direction in [Direction::Forward, Direction::Reverse] {
            for t in program.tables(direction, &[]) {
                let s = t.spec();
                if known.iter().any(|k| k.name == s.name) {
                    continue;
                }
                let (source_key, key) = (strings(s.source_key), strings(s.key));
                let (desktop_key, cloud_key) = match direction {
                    Direction::Forward => (source_key, key),
                    Direction::Reverse => (key, source_key),
                };
                let cloud = if direction == Direction::Forward { s.target } else { s.source };
                let desktop = if direction == Direction::Forward { s.source } else { s.target };
                let tenant = program.manifest.tenant.map(|t| t.column);
                known.push(KnownTable {
                    name: s.name.to_string(),
                    desktop: desktop.name.to_string(),
                    cloud: cloud.name.to_string(),
                    desktop_key,
                    cloud_key,
                    cloud_has_tenant: tenant.is_some_and(|t| cloud.columns.iter().any(|c| c.name == t)),
                });
            }
        }
        known
    }
}

fn strings(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

/// One entry per pair, references resolved across them and the compiled manifest.
pub fn suggest(pairs: &[Pair], manifest: &ManifestSpec, known: &[KnownTable]) -> Vec<Entry> {
    let mut drafts: Vec<Draft> = pairs.iter().map(|p| Draft::new(p, manifest, known)).collect();
    for i in 0..drafts.len() {
        let (references, scoped_parent) = references(&drafts[i], &drafts, known);
        drafts[i].entry.references = references;
        keep_deletes_to_the_firm(&mut drafts[i], manifest, scoped_parent);
    }
    drafts.into_iter().map(|d| d.entry).collect()
}

/// An entry while it is being decided, with what the later steps read.
struct Draft<'a> {
    entry: Entry,
    desktop: Option<&'a LiveTable>,
    cloud: Option<&'a LiveTable>,
    /// The table's name on each side, read or assumed.
    desktop_name: String,
    cloud_name: String,
    /// The cloud name of each shared column, by desktop name.
    to_cloud: BTreeMap<String, String>,
    cloud_has_tenant: bool,
}

impl<'a> Draft<'a> {
    fn new(pair: &'a Pair, m: &ManifestSpec, known: &[KnownTable]) -> Draft<'a> {
        let (desktop, cloud) = (pair.desktop.as_ref(), pair.cloud.as_ref());
        let read = cloud.or(desktop).expect("a pair reads at least one side");
        let name = read.name.clone();
        let desktop_name = desktop.map_or(name.clone(), |d| d.name.clone());
        let mut entry = Entry {
            desktop: (desktop_name != name).then(|| desktop_name.clone()),
            name: name.clone(),
            ..Entry::default()
        };
        entry.notes.push(provenance(desktop, cloud));
        if !valid_name(&name) {
            let problem = format!(
                "table `{name}` cannot be named in the manifest (lower-case letters, digits and `_`): rename it, \
                 or the build refuses the entry"
            );
            entry.notes.push(problem.clone());
            entry.warnings.push(problem);
        }
        if let Some(k) = known.iter().find(|k| k.name == name || k.desktop == desktop_name || k.cloud == name) {
            let problem = format!(
                "the manifest already has this table as `{}` (desktop {}, cloud {}): edit that entry instead of \
                 adding a second one",
                k.name, k.desktop, k.cloud
            );
            entry.notes.push(problem.clone());
            entry.warnings.push(problem);
        }
        let mut draft = Draft {
            entry,
            desktop,
            cloud,
            desktop_name,
            cloud_name: name,
            to_cloud: BTreeMap::new(),
            cloud_has_tenant: false,
        };
        draft.timestamps(m);
        draft.columns(m);
        draft.origin_column(m);
        draft.tenant(m);
        draft.key(m);
        draft.sync(m);
        draft
    }

    fn side_table(&self, side: Side) -> Option<&'a LiveTable> {
        match side {
            Side::Desktop => self.desktop,
            Side::Cloud => self.cloud,
        }
    }

    /// A side keeps the manifest's timestamps when it has both columns as timestamptz; a side
    /// not read is assumed to be like the other.
    fn timestamps(&mut self, m: &ManifestSpec) {
        let mut flags = Timestamps::default();
        let mut of = |t: &LiveTable| {
            let find = |n: &str| t.columns.iter().find(|c| c.name == n);
            let side = t.side;
            match (find(m.created_column), find(m.updated_column)) {
                (Some(c), Some(u)) if is_timestamptz(c) && is_timestamptz(u) => true,
                (None, None) => {
                    flags.notes.push(format!(
                        "the {side} table has no {} and {} columns: timestamps: {{ {side}: false }}",
                        m.created_column, m.updated_column
                    ));
                    false
                }
                _ => {
                    flags.notes.push(format!(
                        "the {side} table lacks {} or {} as timestamptz columns (the manifest keeps both, timestamptz): \
                         timestamps: {{ {side}: false }}, and the one it has is an ordinary column",
                        m.created_column, m.updated_column
                    ));
                    false
                }
            }
        };
        let desktop = self.desktop.map(&mut of);
        let cloud = self.cloud.map(&mut of);
        flags.desktop = desktop.or(cloud).unwrap_or(true);
        flags.cloud = cloud.or(desktop).unwrap_or(true);
        self.entry.timestamps = flags;
    }

    /// The columns a side's table declares: not the timestamps it keeps, nor the cloud's origin.
    fn syncable(&self, t: &'a LiveTable, m: &ManifestSpec) -> Vec<&'a LiveColumn> {
        let keeps_timestamps = match t.side {
            Side::Desktop => self.entry.timestamps.desktop,
            Side::Cloud => self.entry.timestamps.cloud,
        };
        t.columns
            .iter()
            .filter(|c| !(keeps_timestamps && (c.name == m.created_column || c.name == m.updated_column)))
            .filter(|c| !(t.side == Side::Cloud && c.name == m.origin_column))
            .collect()
    }

    /// Shared, renamed and one-sided columns.
    fn columns(&mut self, m: &ManifestSpec) {
        let (desktop, cloud) = (self.desktop.map(|t| self.syncable(t, m)), self.cloud.map(|t| self.syncable(t, m)));
        let mut warnings = Vec::new();
        match (desktop, cloud) {
            (Some(d), Some(c)) => self.pair_columns(&d, &c, &mut warnings),
            (Some(only), None) | (None, Some(only)) => {
                let t = self.desktop.or(self.cloud).expect("one side was read");
                for col in only {
                    if col.computed {
                        let mut decl = declare(col, t, true, &mut warnings);
                        decl.notes.push(computed_note());
                        self.one_sided(t.side).push(decl);
                    } else {
                        self.to_cloud.insert(col.name.clone(), col.name.clone());
                        let decl = declare(col, t, false, &mut warnings);
                        self.entry.columns.push(decl);
                    }
                }
            }
            (None, None) => {}
        }
        self.entry.warnings.extend(warnings);
    }

    fn one_sided(&mut self, side: Side) -> &mut Vec<ColumnDecl> {
        match side {
            Side::Desktop => &mut self.entry.desktop_only,
            Side::Cloud => &mut self.entry.cloud_only,
        }
    }

    fn pair_columns(&mut self, d_cols: &[&LiveColumn], c_cols: &[&LiveColumn], warnings: &mut Vec<String>) {
        let (dt, ct) = (self.desktop.expect("desktop read"), self.cloud.expect("cloud read"));
        let shares = |c: &LiveColumn| !c.computed;
        let same: HashSet<&str> = d_cols
            .iter()
            .filter(|d| shares(d) && c_cols.iter().any(|c| c.name == d.name && shares(c)))
            .map(|d| d.name.as_str())
            .collect();
        let d_rest: Vec<&LiveColumn> = d_cols.iter().copied().filter(|d| !same.contains(d.name.as_str())).collect();
        let c_rest: Vec<&LiveColumn> = c_cols.iter().copied().filter(|c| !same.contains(c.name.as_str())).collect();
        let renames = renames(&d_rest, &c_rest);
        for d in d_cols {
            let cloud_name = if same.contains(d.name.as_str()) {
                Some(d.name.clone())
            } else {
                renames.iter().find(|(dn, _)| dn == &d.name).map(|(_, c)| c.clone())
            };
            let Some(cloud_name) = cloud_name else {
                let mut decl = declare(d, dt, true, warnings);
                if d.computed {
                    decl.notes.push(computed_note());
                } else if let Some(hint) = rename_hint(d, &c_rest, &renames) {
                    decl.notes.push(hint);
                }
                self.entry.desktop_only.push(decl);
                continue;
            };
            let c = c_cols.iter().find(|c| c.name == cloud_name).expect("paired column");
            let decl = shared_declaration(d, c, dt, ct, warnings);
            if cloud_name != d.name {
                self.entry.renames.push(Rename {
                    desktop: d.name.clone(),
                    cloud: cloud_name.clone(),
                    notes: vec![format!(
                        "a guess: the desktop's {} and the cloud's {} have one type and similar names, so they are \
                         taken for one column; if they are not, move them to desktop_only and cloud_only",
                        d.name, cloud_name
                    )],
                });
            }
            self.to_cloud.insert(d.name.clone(), cloud_name);
            self.entry.columns.push(decl);
        }
        for c in c_cols {
            if self.to_cloud.values().any(|n| n == &c.name) {
                continue;
            }
            let mut decl = declare(c, ct, true, warnings);
            if c.computed {
                decl.notes.push(computed_note());
            } else if !c.fills_itself() {
                let problem = format!(
                    "NOT NULL without a default, and the desktop sends no value for it: every forward insert into \
                     the cloud table {} would be refused; give it a default, or fill it with a `set:` rule under \
                     `forward:`",
                    ct.name
                );
                warnings.push(format!("cloud table {}, column {}: {problem}", ct.name, c.name));
                decl.notes.push(problem);
            }
            self.entry.cloud_only.push(decl);
        }
    }

    /// The cloud's origin column: the manifest adds it as char(1); pgbisync stamps every row with it.
    fn origin_column(&mut self, m: &ManifestSpec) {
        let Some(ct) = self.cloud else { return };
        let column = m.origin_column;
        match ct.columns.iter().find(|c| c.name == column) {
            Some(c) if c.format_type == "character(1)" => {}
            Some(c) => {
                let problem = format!(
                    "the cloud table's origin column {column} is {}, the manifest makes it char(1): `pgbisync check` \
                     reports it until it is",
                    c.format_type
                );
                self.entry.notes.push(problem.clone());
                self.entry.warnings.push(format!("cloud table {}: {problem}", ct.name));
            }
            None => {
                let problem = format!(
                    "the cloud table has no origin column {column}, which every sync needs: ALTER TABLE {} ADD COLUMN \
                     {} char(1) DEFAULT '{}';",
                    ident(&ct.name),
                    ident(column),
                    m.origin_desktop.replace('\'', "''")
                );
                self.entry.notes.push(problem.clone());
                self.entry.warnings.push(format!("cloud table {}: {problem}", ct.name));
            }
        }
    }

    fn tenant(&mut self, m: &ManifestSpec) {
        let Some(tenant) = m.tenant else { return };
        let declared = |list: &[ColumnDecl]| list.iter().any(|c| c.name == tenant.column && c.declarable);
        let cloud_only = self.cloud.is_some() && declared(&self.entry.cloud_only);
        self.cloud_has_tenant = declared(&self.entry.columns) || cloud_only;
        if !declared(&self.entry.columns) {
            self.entry.notes.push(format!(
                "no tenant column {} shared by both sides: each run reads the whole table, every firm's rows \
                 (as remdetail does)",
                tenant.column
            ));
        }
    }

    /// Whether a shared column is declared and can be a key column.
    fn shared_key_column(&self, desktop_name: &str) -> bool {
        self.entry.columns.iter().any(|c| c.name == desktop_name && c.declarable && c.not_null)
    }

    fn key(&mut self, m: &ManifestSpec) {
        let tenant = m.tenant.map(|t| t.column);
        let mut key = Key::default();
        let desktop_key = self.desktop.and_then(|t| first_key(t, |c| self.shared_key_column(c)));
        // Cloud key columns as desktop names, when every one of them is shared.
        let to_desktop = |cloud: &str| self.to_cloud.iter().find(|(_, c)| c.as_str() == cloud).map(|(d, _)| d.clone());
        let cloud_declared = |c: &str| {
            to_desktop(c).is_some_and(|d| self.shared_key_column(&d))
                || self.entry.cloud_only.iter().any(|x| x.name == c && x.declarable && x.not_null)
        };
        let cloud_key = self.cloud.and_then(|t| first_key(t, cloud_declared));
        match (self.desktop, self.cloud, desktop_key, cloud_key) {
            (Some(_), _, Some(dk), ck) => {
                key.shared = dk.columns.clone();
                key.notes.push(format!("the desktop's {}", describe(dk)));
                if let Some(ct) = self.cloud {
                    let on_cloud: Vec<String> = dk.columns.iter().map(|c| self.to_cloud[c].clone()).collect();
                    match (unique_on(ct, &on_cloud), ck) {
                        (Some(same), _) => {
                            key.notes.push(format!("the cloud's {} is on the same columns", describe(same)))
                        }
                        (None, Some(other)) => key.notes.push(format!(
                            "the cloud's own key is its {} ({}), but rows are matched by ({}), which has no unique \
                             index on the cloud: `pgbisync check` prints the one to add",
                            describe(other),
                            other.columns.join(", "),
                            on_cloud.join(", ")
                        )),
                        (None, None) => key.notes.push(format!(
                            "the cloud table has no primary key or unique index on ({}): `pgbisync check` prints the \
                             ALTER TABLE that adds one",
                            on_cloud.join(", ")
                        )),
                    }
                }
            }
            (None, Some(_), _, Some(ck)) => key.shared = ck.columns.clone(),
            (Some(_), Some(_), None, Some(ck)) => {
                match ck.columns.iter().map(|c| to_desktop(c)).collect::<Option<Vec<_>>>() {
                    Some(shared) => {
                        key.notes.push(format!(
                        "the desktop table has no primary key or unique index over NOT NULL columns; the cloud's {} \
                         keys both sides (rows the desktop holds twice with one key: the newest is kept)",
                        describe(ck)
                    ));
                        key.shared = shared;
                    }
                    None => {
                        key.notes.push(format!(
                        "the desktop table has no primary key or unique index over NOT NULL columns; the cloud's {} is \
                         on columns the cloud fills itself, so rows are replaced as a set (replace_origin)",
                        describe(ck)
                    ));
                        key.cloud = Some(ck.columns.clone());
                    }
                }
            }
            _ => {
                let which = match (self.desktop, self.cloud) {
                    (Some(_), Some(_)) => {
                        "neither the desktop table nor the cloud table has a primary key or a unique index"
                    }
                    (Some(_), None) => "the desktop table has no primary key and no unique index",
                    _ => "the cloud table has no primary key and no unique index",
                };
                key.notes.push(format!(
                    "no key: {which} over NOT NULL columns, so rows are replaced as a set (replace_origin). If NOT \
                     NULL columns identify a row, declare them (and use strategy upsert):"
                ));
                let candidate = self
                    .entry
                    .columns
                    .iter()
                    .filter(|c| c.declarable && c.not_null && Some(c.name.as_str()) != tenant)
                    .max_by_key(|c| c.name.ends_with("_id"))
                    .map_or_else(|| "a_column".to_string(), |c| c.name.clone());
                let cloud_candidate = self.to_cloud.get(&candidate).cloned().unwrap_or_else(|| candidate.clone());
                key.suggestions = vec![
                    ("key".into(), vec![candidate]),
                    ("desktop_key".into(), Vec::new()),
                    ("cloud_key".into(), vec![cloud_candidate]),
                ];
            }
        }
        self.entry.key = key;
    }

    /// The forward section and the reverse one offered commented out.
    fn sync(&mut self, m: &ManifestSpec) {
        let key = &self.entry.key;
        let keyed = !key.shared.is_empty();
        let mut forward = SyncDecl::default();
        if keyed {
            forward.strategy = Strategy::Upsert;
            forward.notes.push(
                "upsert by the key: new rows are inserted, changed ones updated, and rows gone from the desktop are \
                 deleted from the cloud (deletes propagate by default)"
                    .into(),
            );
            track(&mut forward, self.desktop, m, self, "desktop");
        } else {
            forward.strategy = Strategy::ReplaceOrigin;
            forward.notes.push(
                "replace_origin: with no key to match rows by, each run replaces this firm's desktop-born cloud rows \
                 with the desktop's whole set (so it reads every row)"
                    .into(),
            );
            if let Some(tenant) = m.tenant.filter(|_| !self.cloud_has_tenant) {
                let problem = format!(
                    "replace_origin needs the tenant column {} on the cloud table, so its delete stays within one \
                     firm: the build refuses this entry until the table has it or a key is declared",
                    tenant.column
                );
                forward.notes.push(problem.clone());
                self.entry.warnings.push(format!("table {}: {problem}", self.entry.name));
            }
        }
        self.entry.forward = forward;
        if keyed {
            let mut reverse = SyncDecl { strategy: Strategy::InsertOnly, active: false, ..SyncDecl::default() };
            reverse.notes.push(
                "to bring rows born in the cloud (mobile users) back to the desktop, uncomment: insert_only adds them \
                 and never changes the desktop's own rows"
                    .into(),
            );
            track(&mut reverse, self.cloud, m, self, "cloud");
            self.entry.reverse = Some(reverse);
        }
    }
}

/// Incremental by the source's maintained tracking column when it has one, else full, saying why.
fn track(decl: &mut SyncDecl, source: Option<&LiveTable>, m: &ManifestSpec, draft: &Draft, side: &str) {
    let Some(t) = source else {
        decl.notes.push(format!(
            "full: the {side} table was not read, so whether a trigger keeps its {} current is unknown",
            m.updated_column
        ));
        return;
    };
    let keeps = match t.side {
        Side::Desktop => draft.entry.timestamps.desktop,
        Side::Cloud => draft.entry.timestamps.cloud,
    };
    let declared = |name: &str| {
        (keeps && (name == m.created_column || name == m.updated_column))
            || draft
                .entry
                .columns
                .iter()
                .chain(if t.side == Side::Desktop { &draft.entry.desktop_only } else { &draft.entry.cloud_only })
                .any(|c| c.declarable && (c.name == name || draft.to_cloud.get(&c.name).is_some_and(|n| n == name)))
    };
    let mut candidates: Vec<&LiveColumn> =
        t.columns.iter().filter(|c| is_timestamptz(c) && declared(&c.name)).collect();
    // The manifest's own updated column first.
    candidates.sort_by_key(|c| c.name != m.updated_column);
    for c in &candidates {
        if let Some(trigger) = t.triggers.iter().find(|tr| tr.enabled && tr.assigns(&c.name)) {
            // A renamed shared column is tracked by its desktop name on the desktop, cloud name on the cloud.
            decl.mode = Mode::Incremental;
            decl.track = Some(c.name.clone());
            decl.notes.push(format!(
                "incremental by {}: trigger {} (BEFORE UPDATE, FOR EACH ROW) sets it on every update, so each run \
                 reads only the rows changed since the last",
                c.name, trigger.name
            ));
            return;
        }
    }
    let why = match candidates.iter().find_map(|c| t.triggers.iter().find(|tr| tr.assigns(&c.name)).map(|tr| (c, tr))) {
        Some((c, tr)) => format!(
            "full: trigger {} would keep {} current but is disabled (ALTER TABLE {} ENABLE TRIGGER {};)",
            tr.name,
            c.name,
            ident(&t.name),
            ident(&tr.name)
        ),
        None if candidates.iter().any(|c| c.name == m.updated_column) => format!(
            "full: no enabled BEFORE UPDATE trigger sets {} (the application may not), so an edit could go unseen by \
             an incremental read",
            m.updated_column
        ),
        None => "full: the table has no timestamptz column a trigger keeps current".to_string(),
    };
    decl.notes.push(why);
    decl.notes.push(format!(
        "to read only changes: add the trigger `pgbisync check` prints, then `mode: incremental, track: {}`; or \
         `mode: incremental, track: xmin` (no trigger needed; scans the table)",
        m.updated_column
    ));
}

fn provenance(desktop: Option<&LiveTable>, cloud: Option<&LiveTable>) -> String {
    let at = |t: &LiveTable| format!("{} table {}.{}", t.side, t.schema, t.name);
    match (desktop, cloud) {
        (Some(d), Some(c)) => format!("read by `pgbisync introspect` from the {} and the {}", at(d), at(c)),
        (Some(d), None) => format!(
            "read by `pgbisync introspect` from the {}; the cloud table was not read (--cloud): it is assumed to be \
             named {} with the same columns",
            at(d),
            d.name
        ),
        (None, Some(c)) => format!(
            "read by `pgbisync introspect` from the {}; the desktop table was not read (--desktop): it is assumed to \
             be named {} with the same columns",
            at(c),
            c.name
        ),
        (None, None) => String::new(),
    }
}

fn computed_note() -> String {
    "computed by the database (GENERATED ALWAYS AS ... STORED): no one writes it, so it is not shared".into()
}

/// One column of one side as a `columns:`, `desktop_only:` or `cloud_only:` line.
fn declare(col: &LiveColumn, table: &LiveTable, one_sided: bool, warnings: &mut Vec<String>) -> ColumnDecl {
    let mut decl = ColumnDecl {
        name: col.name.clone(),
        ty: col.format_type.clone(),
        not_null: col.not_null,
        declarable: true,
        notes: Vec::new(),
    };
    let side = table.side;
    match manifest_type(&col.format_type) {
        Some(ty) => decl.ty = ty,
        None => {
            decl.declarable = false;
            decl.notes.push(format!(
                "type {} has no manifest spelling (see README, \"Types\"): the column is left out and not synced",
                col.format_type
            ));
            warnings.push(format!(
                "{side} table {}, column {}: type {} cannot be declared in the manifest; it is left out (commented)",
                table.name, col.name, col.format_type
            ));
        }
    }
    if !valid_name(&col.name) {
        decl.declarable = false;
        decl.notes.push(format!(
            "the manifest cannot name column \"{}\" (lower-case letters, digits and `_`; `_n`, `_track` and \
             `_pgbisync*` are pgbisync's): it is left out and not synced",
            col.name
        ));
        warnings.push(format!(
            "{side} table {}, column \"{}\": the name cannot be declared in the manifest; it is left out (commented)",
            table.name, col.name
        ));
    }
    if one_sided && col.numbered() && decl.declarable {
        if let Some(serial) = numbered_type(&decl.ty) {
            decl.ty = serial.to_string();
            decl.notes.push(format!("numbered by the {side} itself (a sequence or an identity)"));
        }
    }
    decl
}

/// A column both sides have (under one name or two), declared once with the desktop's type.
fn shared_declaration(
    d: &LiveColumn,
    c: &LiveColumn,
    dt: &LiveTable,
    ct: &LiveTable,
    warnings: &mut Vec<String>,
) -> ColumnDecl {
    let mut decl = declare(d, dt, false, warnings);
    let cloud_ty = manifest_type(&c.format_type);
    if cloud_ty.is_none() && decl.declarable {
        decl.declarable = false;
        decl.notes.push(format!(
            "the cloud's column {} is {}, which has no manifest spelling: the column is left out and not synced",
            c.name, c.format_type
        ));
        warnings.push(format!(
            "cloud table {}, column {}: type {} cannot be declared in the manifest; it is left out (commented)",
            ct.name, c.name, c.format_type
        ));
    }
    if let Some(cloud_ty) = cloud_ty.filter(|t| decl.declarable && *t != decl.ty) {
        let problem = format!(
            "the cloud's column {} is {cloud_ty}, the desktop's {}: one declaration holds one type, so the table \
             does not sync until both sides agree (`pgbisync check` names the difference)",
            c.name, decl.ty
        );
        warnings.push(format!("table {} / {}, column {}: {problem}", dt.name, ct.name, d.name));
        decl.notes.push(problem);
    }
    if c.not_null && !d.not_null && c.default.is_none() {
        decl.notes
            .push("NOT NULL on the cloud, nullable on the desktop: a desktop row with NULL here is set aside".into());
    }
    if c.identity == Some('a') {
        let problem = format!(
            "the cloud numbers {} GENERATED ALWAYS AS IDENTITY and refuses the desktop's values: make it \
             GENERATED BY DEFAULT, or declare it cloud_only",
            c.name
        );
        warnings.push(format!("cloud table {}, column {}: {problem}", ct.name, c.name));
        decl.notes.push(problem);
    } else if d.numbered() {
        decl.notes.push("numbered by the desktop; its values are copied to the cloud".into());
    }
    decl
}

/// Renames both sides agree on: a desktop-only and a cloud-only column of one type and
/// nullability whose names contain one another, each the other's only such match.
fn renames(desktop: &[&LiveColumn], cloud: &[&LiveColumn]) -> Vec<(String, String)> {
    let matches = |d: &LiveColumn, c: &LiveColumn| same_shape(d, c) && similar(&d.name, &c.name);
    desktop
        .iter()
        .filter_map(|d| {
            let mut found = cloud.iter().filter(|c| matches(d, c));
            let c = found.next()?;
            let unique = found.next().is_none() && desktop.iter().filter(|x| matches(x, c)).count() == 1;
            unique.then(|| (d.name.clone(), c.name.clone()))
        })
        .collect()
}

/// For a desktop-only column with exactly one cloud-only column of its shape: how to say they are one.
fn rename_hint(d: &LiveColumn, cloud: &[&LiveColumn], renames: &[(String, String)]) -> Option<String> {
    let mut found = cloud
        .iter()
        .filter(|c| same_shape(d, c) && !renames.iter().any(|(_, cn)| cn == &c.name) && valid_name(&c.name));
    let c = found.next()?;
    if found.next().is_some() {
        return None;
    }
    Some(format!(
        "the cloud's {} has the same type: if they are one column under two names, move this line to `columns:` \
         and add `renames: [{{ desktop: {}, cloud: {} }}]`",
        c.name, d.name, c.name
    ))
}

fn same_shape(d: &LiveColumn, c: &LiveColumn) -> bool {
    !d.computed
        && !c.computed
        && d.not_null == c.not_null
        && manifest_type(&d.format_type).is_some_and(|t| Some(t) == manifest_type(&c.format_type))
}

/// `notes` and `invoice_notes`: one name inside the other (at least 3 characters of it).
fn similar(a: &str, b: &str) -> bool {
    let (a, b) = (a.trim_matches('_'), b.trim_matches('_'));
    let (short, long) = if a.len() <= b.len() { (a, b) } else { (b, a) };
    short.len() >= 3 && long.contains(short)
}

/// The primary key when every column is usable, else the first unique index over NOT NULL usable columns.
fn first_key(t: &LiveTable, usable: impl Fn(&str) -> bool) -> Option<&LiveIndex> {
    t.unique.iter().find(|i| {
        !i.columns.is_empty()
            && i.columns.iter().all(|c| usable(c) && t.columns.iter().any(|x| &x.name == c && x.not_null))
    })
}

/// A unique index whose columns are all among `columns`: no two rows repeat those values.
fn unique_on<'t>(t: &'t LiveTable, columns: &[String]) -> Option<&'t LiveIndex> {
    t.unique.iter().find(|i| !i.columns.is_empty() && i.columns.iter().all(|c| columns.contains(c)))
}

fn describe(index: &LiveIndex) -> String {
    if index.primary {
        format!("primary key {}", index.name)
    } else {
        format!("unique index {}", index.name)
    }
}

fn is_timestamptz(c: &LiveColumn) -> bool {
    c.format_type == "timestamp with time zone"
}

/// A name the manifest accepts for a table or a column (the generator's own rule, repeated here
/// because the runtime does not link the generator).
fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_lowercase() || c == '_')
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && name.len() <= 63
        && !pgbisync_contract::names::is_reserved_column(name)
}

/// A parent a foreign key can name: its manifest name and its key on the foreign key's side.
struct Parent {
    name: String,
    key: Vec<String>,
    cloud_has_tenant: bool,
}

fn parent(side: Side, table: &str, drafts: &[Draft], known: &[KnownTable]) -> Option<Parent> {
    let in_run = drafts.iter().find(|d| match side {
        Side::Desktop => d.desktop_name == table,
        Side::Cloud => d.cloud_name == table,
    });
    if let Some(d) = in_run {
        let key = match side {
            Side::Desktop => d.entry.key.desktop_columns().to_vec(),
            Side::Cloud => d.entry.key.cloud.clone().unwrap_or_else(|| {
                d.entry.key.shared.iter().map(|k| d.to_cloud.get(k).cloned().unwrap_or_else(|| k.clone())).collect()
            }),
        };
        return Some(Parent { name: d.entry.name.clone(), key, cloud_has_tenant: d.cloud_has_tenant });
    }
    known
        .iter()
        .find(|k| match side {
            Side::Desktop => k.desktop == table,
            Side::Cloud => k.cloud == table,
        })
        .map(|k| Parent {
            name: k.name.clone(),
            key: match side {
                Side::Desktop => k.desktop_key.clone(),
                Side::Cloud => k.cloud_key.clone(),
            },
            cloud_has_tenant: k.cloud_has_tenant,
        })
}

/// Both sides' foreign keys as `references:` lines (desktop names), each once; and whether an
/// active one names a parent with the tenant column on the cloud.
fn references(draft: &Draft, drafts: &[Draft], known: &[KnownTable]) -> (Vec<ReferenceDecl>, bool) {
    let mut out: Vec<ReferenceDecl> = Vec::new();
    let mut scoped_parent = false;
    for side in [Side::Desktop, Side::Cloud] {
        let Some(t) = draft.side_table(side) else { continue };
        for fk in &t.foreign_keys {
            let to_desktop = |c: &str| match side {
                Side::Desktop => draft.to_cloud.contains_key(c).then(|| c.to_string()),
                Side::Cloud => draft.to_cloud.iter().find(|(_, cn)| cn.as_str() == c).map(|(d, _)| d.clone()),
            };
            let declared = |d: &str| draft.entry.columns.iter().any(|c| c.name == d && c.declarable);
            let columns: Option<Vec<String>> =
                fk.columns.iter().map(|c| to_desktop(c).filter(|d| declared(d))).collect();
            let found = parent(side, &fk.parent, drafts, known);
            let mut decl = ReferenceDecl {
                columns: columns.clone().unwrap_or_else(|| fk.columns.clone()),
                table: found.as_ref().map_or(fk.parent.clone(), |p| p.name.clone()),
                active: false,
                notes: Vec::new(),
            };
            match (&columns, &found) {
                (None, _) => decl.notes.push(format!(
                    "foreign key {} on the {side}: its columns ({}) are not all columns both sides share",
                    fk.name,
                    fk.columns.join(", ")
                )),
                (_, None) => decl.notes.push(format!(
                    "foreign key {} on the {side}: {} is not in the manifest; add it first (pgbisync introspect \
                     --{side} {}), then uncomment",
                    fk.name, fk.parent, fk.parent
                )),
                (Some(_), Some(p)) if p.name == draft.entry.name => decl.notes.push(format!(
                    "foreign key {} on the {side} points at the table itself; the sync order cannot hold a cycle, so \
                     it is left out",
                    fk.name
                )),
                (Some(cols), Some(p)) => {
                    let same_set =
                        p.key.len() == fk.parent_columns.len() && p.key.iter().all(|k| fk.parent_columns.contains(k));
                    if same_set {
                        // The manifest pairs the columns with the parent's key by position.
                        decl.columns = p
                            .key
                            .iter()
                            .map(|k| cols[fk.parent_columns.iter().position(|c| c == k).expect("in the set")].clone())
                            .collect();
                        decl.active = true;
                        scoped_parent |= p.cloud_has_tenant;
                        decl.notes.push(format!(
                            "foreign key {} on the {side}: a row pointing at a missing {} row is set aside until it \
                             arrives",
                            fk.name, p.name
                        ));
                    } else {
                        decl.notes.push(format!(
                            "foreign key {} on the {side} names ({}) of {}, whose key in the manifest is ({}): a \
                             reference must name the parent's key",
                            fk.name,
                            fk.parent_columns.join(", "),
                            p.name,
                            p.key.join(", ")
                        ));
                    }
                }
            }
            let duplicate = out.iter().any(|r| {
                r.table == decl.table
                    && r.columns.len() == decl.columns.len()
                    && r.columns.iter().all(|c| decl.columns.contains(c))
            });
            if !duplicate {
                out.push(decl);
            } else if decl.active {
                // The other side's foreign key on the same columns: one line serves both, and the
                // one that resolves wins over one that did not.
                if let Some(r) = out.iter_mut().find(|r| r.table == decl.table && !r.active) {
                    *r = decl;
                }
            }
        }
    }
    (out, scoped_parent)
}

/// Forward upsert deletes must stay within the firm: by the table's tenant column, or a parent's.
fn keep_deletes_to_the_firm(draft: &mut Draft, m: &ManifestSpec, scoped_parent: bool) {
    let Some(tenant) = m.tenant else { return };
    if draft.entry.forward.strategy != Strategy::Upsert || draft.cloud_has_tenant || scoped_parent {
        return;
    }
    draft.entry.forward.keep_deletes = true;
    draft.entry.forward.notes.push(format!(
        "deletes: keep: without the tenant column {} or a reference to a table that has it, a delete could not be \
         kept to this firm's rows, so rows gone from the desktop stay in the cloud",
        tenant.column
    ));
}
