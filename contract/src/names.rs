//! Names of the SQL objects pgbisync makes for itself inside a target transaction, and of the
//! session settings that carry values into generated SQL. The generator writes statements that use
//! them and the engine creates, fills and reads them: both take them from here.

/// Every name pgbisync makes for itself starts with this; manifest columns may not.
pub const PREFIX: &str = "_pgbisync";

/// The temporary table each table-direction stages its source rows in (dropped at commit).
pub const STAGE_TABLE: &str = "_pgbisync_stage";
/// Why staged rows cannot be applied: `(ROW_NUMBER, REASON)`, one row per reason.
pub const REJECTED_TABLE: &str = "_pgbisync_rejected";
/// The staged rows set aside, moved out of staging (same columns as staging).
pub const SET_ASIDE_TABLE: &str = "_pgbisync_set_aside";

/// The keys (as verify's key text) of target rows whose source row is gone, on the target.
pub const GONE_TABLE: &str = "_pgbisync_gone";

/// On the target of a two-way table's forward run: the keys the desktop's ledger says reverse
/// brought (born in the cloud), which forward must never insert as desktop-born rows.
pub const BORN_IN_CLOUD_TABLE: &str = "_pgbisync_born_in_cloud";

/// Reverse, on the desktop: the staged rows whose key the desktop table already holds, `(ROW_NUMBER,
/// same)`, `same` when one of those desktop rows equals the staged row in every column reverse
/// writes. Found in one pass over the desktop table, which the ledger and the insert then share.
pub const FOUND_TABLE: &str = "_pgbisync_found";

/// A full read's staged rows that would change the target, made from staging (see `settle`); it
/// then replaces staging, under staging's name.
pub const CHANGED_TABLE: &str = "_pgbisync_changed";

/// Forward, a full read that both settles and checks its deletes: the staged rows that would change
/// the target and the owned target keys staging lacks, `(ROW_NUMBER, k)`, one of them NULL; from
/// one full join of staging with the tenant's target rows.
pub const COMPARED_TABLE: &str = "_pgbisync_compared";

/// replace_origin, on the target: each staged row's number and its text, `(ROW_NUMBER,
/// _pgbisync_r)`, a lookup's value included; counted, then joined to by the insert.
pub const STAGED_COPIES_TABLE: &str = "_pgbisync_copies";
/// replace_origin, on the target: the target rows the sending side owns, by key (or `ctid`), with
/// their text.
pub const OWNED_COPIES_TABLE: &str = "_pgbisync_owned";
/// replace_origin, on the target: the row texts whose number of copies differs between staging and
/// the owned target rows, `(_pgbisync_r, _pgbisync_staged_copies, _pgbisync_owned_copies)`.
pub const DIFFER_TABLE: &str = "_pgbisync_differ";

/// Staging's row number: orders the batch and names a row in the rejected table.
pub const ROW_NUMBER: &str = "_n";
/// Staging's copy of the source's tracking value, when the table tracks changes.
pub const TRACKING: &str = "_track";
/// The rejected table's text column saying why.
pub const REASON: &str = "reason";

/// The key text column of both sides' verify queries: the engine merge-joins on it.
pub const VERIFY_KEY: &str = "k";
/// The md5 of a row's synced values in the verify queries.
pub const VERIFY_HASH: &str = "h";

/// The savepoint the apply step halves a failing batch under.
pub const APPLY_SAVEPOINT: &str = "pgbisync_apply";

/// Session settings the engine sets (with bound parameters, local to each transaction) and the
/// generated SQL reads with `current_setting(...)`: COPY cannot take parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Setting {
    /// The origin value of rows born on the desktop.
    OriginDesktop,
    /// The origin value of rows born in the cloud.
    OriginCloud,
    /// This firm's tenant value (`''` without a tenant scope).
    Tenant,
    /// The incremental read's lower bound, as timestamptz text.
    Since,
    /// The `track: xmin` read's lower bound: the transaction id (xid8, as decimal text) before
    /// which every transaction had ended when the last read's snapshot was taken.
    SinceXid,
    /// Whose rows of the ledger a run reads and writes: the tenant value in canonical form.
    Scope,
}

impl Setting {
    pub const ALL: [Setting; 6] = [
        Setting::OriginDesktop,
        Setting::OriginCloud,
        Setting::Tenant,
        Setting::Since,
        Setting::SinceXid,
        Setting::Scope,
    ];

    /// The setting's full name, as `set_config` and `current_setting` take it.
    pub const fn name(self) -> &'static str {
        match self {
            Setting::OriginDesktop => "pgbisync.origin_desktop",
            Setting::OriginCloud => "pgbisync.origin_cloud",
            Setting::Tenant => "pgbisync.tenant",
            Setting::Since => "pgbisync.since",
            Setting::SinceXid => "pgbisync.since_xid",
            Setting::Scope => "pgbisync.scope",
        }
    }
}

/// True for a column name the staging table keeps for itself.
pub fn is_reserved_column(name: &str) -> bool {
    name == ROW_NUMBER || name == TRACKING || name.starts_with(PREFIX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_internal_table_and_setting_is_in_pgbisyncs_own_namespace() {
        for table in [
            STAGE_TABLE,
            REJECTED_TABLE,
            SET_ASIDE_TABLE,
            GONE_TABLE,
            BORN_IN_CLOUD_TABLE,
            FOUND_TABLE,
            CHANGED_TABLE,
            STAGED_COPIES_TABLE,
            OWNED_COPIES_TABLE,
            DIFFER_TABLE,
        ] {
            assert!(is_reserved_column(table), "{table}");
        }
        for s in Setting::ALL {
            assert!(s.name().starts_with("pgbisync."), "{}", s.name());
        }
        assert!(is_reserved_column("_n") && is_reserved_column("_track") && !is_reserved_column("note"));
    }
}
