//! One side's connection: who and where it is, whether it is encrypted, whether a pooler sits in
//! front of the server and in which mode, and the server's version and time zone.

use std::collections::HashSet;

use tokio_postgres::Client;

use super::{Area, Finding, Reached, Severity};
use crate::engine::connections::{self, connect};
use crate::program::Program;
use crate::spec::Side;

/// The oldest server pgbisync can run against: the run lock hashes its name with
/// `hashtextextended`, new in PostgreSQL 11.
const OLDEST_SERVER: i32 = 110000;

/// What the comparison of the two sides needs to know of each server.
pub struct Server {
    side: Side,
    version_num: i32,
    time_zone: String,
}

pub async fn examine(reached: &Reached<'_>) -> (Vec<Finding>, Option<Server>) {
    let side = reached.url.side;
    let facts = match reached
        .client
        .query_one(
            "SELECT current_setting('server_version'), current_setting('server_version_num')::int, \
             current_setting('TimeZone'), inet_server_port(), current_user::text, current_database()::text, \
             (SELECT s.ssl FROM pg_catalog.pg_stat_ssl s WHERE s.pid = pg_catalog.pg_backend_pid())",
            &[],
        )
        .await
    {
        Ok(row) => row,
        Err(e) => return (vec![Finding::unchecked(Area::Server, side, "the server's version and settings", &e)], None),
    };
    let (version, version_num, time_zone): (String, i32, String) = (facts.get(0), facts.get(1), facts.get(2));
    let (server_port, user, database): (Option<i32>, String, String) = (facts.get(3), facts.get(4), facts.get(5));
    let server_ssl: Option<bool> = facts.get(6);
    let address = connections::tcp_address(reached.url);
    let at = address.as_ref().map(|(h, p)| format!("{h}:{p}")).unwrap_or_else(|| "a Unix socket".into());
    let mut findings = vec![Finding::ok(
        Area::Connection,
        side,
        format!("connected as {user} to database {database} at {at}: PostgreSQL {version}, time zone {time_zone}"),
    )];
    if version_num < OLDEST_SERVER {
        findings.push(
            Finding::new(
                Severity::Problem,
                Area::Server,
                Some(side),
                format!(
                    "PostgreSQL {version} is older than 11, the oldest pgbisync runs against (its tests run on 15)"
                ),
            )
            .fix("upgrade the server to PostgreSQL 11 or later (15 is what pgbisync is tested on)"),
        );
    }
    let pooling = pooling(reached, address.as_ref(), server_port).await;
    findings.push(pooling.finding(side));
    findings.push(tls(reached, address.as_ref(), server_ssl, &pooling));
    (findings, Some(Server { side, version_num, time_zone }))
}

/// How long the pooler probe waits between its statements.
const POOLER_SETTLES: std::time::Duration = std::time::Duration::from_millis(50);

/// What stands between pgbisync and the server.
enum Pooling {
    Direct,
    /// A pooler in session mode, or a proxy: the server listens elsewhere than the URL says.
    SessionOrProxy(String),
    /// Consecutive transactions of one session may run on different server connections.
    Transaction(String),
}

/// Two sessions that see the same server backend, or one session that sees two, are pooled per
/// transaction (PgBouncer hands a released server connection to the next client that asks). A
/// server that listens on another port than the URL names is behind a pooler or proxy. Supabase's
/// pooler says its mode by its port.
async fn pooling(reached: &Reached<'_>, address: Option<&(String, u16)>, server_port: Option<i32>) -> Pooling {
    let mut shared = false;
    if let Ok(second) = connect(reached.url).await {
        let (mut mine, mut theirs) = (HashSet::new(), HashSet::new());
        for _ in 0..4 {
            // The pause lets the pooler put the server connection back in its idle list; asked at
            // once, a busy pooler may open another server connection instead of reusing it.
            let Some(a) = backend(reached.client).await else { break };
            tokio::time::sleep(POOLER_SETTLES).await;
            let Some(b) = backend(&second).await else { break };
            tokio::time::sleep(POOLER_SETTLES).await;
            mine.insert(a);
            theirs.insert(b);
        }
        shared = mine.len() > 1 || theirs.len() > 1 || !mine.is_disjoint(&theirs);
    }
    let Some((host, port)) = address else { return Pooling::Direct };
    let supabase = host.ends_with(".pooler.supabase.com");
    if shared || (supabase && *port == 6543) {
        let how = if shared {
            "two sessions were served by the same server backend".to_string()
        } else {
            "Supabase's pooler on port 6543 pools per transaction".to_string()
        };
        return Pooling::Transaction(how);
    }
    match server_port {
        Some(listening) if listening != *port as i32 => Pooling::SessionOrProxy(format!(
            "the server listens on port {listening} and the URL names {port}{}",
            if supabase { " (Supabase's pooler in session mode)" } else { "" }
        )),
        _ if supabase => Pooling::SessionOrProxy("Supabase's pooler on port 5432 pools per session".into()),
        _ => Pooling::Direct,
    }
}

