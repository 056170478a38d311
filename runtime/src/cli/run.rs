//! `pgbisync run`: forward then reverse, once or `--every` interval until interrupted. Ctrl-C or
//! SIGTERM during a pass lets the pass finish (each table commits or rolls back as a whole).

use std::time::Duration;

use super::args::RunArgs;
use super::error::CommandError;
use super::monitor::Monitor;
use super::signal::stop_requested;
use super::sync::{finish_pass, options, take_lock};
use super::Invocation;
use crate::engine::{Connections, Silent, SyncOptions};
use crate::spec::Direction;

pub(super) async fn run(inv: &Invocation<'_>, args: &RunArgs) -> Result<i32, CommandError> {
    let options = options(inv, &Direction::BOTH, &args.sync)?;
    let lock = take_lock(inv).await?;
    let mut connections = inv.open().await?;
    match args.every {
        None => finish_pass(inv, &mut connections, &Direction::BOTH, &options, &Silent).await.0,
        Some(every) => {
            let monitor = Monitor::new(inv, &options, every);
            if let Some(addr) = args.listen {
                monitor.listen(inv, &mut connections, addr).await?;
            }
            repeat(inv, lock, &mut connections, &options, every, &monitor).await
        }
    }
}

async fn repeat(
    inv: &Invocation<'_>,
    mut lock: tokio_postgres::Client,
    connections: &mut Connections,
    options: &SyncOptions,
    every: Duration,
    monitor: &Monitor,
) -> Result<i32, CommandError> {
    loop {
        // The lock lives as long as its session: if the desktop dropped it between passes, take it
        // again before the next pass, or stop if another run took it meanwhile.
        if lock.is_closed() {
            match take_lock(inv).await {
                Ok(client) => lock = client,
                Err(e @ CommandError::LockBusy { .. }) => return Err(e),
                Err(e) => {
                    monitor.pass_not_started(&e);
                    inv.out.error_retrying(&e, every);
                    tokio::select! {
                        _ = tokio::time::sleep(every) => continue,
                        _ = stop_requested() => return Ok(e.exit_code()),
                    }
                }
            }
        }
        monitor.pass_started();
        let (result, interrupted) = finish_pass(inv, connections, &Direction::BOTH, options, monitor).await;
        monitor.pass_finished(&result);
        let last = match result {
            Ok(code) => code,
            Err(e) => {
                inv.out.error(&e);
                e.exit_code()
            }
        };
        if interrupted {
            return Ok(last);
        }
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = stop_requested() => {
                tracing::info!("stop requested between passes; exiting");
                return Ok(last);
            }
        }
    }
}
