//! The manual trigger, both ends: `pgbisync trigger` asks a running `run --every` for a pass now,
//! and [`Triggers`] is what that run waits on besides its interval: SIGHUP (Unix; `systemctl reload`)
//! and the trigger's `NOTIFY` on the desktop database (every platform, from any process or machine).

use super::error::CommandError;
use super::{exit, Invocation};
use crate::engine::{connect, trigger, Notifications};
use crate::spec::Side;

/// `pgbisync trigger`: exit 0 when a run holds the lock and so receives the trigger, 3 when none does.
pub(super) async fn run(inv: &Invocation<'_>) -> Result<i32, CommandError> {
    let client = connect(&inv.url(Side::Desktop)?).await?;
    let requested_by = format!("pgbisync trigger (pid {})", std::process::id());
    let holder = trigger::send(&client, &requested_by).await.map_err(CommandError::on(Side::Desktop))?;
    inv.out.triggered(holder);
    Ok(if holder.is_some() { exit::OK } else { exit::UNAVAILABLE })
}

/// Why a waiting run starts a pass before its interval is up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Trigger {
    /// SIGHUP, which Windows has no equivalent of (`pgbisync trigger` serves there).
    #[cfg_attr(not(unix), allow(dead_code))]
    Hangup,
    Notified {
        by: String,
    },
}

impl std::fmt::Display for Trigger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Trigger::Hangup => f.write_str("SIGHUP"),
            Trigger::Notified { by } if by.is_empty() => f.write_str("a NOTIFY on the desktop database"),
            Trigger::Notified { by } => write!(f, "{by}, through the desktop database"),
        }
    }
}

/// The manual triggers a run reacts to. Triggers that arrive during a pass are kept, so the run
/// starts one more pass right after it: what changed before the trigger is then synced for sure.
pub(super) struct Triggers {
    #[cfg(unix)]
    hangup: Option<tokio::signal::unix::Signal>,
    notified: Option<Notifications>,
}

impl Triggers {
    /// Installs the SIGHUP handler now, before the first pass: a SIGHUP's default is to end the process.
    pub(super) fn new() -> Triggers {
        Triggers {
            #[cfg(unix)]
            hangup: match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) {
                Ok(s) => Some(s),
                Err(e) => {
                    tracing::warn!(error = %e, "cannot listen for SIGHUP; use `pgbisync trigger` for a pass now");
                    None
                }
            },
            notified: None,
        }
    }

    /// Hears `pgbisync trigger` through the run lock's session, which listens (again, after the
    /// session was replaced).
    pub(super) fn hear(&mut self, notifications: Notifications) {
        self.notified = Some(notifications);
    }

    /// The next trigger; pending forever when there is no source left. Every other trigger already
    /// waiting is taken with it: one pass answers them all.
    pub(super) async fn next(&mut self) -> Trigger {
        let first = self.recv().await;
        if let Some(rx) = &mut self.notified {
            while rx.try_recv().is_ok() {}
        }
        first
    }

    async fn recv(&mut self) -> Trigger {
        let notified = &mut self.notified;
        #[cfg(unix)]
        let hangup = &mut self.hangup;
        #[cfg(unix)]
        let hangup = async {
            match hangup {
                Some(s) => match s.recv().await {
                    Some(()) => Trigger::Hangup,
                    None => std::future::pending().await,
                },
                None => std::future::pending().await,
            }
        };
        #[cfg(not(unix))]
        let hangup = std::future::pending::<Trigger>();
        let notified = async {
            match notified {
                Some(rx) => match rx.recv().await {
                    Some(n) => Trigger::Notified { by: n.payload().to_string() },
                    // The lock session closed; the run takes the lock again and listens anew.
                    None => std::future::pending().await,
                },
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            t = hangup => t,
            t = notified => t,
        }
    }
}
