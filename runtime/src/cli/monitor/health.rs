//! `/healthz`: healthy when the latest pass succeeded (every table ok, nothing set aside or held) and
//! finished recently enough that the next one is not overdue, so a probe or a load balancer sees a run
//! that stopped syncing, fails, or hangs in a pass.

use std::time::{Duration, Instant};

use chrono::{DateTime, TimeZone};

use super::super::schedule::{self, Now, Schedule};
use super::Passes;

/// Where the moment of a probe falls in `--between`'s schedule: a run waiting for its window to
/// open is not overdue, and a window that just opened gives the run an interval to catch up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Window {
    Always,
    /// Open for this long already.
    OpenFor(Duration),
    /// Closed; when (local time) the next opens.
    Closed {
        opens: String,
    },
}

impl Window {
    pub(super) fn of<Tz: TimeZone>(schedule: &Schedule, now: &DateTime<Tz>) -> Window
    where
        Tz::Offset: Copy + std::fmt::Display,
    {
        match schedule.at(now) {
            Now::Always => Window::Always,
            Now::Open { since } => Window::OpenFor((*now - since).to_std().unwrap_or_default()),
            Now::Closed { opens } => Window::Closed { opens: schedule::describe(&opens) },
        }
    }
}

/// Slack on top of two intervals and a pass's duration before a pass counts as overdue (a pass slower
/// than the last, a slow reconnect).
const GRACE: Duration = Duration::from_secs(30);

/// Whether the run is healthy at `now`, and why (or why not) in one line.
pub(super) fn judge(passes: &Passes, every: Duration, now: Instant, window: Window) -> (bool, String) {
    let running = passes
        .running_since
        .map(|s| format!("; a pass has been running for {} s", now.saturating_duration_since(s).as_secs()))
        .unwrap_or_default();
    let Some(last) = &passes.last else {
        // Not vouched for yet: a service installed in the evening with a wrong password would
        // otherwise look healthy all night. A manual trigger checks it at once.
        if let Window::Closed { opens } = &window {
            return (
                false,
                format!(
                    "not yet checked: outside the schedule window and no pass has run; the next starts {opens} \
                     (`pgbisync trigger` runs one now){running}"
                ),
            );
        }
        return (false, format!("starting: no pass finished yet{running}"));
    };
    let ago = now.saturating_duration_since(last.finished).as_secs();
    if let Some(reason) = &last.failure {
        return (false, format!("{reason} ({ago} s ago){running}"));
    }
    let limit = every * 2 + last.took + GRACE;
    let open_long_enough = match &window {
        Window::Always => true,
        Window::OpenFor(open) => *open > limit,
        Window::Closed { opens } => {
            return (
                true,
                format!("ok: last pass succeeded {ago} s ago; outside the schedule window, the next starts {opens}"),
            );
        }
    };
    if now.saturating_duration_since(last.finished) > limit && open_long_enough {
        return (
            false,
            format!(
                "last successful pass {ago} s ago, more than the {} s allowed (twice --every, plus the pass's {} s, plus {} s){running}",
                limit.as_secs(),
                last.took.as_secs(),
                GRACE.as_secs()
            ),
        );
    }
    (true, format!("ok: last pass succeeded {ago} s ago"))
}

#[cfg(test)]
mod tests {
    use super::super::PassOutcome;
    use super::*;

    fn passes(finished: Instant, took: Duration, failure: Option<&str>) -> Passes {
        Passes {
            last: Some(PassOutcome {
                finished,
                finished_at: chrono::Utc::now(),
                took,
                failure: failure.map(str::to_string),
            }),
            ..Passes::default()
        }
    }

    #[test]
    fn before_the_first_pass_the_run_is_starting() {
        let now = Instant::now();
        let (healthy, reason) = judge(&Passes::default(), Duration::from_secs(60), now, Window::Always);
        assert!(!healthy);
        assert_eq!(reason, "starting: no pass finished yet");
    }

    #[test]
    fn a_recent_successful_pass_is_healthy_and_an_overdue_one_is_not() {
        let start = Instant::now();
        let every = Duration::from_secs(60);
        let p = passes(start, Duration::from_secs(10), None);
        assert!(judge(&p, every, start + Duration::from_secs(150), Window::Always).0, "within 2 x 60 + 10 + 30 s");
        let (healthy, reason) = judge(&p, every, start + Duration::from_secs(170), Window::Always);
        assert!(!healthy);
        assert!(reason.starts_with("last successful pass 170 s ago, more than the 160 s allowed"), "{reason}");
    }

    #[test]
    fn a_failed_pass_is_unhealthy_with_its_reason() {
        let start = Instant::now();
        let p = passes(start, Duration::from_secs(1), Some("last pass failed: cannot connect to the cloud database"));
        let (healthy, reason) = judge(&p, Duration::from_secs(60), start + Duration::from_secs(5), Window::Always);
        assert!(!healthy);
        assert_eq!(reason, "last pass failed: cannot connect to the cloud database (5 s ago)");
    }

    #[test]
    fn a_run_waiting_for_its_window_after_a_good_pass_is_healthy_and_one_that_just_opened_has_time_to_catch_up() {
        let start = Instant::now();
        let every = Duration::from_secs(60);
        let p = passes(start, Duration::from_secs(10), None);
        let night = start + Duration::from_secs(12 * 3600);
        let closed = Window::Closed { opens: "Fri 2026-12-04 08:00".into() };
        let (healthy, reason) = judge(&p, every, night, closed.clone());
        assert!(healthy, "{reason}");
        assert!(reason.ends_with("the next starts Fri 2026-12-04 08:00"), "{reason}");
        assert!(judge(&p, every, night, Window::OpenFor(Duration::from_secs(30))).0, "the window opened 30 s ago");
        assert!(!judge(&p, every, night, Window::OpenFor(Duration::from_secs(600))).0, "open 10 min and no pass");
        let (healthy, reason) = judge(&Passes::default(), every, night, closed);
        assert!(!healthy && reason.starts_with("not yet checked"), "no pass has vouched for it yet: {reason}");
        let failed = passes(start, Duration::from_secs(1), Some("last pass failed: x"));
        let (healthy, _) = judge(&failed, every, night, Window::Closed { opens: "later".into() });
        assert!(!healthy, "a failure stays visible all night");
    }
}
