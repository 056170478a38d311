//! Every SQL name the engine writes by hand and the generated SQL must agree on: the temporary
//! tables of a table's transaction, their columns, the `pgbisync.*` settings and the apply savepoint.
//! They are kept in one place so that one shared definition can later serve both the generator and
//! the engine; a name changed on one side only would break every sync at run time, not at build time.

/// The temporary staging table the source rows are copied into.
pub const STAGE: &str = "_pgbisync_stage";
/// `(_n, reason)` of the staged rows the checks or the apply refused.
pub const REJECTED: &str = "_pgbisync_rejected";
/// The refused staged rows, moved out of staging.
pub const SET_ASIDE: &str = "_pgbisync_set_aside";
/// The row number column of staging (the first staged column).
pub const ROW_NUMBER: &str = "_n";
/// The reason column of [`REJECTED`].
pub const REASON: &str = "reason";

/// Settings the generated SQL reads with `current_setting(..)`, since COPY takes no parameters.
pub const SETTING_ORIGIN_DESKTOP: &str = "pgbisync.origin_desktop";
pub const SETTING_ORIGIN_CLOUD: &str = "pgbisync.origin_cloud";
pub const SETTING_TENANT: &str = "pgbisync.tenant";
pub const SETTING_SINCE: &str = "pgbisync.since";

/// The savepoint each apply range runs under.
pub const APPLY_SAVEPOINT: &str = "pgbisync_apply";

/// The key and value-hash columns of the generated verify queries.
pub const VERIFY_KEY: &str = "k";
pub const VERIFY_HASH: &str = "h";

/// Quotes an identifier the engine itself puts into SQL (metadata and rejects tables, the names above).
pub fn ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}
