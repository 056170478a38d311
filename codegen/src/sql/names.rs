//! The names pgbisync itself puts into the databases and the statements, each defined once. A
//! manifest table or column may be named anything, so the engine's own names carry a `_pgbisync`
//! prefix (or live only inside a statement) where they could meet a manifest name.
//!
//! Identifiers are [`Ident`]s, which display double-quoted; CTE names are bare words that only
//! the statements declaring them use. Names the engine also uses come from `pgbisync-contract`.

use pgbisync_contract::names::{self as shared, Setting};

use super::fragment::Ident;

/// Staging table each table-direction copies its batch into, inside the target transaction
/// (temporary, dropped on commit, so concurrent runs never see each other's).
pub const STAGE: Ident<'static> = Ident(shared::STAGE_TABLE);
/// Why staged rows were set aside, `(_n, reason)`; created by the engine, filled by the checks.
pub const REJECTED: Ident<'static> = Ident(shared::REJECTED_TABLE);
/// The staged rows set aside (same columns as staging); created by the engine, read by
/// `describe_rejects`.
pub const SET_ASIDE: Ident<'static> = Ident(shared::SET_ASIDE_TABLE);

/// The keys of the target rows a run deletes, `(k)` in verify's key text; filled by the engine.
pub const GONE: Ident<'static> = Ident(shared::GONE_TABLE);

/// The keys reverse brought to the desktop, copied to the target of a forward run; filled by the engine.
pub const BORN_IN_CLOUD: Ident<'static> = Ident(shared::BORN_IN_CLOUD_TABLE);

/// Reverse: the staged rows whose key the desktop table holds, `(_n, same)`; made by `prepare`.
pub const FOUND: Ident<'static> = Ident(shared::FOUND_TABLE);
/// `FOUND`'s flag: a desktop row with the key equals the staged row in every column reverse writes.
pub const SAME: Ident<'static> = Ident("same");

/// A full read's staged rows that would change the target; made by `settle`, renamed to staging.
pub const CHANGED: Ident<'static> = Ident(shared::CHANGED_TABLE);
/// A full read's staged rows that change the target and its owned keys staging lacks, `(_n, k)`;
/// made by `DeleteSql::settling`.
pub const COMPARED: Ident<'static> = Ident(shared::COMPARED_TABLE);

/// Staging's row number: the engine numbers rows as it copies them, so statements can work on a
/// range of them (`$1`..`$2`) and a reject can point at its row.
pub const ROW_NUMBER: Ident<'static> = Ident(shared::ROW_NUMBER);
/// Staging's copy of the source's tracking value, for newest-wins dedup and the watermark.
pub const TRACK: Ident<'static> = Ident(shared::TRACKING);
/// The rejected table's text column saying why a row was set aside.
pub const REASON: Ident<'static> = Ident(shared::REASON);

/// The hash of a row's text in replace_origin's multiset matching (a manifest may name a column `h`).
pub const ROW_HASH: Ident<'static> = Ident("_pgbisync_h");
/// Which copy of identical rows a row is, so k copies in the source keep k copies in the target.
pub const DUP: Ident<'static> = Ident("_pgbisync_dup");
/// The physical identity (`ctid`) of a row of a target without a key that replace_origin may delete.
pub const ROW_ID: Ident<'static> = Ident("_pgbisync_id");
/// replace_origin: each staged row's number and text's hash; made by `prepare`.
pub const COPIES: Ident<'static> = Ident(shared::STAGED_COPIES_TABLE);
/// replace_origin: the owned target rows' identity and text's hash; made by `prepare`.
pub const OWNED: Ident<'static> = Ident(shared::OWNED_COPIES_TABLE);
/// replace_origin: the row hashes with a different number of copies on each side; made by `prepare`.
pub const DIFFER: Ident<'static> = Ident(shared::DIFFER_TABLE);
/// `DIFFER`'s counts of a hash's copies in staging and among the owned target rows.
pub const STAGED_COPIES: Ident<'static> = Ident("_pgbisync_staged_copies");
pub const OWNED_COPIES: Ident<'static> = Ident("_pgbisync_owned_copies");
/// A row's rank among the rows of its key, newest first; rank 1 is the row newest-wins keeps.
pub const RANK: Ident<'static> = Ident("_pgbisync_rank");

/// Verify's key text column: the engine merge-joins both sides on it.
pub const VERIFY_KEY: Ident<'static> = Ident(shared::VERIFY_KEY);
/// Verify's md5 of a row's synced values.
pub const VERIFY_HASH: Ident<'static> = Ident(shared::VERIFY_HASH);
/// Verify's flag saying whether a target row the source lacks counts as extra.
pub const VERIFY_OWNED: Ident<'static> = Ident("o");

/// Setting holding the origin value of rows born on the desktop; values reach SQL only as
/// settings or parameters, and COPY cannot take parameters.
pub const ORIGIN_DESKTOP: &str = Setting::OriginDesktop.name();
/// Setting holding the origin value of rows born in the cloud.
pub const ORIGIN_CLOUD: &str = Setting::OriginCloud.name();
/// Setting holding the tenant the run is scoped to.
pub const TENANT: &str = Setting::Tenant.name();
/// Setting holding the incremental read's lower bound (the watermark minus the lookback).
pub const SINCE: &str = Setting::Since.name();
/// Setting holding the `track: xmin` read's lower bound (a transaction id).
pub const SINCE_XID: &str = Setting::SinceXid.name();
/// Setting holding the run's scope (the tenant, canonical), for the ledger's rows.
pub const SCOPE: &str = Setting::Scope.name();

/// Prefix of the trigger function the demo DDL creates per bookkeeping column (`pgbisync_` keeps
/// it apart from a deployment's own functions).
pub const TOUCH_FUNCTION_PREFIX: &str = "pgbisync_touch_";
/// Suffix of the trigger the demo DDL puts on a table with a bookkeeping column.
pub const TOUCH_TRIGGER_SUFFIX: &str = "_touch";
