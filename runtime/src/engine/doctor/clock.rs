//! The two servers' clocks, each measured against this machine's. The sync itself never compares
//! them (each watermark comes from its source's own clock), but the lag `status` and `/metrics`
//! report, and any time the mobile app compares with the desktop's, are off by their difference.

use std::time::{Instant, SystemTime, UNIX_EPOCH};

use chrono::{DateTime, Utc};
use tokio_postgres::Client;

use super::{Area, Finding, Severity};
use crate::spec::Side;

/// A difference larger than this is worth fixing.
const TOLERATED_SECONDS: f64 = 2.0;

/// A server clock's offset from this machine's, in seconds, and how precisely it is known (half
/// the best round trip of a few tries).
struct Offset {
    seconds: f64,
    within: f64,
}

async fn offset(client: &Client) -> Result<Offset, tokio_postgres::Error> {
    let mut best: Option<Offset> = None;
    for _ in 0..3 {
        let (sent, started) = (SystemTime::now(), Instant::now());
        let server: DateTime<Utc> = client.query_one("SELECT pg_catalog.clock_timestamp()", &[]).await?.get(0);
        let half_trip = started.elapsed().as_secs_f64() / 2.0;
        let local_midpoint = sent.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs_f64() + half_trip;
        let seconds = server.timestamp_micros() as f64 / 1e6 - local_midpoint;
        if best.as_ref().is_none_or(|b| half_trip < b.within) {
            best = Some(Offset { seconds, within: half_trip });
        }
    }
    Ok(best.expect("three tries were made"))
}

pub async fn examine(sides: &[(Side, &Client)]) -> Vec<Finding> {
    let mut findings = Vec::new();
    let mut offsets = Vec::new();
    for (side, client) in sides {
        match offset(client).await {
            Ok(o) => offsets.push((*side, o)),
            Err(e) => findings.push(Finding::unchecked(Area::Clock, *side, "the server's clock", &e)),
        }
    }
    let [(_, a), (_, b)] = &offsets[..] else { return findings };
    let (desktop, cloud) = if offsets[0].0 == Side::Desktop { (a, b) } else { (b, a) };
    findings.push(judge(desktop, cloud));
    findings
}

fn judge(desktop: &Offset, cloud: &Offset) -> Finding {
    let skew = cloud.seconds - desktop.seconds;
    let within = cloud.within + desktop.within;
    let measured = format!(
        "the cloud's clock is {:.3} s {} the desktop's (± {:.3} s; this machine's is {:.3} s {} the desktop's)",
        skew.abs(),
        if skew >= 0.0 { "ahead of" } else { "behind" },
        within,
        desktop.seconds.abs(),
        if desktop.seconds <= 0.0 { "ahead of" } else { "behind" },
    );
    if skew.abs() - within > TOLERATED_SECONDS {
        Finding::new(
            Severity::Warning,
            Area::Clock,
            None,
            format!(
                "{measured}: the sync is unaffected (each watermark comes from its source's clock), but the lag in \
                 status and /metrics, and times the app compares across the two, are off by that much"
            ),
        )
        .fix("turn on time synchronisation on the server whose clock is off (timedatectl set-ntp true; on Windows w32tm /resync)")
    } else {
        Finding::new(Severity::Ok, Area::Clock, None, measured)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_difference_beyond_the_tolerance_and_the_measuring_error_is_a_warning() {
        let at = |seconds, within| Offset { seconds, within };
        let ahead = judge(&at(0.01, 0.001), &at(10.0, 0.002));
        assert_eq!(ahead.severity, Severity::Warning);
        assert!(
            ahead.message.starts_with("the cloud's clock is 9.990 s ahead of the desktop's (± 0.003 s"),
            "{}",
            ahead.message
        );
        assert!(ahead.fix.is_some());
        let behind = judge(&at(0.0, 0.0), &at(-3.0, 0.1));
        assert_eq!(behind.severity, Severity::Warning);
        assert!(behind.message.contains("3.000 s behind the desktop's"), "{}", behind.message);
        // 2.5 s apart, but measured to within a second either way: not known to exceed 2 s.
        assert_eq!(judge(&at(0.0, 0.5), &at(2.5, 0.5)).severity, Severity::Ok);
        assert_eq!(judge(&at(0.3, 0.001), &at(0.2, 0.001)).severity, Severity::Ok);
    }
}
