//! Opening connections: libpq-style URLs, TLS by `sslmode`, and errors that never show a password;
//! and the two connections of a run.

use std::time::Duration;

use futures_util::StreamExt;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::mpsc::UnboundedSender;
use tokio_postgres::{AsyncMessage, Client, Connection, NoTls, Notification};

use crate::config::ConnectionUrl;
use crate::spec::Direction;

/// The two open connections of a run, reopened when a transient failure closed one.
pub struct Connections {
    pub desktop_url: ConnectionUrl,
    pub cloud_url: ConnectionUrl,
    pub desktop: Client,
    pub cloud: Client,
}

impl Connections {
    pub async fn open(desktop_url: ConnectionUrl, cloud_url: ConnectionUrl) -> Result<Self, ConnectError> {
        let desktop = connect(&desktop_url).await?;
        let cloud = connect(&cloud_url).await?;
        Ok(Connections { desktop_url, cloud_url, desktop, cloud })
    }

    pub(crate) async fn reopen_closed(&mut self) -> Result<(), ConnectError> {
        if self.desktop.is_closed() {
            self.desktop = connect(&self.desktop_url).await?;
        }
        if self.cloud.is_closed() {
            self.cloud = connect(&self.cloud_url).await?;
        }
        Ok(())
    }

    /// Replaces both connections, whatever state a statement left them in.
    pub(crate) async fn reopen_all(&mut self) -> Result<(), ConnectError> {
        self.desktop = connect(&self.desktop_url).await?;
        self.cloud = connect(&self.cloud_url).await?;
        Ok(())
    }

    /// (source, target) for a direction.
    pub fn for_direction(&mut self, direction: Direction) -> (&mut Client, &mut Client) {
        match direction {
            Direction::Forward => (&mut self.desktop, &mut self.cloud),
            Direction::Reverse => (&mut self.cloud, &mut self.desktop),
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_bare_at_in_the_password_is_named() {
        assert!(super::unescaped_at("postgresql://app:p@ss@db.example.com:6543/postgres").contains("%40"));
        assert_eq!(super::unescaped_at("postgresql://app:p%40ss@db.example.com/postgres"), "");
        assert_eq!(super::unescaped_at("postgresql://app@localhost/db?options=a@b"), "");
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("the {side} database URL {url} is not valid: {reason}")]
    BadUrl { side: crate::spec::Side, url: String, reason: String },
    #[error("cannot connect to the {side} database at {url}: {reason}")]
    Unreachable { side: crate::spec::Side, url: String, reason: String },
}

/// How the URL asks for TLS. tokio-postgres understands disable/prefer/require; verify-ca and
/// verify-full are handled here so that certificate checking is explicit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TlsMode {
    Disable,
    Prefer,
    Require,
    VerifyFull,
}

/// The URL's `sslmode` as pgbisync applies it (`prefer` when it names none).
pub(crate) fn sslmode(url: &ConnectionUrl) -> &'static str {
    match tls_mode(url.expose()).0 {
        TlsMode::Disable => "disable",
        TlsMode::Prefer => "prefer",
        TlsMode::Require => "require",
        TlsMode::VerifyFull => "verify-full",
    }
}

/// The host and port the URL connects to first (`None` for a Unix socket or an unparsable URL).
pub(crate) fn tcp_address(url: &ConnectionUrl) -> Option<(String, u16)> {
    let config: tokio_postgres::Config = tls_mode(url.expose()).1.parse().ok()?;
    match config.get_hosts().first()? {
        tokio_postgres::config::Host::Tcp(host) => {
            Some((host.clone(), config.get_ports().first().copied().unwrap_or(5432)))
        }
        #[cfg(unix)]
        tokio_postgres::config::Host::Unix(_) => None,
    }
}

fn tls_mode(url: &str) -> (TlsMode, String) {
    for (needle, mode) in [
        ("sslmode=verify-full", TlsMode::VerifyFull),
        ("sslmode=verify-ca", TlsMode::VerifyFull),
        ("sslmode=require", TlsMode::Require),
        ("sslmode=prefer", TlsMode::Prefer),
        ("sslmode=allow", TlsMode::Prefer),
        ("sslmode=disable", TlsMode::Disable),
    ] {
        if url.contains(needle) {
            let driver_mode = if mode == TlsMode::VerifyFull {
                "sslmode=require"
            } else if mode == TlsMode::Prefer {
                "sslmode=prefer"
            } else {
                needle
            };
            return (mode, url.replace(needle, driver_mode));
        }
    }
    (TlsMode::Prefer, url.to_string())
}

/// Opens one connection, with TLS as the URL's `sslmode` asks.
pub async fn connect(url: &ConnectionUrl) -> Result<Client, ConnectError> {
    open(url, None).await
}

/// What `LISTEN` delivers on a connection opened with [`connect_listening`].
pub type Notifications = tokio::sync::mpsc::UnboundedReceiver<Notification>;

