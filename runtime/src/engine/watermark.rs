//! The incremental mechanism. A run reads rows whose tracking value is at or after the stored
//! watermark (plus rows with no tracking value), and afterwards stores a new watermark taken from the
//! *source's* clock before the read began:
//!
//!   horizon = least(clock_timestamp(), start of the oldest transaction open on the source) - lookback
//!
//! A row the read's snapshot cannot see belongs to a transaction still open when the snapshot was
//! taken; that transaction started at or after the horizon's "oldest open transaction", so its rows
//! (stamped with its `now()`, which is its start time) carry a tracking value at or after the
//! horizon, and the next run reads them. Equal timestamps are harmless (the comparison is `>=` and
//! the read is one snapshot, not pages), clocks of the two servers never meet (both values come from
//! the source), and re-reading a row is idempotent (writes compare before writing). The lookback
//! covers writers whose transactions this role cannot see in `pg_stat_activity`.

use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio_postgres::types::Type;
use tokio_postgres::Client;

pub struct Horizon {
    /// The watermark the next run starts from if this run commits.
    pub watermark: DateTime<Utc>,
}

/// The sessions are read with the statistics function, not the `pg_stat_activity` view, whose
/// joins cost more to plan than the rest of an unchanged table's run.
pub async fn horizon(source: &Client, lookback: Duration) -> Result<Horizon, tokio_postgres::Error> {
    let row = source
        .query_typed_one(
            "SELECT LEAST(clock_timestamp(), (SELECT min(a.xact_start) FROM pg_catalog.pg_stat_get_activity(NULL) a \
             WHERE a.datid = (SELECT d.oid FROM pg_catalog.pg_database d WHERE d.datname = current_database()) \
             AND a.pid <> pg_backend_pid() AND a.xact_start IS NOT NULL \
             AND a.backend_type = 'client backend')) - make_interval(secs => $1)",
            &[(&lookback.as_secs_f64(), Type::FLOAT8)],
        )
        .await?;
    Ok(Horizon { watermark: row.get(0) })
}
