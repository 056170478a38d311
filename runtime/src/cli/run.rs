//! `pgbisync run`: forward then reverse, once or `--every` interval until interrupted. Ctrl-C or
//! SIGTERM during a pass lets the pass finish (each table commits or rolls back as a whole).
//! `--between` keeps passes inside business hours; SIGHUP or `pgbisync trigger` runs one now;
//! `--on-failure` tells the firm when a pass did not succeed.

use std::time::Duration;

use chrono::Local;
use tokio::time::Instant;
use tokio_postgres::Client;

use super::args::RunArgs;
use super::error::CommandError;
use super::monitor::Monitor;
use super::on_failure::FailureHook;
use super::schedule::{self, Now, Schedule};
use super::signal::stop_requested;
use super::sync::{finish_pass, options, take_lock, take_lock_listening};
use super::trigger::{Trigger, Triggers};
use super::{exit, Invocation};
use crate::engine::{Both, Connections, Observer, Silent, SyncOptions};
use crate::spec::{Direction, Side};

/// How long a wait may sleep before it reads the wall clock again: the window is on local time,
/// which can jump (daylight saving, a clock corrected, a laptop resumed).
const CLOCK_RECHECK: Duration = Duration::from_secs(60);

pub(super) async fn run(inv: &Invocation<'_>, args: &RunArgs) -> Result<i32, CommandError> {
    let options = options(inv, &Direction::BOTH, &args.sync)?;
    let hook = args.on_failure.clone().map(|command| FailureHook::new(inv.program, command));
    let Some(every) = args.every else {
        let result = once(inv, &options, hook.as_ref()).await;
        if let Some(hook) = &hook {
            hook.pass_finished(code_of(&result), result.as_ref().err().map(|e| e.to_string()).as_deref()).await;
        }
        return result;
    };
    // A usage error stops the command now; a server that is down does not: the loop waits for it.
    inv.url(Side::Desktop)?;
    inv.url(Side::Cloud)?;
    let schedule = Schedule::new(args.between.clone());
    let monitor = Monitor::new(inv, &options, every, schedule.clone());
    let mut triggers = Triggers::new();
    let mut session = Session::default();
    let started = session.prepare(inv, &mut triggers).await;
    if let Err(e @ CommandError::LockBusy { .. }) = started {
        return Err(e);
    }
    if let Some(addr) = args.listen {
        monitor.listen(inv, session.connections.as_mut(), addr).await?;
    }
    if !schedule.is_always() {
        tracing::info!(window = %schedule, "passes start only inside the schedule window (this machine's local time)");
    }
    let mut looping = Loop { inv, options: &options, every, schedule, monitor: &monitor, hook: hook.as_ref() };
    looping.repeat(session, started, triggers).await
}

/// One pass, for `run` without `--every`.
async fn once(inv: &Invocation<'_>, options: &SyncOptions, hook: Option<&FailureHook>) -> Result<i32, CommandError> {
    let _lock = take_lock(inv).await?;
    let mut connections = inv.open().await?;
    let watch: &dyn Observer = match hook {
        Some(hook) => hook,
        None => &Silent,
    };
    finish_pass(inv, &mut connections, &Direction::BOTH, options, watch).await.0
}

fn code_of(result: &Result<i32, CommandError>) -> i32 {
    match result {
        Ok(code) => *code,
        Err(e) => e.exit_code(),
    }
}

/// What a long run holds between passes: the run lock's session (which also hears `pgbisync
/// trigger`) and the two sync connections. Either is opened again when it was lost.
#[derive(Default)]
struct Session {
    lock: Option<Client>,
    connections: Option<Connections>,
}

impl Session {
    /// Takes the lock again if its session was lost, and opens the connections if they are not.
    /// Another run holding the lock is [`CommandError::LockBusy`]: this one must then stop.
    async fn prepare(&mut self, inv: &Invocation<'_>, triggers: &mut Triggers) -> Result<(), CommandError> {
        if self.lock.as_ref().is_none_or(Client::is_closed) {
            self.lock = None;
            let (client, notifications) = take_lock_listening(inv).await?;
            triggers.hear(notifications);
            self.lock = Some(client);
        }
        if self.connections.is_none() {
            self.connections = Some(inv.open().await?);
        }
        Ok(())
    }
}

