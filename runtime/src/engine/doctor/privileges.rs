//! Whether the connected role may do what each table's work needs on this side: read the sources,
//! write the targets as their strategy does, keep its own metadata, and stage rows in temporary
//! tables. A role that cannot create or write the metadata would run every table in full and
//! record nothing (`Bootstrap::Degraded`), so that is a problem, not a detail.

use std::collections::BTreeMap;

use tokio_postgres::types::Type;
use tokio_postgres::Client;

use super::{Area, Finding, Severity};
use crate::engine::names::ident;
use crate::program::Program;
use crate::spec::{Direction, Side, Strategy, TableSpec};

const PRIVILEGES: [&str; 4] = ["SELECT", "INSERT", "UPDATE", "DELETE"];

/// What one table on this side is used for: the privileges needed (in `PRIVILEGES` order) and why.
#[derive(Default)]
struct Need {
    privileges: [bool; 4],
    why: Vec<String>,
    metadata: bool,
}

impl Need {
    fn add(&mut self, privileges: &[&str], why: String) {
        for p in privileges {
            if let Some(i) = PRIVILEGES.iter().position(|x| x == p) {
                self.privileges[i] = true;
            }
        }
        if !self.why.contains(&why) {
            self.why.push(why);
        }
    }
}

fn target_writes(spec: &TableSpec) -> Vec<&'static str> {
    let mut p = vec!["SELECT", "INSERT"];
    if spec.strategy != Strategy::InsertOnly || !spec.desktop_owns.is_empty() {
        p.push("UPDATE");
    }
    if spec.strategy == Strategy::ReplaceOrigin || spec.deletes.is_some() {
        p.push("DELETE");
    }
    p
}

fn needs(program: &Program, side: Side) -> BTreeMap<&'static str, Need> {
    let mut needs: BTreeMap<&'static str, Need> = BTreeMap::new();
    for spec in program.tables.iter().map(|t| t.spec()) {
        if spec.source.side == side {
            needs.entry(spec.source.name).or_default().add(&["SELECT"], format!("{} reads it", spec.direction));
        }
        if spec.target.side == side {
            let why = format!(
                "{} writes it ({}{})",
                spec.direction,
                spec.strategy,
                if spec.deletes.is_some() { ", deletes" } else { "" }
            );
            needs.entry(spec.target.name).or_default().add(&target_writes(spec), why);
        }
    }
    let m = program.manifest;
    let direction = if side == Direction::Forward.target() { Direction::Forward } else { Direction::Reverse };
    let mut ours = vec![m.metadata_table(direction), m.rejects_table(direction)];
    if program.tables.iter().any(|t| t.spec().direction == direction && t.spec().deletes.is_some()) {
        ours.push(m.deleted_table(direction));
    }
    if direction == Direction::Reverse {
        ours.push(m.reverse_ledger);
    }
    for table in ours {
        let need = needs.entry(table).or_default();
        need.add(&PRIVILEGES, "pgbisync keeps its metadata there".into());
        need.metadata = true;
    }
    needs
}

pub async fn examine(client: &Client, program: &Program, side: Side) -> Vec<Finding> {
    match check(client, program, side).await {
        Ok(findings) => findings,
        Err(e) => vec![Finding::unchecked(Area::Privileges, side, "the role's privileges", &e)],
    }
}

