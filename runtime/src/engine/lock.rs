//! Two runs against the same databases never overlap: each run holds a session advisory lock on the
//! desktop database (every run starts there) for its whole duration.

use tokio_postgres::Client;

/// The lock key: a hash of a fixed name, so every pgbisync build agrees on it.
const KEY_SQL: &str = "hashtextextended('pgbisync run', 0)";

pub enum Lock {
    Held(Client),
    /// Another session holds it; its pid when visible.
    Busy {
        holder: Option<i32>,
    },
}

/// How long a run waits for the lock before saying another run holds it: a run that has just ended
/// keeps it until its server session notices the closed connection, a few milliseconds later.
const GRACE: std::time::Duration = std::time::Duration::from_secs(2);

/// Tries to take the run lock on a dedicated connection; dropping the returned client releases it.
pub async fn acquire(client: Client) -> Result<Lock, tokio_postgres::Error> {
    let deadline = std::time::Instant::now() + GRACE;
    loop {
        let got: bool = client.query_one(&format!("SELECT pg_try_advisory_lock({KEY_SQL})"), &[]).await?.get(0);
        if got {
            return Ok(Lock::Held(client));
        }
        if std::time::Instant::now() >= deadline {
            return Ok(Lock::Busy { holder: holder(&client).await? });
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// The pid of the session holding the run lock, as a scalar subquery.
pub(crate) fn holder_sql() -> String {
    format!(
        "SELECT l.pid FROM pg_locks l WHERE l.locktype = 'advisory' AND l.granted \
         AND ((l.classid::bigint << 32) | l.objid::bigint) = {KEY_SQL} LIMIT 1"
    )
}

/// The pid of the session holding the run lock, when one does and this role can see it.
pub async fn holder(client: &Client) -> Result<Option<i32>, tokio_postgres::Error> {
    let row = client.query_opt(&holder_sql(), &[]).await?;
    Ok(row.map(|r| r.get(0)))
}