async fn backend(client: &Client) -> Option<i32> {
    client.query_one("SELECT pg_catalog.pg_backend_pid()", &[]).await.ok().map(|r| r.get(0))
}

impl Pooling {
    fn finding(&self, side: Side) -> Finding {
        match self {
            Pooling::Direct => Finding::ok(Area::Pooler, side, "no pooler: the URL reaches the server itself"),
            Pooling::SessionOrProxy(how) if side == Side::Desktop => Finding::new(
                Severity::Warning,
                Area::Pooler,
                Some(side),
                format!(
                    "a pooler or proxy ({how}), not seen pooling per transaction: the run lock and `pgbisync trigger` \
                     need it to keep one server session per client"
                ),
            )
            .fix("connect pgbisync to the desktop server directly, or make sure the pool is in session mode"),
            Pooling::SessionOrProxy(how) => {
                Finding::ok(Area::Pooler, side, format!("a pooler in session mode or a proxy ({how}): fine for pgbisync"))
            }
            Pooling::Transaction(how) if side == Side::Desktop => Finding::new(
                Severity::Problem,
                Area::Pooler,
                Some(side),
                format!(
                    "a pooler in transaction mode ({how}): the run lock (a session advisory lock) and `pgbisync \
                     trigger` (LISTEN) need one session for the whole run, so two runs could overlap and triggers be lost"
                ),
            )
            .fix("connect pgbisync to the desktop server directly (it runs beside it), or through a session-mode pool"),
            Pooling::Transaction(how) => Finding::ok(
                Area::Pooler,
                side,
                format!(
                    "a pooler in transaction mode ({how}): fine on the cloud, where pgbisync keeps no session state \
                     and no prepared statement outlives its transaction"
                ),
            ),
        }
    }
}

/// Whether the link is encrypted and checked. `pg_stat_ssl` sees the server's own link, which
/// behind a pooler is the pooler's, so then only the URL's `sslmode` can vouch for pgbisync's leg.
fn tls(reached: &Reached<'_>, address: Option<&(String, u16)>, server_ssl: Option<bool>, pooling: &Pooling) -> Finding {
    let local = address.is_none_or(|(host, _)| is_loopback(host));
    let seen = if matches!(pooling, Pooling::Direct) { server_ssl } else { None };
    tls_finding(reached.url.side, connections::sslmode(reached.url), local, seen)
}

/// `seen`: whether the server says this link is encrypted, when it can tell.
fn tls_finding(side: Side, sslmode: &str, local: bool, seen: Option<bool>) -> Finding {
    let fix = "add sslmode=require to the URL (or sslmode=verify-full, which also checks the certificate against \
               the public roots)";
    match (sslmode, seen) {
        ("verify-full", _) => Finding::ok(Area::Tls, side, "encrypted, the certificate and host name checked (sslmode=verify-full)"),
        ("require", _) => Finding::ok(
            Area::Tls,
            side,
            "encrypted (sslmode=require); the certificate is not checked (sslmode=verify-full checks it against the public roots)",
        ),
        (_, _) if local => Finding::ok(Area::Tls, side, "not required: the server is on this machine (loopback or socket)"),
        ("prefer", Some(true)) => Finding::new(
            Severity::Warning,
            Area::Tls,
            Some(side),
            "encrypted now, but only preferred (no sslmode in the URL): a server or a man in the middle that \
             stops offering TLS would be used in clear",
        )
        .fix(fix),
        ("prefer", None) => Finding::new(
            Severity::Warning,
            Area::Tls,
            Some(side),
            "TLS is only preferred (no sslmode in the URL), and behind a pooler the server cannot say whether \
             this link is encrypted",
        )
        .fix(fix),
        (mode, _) => Finding::new(
            Severity::Problem,
            Area::Tls,
            Some(side),
            format!("not encrypted (sslmode={mode}) over the network: rows and the password travel in clear"),
        )
        .fix(fix),
    }
}

