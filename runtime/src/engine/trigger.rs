//! The manual trigger: `pgbisync trigger`, from any process or machine that can reach the desktop
//! database, asks a waiting `run --every` for a pass now. It is a `NOTIFY` on the desktop database,
//! which the run `LISTEN`s to on the session that holds its run lock, so it works wherever
//! PostgreSQL does (Windows included, where there is no SIGHUP) and needs no port of its own.

use tokio_postgres::Client;

use super::lock;
use super::names::ident;

/// The channel a run listens on.
pub const CHANNEL: &str = "pgbisync_trigger";

/// Starts listening on the run lock's session (again, after that session was replaced).
pub async fn listen(lock_session: &Client) -> Result<(), tokio_postgres::Error> {
    lock_session.batch_execute(&format!("LISTEN {}", ident(CHANNEL))).await
}

/// Sends the trigger, saying who asked; the pid of the run that holds the lock and will act on it,
/// `None` when no run is going (the trigger is then lost: nothing queues it). The holder is asked
/// first: a run listens before it takes the lock, so one seen holding it hears what follows, where
/// a trigger sent first could reach a run just starting before it listened, and then see it hold
/// the lock (a lost trigger reported as received).
pub async fn send(client: &Client, requested_by: &str) -> Result<Option<i32>, tokio_postgres::Error> {
    let holder = lock::holder(client).await?;
    client.execute("SELECT pg_notify($1, $2)", &[&CHANNEL, &requested_by]).await?;
    Ok(holder)
}
