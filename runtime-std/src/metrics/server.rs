//! [`MetricsServer`]: a small blocking HTTP listener that serves a node's
//! metrics on `GET /metrics`. Its bounds and behaviour are documented on
//! the type, which is public (this module is not).

use std::io::{self, Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::{Format, encode_as};
use crate::error::Error;
use crate::node::Node;
use crate::ratelimit::{LOG_PERIOD, RateLimiter, suppressed_note};

/// Longest request head (request line and headers) the listener reads.
/// A scraper's is a few hundred bytes.
pub const MAX_REQUEST_BYTES: usize = 8 * 1024;

/// How long a client has, in all, to send its request head.
pub const REQUEST_DEADLINE: Duration = Duration::from_secs(5);

/// How long writing one response may block.
const WRITE_TIMEOUT: Duration = Duration::from_secs(5);

/// How long stopping waits to connect to the listener to wake it.
const WAKE_TIMEOUT: Duration = Duration::from_secs(1);

/// After a failed `accept` (out of file descriptors, say), how long the
/// listener waits before the next: the error would otherwise repeat in a
/// busy loop.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// After refusing a head too large, how long the listener reads and
/// discards what the client still sends (at most [`DRAIN_BYTES`]): closing
/// with unread input makes the system reset the connection, and the client
/// could lose the `431` it was sent.
const DRAIN_TIME: Duration = Duration::from_millis(500);
const DRAIN_BYTES: usize = 64 * 1024;

/// An HTTP listener serving one node's metrics on `GET /metrics` (and
/// `HEAD`).
///
/// One thread, std's `TcpListener`, one connection at a time, no async
/// runtime: a scraper asks every 15 s or so, and answering takes two
/// commands to the engine thread and a few kilobytes of text. The format
/// follows the `Accept` header (see [the module docs](super)). What an HTTP
/// client can do to it is bounded:
///
/// - the request head (request line and headers) must arrive within
///   [`REQUEST_DEADLINE`] in all, however slowly it trickles in (else
///   `408`), and be at most [`MAX_REQUEST_BYTES`] (else `431`); writing
///   the answer has its own timeout. So a slow or silent client holds the
///   listener for seconds, not forever;
/// - anything that is not a well-formed HTTP/1.x request gets `400 Bad
///   Request`, another method than `GET` and `HEAD` `405`, another path
///   `404`, a node that has shut down `503`; then the connection closes
///   (one request per connection, `Connection: close`);
/// - nothing a client sends can make it panic: the head is parsed with
///   checked string operations only.
///
/// It holds a handle to the node: the node keeps running while the server
/// does, unless shut down explicitly ([`Node::shutdown`]), after which
/// scrapes get `503`.
///
/// Stopping ([`MetricsServer::stop`] or dropping it) sets a flag and wakes
/// the blocking `accept` by connecting to the listener itself, then joins
/// the thread: at once when idle, after the connection in progress (within
/// the bounds above) otherwise. Nothing polls while idle.
#[derive(Debug)]
pub struct MetricsServer {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl MetricsServer {
    /// Listens on `addr` (port 0: any free port, see
    /// [`MetricsServer::local_addr`]) and serves `node`'s metrics from a
    /// new thread.
    pub fn start(addr: SocketAddr, node: Node) -> Result<MetricsServer, Error> {
        let listen_error = |source| Error::MetricsListen { addr, source };
        let listener = TcpListener::bind(addr).map_err(listen_error)?;
        let local = listener.local_addr().map_err(listen_error)?;
        let stop = Arc::new(AtomicBool::new(false));
        let name = node.name().to_owned();
        let thread = std::thread::Builder::new()
            .name(format!("hs-metrics-{name}"))
            .spawn({
                let stop = Arc::clone(&stop);
                move || serve(&listener, &node, &stop)
            })
            .map_err(Error::Spawn)?;
        log::info!("hearsay {name}: serving metrics on http://{local}/metrics");
        Ok(MetricsServer {
            addr: local,
            stop,
            thread: Some(thread),
        })
    }

    /// The address the listener is bound to (with the actual port when
    /// `start` was given port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops listening and joins the thread (after the connection in
    /// progress, if any).
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        let Some(thread) = self.thread.take() else {
            return;
        };
        self.stop.store(true, Ordering::Release);
        if !thread.is_finished() {
            // The thread blocks in `accept`: a connection of our own wakes
            // it, and it sees the flag before serving anything.
            if let Err(e) = TcpStream::connect_timeout(&wake_addr(self.addr), WAKE_TIMEOUT) {
                log::warn!(
                    "hearsay: cannot wake the metrics listener on {} ({e}); it stops at its next connection",
                    self.addr
                );
                return;
            }
        }
        if thread.join().is_err() {
            log::error!("hearsay: the metrics thread panicked");
        }
    }
}

impl Drop for MetricsServer {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// Where to connect to reach a listener bound to `addr`: a wildcard
/// address is reached on loopback.
fn wake_addr(addr: SocketAddr) -> SocketAddr {
    let ip = match addr.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    SocketAddr::new(ip, addr.port())
}

/// The listener thread: one connection at a time until stopped.
fn serve(listener: &TcpListener, node: &Node, stop: &AtomicBool) {
    let mut accept_log = RateLimiter::new(1, LOG_PERIOD);
    loop {
        let accepted = listener.accept();
        if stop.load(Ordering::Acquire) {
            break;
        }
        match accepted {
            Ok((stream, peer)) => {
                if let Err(e) = handle(stream, node) {
                    log::debug!("hearsay {}: metrics client {peer}: {e}", node.name());
                }
            }
            Err(e) => {
                if let Some(n) = accept_log.allow(0, Instant::now()) {
                    log::warn!(
                        "hearsay {}: metrics listener cannot accept: {e}{}",
                        node.name(),
                        suppressed_note(n)
                    );
                }
                std::thread::sleep(ACCEPT_BACKOFF);
            }
        }
    }
}

/// Why no complete request head was read.
#[derive(Debug, PartialEq, Eq)]
enum HeadError {
    /// The client closed without sending anything (as the wake-up
    /// connection does).
    Closed,
    /// The client closed in the middle of its head.
    Incomplete,
    /// Longer than [`MAX_REQUEST_BYTES`].
    TooLarge,
    /// Not complete within [`REQUEST_DEADLINE`].
    TimedOut,
}

/// Serves one connection: reads one request, answers it, closes.
fn handle(mut stream: TcpStream, node: &Node) -> io::Result<()> {
    stream.set_write_timeout(Some(WRITE_TIMEOUT))?;
    let head = match read_head(&mut stream, Instant::now() + REQUEST_DEADLINE)? {
        Ok(head) => head,
        Err(HeadError::Closed | HeadError::Incomplete) => return Ok(()),
        Err(HeadError::TimedOut) => {
            return respond(&mut stream, &Response::error(408, "Request Timeout"), false);
        }
        Err(HeadError::TooLarge) => {
            respond(
                &mut stream,
                &Response::error(431, "Request Header Fields Too Large"),
                false,
            )?;
            drain(&mut stream);
            return Ok(());
        }
    };
    let Some(request) = parse_request(&head) else {
        return respond(&mut stream, &Response::error(400, "Bad Request"), false);
    };
    let head_only = request.method == "HEAD";
    let response = if request.method != "GET" && !head_only {
        Response::error(405, "Method Not Allowed").with_header("Allow: GET, HEAD\r\n")
    } else if request.path != "/metrics" {
        Response::error(404, "Not Found")
    } else {
        let format = if request.openmetrics {
            Format::OpenMetrics
        } else {
            Format::Prometheus
        };
        match encode_as(node, format) {
            Ok(text) => Response {
                status: 200,
                reason: "OK",
                content_type: format.content_type(),
                extra_headers: "",
                body: text.into_bytes(),
            },
            Err(Error::ShutDown) => Response::error(503, "Service Unavailable"),
            Err(e) => {
                log::error!("hearsay {}: metrics: {e}", node.name());
                Response::error(500, "Internal Server Error")
            }
        }
    };
    respond(&mut stream, &response, head_only)
}

/// Reads a request head, until the blank line that ends it, within
/// `deadline`. The outer error is the socket's; the inner one the
/// client's.
fn read_head(stream: &mut TcpStream, deadline: Instant) -> io::Result<Result<Vec<u8>, HeadError>> {
    let mut head = Vec::new();
    let mut chunk = [0u8; 1024];
    loop {
        let Some(left) = deadline
            .checked_duration_since(Instant::now())
            .filter(|d| !d.is_zero())
        else {
            return Ok(Err(HeadError::TimedOut));
        };
        stream.set_read_timeout(Some(left))?;
        let n = match stream.read(&mut chunk) {
            Ok(n) => n,
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                return Ok(Err(HeadError::TimedOut));
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        let Some(read) = chunk.get(..n) else {
            return Ok(Err(HeadError::Incomplete));
        };
        if read.is_empty() {
            return Ok(Err(if head.is_empty() {
                HeadError::Closed
            } else {
                HeadError::Incomplete
            }));
        }
        head.extend_from_slice(read);
        if let Some(end) = head_end(&head) {
            if end > MAX_REQUEST_BYTES {
                return Ok(Err(HeadError::TooLarge));
            }
            head.truncate(end);
            return Ok(Ok(head));
        }
        if head.len() > MAX_REQUEST_BYTES {
            return Ok(Err(HeadError::TooLarge));
        }
    }
}

/// Where the head ends: the length up to the blank line (CRLF CRLF, or
/// bare LF LF, which RFC 9112 lets a server accept).
fn head_end(bytes: &[u8]) -> Option<usize> {
    bytes.windows(2).enumerate().find_map(|(i, w)| match w {
        [b'\n', b'\n'] => Some(i + 1),
        [b'\n', b'\r'] if bytes.get(i + 2) == Some(&b'\n') => Some(i + 1),
        _ => None,
    })
}

/// What the listener needs of a request.
#[derive(Debug, PartialEq, Eq)]
struct Request<'a> {
    method: &'a str,
    /// The target's path, query left out.
    path: &'a str,
    /// Whether an `Accept` header takes OpenMetrics text.
    openmetrics: bool,
}

/// Parses a request head; `None` if it is not a well-formed HTTP/1.x
/// request (origin-form target, `name: value` headers).
fn parse_request(head: &[u8]) -> Option<Request<'_>> {
    let text = std::str::from_utf8(head).ok()?;
    let mut lines = text.split('\n').map(|l| l.strip_suffix('\r').unwrap_or(l));
    let mut parts = lines.next()?.split(' ');
    let (method, target, version) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some()
        || method.is_empty()
        || !method.bytes().all(|b| b.is_ascii_uppercase())
        || !target.starts_with('/')
        || !matches!(version, "HTTP/1.1" | "HTTP/1.0")
    {
        return None;
    }
    let path = target.split(['?', '#']).next().unwrap_or(target);
    let mut openmetrics = false;
    for line in lines.filter(|l| !l.is_empty()) {
        let (name, value) = line.split_once(':')?;
        if name.is_empty() || !name.bytes().all(is_token_byte) {
            return None;
        }
        if name.eq_ignore_ascii_case("accept") {
            openmetrics |= accepts_openmetrics(value);
        }
    }
    Some(Request {
        method,
        path,
        openmetrics,
    })
}

/// A byte of an HTTP token (RFC 9110 `tchar`), as header names are.
fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// Whether an `Accept` value takes `application/openmetrics-text` (with a
/// nonzero quality).
fn accepts_openmetrics(accept: &str) -> bool {
    accept.split(',').any(|range| {
        let mut params = range.split(';').map(str::trim);
        let media = params.next().unwrap_or("");
        if !media.eq_ignore_ascii_case("application/openmetrics-text") {
            return false;
        }
        let q = params
            .filter_map(|p| p.split_once('='))
            .find(|(k, _)| k.trim().eq_ignore_ascii_case("q"))
            .map_or(Some(1.0), |(_, v)| v.trim().parse::<f32>().ok());
        q.is_some_and(|q| q > 0.0)
    })
}

/// An answer to write.
#[derive(Debug)]
struct Response {
    status: u16,
    reason: &'static str,
    content_type: &'static str,
    /// Complete header lines, each ending in CRLF.
    extra_headers: &'static str,
    body: Vec<u8>,
}

impl Response {
    /// An error answer whose body is its reason.
    fn error(status: u16, reason: &'static str) -> Response {
        Response {
            status,
            reason,
            content_type: "text/plain; charset=utf-8",
            extra_headers: "",
            body: format!("{status} {reason}\n").into_bytes(),
        }
    }

    fn with_header(mut self, line: &'static str) -> Response {
        self.extra_headers = line;
        self
    }
}

/// Writes `response` (its head only for `HEAD`) and closes our side.
fn respond(stream: &mut TcpStream, response: &Response, head_only: bool) -> io::Result<()> {
    let head = format!(
        "HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\nConnection: close\r\n{}\r\n",
        response.status,
        response.reason,
        response.content_type,
        response.body.len(),
        response.extra_headers,
    );
    stream.write_all(head.as_bytes())?;
    if !head_only {
        stream.write_all(&response.body)?;
    }
    stream.flush()?;
    stream.shutdown(Shutdown::Write)
}

/// Reads and discards what the client still sends, within bounds (see
/// [`DRAIN_TIME`]).
fn drain(stream: &mut TcpStream) {
    let deadline = Instant::now() + DRAIN_TIME;
    let mut discarded = 0;
    let mut chunk = [0u8; 4096];
    while discarded < DRAIN_BYTES {
        let Some(left) = deadline
            .checked_duration_since(Instant::now())
            .filter(|d| !d.is_zero())
        else {
            return;
        };
        if stream.set_read_timeout(Some(left)).is_err() {
            return;
        }
        match stream.read(&mut chunk) {
            Ok(0) | Err(_) => return,
            Ok(n) => discarded += n,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heads_end_at_the_blank_line() {
        assert_eq!(head_end(b"GET / HTTP/1.1\r\nA: b\r\n\r\n"), Some(22));
        assert_eq!(head_end(b"GET / HTTP/1.1\n\nrest"), Some(15));
        assert_eq!(head_end(b"GET / HTTP/1.1\r\nA: b\r\n"), None);
        assert_eq!(head_end(b""), None);
        assert_eq!(head_end(b"\n"), None);
    }

    #[test]
    fn well_formed_requests_parse() {
        let r = parse_request(b"GET /metrics?x=1 HTTP/1.1\r\nHost: a\r\nAccept: */*\r\n").unwrap();
        assert_eq!(
            r,
            Request {
                method: "GET",
                path: "/metrics",
                openmetrics: false
            }
        );
        let prometheus = b"GET /metrics HTTP/1.1\r\nAccept: application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1\r\n";
        assert!(parse_request(prometheus).unwrap().openmetrics);
        assert!(parse_request(b"HEAD / HTTP/1.0").is_some());
    }

    #[test]
    fn malformed_requests_do_not_parse() {
        for bad in [
            &b""[..],
            b"\xff\xfe",
            b"GET",
            b"GET /metrics",
            b"GET /metrics HTTP/2",
            b"GET metrics HTTP/1.1",
            b"get /metrics HTTP/1.1",
            b"GET  /metrics HTTP/1.1",
            b"GET /metrics HTTP/1.1 extra",
            b"GET /metrics HTTP/1.1\r\nno colon here",
            b"GET /metrics HTTP/1.1\r\nbad name: x",
            b"GET /metrics HTTP/1.1\r\n: empty name",
        ] {
            assert_eq!(
                parse_request(bad),
                None,
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn openmetrics_is_taken_only_when_accepted() {
        assert!(accepts_openmetrics("application/openmetrics-text"));
        assert!(accepts_openmetrics(
            "text/plain;q=0.5, Application/OpenMetrics-Text; version=1.0.0; q=0.9"
        ));
        assert!(!accepts_openmetrics("application/openmetrics-text;q=0"));
        assert!(!accepts_openmetrics(
            "application/openmetrics-text;q=nonsense"
        ));
        assert!(!accepts_openmetrics("text/plain"));
        assert!(!accepts_openmetrics("*/*"));
        assert!(!accepts_openmetrics(""));
    }

    #[test]
    fn wildcard_listeners_are_woken_on_loopback() {
        let any4: SocketAddr = "0.0.0.0:9464".parse().unwrap();
        assert_eq!(wake_addr(any4), "127.0.0.1:9464".parse().unwrap());
        let any6: SocketAddr = "[::]:9464".parse().unwrap();
        assert_eq!(wake_addr(any6), "[::1]:9464".parse().unwrap());
        let some: SocketAddr = "10.1.2.3:9464".parse().unwrap();
        assert_eq!(wake_addr(some), some);
    }
}