/// [`connect`], keeping the `NOTIFY` messages the session receives (the driver drops them).
pub async fn connect_listening(url: &ConnectionUrl) -> Result<(Client, Notifications), ConnectError> {
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    Ok((open(url, Some(tx)).await?, rx))
}

async fn open(url: &ConnectionUrl, notify: Option<UnboundedSender<Notification>>) -> Result<Client, ConnectError> {
    let (mode, driver_url) = tls_mode(url.expose());
    let mut config: tokio_postgres::Config =
        driver_url.parse().map_err(|e: tokio_postgres::Error| ConnectError::BadUrl {
            side: url.side,
            url: url.redacted(),
            reason: explain(url, crate::config::redact(&e.to_string())),
        })?;
    if config.get_application_name().is_none() {
        config.application_name("pgbisync");
    }
    // The URL's connect_timeout, when it gives one, bounds the whole handshake (the driver's own
    // bounds only the TCP connect: a host that accepts and never answers would hang forever).
    let wait = *config.get_connect_timeout().unwrap_or(&CONNECT_TIMEOUT);
    config.connect_timeout(wait);
    bound_dead_peers(&mut config);
    let unreachable = |e: tokio_postgres::Error| ConnectError::Unreachable {
        side: url.side,
        url: url.redacted(),
        reason: explain(url, crate::config::redact(&super::db_error::describe(&e))),
    };
    let silent = || ConnectError::Unreachable {
        side: url.side,
        url: url.redacted(),
        reason: format!(
            "the server accepted the connection but did not finish the handshake within {} s (connect_timeout; \
             a stalled pooler or a dropped NAT mapping?); raise it with connect_timeout=N in the URL",
            wait.as_secs()
        ),
    };
    let handshake = async {
        if mode == TlsMode::Disable {
            let (client, connection) = config.connect(NoTls).await.map_err(unreachable)?;
            tokio::spawn(drive(connection, notify));
            Ok(client)
        } else {
            // prefer/require encrypt without checking the certificate, as libpq does; verify-full
            // checks the chain against the web PKI roots and the host name.
            let tls = super::tls::connector(mode == TlsMode::VerifyFull);
            let (client, connection) = config.connect(tls).await.map_err(unreachable)?;
            tokio::spawn(drive(connection, notify));
            Ok(client)
        }
    };
    tokio::time::timeout(wait, handshake).await.map_err(|_| silent())?
}

/// The driver's reason, unless the URL holds a bare `@`: the driver then took part of the password
/// for the host and would print it, so only the hint is given.
fn explain(url: &ConnectionUrl, reason: String) -> String {
    match unescaped_at(url.expose()) {
        hint if hint.is_empty() => reason,
        hint => format!("the URL cannot be used as written{hint}"),
    }
}

/// A hint when the URL's user or password holds a bare `@`: the URL then names the wrong host, and
/// the error talks about that host, not about the password.
fn unescaped_at(url: &str) -> String {
    let Some((_, rest)) = url.split_once("://") else { return String::new() };
    let authority = rest.split(['/', '?']).next().unwrap_or_default();
    if authority.matches('@').count() > 1 {
        "; hint: the user or password in the URL holds an `@`: percent-encode it as %40 \
         (postgresql://user:p%40ss@host/db)"
            .to_string()
    } else {
        String::new()
    }
}

/// How long a connection attempt (TCP, TLS and the startup exchange together) may take, unless the
/// URL says `connect_timeout`.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);

/// A peer that vanishes mid-run (a server powered off, a NAT mapping dropped) is noticed within about
/// a minute, not after the kernel's two hours: TCP keepalives every 30 s, and unacknowledged data
/// given up after 60 s (Linux). Values the URL sets are kept.
fn bound_dead_peers(config: &mut tokio_postgres::Config) {
    if config.get_keepalives_idle() == Duration::from_secs(2 * 60 * 60) {
        config.keepalives_idle(Duration::from_secs(30));
    }
    if config.get_keepalives_interval().is_none() {
        config.keepalives_interval(Duration::from_secs(10));
    }
    if config.get_keepalives_retries().is_none() {
        config.keepalives_retries(3);
    }
    if config.get_tcp_user_timeout().is_none() {
        config.tcp_user_timeout(Duration::from_secs(60));
    }
}

/// Runs the connection until it closes, handing each notification to `notify` when there is one.
async fn drive<S, T>(mut connection: Connection<S, T>, notify: Option<UnboundedSender<Notification>>)
where
    S: AsyncRead + AsyncWrite + Unpin,
    T: AsyncRead + AsyncWrite + Unpin,
{
    let mut messages = futures_util::stream::poll_fn(move |cx| connection.poll_message(cx));
    while let Some(message) = messages.next().await {
        match message {
            Ok(AsyncMessage::Notification(n)) => {
                if let Some(tx) = &notify {
                    let _ = tx.send(n);
                }
            }
            Ok(AsyncMessage::Notice(notice)) => tracing::debug!(notice = %notice, "server notice"),
            Ok(_) => {}
            Err(e) => {
                tracing::debug!(error = %e, "connection closed");
                return;
            }
        }
    }
}