fn is_loopback(host: &str) -> bool {
    host == "localhost" || host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// What compares the two servers: their versions and time zones. A `timestamp without time zone`
/// value is copied as written, so when the zones differ the cloud holds the desktop's wall-clock
/// time, not an instant.
pub fn compare(program: &Program, servers: &[Server]) -> Vec<Finding> {
    let [a, b] = servers else { return Vec::new() };
    let (desktop, cloud) = if a.side == Side::Desktop { (a, b) } else { (b, a) };
    let mut findings = Vec::new();
    if desktop.version_num / 10000 != cloud.version_num / 10000 {
        findings.push(Finding::new(
            Severity::Ok,
            Area::Server,
            None,
            format!(
                "the servers run different major versions ({} on the desktop, {} in the cloud): fine, pgbisync uses \
                 what both have",
                desktop.version_num / 10000,
                cloud.version_num / 10000
            ),
        ));
    }
    if desktop.time_zone == cloud.time_zone {
        return findings;
    }
    let mut local_times: Vec<String> = Vec::new();
    for spec in program.tables.iter().map(|t| t.spec()) {
        for c in spec.source.columns.iter().filter(|c| c.sql_type == "timestamp without time zone") {
            let name = format!("{}.{}", spec.source.name, c.name);
            if !local_times.contains(&name) {
                local_times.push(name);
            }
        }
    }
    let zones = format!("the desktop's time zone is {}, the cloud's {}", desktop.time_zone, cloud.time_zone);
    findings.push(if local_times.is_empty() {
        Finding::new(Severity::Ok, Area::Server, None, format!("{zones}: fine, every synced time carries its zone"))
    } else {
        Finding::new(
            Severity::Warning,
            Area::Server,
            None,
            format!(
                "{zones}, and {} hold `timestamp without time zone`: they are copied as written, so the cloud holds \
                 the desktop's wall-clock time ({}), not an instant",
                local_times.join(", "),
                desktop.time_zone
            ),
        )
        .fix(format!(
            "have the mobile app read these columns as {} local time, or make them timestamptz on both sides",
            desktop.time_zone
        ))
    });
    findings
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tls_is_judged_by_the_mode_asked_for_the_link_seen_and_where_the_server_is() {
        let judge = |mode, local, seen| tls_finding(Side::Cloud, mode, local, seen).severity;
        assert_eq!(judge("verify-full", false, None), Severity::Ok);
        assert_eq!(judge("require", false, None), Severity::Ok);
        assert_eq!(judge("disable", true, Some(false)), Severity::Ok, "loopback needs no TLS");
        assert_eq!(judge("prefer", false, Some(true)), Severity::Warning, "a downgrade would go unnoticed");
        assert_eq!(judge("prefer", false, None), Severity::Warning, "behind a pooler it cannot be seen");
        assert_eq!(judge("prefer", false, Some(false)), Severity::Problem);
        assert_eq!(judge("disable", false, None), Severity::Problem);
        assert!(tls_finding(Side::Cloud, "disable", false, None).fix.unwrap().contains("sslmode=require"));
    }

    #[test]
    fn loopback_hosts_are_recognised() {
        assert!(is_loopback("localhost") && is_loopback("127.0.0.1") && is_loopback("::1"));
        assert!(!is_loopback("db.example.com") && !is_loopback("10.0.0.5"));
    }
}
