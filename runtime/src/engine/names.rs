//! The SQL names the engine writes by hand: those the generated SQL must agree on come from
//! `pgbisync-contract`, defined once for the generator and the engine.

use pgbisync_contract::names::{self as shared, Setting};

pub use shared::{APPLY_SAVEPOINT, REASON, ROW_NUMBER, VERIFY_HASH, VERIFY_KEY};

/// The temporary staging table the source rows are copied into.
pub const STAGE: &str = shared::STAGE_TABLE;
/// The keys reverse brought, copied to a forward run's target.
pub const BORN_IN_CLOUD: &str = shared::BORN_IN_CLOUD_TABLE;
/// A full read's staged rows that would change the target (`TableSql::settle`).
pub const CHANGED: &str = shared::CHANGED_TABLE;
/// A full read's staged rows that change the target and its owned keys staging lacks.
pub const COMPARED: &str = shared::COMPARED_TABLE;
/// The keys of the target rows a delete check deletes.
pub const GONE: &str = shared::GONE_TABLE;
/// `(_n, reason)` of the staged rows the checks or the apply refused.
pub const REJECTED: &str = shared::REJECTED_TABLE;
/// The refused staged rows, moved out of staging.
pub const SET_ASIDE: &str = shared::SET_ASIDE_TABLE;

pub const SETTING_ORIGIN_DESKTOP: &str = Setting::OriginDesktop.name();
pub const SETTING_ORIGIN_CLOUD: &str = Setting::OriginCloud.name();
pub const SETTING_TENANT: &str = Setting::Tenant.name();
pub const SETTING_SINCE: &str = Setting::Since.name();
pub const SETTING_SINCE_XID: &str = Setting::SinceXid.name();
pub const SETTING_SCOPE: &str = Setting::Scope.name();

/// The savepoint a direct first load is undone to when the target or a check refuses a row.
pub const DIRECT_SAVEPOINT: &str = "_pgbisync_direct";
/// Tries whether this role may skip the target's triggers, without aborting the load if not.
pub const TRIGGERS_SAVEPOINT: &str = "_pgbisync_triggers";

/// Quotes an identifier the engine itself puts into SQL (metadata and rejects tables, the names above).
pub fn ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}
