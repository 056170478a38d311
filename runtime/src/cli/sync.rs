//! `pgbisync forward` and `reverse`, and the single pass `run` repeats: check the options, take the
//! run lock, connect, sync through the engine, print what it did.

use tokio_postgres::Client;

use super::args::SyncArgs;
use super::error::CommandError;
use super::output::{Output, SyncProgress};
use super::signal::stop_requested;
use super::{exit, Invocation};
use crate::engine::lock::{self, Lock};
use crate::engine::trigger;
use crate::engine::{
    self, connect, connect_listening, Both, Connections, Notifications, Observer, RunReport, Silent, SyncOptions,
};
use crate::program::Program;
use crate::spec::{Direction, Side};

pub(super) async fn run(inv: &Invocation<'_>, directions: &[Direction], args: &SyncArgs) -> Result<i32, CommandError> {
    let options = options(inv, directions, args)?;
    let _lock = take_lock(inv).await?;
    let mut connections = inv.open().await?;
    finish_pass(inv, &mut connections, directions, &options, &Silent).await.0
}

/// Runs one pass; a stop requested meanwhile (Ctrl-C, SIGTERM) ends it after the table in hand,
/// which commits or rolls back whole and is recorded. Whether one was requested. `watch` is told
/// what each table did, besides the output.
pub(super) async fn finish_pass(
    inv: &Invocation<'_>,
    connections: &mut Connections,
    directions: &[Direction],
    options: &SyncOptions,
    watch: &dyn Observer,
) -> (Result<i32, CommandError>, bool) {
    let pass = pass(inv.program, inv.out, connections, directions, options, watch);
    tokio::pin!(pass);
    let mut interrupted = false;
    loop {
        tokio::select! {
            r = &mut pass => return (r, interrupted),
            _ = stop_requested(), if !interrupted => {
                interrupted = true;
                if let Some(stop) = &options.stop {
                    stop.store(true, std::sync::atomic::Ordering::SeqCst);
                }
                tracing::warn!("stop requested: finishing the table in hand, then exiting");
            }
        }
    }
}

/// Checks the configuration before anything connects, so a usage error exits 2 whatever the network.
pub(super) fn options(
    inv: &Invocation<'_>,
    directions: &[Direction],
    args: &SyncArgs,
) -> Result<SyncOptions, CommandError> {
    engine::check_tables(inv.program, directions, &args.tables)?;
    let tenant = inv.tenant()?;
    Ok(SyncOptions {
        full: args.full,
        tables: args.tables.clone(),
        dry_run: args.dry_run,
        tenant,
        allow_mass_delete: args.allow_mass_delete,
        lock_timeout: Some(args.lock_timeout),
        table_timeout: Some(args.table_timeout),
        stop: Some(std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false))),
    })
}

/// Takes the run lock on its own desktop connection; the lock lasts as long as the returned client.
pub(super) async fn take_lock(inv: &Invocation<'_>) -> Result<Client, CommandError> {
    let client = connect(&inv.url(Side::Desktop)?).await?;
    match lock::acquire(client).await.map_err(CommandError::Lock)? {
        Lock::Held(client) => Ok(client),
        Lock::Busy { holder } => Err(CommandError::LockBusy { holder }),
    }
}

/// [`take_lock`], with the lock's session listening for `pgbisync trigger`: from before the lock is
/// taken, as a trigger is sent only once a run is seen to hold the lock.
pub(super) async fn take_lock_listening(inv: &Invocation<'_>) -> Result<(Client, Notifications), CommandError> {
    let (client, notifications) = connect_listening(&inv.url(Side::Desktop)?).await?;
    trigger::listen(&client).await.map_err(CommandError::on(Side::Desktop))?;
    match lock::acquire(client).await.map_err(CommandError::Lock)? {
        Lock::Held(client) => Ok((client, notifications)),
        Lock::Busy { holder } => Err(CommandError::LockBusy { holder }),
    }
}

/// One sync pass, printed; its exit code.
pub(super) async fn pass(
    program: &Program,
    out: Output,
    connections: &mut Connections,
    directions: &[Direction],
    options: &SyncOptions,
    watch: &dyn Observer,
) -> Result<i32, CommandError> {
    let progress = SyncProgress::new(out);
    let run = engine::sync(program, connections, directions, options, &Both(&progress, watch)).await?;
    let code = exit_code(&run);
    out.sync_finished(&run, options.dry_run, code);
    Ok(code)
}

/// 0 when every table synced, 1 when any was partial or failed.
/// 0 when every table synced, 3 when a table failed because a server was lost (the documented code
/// for "cannot connect"), else 1.
pub fn exit_code(run: &RunReport) -> i32 {
    if run.all_ok() {
        exit::OK
    } else if run.tables().any(|t| t.unavailable) || run.deletes().any(|d| d.unavailable) {
        exit::UNAVAILABLE
    } else {
        exit::PARTIAL
    }
}