/// Why a waiting run wakes up.
enum Wake {
    Due,
    Triggered(Trigger),
    Stop,
}

struct Loop<'a> {
    inv: &'a Invocation<'a>,
    options: &'a SyncOptions,
    every: Duration,
    schedule: Schedule,
    monitor: &'a Monitor,
    hook: Option<&'a FailureHook>,
}

impl Loop<'_> {
    async fn repeat(
        &mut self,
        mut session: Session,
        started: Result<(), CommandError>,
        mut triggers: Triggers,
    ) -> Result<i32, CommandError> {
        let mut last = exit::OK;
        let mut due = Instant::now();
        if let Err(e) = started {
            last = self.not_started(&e).await;
            due += self.every;
        }
        loop {
            match self.wait(due, &mut triggers).await {
                Wake::Stop => {
                    tracing::info!("stop requested between passes; exiting");
                    return Ok(last);
                }
                Wake::Due => {}
                Wake::Triggered(by) => tracing::info!(trigger = %by, "manual trigger: starting a pass now"),
            }
            match session.prepare(self.inv, &mut triggers).await {
                Ok(()) => {}
                Err(e @ CommandError::LockBusy { .. }) => return Err(e),
                Err(e) => {
                    last = self.not_started(&e).await;
                    due = Instant::now() + self.every;
                    continue;
                }
            }
            let connections = session.connections.as_mut().expect("prepared");
            self.monitor.pass_started();
            let watch: &dyn Observer = match self.hook {
                Some(hook) => hook,
                None => &Silent,
            };
            let both = Both(self.monitor, watch);
            let (result, interrupted) = finish_pass(self.inv, connections, &Direction::BOTH, self.options, &both).await;
            self.monitor.pass_finished(&result);
            last = code_of(&result);
            if let Err(e) = &result {
                self.inv.out.error(e);
            }
            if let Some(hook) = self.hook {
                hook.pass_finished(last, result.as_ref().err().map(|e| e.to_string()).as_deref()).await;
            }
            if interrupted {
                return Ok(last);
            }
            due = Instant::now() + self.every;
        }
    }

    /// A pass could not begin (a server is down, the lock's session could not be opened again).
    async fn not_started(&self, e: &CommandError) -> i32 {
        self.monitor.pass_not_started(e);
        self.inv.out.error_retrying(e, self.every);
        if let Some(hook) = self.hook {
            hook.pass_finished(e.exit_code(), Some(&e.to_string())).await;
        }
        e.exit_code()
    }

    /// Waits until `due` falls inside the schedule, a trigger arrives, or a stop is requested.
    async fn wait(&self, due: Instant, triggers: &mut Triggers) -> Wake {
        let stop = stop_requested();
        tokio::pin!(stop);
        let mut told = false;
        loop {
            let until_due = due.saturating_duration_since(Instant::now());
            let now = Local::now();
            let wait = match self.schedule.at(&now) {
                Now::Always | Now::Open { .. } => until_due,
                Now::Closed { opens } => {
                    if !told {
                        tracing::info!(
                            window = %self.schedule,
                            next_pass = %schedule::describe(&opens),
                            "outside the schedule window; waiting (a manual trigger runs a pass now)"
                        );
                        told = true;
                    }
                    until_due.max((opens - now).to_std().unwrap_or(Duration::from_secs(1)))
                }
            };
            if wait.is_zero() {
                return Wake::Due;
            }
            tokio::select! {
                _ = tokio::time::sleep(wait.min(CLOCK_RECHECK)) => {}
                by = triggers.next() => return Wake::Triggered(by),
                _ = &mut stop => return Wake::Stop,
            }
        }
    }
}
