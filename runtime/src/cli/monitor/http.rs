//! The HTTP side of `--listen`: a minimal HTTP/1.1 responder on tokio's `TcpListener`.
//!
//! Why not a crate: the whole protocol needed here is reading one request head and writing one
//! `Connection: close` response to a GET, which is what Prometheus, a Kubernetes or systemd probe and
//! `curl` send. hyper 1.x would need hyper-util and http-body-util as well (a dozen crates) for the
//! same two endpoints; tiny_http is blocking (a thread of its own) with its own dependencies. tokio,
//! already here, works the same on Windows.

use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use super::{metrics, Monitor};

/// A request head longer than this is refused: the endpoints take no headers that matter.
const HEAD_LIMIT: usize = 8 * 1024;
/// A client that sends no complete request head within this is dropped, so an idle connection
/// holds nothing for long.
const READ_TIMEOUT: Duration = Duration::from_secs(10);

/// Answers connections until the process ends; each in a task of its own, so a slow client delays
/// no other.
pub(super) async fn serve(listener: TcpListener, monitor: Arc<Monitor>) {
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                let monitor = Arc::clone(&monitor);
                tokio::spawn(async move { answer(stream, &monitor).await });
            }
            Err(e) => {
                // Out of file descriptors, say: wait instead of spinning on the error.
                tracing::debug!(error = %e, "accepting a /metrics connection");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

async fn answer(mut stream: TcpStream, monitor: &Monitor) {
    let response = match tokio::time::timeout(READ_TIMEOUT, read_head(&mut stream)).await {
        Err(_) => return,
        Ok(Err(e)) => {
            tracing::debug!(error = %e, "reading an HTTP request");
            return;
        }
        Ok(Ok(None)) => Response::text(431, "Request Header Fields Too Large", "request head too large\n"),
        Ok(Ok(Some(head))) => match route(&head) {
            Ok(Endpoint::Health) => {
                let (healthy, reason) = monitor.health();
                let (status, phrase) = if healthy { (200, "OK") } else { (503, "Service Unavailable") };
                Response::text(status, phrase, format!("{reason}\n"))
            }
            Ok(Endpoint::Metrics) => {
                Response { content_type: metrics::CONTENT_TYPE, ..Response::text(200, "OK", monitor.metrics()) }
            }
            Err(response) => response,
        },
    };
    let _ = stream.write_all(response.to_bytes().as_slice()).await;
    let _ = stream.shutdown().await;
}

/// The request head (up to the blank line), or `None` when it is longer than [`HEAD_LIMIT`].
async fn read_head(stream: &mut TcpStream) -> std::io::Result<Option<String>> {
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    loop {
        let n = stream.read(&mut buf).await?;
        head.extend_from_slice(&buf[..n]);
        let complete = head.windows(4).any(|w| w == b"\r\n\r\n") || head.windows(2).any(|w| w == b"\n\n");
        if complete || n == 0 {
            return Ok(Some(String::from_utf8_lossy(&head).into_owned()));
        }
        if head.len() > HEAD_LIMIT {
            return Ok(None);
        }
    }
}

#[derive(Debug, PartialEq, Eq)]
enum Endpoint {
    Health,
    Metrics,
}

/// What the request line asks for, or the response refusing it.
fn route(head: &str) -> Result<Endpoint, Response> {
    let line = head.lines().next().unwrap_or_default();
    let mut words = line.split(' ');
    let (Some(method), Some(target), Some(version), None) = (words.next(), words.next(), words.next(), words.next())
    else {
        return Err(Response::text(400, "Bad Request", "not an HTTP request line\n"));
    };
    if !version.starts_with("HTTP/1.") {
        return Err(Response::text(400, "Bad Request", "only HTTP/1.x is spoken here\n"));
    }
    if method != "GET" {
        return Err(Response { allow: true, ..Response::text(405, "Method Not Allowed", "only GET is allowed\n") });
    }
    match target.split('?').next().unwrap_or_default() {
        "/healthz" => Ok(Endpoint::Health),
        "/metrics" => Ok(Endpoint::Metrics),
        _ => Err(Response::text(404, "Not Found", "not found: the endpoints are /healthz and /metrics\n")),
    }
}

#[derive(Debug)]
struct Response {
    status: u16,
    phrase: &'static str,
    content_type: &'static str,
    /// Send `Allow: GET` (a 405).
    allow: bool,
    body: String,
}

impl Response {
    fn text(status: u16, phrase: &'static str, body: impl Into<String>) -> Response {
        Response { status, phrase, content_type: "text/plain; charset=utf-8", allow: false, body: body.into() }
    }

    fn to_bytes(&self) -> Vec<u8> {
        let allow = if self.allow { "Allow: GET\r\n" } else { "" };
        format!(
            "HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\n{allow}Cache-Control: no-store\r\nConnection: close\r\n\r\n{}",
            self.status,
            self.phrase,
            self.content_type,
            self.body.len(),
            self.body
        )
        .into_bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gets_of_the_two_endpoints_are_routed_and_the_rest_refused() {
        assert_eq!(route("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n").unwrap(), Endpoint::Health);
        assert_eq!(route("GET /metrics?name[]=x HTTP/1.0\r\n\r\n").unwrap(), Endpoint::Metrics);
        let refused = |head: &str| route(head).unwrap_err();
        assert_eq!(refused("GET / HTTP/1.1\r\n\r\n").status, 404);
        assert_eq!(refused("GET /metrics/x HTTP/1.1\r\n\r\n").status, 404);
        let post = refused("POST /metrics HTTP/1.1\r\n\r\n");
        assert_eq!(post.status, 405);
        assert!(String::from_utf8(post.to_bytes()).unwrap().contains("\r\nAllow: GET\r\n"));
        assert_eq!(refused("HEAD /healthz HTTP/1.1\r\n\r\n").status, 405);
        assert_eq!(refused("hello\r\n\r\n").status, 400);
        assert_eq!(refused("GET /metrics SPDY/3\r\n\r\n").status, 400);
    }

    #[test]
    fn a_response_has_its_length_and_closes() {
        let bytes = Response::text(503, "Service Unavailable", "starting\n").to_bytes();
        let text = String::from_utf8(bytes).unwrap();
        assert!(text.starts_with("HTTP/1.1 503 Service Unavailable\r\n"), "{text}");
        assert!(text.contains("\r\nContent-Length: 9\r\n") && text.contains("\r\nConnection: close\r\n"), "{text}");
        assert!(text.ends_with("\r\n\r\nstarting\n"), "{text}");
    }
}
