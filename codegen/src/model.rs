//! The validated, resolved model: every name checked, every column typed, every direction's
//! mapping worked out, tables in sync order. Building it is the validation; it reports every problem
//! at once, each with its line.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde_saphyr::Spanned;

use crate::diagnostic::{Diagnostic, Diagnostics, Position};
use crate::manifest::{self, DedupDef, DirectionDef, Manifest, ModeDef, StrategyDef};
use crate::types::{PgType, KNOWN_TYPES};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    Forward,
    Reverse,
}

impl Direction {
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::Forward => "forward",
            Direction::Reverse => "reverse",
        }
    }
    fn source(self) -> SideName {
        match self {
            Direction::Forward => SideName::Desktop,
            Direction::Reverse => SideName::Cloud,
        }
    }
    fn target(self) -> SideName {
        match self {
            Direction::Forward => SideName::Cloud,
            Direction::Reverse => SideName::Desktop,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SideName {
    Desktop,
    Cloud,
}

impl SideName {
    pub fn as_str(self) -> &'static str {
        match self {
            SideName::Desktop => "desktop",
            SideName::Cloud => "cloud",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Full,
    Incremental,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Strategy {
    Upsert,
    ReplaceOrigin,
    InsertOnly,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Column {
    pub name: String,
    pub ty: PgType,
    pub declared: String,
    pub nullable: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Side {
    pub side: SideName,
    pub name: String,
    pub columns: Vec<Column>,
    pub key: Vec<String>,
    /// The bookkeeping column this side keeps current on every update, when it has one.
    pub touched: Option<String>,
    /// Columns this side keeps for itself (created/updated times); never copied across.
    pub bookkeeping: Vec<String>,
}

impl Side {
    pub fn column(&self, name: &str) -> Option<&Column> {
        self.columns.iter().find(|c| c.name == name)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    pub desktop_url_env: String,
    pub cloud_url_env: String,
    pub forward_metadata: String,
    pub reverse_metadata: String,
    pub forward_rejects: String,
    pub reverse_rejects: String,
    pub origin_column: String,
    pub origin_desktop: String,
    pub origin_cloud: String,
    pub tenant: Option<Tenant>,
    pub lookback_seconds: u32,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Tenant {
    /// Desktop name of the column; shared columns keep it on both sides unless renamed.
    pub column: String,
    pub env: String,
}

/// Where a staged column's value comes from.
#[derive(Debug, Clone, PartialEq)]
pub enum StagedValue {
    /// The source column of this name (index into the read list).
    Source { column: String, index: usize },
    /// A manifest constant, already checked against the column type.
    Constant(String),
}

#[derive(Debug, Clone, PartialEq)]
pub struct StagedColumn {
    /// Target-side name.
    pub name: String,
    pub ty: PgType,
    /// Whether the target column accepts NULL.
    pub target_nullable: bool,
    /// Whether the staged value may be NULL (Option in Rust).
    pub nullable: bool,
    pub value: StagedValue,
}

/// Target columns filled while applying, from the target database itself.
#[derive(Debug, Clone, PartialEq)]
pub enum Computed {
    Now { column: String },
    Lookup { column: String, table: String, by: Vec<String>, take: String },
}

#[derive(Debug, Clone, PartialEq)]
pub struct ReferenceCheck {
    /// Parent by manifest name and its target-side table.
    pub parent: String,
    pub parent_table: String,
    /// (staged column, parent column) pairs.
    pub pairs: Vec<(String, String)>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct TableDirection {
    pub table: String,
    pub direction: Direction,
    pub line: u64,
    pub source: Side,
    pub target: Side,
    pub mode: Mode,
    pub strategy: Strategy,
    /// Source column read as the tracking value.
    pub tracking: Option<String>,
    /// Columns read from the source, in order (staged sources, then tracking if not among them).
    pub read: Vec<Column>,
    pub staged: Vec<StagedColumn>,
    pub computed: Vec<Computed>,
    /// Target key (target names); empty when the target has none or generates it.
    pub key: Vec<String>,
    /// Deduplicate staged rows by key, newest tracking value first.
    pub dedup: bool,
    /// Forward: stamp this origin column on the target. Reverse: read only rows with the cloud origin.
    pub origin_column: String,
    pub tenant_source: Option<Column>,
    pub tenant_target: Option<Column>,
    pub references: Vec<ReferenceCheck>,
    /// Manifest names of the tables this one reads on the target while applying (lookups, references).
    pub depends_on: Vec<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Table {
    pub name: String,
    pub line: u64,
    pub desktop: Side,
    pub cloud: Side,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Model {
    pub file: String,
    pub settings: Settings,
    pub tables: Vec<Table>,
    /// Every table-direction in sync order: forward tables (parents first), then reverse tables.
    pub directions: Vec<TableDirection>,
}

impl Model {
    pub fn build(file: &str, manifest: &Manifest) -> Result<Model, Diagnostics> {
        let mut b = Builder { file: file.to_string(), problems: Vec::new(), declared: BTreeSet::new() };
        let model = b.model(manifest);
        if b.problems.is_empty() {
            Ok(model)
        } else {
            Err(Diagnostics(b.problems))
        }
    }
}

struct Builder {
    file: String,
    problems: Vec<Diagnostic>,
    /// Every table name the file declares, valid or not: a reference to a table with its own
    /// error is not also an "unknown table".
    declared: BTreeSet<String>,
}

/// Column names the staging table uses for itself.
const RESERVED_COLUMNS: &[&str] = &["_n", "_track"];

fn pos<T>(s: &Spanned<T>) -> Position {
    Position::of(s)
}

/// A column name as SQL and Rust will both accept it unquoted in messages; quoting happens anyway.
fn valid_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_lowercase() || c == '_')
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && name.len() <= 63
}

impl Builder {
    fn error(&mut self, at: Position, table: Option<&str>, field: &str, message: String, fix: &str) {
        self.problems.push(Diagnostic {
            file: self.file.clone(),
            position: at,
            table: table.map(str::to_string),
            field: field.to_string(),
            message,
            fix: fix.to_string(),
        });
    }

    fn model(&mut self, m: &Manifest) -> Model {
        if m.version.value != 1 {
            self.error(
                pos(&m.version),
                None,
                "version",
                format!("manifest version {} is not supported", m.version.value),
                "set `version: 1`",
            );
        }
        let tenant =
            m.tenant.as_ref().map(|t| Tenant { column: t.value.column.value.clone(), env: t.value.env.value.clone() });
        let settings = Settings {
            desktop_url_env: m.connections.desktop_url_env.value.clone(),
            cloud_url_env: m.connections.cloud_url_env.value.clone(),
            forward_metadata: m.metadata.forward.value.clone(),
            reverse_metadata: m.metadata.reverse.value.clone(),
            forward_rejects: m.metadata.forward_rejects.value.clone(),
            reverse_rejects: m.metadata.reverse_rejects.value.clone(),
            origin_column: m.origin.column.value.clone(),
            origin_desktop: m.origin.desktop.value.clone(),
            origin_cloud: m.origin.cloud.value.clone(),
            tenant,
            lookback_seconds: m.lookback_seconds,
        };
        for (field, value) in [
            ("origin.column", &m.origin.column),
            ("timestamps.created", &m.timestamps.created),
            ("timestamps.updated", &m.timestamps.updated),
            ("metadata.forward", &m.metadata.forward),
            ("metadata.reverse", &m.metadata.reverse),
            ("metadata.forward_rejects", &m.metadata.forward_rejects),
            ("metadata.reverse_rejects", &m.metadata.reverse_rejects),
        ] {
            if !valid_identifier(&value.value) {
                self.error(
                    pos(value),
                    None,
                    field,
                    format!("`{}` is not a valid name", value.value),
                    "use lower-case letters, digits and `_`",
                );
            }
        }
        for (field, value) in [("origin.desktop", &m.origin.desktop), ("origin.cloud", &m.origin.cloud)] {
            if value.value.chars().count() != 1 {
                self.error(
                    pos(value),
                    None,
                    field,
                    format!("origin value `{}` must be one character (the origin column is char(1))", value.value),
                    "use a single letter such as D or M",
                );
            }
        }

        // Tables, each listed once.
        let mut seen: HashMap<String, u64> = HashMap::new();
        let mut tables = Vec::new();
        for t in &m.tables {
            let name = &t.value.name;
            if let Some(first) = seen.get(&name.value) {
                self.error(
                    pos(name),
                    Some(&name.value),
                    "name",
                    format!("table `{}` is listed twice (first at line {first})", name.value),
                    "merge the two entries into one",
                );
                continue;
            }
            seen.insert(name.value.clone(), pos(name).line);
            if let Some(table) = self.table(m, t) {
                tables.push((table, &t.value));
            }
        }

        self.check_cycles(&tables);
        self.declared = m.tables.iter().map(|t| t.value.name.value.clone()).collect();

        let mut directions = Vec::new();
        for dir in [Direction::Forward, Direction::Reverse] {
            let mut list = Vec::new();
            for (table, def) in &tables {
                let d = match dir {
                    Direction::Forward => &def.forward,
                    Direction::Reverse => &def.reverse,
                };
                if let Some(d) = d {
                    if let Some(td) = self.direction(&settings, &tables, table, def, dir, d) {
                        list.push(td);
                    }
                }
            }
            directions.extend(sync_order(list));
        }
        if tables.is_empty() && self.problems.is_empty() {
            self.error(
                Position::default(),
                None,
                "tables",
                "the manifest declares no tables".into(),
                "add at least one table under `tables:`",
            );
        }
        Model { file: self.file.clone(), settings, tables: tables.into_iter().map(|(t, _)| t).collect(), directions }
    }

    fn column(&mut self, table: &str, field: &str, spec: &Spanned<String>) -> Option<Column> {
        let text = spec.value.trim();
        let (body, nullable) = match text.to_ascii_lowercase().strip_suffix("not null") {
            Some(rest) => (text[..rest.len()].trim().to_string(), false),
            None => (text.to_string(), true),
        };
        let Some((name, ty_text)) = body.split_once(char::is_whitespace) else {
            self.error(
                pos(spec),
                Some(table),
                field,
                format!("column `{text}` needs a name and a type"),
                "write `name type`, e.g. `org_id numeric(3) not null`",
            );
            return None;
        };
        if !valid_identifier(name) {
            self.error(
                pos(spec),
                Some(table),
                field,
                format!("`{name}` is not a valid column name"),
                "use lower-case letters, digits and `_`, starting with a letter or `_`",
            );
            return None;
        }
        if RESERVED_COLUMNS.contains(&name) || name.starts_with("_pgbisync") {
            self.error(
                pos(spec),
                Some(table),
                field,
                format!("column name `{name}` is reserved for pgbisync's staging table"),
                "rename the column (names `_n`, `_track` and `_pgbisync*` are reserved)",
            );
            return None;
        }
        let ty_text = ty_text.trim();
        let Some(ty) = PgType::parse(ty_text) else {
            self.error(
                pos(spec),
                Some(table),
                field,
                format!("column `{name}` has unknown PostgreSQL type `{ty_text}`"),
                &format!("use one of: {KNOWN_TYPES}"),
            );
            return None;
        };
        let nullable = nullable && !ty.is_generated();
        Some(Column { name: name.to_string(), ty, declared: ty_text.to_string(), nullable })
    }

    fn table(&mut self, m: &Manifest, t: &Spanned<manifest::Table>) -> Option<Table> {
        let def = &t.value;
        let name = def.name.value.clone();
        let before = self.problems.len();
        if !valid_identifier(&name) {
            self.error(
                pos(&def.name),
                Some(&name),
                "name",
                format!("`{name}` is not a valid table name"),
                "use lower-case letters, digits and `_`",
            );
        }
        for side_name in [&def.desktop, &def.cloud].into_iter().flatten() {
            if !valid_identifier(&side_name.value) {
                self.error(
                    pos(side_name),
                    Some(&name),
                    "desktop/cloud",
                    format!("`{}` is not a valid table name", side_name.value),
                    "use lower-case letters, digits and `_`",
                );
            }
        }
        if def.forward.is_none() && def.reverse.is_none() {
            self.error(
                pos(&def.name),
                Some(&name),
                "forward/reverse",
                "the table syncs in neither direction".into(),
                "add a `forward:` or `reverse:` section (or remove the table)",
            );
        }
        let renames: BTreeMap<String, String> =
            def.renames.iter().map(|r| (r.value.desktop.value.clone(), r.value.cloud.value.clone())).collect();

        let mut desktop_cols = Vec::new();
        let mut cloud_cols = Vec::new();
        let mut names_seen: HashMap<(SideName, String), u64> = HashMap::new();
        let mut push = |b: &mut Builder,
                        side: SideName,
                        col: Column,
                        at: Position,
                        field: &str,
                        list: &mut Vec<Column>,
                        report: bool| {
            if let Some(first) = names_seen.get(&(side, col.name.clone())) {
                if report {
                    b.error(
                        at,
                        Some(&name),
                        field,
                        format!(
                            "column `{}` is declared twice on the {} side (first at line {first})",
                            col.name,
                            side.as_str()
                        ),
                        "remove one of the two declarations",
                    );
                }
            } else {
                names_seen.insert((side, col.name.clone()), at.line);
                list.push(col);
            }
        };
        for (i, c) in def.columns.iter().enumerate() {
            let field = format!("columns[{i}]");
            if let Some(col) = self.column(&name, &field, c) {
                let mut cloud = col.clone();
                if let Some(renamed) = renames.get(&col.name) {
                    cloud.name = renamed.clone();
                }
                push(self, SideName::Desktop, col, pos(c), &field, &mut desktop_cols, true);
                // The same entry on the cloud side: a repeat was already reported for the desktop.
                push(self, SideName::Cloud, cloud, pos(c), &field, &mut cloud_cols, false);
            }
        }
        for (i, c) in def.desktop_only.iter().enumerate() {
            let field = format!("desktop_only[{i}]");
            if let Some(col) = self.column(&name, &field, c) {
                push(self, SideName::Desktop, col, pos(c), &field, &mut desktop_cols, true);
            }
        }
        for (i, c) in def.cloud_only.iter().enumerate() {
            let field = format!("cloud_only[{i}]");
            if let Some(col) = self.column(&name, &field, c) {
                push(self, SideName::Cloud, col, pos(c), &field, &mut cloud_cols, true);
            }
        }
        for r in &def.renames {
            if !def.columns.iter().any(|c| c.value.split_whitespace().next() == Some(r.value.desktop.value.as_str())) {
                self.error(
                    pos(&r.value.desktop),
                    Some(&name),
                    "renames.desktop",
                    format!("`{}` is not a shared column of the table", r.value.desktop.value),
                    "rename a column listed under `columns:`",
                );
            }
        }
        let flags = def.timestamps.as_ref().map(|f| (f.value.desktop, f.value.cloud)).unwrap_or((true, true));
        let stamp = |c: &Spanned<String>| Column {
            name: c.value.clone(),
            ty: PgType::Timestamptz,
            declared: "timestamptz".into(),
            nullable: true,
        };
        for (on, list) in [(flags.0, &mut desktop_cols), (flags.1, &mut cloud_cols)] {
            if on {
                for c in [&m.timestamps.created, &m.timestamps.updated] {
                    if !list.iter().any(|x| x.name == c.value) {
                        list.push(stamp(c));
                    }
                }
            }
        }
        if !cloud_cols.iter().any(|c| c.name == m.origin.column.value) {
            cloud_cols.push(Column {
                name: m.origin.column.value.clone(),
                ty: PgType::Char(1),
                declared: "char(1)".into(),
                nullable: true,
            });
        }

        let shared_key = def.key.as_ref();
        let desktop_key = def.desktop_key.as_ref().or(shared_key);
        let cloud_key_def = def.cloud_key.as_ref();
        let desktop_field = if def.desktop_key.is_some() { "desktop_key" } else { "key" };
        let desktop_key = self.key(&name, desktop_field, desktop_key, &desktop_cols, |k| k.to_string(), true);
        let cloud_key = match cloud_key_def {
            Some(k) => self.key(&name, "cloud_key", Some(k), &cloud_cols, |k| k.to_string(), true),
            // The shared key was checked on the desktop side already (unless desktop_key replaced it).
            None => self.key(
                &name,
                "key",
                shared_key,
                &cloud_cols,
                |k| renames.get(k).cloned().unwrap_or_else(|| k.to_string()),
                def.desktop_key.is_some(),
            ),
        };
        if self.problems.len() > before {
            return None;
        }
        let stamps = vec![m.timestamps.created.value.clone(), m.timestamps.updated.value.clone()];
        Some(Table {
            line: pos(&def.name).line,
            desktop: Side {
                side: SideName::Desktop,
                name: def.desktop.as_ref().map(|n| n.value.clone()).unwrap_or_else(|| name.clone()),
                columns: desktop_cols,
                key: desktop_key,
                touched: flags.0.then(|| m.timestamps.updated.value.clone()),
                bookkeeping: if flags.0 { stamps.clone() } else { Vec::new() },
            },
            cloud: Side {
                side: SideName::Cloud,
                name: def.cloud.as_ref().map(|n| n.value.clone()).unwrap_or_else(|| name.clone()),
                columns: cloud_cols,
                key: cloud_key,
                touched: flags.1.then(|| m.timestamps.updated.value.clone()),
                bookkeeping: if flags.1 { stamps } else { Vec::new() },
            },
            name,
        })
    }

    fn key(
        &mut self,
        table: &str,
        field: &str,
        key: Option<&Spanned<Vec<Spanned<String>>>>,
        columns: &[Column],
        side_name: impl Fn(&str) -> String,
        report: bool,
    ) -> Vec<String> {
        let Some(key) = key else { return Vec::new() };
        let mut out = Vec::new();
        for k in &key.value {
            let col_name = side_name(&k.value);
            match columns.iter().find(|c| c.name == col_name) {
                None | Some(Column { nullable: true, .. }) if !report => {}
                None => self.error(
                    pos(k),
                    Some(table),
                    field,
                    format!("key column `{}` is not a column of the table (columns: {})", k.value, names(columns)),
                    "name a declared column, or declare the column",
                ),
                Some(c) if c.nullable => self.error(
                    pos(k),
                    Some(table),
                    field,
                    format!("key column `{}` is nullable; a key must identify every row", k.value),
                    "declare the column `not null`",
                ),
                Some(_) => out.push(col_name),
            }
        }
        out
    }

    fn check_cycles(&mut self, tables: &[(Table, &manifest::Table)]) {
        let known: BTreeSet<&str> = tables.iter().map(|(t, _)| t.name.as_str()).collect();
        let mut edges: BTreeMap<&str, Vec<(&str, Position)>> = BTreeMap::new();
        for (t, def) in tables {
            for r in &def.references {
                let parent = r.value.table.value.as_str();
                if known.contains(parent) {
                    edges.entry(t.name.as_str()).or_default().push((parent, pos(&r.value.table)));
                }
            }
        }
        // Depth-first search; a back edge closes a cycle, reported once at the edge that closes it.
        fn visit<'a>(
            node: &'a str,
            edges: &BTreeMap<&'a str, Vec<(&'a str, Position)>>,
            state: &mut BTreeMap<&'a str, u8>,
            path: &mut Vec<&'a str>,
            found: &mut Vec<(Vec<String>, Position, String)>,
        ) {
            state.insert(node, 1);
            path.push(node);
            for (next, at) in edges.get(node).into_iter().flatten() {
                match state.get(next).copied().unwrap_or(0) {
                    0 => visit(next, edges, state, path, found),
                    1 => {
                        let start = path.iter().position(|p| p == next).unwrap_or(0);
                        let mut cycle: Vec<String> = path[start..].iter().map(|s| s.to_string()).collect();
                        cycle.push(next.to_string());
                        found.push((cycle, *at, node.to_string()));
                    }
                    _ => {}
                }
            }
            path.pop();
            state.insert(node, 2);
        }
        let mut state = BTreeMap::new();
        let mut found = Vec::new();
        for (t, _) in tables {
            if state.get(t.name.as_str()).copied().unwrap_or(0) == 0 {
                visit(t.name.as_str(), &edges, &mut state, &mut Vec::new(), &mut found);
            }
        }
        for (cycle, at, table) in found {
            self.error(
                at,
                Some(&table),
                "references",
                format!("references form a cycle: {}", cycle.join(" -> ")),
                "remove one reference of the cycle; parents must sync before their children",
            );
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn direction(
        &mut self,
        settings: &Settings,
        tables: &[(Table, &manifest::Table)],
        table: &Table,
        def: &manifest::Table,
        dir: Direction,
        d: &Spanned<DirectionDef>,
    ) -> Option<TableDirection> {
        let before = self.problems.len();
        let name = table.name.as_str();
        let prefix = dir.as_str();
        let (source, target) = match dir {
            Direction::Forward => (&table.desktop, &table.cloud),
            Direction::Reverse => (&table.cloud, &table.desktop),
        };
        let to_target = |desktop_name: &str| -> String {
            match dir {
                Direction::Forward => def
                    .renames
                    .iter()
                    .find(|r| r.value.desktop.value == desktop_name)
                    .map(|r| r.value.cloud.value.clone())
                    .unwrap_or_else(|| desktop_name.to_string()),
                Direction::Reverse => desktop_name.to_string(),
            }
        };
        // Shared columns as (source name, target name).
        let shared: Vec<(String, String)> = def
            .columns
            .iter()
            .filter_map(|c| c.value.split_whitespace().next())
            .map(|desktop| {
                let cloud = def
                    .renames
                    .iter()
                    .find(|r| r.value.desktop.value == desktop)
                    .map(|r| r.value.cloud.value.clone())
                    .unwrap_or_else(|| desktop.to_string());
                match dir {
                    Direction::Forward => (desktop.to_string(), cloud),
                    Direction::Reverse => (cloud, desktop.to_string()),
                }
            })
            .collect();

        let mode = match d.value.mode.value {
            ModeDef::Full => Mode::Full,
            ModeDef::Incremental => Mode::Incremental,
        };
        let strategy = match d.value.strategy.value {
            StrategyDef::Upsert => Strategy::Upsert,
            StrategyDef::ReplaceOrigin => Strategy::ReplaceOrigin,
            StrategyDef::InsertOnly => Strategy::InsertOnly,
        };

        // Tracking column.
        let tracking = match &d.value.track {
            Some(t) => match source.column(&t.value) {
                None => {
                    self.error(
                        pos(t),
                        Some(name),
                        &format!("{prefix}.track"),
                        format!(
                            "tracking column `{}` is not a column of {} table `{}` (columns: {})",
                            t.value,
                            dir.source().as_str(),
                            source.name,
                            names(&source.columns)
                        ),
                        "name a timestamptz column the source keeps current, e.g. updated_at",
                    );
                    None
                }
                Some(c) if c.ty != PgType::Timestamptz => {
                    self.error(
                        pos(t),
                        Some(name),
                        &format!("{prefix}.track"),
                        format!(
                            "tracking column `{}` is {}, not timestamptz{}",
                            t.value,
                            c.ty.canonical(),
                            if c.ty == PgType::Timestamp {
                                "; a timestamp without time zone cannot be compared safely across servers"
                            } else {
                                ""
                            }
                        ),
                        "track a timestamptz column",
                    );
                    None
                }
                Some(c) => Some(c.name.clone()),
            },
            None => None,
        };
        if mode == Mode::Incremental && d.value.track.is_none() {
            self.error(
                pos(&d.value.mode),
                Some(name),
                &format!("{prefix}.mode"),
                "incremental mode needs a tracking column, and none is given".into(),
                "add `track: updated_at` (a timestamptz column of the source), or use `mode: full`",
            );
        }
        if strategy == Strategy::ReplaceOrigin && mode == Mode::Incremental {
            self.error(pos(&d.value.strategy), Some(name), &format!("{prefix}.strategy"), "replace_origin deletes the sending side's rows and re-inserts the source set, so it must read the complete source set; an incremental read would delete every row not changed since the last run".into(), "use `mode: full` with replace_origin");
        }
        if strategy == Strategy::ReplaceOrigin && dir == Direction::Reverse {
            self.error(pos(&d.value.strategy), Some(name), &format!("{prefix}.strategy"), "replace_origin needs the origin column on the target to tell which rows the sending side owns, and the desktop has none".into(), "use insert_only or upsert for reverse tables");
        }

        // Skips.
        // `skip` names shared columns as `columns:` does (desktop names); `skipped` holds source names.
        let mut skipped = BTreeSet::new();
        for s in &d.value.skip {
            let desktop_to_source = |desktop: &str| match dir {
                Direction::Forward => desktop.to_string(),
                Direction::Reverse => to_target_cloud(def, desktop),
            };
            if def.columns.iter().any(|c| c.value.split_whitespace().next() == Some(s.value.as_str())) {
                skipped.insert(desktop_to_source(&s.value));
            } else {
                self.error(
                    pos(s),
                    Some(name),
                    &format!("{prefix}.skip"),
                    format!("`{}` is not a column both sides share", s.value),
                    "skip a column listed under `columns:` (columns under desktop_only/cloud_only are never copied)",
                );
            }
        }

        // Mapping rules.
        let mut constants: BTreeMap<String, String> = BTreeMap::new();
        let mut computed = Vec::new();
        let mut depends_on = Vec::new();
        for (i, s) in d.value.set.iter().enumerate() {
            let field = format!("{prefix}.set[{i}]");
            let col_name = &s.value.column.value;
            let Some(col) = target.column(col_name) else {
                self.error(
                    pos(&s.value.column),
                    Some(name),
                    &format!("{field}.column"),
                    format!(
                        "`{col_name}` is not a column of {} table `{}` (columns: {})",
                        dir.target().as_str(),
                        target.name,
                        names(&target.columns)
                    ),
                    "name a column of the target table",
                );
                continue;
            };
            let rules = s.value.constant.is_some() as u8
                + s.value.now.as_ref().is_some_and(|n| n.value) as u8
                + s.value.lookup.is_some() as u8;
            if rules != 1 {
                self.error(
                    pos(s),
                    Some(name),
                    &field,
                    format!("column `{col_name}` needs exactly one rule, has {rules}"),
                    "give one of `const: ...`, `now: true`, `lookup: {table, by, take}`",
                );
                continue;
            }
            if let Some(c) = &s.value.constant {
                if let Err(e) = col.ty.check_constant(&c.value) {
                    self.error(pos(c), Some(name), &format!("{field}.const"), e, "give a value of the column's type");
                    continue;
                }
                constants.insert(col_name.clone(), c.value.clone());
            } else if s.value.now.is_some() {
                if !matches!(col.ty, PgType::Timestamptz | PgType::Timestamp | PgType::Date) {
                    self.error(
                        pos(s),
                        Some(name),
                        &format!("{field}.now"),
                        format!("`now` fills a date or timestamp column, and `{col_name}` is {}", col.ty.canonical()),
                        "use `now` on a timestamptz, timestamp or date column",
                    );
                    continue;
                }
                computed.push(Computed::Now { column: col_name.clone() });
            } else if let Some(l) = &s.value.lookup {
                let l = &l.value;
                let Some((other, _)) = tables.iter().find(|(t, _)| t.name == l.table.value) else {
                    if self.declared.contains(&l.table.value) {
                        continue;
                    }
                    self.error(
                        pos(&l.table),
                        Some(name),
                        &format!("{field}.lookup.table"),
                        format!(
                            "lookup names unknown table `{}` (tables: {})",
                            l.table.value,
                            tables.iter().map(|(t, _)| t.name.as_str()).collect::<Vec<_>>().join(", ")
                        ),
                        "name a table of the manifest",
                    );
                    continue;
                };
                let other_target = match dir {
                    Direction::Forward => &other.cloud,
                    Direction::Reverse => &other.desktop,
                };
                let mut ok = true;
                for b in &l.by {
                    let here = shared.iter().any(|(src, t)| *t == b.value && !skipped.contains(src));
                    if !here || other_target.column(&b.value).is_none() {
                        self.error(
                            pos(b),
                            Some(name),
                            &format!("{field}.lookup.by"),
                            format!(
                                "lookup key `{}` must be a column copied into `{}` and a column of `{}` on the {} side",
                                b.value,
                                target.name,
                                other_target.name,
                                dir.target().as_str()
                            ),
                            "name a column both tables have",
                        );
                        ok = false;
                    }
                }
                match other_target.column(&l.take.value) {
                    None => {
                        self.error(
                            pos(&l.take),
                            Some(name),
                            &format!("{field}.lookup.take"),
                            format!(
                                "`{}` is not a column of `{}` on the {} side (columns: {})",
                                l.take.value,
                                other_target.name,
                                dir.target().as_str(),
                                names(&other_target.columns)
                            ),
                            "name a column of the looked-up table",
                        );
                        ok = false;
                    }
                    Some(c) if c.ty.canonical() != col.ty.canonical() => {
                        self.error(
                            pos(&l.take),
                            Some(name),
                            &format!("{field}.lookup.take"),
                            format!(
                                "`{}.{}` is {} but `{col_name}` is {}",
                                other_target.name,
                                l.take.value,
                                c.ty.canonical(),
                                col.ty.canonical()
                            ),
                            "take a column of the same type",
                        );
                        ok = false;
                    }
                    Some(_) => {}
                }
                let by: Vec<&str> = l.by.iter().map(|b| b.value.as_str()).collect();
                if ok && !l.by.is_empty() && other_target.key.iter().map(String::as_str).collect::<Vec<_>>() != by {
                    self.error(pos(&l.table), Some(name), &format!("{field}.lookup.by"), format!("a lookup must match the whole key of `{}` on the {} side ({}), so it finds at most one row; `by` is [{}]", other_target.name, dir.target().as_str(), other_target.key.join(", "), by.join(", ")), "list the looked-up table's key columns in `by`");
                    ok = false;
                }
                if l.by.is_empty() {
                    self.error(
                        pos(&l.table),
                        Some(name),
                        &format!("{field}.lookup.by"),
                        "a lookup needs at least one `by` column".into(),
                        "list the columns to match, e.g. `by: [job_id]`",
                    );
                    ok = false;
                }
                if ok {
                    computed.push(Computed::Lookup {
                        column: col_name.clone(),
                        table: other_target.name.clone(),
                        by: l.by.iter().map(|b| b.value.clone()).collect(),
                        take: l.take.value.clone(),
                    });
                    if other.name != table.name {
                        depends_on.push(other.name.clone());
                    }
                }
            }
        }

        // Staged columns: shared columns not skipped or overridden, then constants.
        let mut read: Vec<Column> = Vec::new();
        let mut staged = Vec::new();
        for (src, tgt) in &shared {
            if skipped.contains(src) || constants.contains_key(tgt) || computed.iter().any(|c| c.column() == tgt) {
                continue;
            }
            let (Some(s), Some(t)) = (source.column(src), target.column(tgt)) else { continue };
            if t.ty.is_generated() {
                continue;
            }
            read.push(s.clone());
            staged.push(StagedColumn {
                name: tgt.clone(),
                ty: t.ty.clone(),
                target_nullable: t.nullable,
                nullable: s.nullable,
                value: StagedValue::Source { column: src.clone(), index: read.len() - 1 },
            });
        }
        for (col, value) in &constants {
            if let Some(t) = target.column(col) {
                staged.push(StagedColumn {
                    name: col.clone(),
                    ty: t.ty.clone(),
                    target_nullable: t.nullable,
                    nullable: false,
                    value: StagedValue::Constant(value.clone()),
                });
            }
        }
        if let Some(t) = &tracking {
            if !read.iter().any(|c| &c.name == t) {
                if let Some(c) = source.column(t) {
                    read.push(c.clone());
                }
            }
        }

        // Key and what the strategy needs of it.
        let key: Vec<String> = target.key.iter().filter(|k| staged.iter().any(|s| &s.name == *k)).cloned().collect();
        let key_complete = !target.key.is_empty() && key.len() == target.key.len();
        match strategy {
            Strategy::Upsert | Strategy::InsertOnly if !key_complete => {
                let why = if target.key.is_empty() {
                    format!("the {} table `{}` has no key", dir.target().as_str(), target.name)
                } else {
                    format!(
                        "the {} key ({}) is not among the columns the source provides (generated by the {} or skipped)",
                        dir.target().as_str(),
                        target.key.join(", "),
                        dir.target().as_str()
                    )
                };
                self.error(pos(&d.value.strategy), Some(name), &format!("{prefix}.strategy"), format!("strategy {} matches rows by key, but {why}", strategy_name(strategy)), "declare a key the source provides (`key:` / `desktop_key:` / `cloud_key:`), or use replace_origin for tables whose key the target generates");
            }
            _ => {}
        }
        let dedup = match &d.value.dedup {
            Some(dd) => {
                if key.is_empty() {
                    self.error(
                        pos(dd),
                        Some(name),
                        &format!("{prefix}.dedup"),
                        "dedup keeps one row per key, and the target has no key the source provides".into(),
                        "declare a key, or remove `dedup`",
                    );
                }
                matches!(dd.value, DedupDef::Newest)
            }
            // Rows matched by key must be unique by key, so keyed strategies always keep the newest.
            None => matches!(strategy, Strategy::Upsert | Strategy::InsertOnly),
        };

        // Tenant scope.
        let tenant_col = |side: &Side| -> Option<Column> {
            let t = settings.tenant.as_ref()?;
            let name = if side.side == SideName::Cloud { to_target_cloud(def, &t.column) } else { t.column.clone() };
            side.column(&name).cloned()
        };
        let tenant_source = tenant_col(source);
        let tenant_target = tenant_col(target);
        if settings.tenant.is_some() && strategy == Strategy::ReplaceOrigin && tenant_target.is_none() {
            self.error(pos(&d.value.strategy), Some(name), &format!("{prefix}.strategy"), format!("replace_origin deletes rows, and `{}` has no tenant column `{}` to keep the delete to this firm's rows", target.name, settings.tenant.as_ref().map(|t| t.column.as_str()).unwrap_or("")), "add the tenant column to the table, or use upsert");
        }

        // References, checked against the parent's target-side key.
        let mut references = Vec::new();
        for (i, r) in def.references.iter().enumerate() {
            let field = format!("references[{i}]");
            let Some((parent, _)) = tables.iter().find(|(t, _)| t.name == r.value.table.value) else {
                if (dir == Direction::Forward || def.forward.is_none()) && !self.declared.contains(&r.value.table.value)
                {
                    self.error(
                        pos(&r.value.table),
                        Some(name),
                        &format!("{field}.table"),
                        format!(
                            "reference to unknown table `{}` (tables: {})",
                            r.value.table.value,
                            tables.iter().map(|(t, _)| t.name.as_str()).collect::<Vec<_>>().join(", ")
                        ),
                        "name a table of the manifest",
                    );
                }
                continue;
            };
            let parent_target = match dir {
                Direction::Forward => &parent.cloud,
                Direction::Reverse => &parent.desktop,
            };
            let mut pairs = Vec::new();
            let mut ok = true;
            if r.value.columns.len() != parent_target.key.len() {
                if dir == Direction::Forward || def.forward.is_none() {
                    self.error(
                        pos(&r.value.table),
                        Some(name),
                        &format!("{field}.columns"),
                        format!(
                            "{} column(s) reference `{}`, whose {} key has {} column(s) ({})",
                            r.value.columns.len(),
                            parent.name,
                            dir.target().as_str(),
                            parent_target.key.len(),
                            parent_target.key.join(", ")
                        ),
                        "list one column per key column of the parent",
                    );
                }
                continue;
            }
            for (c, pk) in r.value.columns.iter().zip(&parent_target.key) {
                let tgt = match dir {
                    Direction::Forward => to_target(&c.value),
                    Direction::Reverse => c.value.clone(),
                };
                if !table.desktop.columns.iter().any(|x| x.name == c.value) {
                    if dir == Direction::Forward || def.forward.is_none() {
                        self.error(
                            pos(c),
                            Some(name),
                            &format!("{field}.columns"),
                            format!(
                                "reference column `{}` is not a column of the table (columns: {})",
                                c.value,
                                names(&table.desktop.columns)
                            ),
                            "name a column listed under `columns:`",
                        );
                    }
                    ok = false;
                } else if staged.iter().any(|s| s.name == tgt) {
                    pairs.push((tgt, pk.clone()));
                } else {
                    ok = false;
                }
            }
            if ok {
                depends_on.push(parent.name.clone());
                references.push(ReferenceCheck {
                    parent: parent.name.clone(),
                    parent_table: parent_target.name.clone(),
                    pairs,
                });
            }
        }

        if self.problems.len() > before {
            return None;
        }
        let mut seen_dep = BTreeSet::new();
        depends_on.retain(|d| seen_dep.insert(d.clone()));
        Some(TableDirection {
            table: name.to_string(),
            direction: dir,
            line: table.line,
            source: source.clone(),
            target: target.clone(),
            mode,
            strategy,
            tracking,
            read,
            staged,
            computed,
            key,
            dedup,
            origin_column: settings.origin_column.clone(),
            tenant_source,
            tenant_target,
            references,
            depends_on,
        })
    }
}

fn to_target_cloud(def: &manifest::Table, desktop: &str) -> String {
    def.renames
        .iter()
        .find(|r| r.value.desktop.value == desktop)
        .map(|r| r.value.cloud.value.clone())
        .unwrap_or_else(|| desktop.to_string())
}

impl TableDirection {
    /// The source columns holding the target key's values.
    pub fn key_source_columns(&self) -> Vec<String> {
        self.key
            .iter()
            .map(|k| match self.staged.iter().find(|s| &s.name == k).map(|s| &s.value) {
                Some(StagedValue::Source { column, .. }) => column.clone(),
                _ => k.clone(),
            })
            .collect()
    }
}

impl Computed {
    pub fn column(&self) -> &str {
        match self {
            Computed::Now { column } | Computed::Lookup { column, .. } => column,
        }
    }
}

fn strategy_name(s: Strategy) -> &'static str {
    match s {
        Strategy::Upsert => "upsert",
        Strategy::ReplaceOrigin => "replace_origin",
        Strategy::InsertOnly => "insert_only",
    }
}

fn names(columns: &[Column]) -> String {
    columns.iter().map(|c| c.name.as_str()).collect::<Vec<_>>().join(", ")
}

/// Orders one direction's tables so every table comes after the tables it depends on, keeping the
/// manifest's order where the references leave a choice. Cycles were reported already.
fn sync_order(list: Vec<TableDirection>) -> Vec<TableDirection> {
    let mut remaining = list;
    let mut ordered: Vec<TableDirection> = Vec::new();
    while !remaining.is_empty() {
        let ready = remaining
            .iter()
            .position(|t| t.depends_on.iter().all(|d| !remaining.iter().any(|r| &r.table == d) || d == &t.table))
            .unwrap_or(0);
        ordered.push(remaining.remove(ready));
    }
    ordered
}