async fn check(client: &Client, program: &Program, side: Side) -> Result<Vec<Finding>, tokio_postgres::Error> {
    let role = client
        .query_one(
            "SELECT current_user::text, r.rolsuper OR r.rolbypassrls, current_schema()::text, \
             coalesce(has_schema_privilege(current_schema(), 'CREATE'), false), \
             has_database_privilege(current_database(), 'TEMPORARY'), current_database()::text \
             FROM pg_catalog.pg_roles r WHERE r.rolname = current_user",
            &[],
        )
        .await?;
    let (user, bypasses_rls, schema): (String, bool, Option<String>) = (role.get(0), role.get(1), role.get(2));
    let (may_create, may_stage, database): (bool, bool, String) = (role.get(3), role.get(4), role.get(5));
    let needs = needs(program, side);
    let names: Vec<&str> = needs.keys().copied().collect();
    let rows = client
        .query_typed(
            "SELECT t.name, c.oid IS NOT NULL, n.nspname::text, \
             coalesce(has_table_privilege(c.oid, 'SELECT'), false), coalesce(has_table_privilege(c.oid, 'INSERT'), false), \
             coalesce(has_table_privilege(c.oid, 'UPDATE'), false), coalesce(has_table_privilege(c.oid, 'DELETE'), false), \
             coalesce(c.relrowsecurity, false), coalesce(pg_has_role(c.relowner, 'USAGE'), false) \
             FROM unnest($1::text[]) AS t(name) \
             LEFT JOIN pg_catalog.pg_class c ON c.relname = t.name AND pg_catalog.pg_table_is_visible(c.oid) \
                  AND c.relkind IN ('r', 'p', 'v', 'm', 'f') \
             LEFT JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace",
            &[(&names, Type::TEXT_ARRAY)],
        )
        .await?;
    let mut findings = Vec::new();
    let mut metadata_to_create = Vec::new();
    for row in rows {
        let name: &str = row.get(0);
        let need = &needs[name];
        if !row.get::<_, bool>(1) {
            // A missing synced table is `check`'s to report; missing metadata is created on first run.
            if need.metadata {
                metadata_to_create.push(name.to_string());
            }
            continue;
        }
        let schema_name: String = row.get(2);
        let has = [row.get::<_, bool>(3), row.get(4), row.get(5), row.get(6)];
        let lacking: Vec<&str> = (0..4).filter(|&i| need.privileges[i] && !has[i]).map(|i| PRIVILEGES[i]).collect();
        let qualified = format!("{}.{}", ident(&schema_name), ident(name));
        if !lacking.is_empty() {
            findings.push(
                Finding::new(
                    Severity::Problem,
                    Area::Privileges,
                    Some(side),
                    format!("{user} lacks {} on {name}, needed because {}", lacking.join(", "), need.why.join(" and ")),
                )
                .table(name)
                .fix(format!("GRANT {} ON TABLE {qualified} TO {};", lacking.join(", "), ident(&user))),
            );
        }
        let (row_security, owns): (bool, bool) = (row.get(7), row.get(8));
        if row_security && !owns && !bypasses_rls && !need.metadata {
            findings.push(
                Finding::new(
                    Severity::Warning,
                    Area::Privileges,
                    Some(side),
                    format!(
                        "row-level security is on for {name} and {user} neither owns it nor bypasses RLS: the table's \
                         policies, not the manifest, decide which rows pgbisync sees and may write, so rows can be \
                         missed without an error"
                    ),
                )
                .table(name)
                .fix(format!(
                    "connect as the table's owner or a role with BYPASSRLS (on Supabase, the postgres role), or: \
                     ALTER ROLE {} BYPASSRLS;",
                    ident(&user)
                )),
            );
        }
    }
    if !metadata_to_create.is_empty() && !may_create {
        let schema = schema.unwrap_or_else(|| "public".into());
        findings.push(
            Finding::new(
                Severity::Problem,
                Area::Privileges,
                Some(side),
                format!(
                    "{user} may not create tables in schema {schema}, and pgbisync's metadata ({}) does not exist yet: \
                     every run would read every table in full and record no progress (or run `pgbisync bootstrap` \
                     once as a role that may create them)",
                    metadata_to_create.join(", ")
                ),
            )
            .fix(format!("GRANT CREATE ON SCHEMA {} TO {};", ident(&schema), ident(&user))),
        );
    }
    findings.extend(sequences(client, program, side, &user).await?);
    if !may_stage {
        findings.push(
            Finding::new(
                Severity::Problem,
                Area::Privileges,
                Some(side),
                format!("{user} may not create temporary tables in database {database}, where pgbisync stages the rows it writes"),
            )
            .fix(format!("GRANT TEMPORARY ON DATABASE {} TO {};", ident(&database), ident(&user))),
        );
    }
    if findings.is_empty() {
        findings.push(Finding::ok(
            Area::Privileges,
            side,
            format!("{user} holds every privilege the {} table(s) on this side need", needs.len()),
        ));
    }
    Ok(findings)
}

/// The sequences behind the targets' `serial` columns: an insert that takes the default calls
/// `nextval`, which needs USAGE on the sequence as well as INSERT on the table (identity columns
/// need nothing more).
async fn sequences(
    client: &Client,
    program: &Program,
    side: Side,
    user: &str,
) -> Result<Vec<Finding>, tokio_postgres::Error> {
    let targets: Vec<&str> =
        program.tables.iter().map(|t| t.spec()).filter(|s| s.target.side == side).map(|s| s.target.name).collect();
    let rows = client
        .query_typed(
            // The CASE keeps the privilege function from seeing a relation that is not a sequence:
            // the planner may evaluate it before the join has filtered those out.
            "SELECT t.relname::text, quote_ident(n.nspname) || '.' || quote_ident(s.relname), \
                    CASE WHEN s.relkind = 'S' THEN has_sequence_privilege(s.oid, 'USAGE') END \
             FROM pg_catalog.pg_depend d \
             JOIN pg_catalog.pg_class s ON s.oid = d.objid AND s.relkind = 'S' \
             JOIN pg_catalog.pg_namespace n ON n.oid = s.relnamespace \
             JOIN pg_catalog.pg_class t ON t.oid = d.refobjid \
             WHERE d.classid = 'pg_catalog.pg_class'::regclass AND d.refclassid = 'pg_catalog.pg_class'::regclass \
               AND d.deptype = 'a' AND t.relname = ANY($1) AND pg_catalog.pg_table_is_visible(t.oid)",
            &[(&targets, Type::TEXT_ARRAY)],
        )
        .await?;
    Ok(rows
        .iter()
        .filter(|r| r.get::<_, Option<bool>>(2) == Some(false))
        .map(|r| {
            let (table, sequence): (&str, &str) = (r.get(0), r.get(1));
            Finding::new(
                Severity::Problem,
                Area::Privileges,
                Some(side),
                format!("{user} lacks USAGE on {sequence}, which numbers the rows inserted into {table}"),
            )
            .table(table)
            .fix(format!("GRANT USAGE ON SEQUENCE {sequence} TO {};", ident(user)))
        })
        .collect())
}
