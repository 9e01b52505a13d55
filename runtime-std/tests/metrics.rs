//! The metrics listener end to end (feature `metrics`): two nodes gossip on
//! loopback, a `MetricsServer` serves one of them, and plain HTTP/1.1
//! requests over TCP scrape it; the text is parsed here and specific
//! figures are checked to move. Bad requests get their 4xx and the
//! listener keeps serving.
//!
//! Waits poll with a deadline (generous: a loaded two-core machine); no
//! sleep stands in for a condition.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use hearsay_std::Node;
use hearsay_std::builder::scaled_detector;
use hearsay_std::metrics::{
    MAX_REQUEST_BYTES, MetricsServer, OPENMETRICS_CONTENT_TYPE, PROMETHEUS_CONTENT_TYPE,
};

const INTERVAL: Duration = Duration::from_millis(100);
/// How long any expected outcome may take before the test fails.
const PATIENCE: Duration = Duration::from_secs(30);
const CLUSTER: &str = "metrics-test";

/// The text of what Prometheus sends as `Accept`.
const PROMETHEUS_ACCEPT: &str = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";

fn builder(name: &str) -> hearsay_std::Builder {
    let mut detector = scaled_detector(INTERVAL);
    detector.acceptable_heartbeat_pause = Duration::from_secs(1);
    Node::builder(name)
        .cluster(CLUSTER)
        .gossip_interval(INTERVAL)
        .detector(detector)
}

/// An HTTP response: status code, headers (names lowercased), body.
#[derive(Debug)]
struct Response {
    status: u16,
    headers: BTreeMap<String, String>,
    body: String,
}

/// Sends `request` as is on a new connection and reads the answer to the
/// end (the listener closes after one response).
fn exchange(addr: SocketAddr, request: &[u8]) -> Response {
    let mut s = TcpStream::connect(addr).unwrap();
    // A liveness bound, not a performance one.
    s.set_read_timeout(Some(PATIENCE)).unwrap();
    s.write_all(request).unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    parse_response(&raw)
}

fn get(addr: SocketAddr, path: &str, accept: Option<&str>) -> Response {
    let accept = accept.map_or(String::new(), |a| format!("Accept: {a}\r\n"));
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\n{accept}\r\n");
    exchange(addr, request.as_bytes())
}

fn parse_response(raw: &[u8]) -> Response {
    let text = String::from_utf8(raw.to_vec()).expect("a UTF-8 response");
    let (head, body) = text.split_once("\r\n\r\n").expect("a response head");
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap();
    let mut parts = status_line.splitn(3, ' ');
    assert_eq!(parts.next(), Some("HTTP/1.1"), "{status_line}");
    let status = parts.next().unwrap().parse().unwrap();
    let headers = lines
        .map(|l| {
            let (k, v) = l.split_once(':').expect("a header");
            (k.to_ascii_lowercase(), v.trim().to_owned())
        })
        .collect::<BTreeMap<_, _>>();
    let len: usize = headers["content-length"].parse().unwrap();
    assert!(
        body.len() == len || body.is_empty(),
        "{len} vs {}",
        body.len()
    );
    Response {
        status,
        headers,
        body: body.to_owned(),
    }
}

/// One sample of the exposition: metric name and labels.
type Series = (String, BTreeMap<String, String>);

/// The samples of a text exposition. Comments are skipped; label values
/// are unescaped (`\"`, `\\`, `\n`); a malformed line fails the test.
fn parse_exposition(text: &str) -> BTreeMap<Series, f64> {
    let mut out = BTreeMap::new();
    for line in text
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
    {
        let (series, value) = line.rsplit_once(' ').expect("name and value");
        let value: f64 = value.parse().expect("a number");
        let (name, mut rest) = match series.split_once('{') {
            Some((name, rest)) => (name, rest.strip_suffix('}').expect("closing brace")),
            None => (series, ""),
        };
        assert!(
            !name.is_empty()
                && name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b':'),
            "bad name in {line}"
        );
        let mut labels = BTreeMap::new();
        while !rest.is_empty() {
            let (k, after) = rest.split_once("=\"").expect("label=\"value\"");
            let mut v = String::new();
            let mut chars = after.char_indices();
            let end = loop {
                match chars.next().expect("closing quote") {
                    (i, '"') => break i,
                    (_, '\\') => match chars.next().expect("escaped char").1 {
                        'n' => v.push('\n'),
                        c => v.push(c),
                    },
                    (_, c) => v.push(c),
                }
            };
            labels.insert(k.to_owned(), v);
            rest = &after[end + 1..];
            rest = rest.strip_prefix(',').unwrap_or(rest);
        }
        assert!(
            out.insert((name.to_owned(), labels), value).is_none(),
            "sample twice: {line}"
        );
    }
    out
}

/// The value of `name` with `labels` (besides `cluster`) in `samples`.
fn value(samples: &BTreeMap<Series, f64>, name: &str, labels: &[(&str, &str)]) -> f64 {
    let mut want: BTreeMap<String, String> = labels
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    want.insert("cluster".into(), CLUSTER.into());
    *samples
        .get(&(name.to_owned(), want))
        .unwrap_or_else(|| panic!("no sample {name} {labels:?}"))
}

fn scrape(addr: SocketAddr) -> BTreeMap<Series, f64> {
    let r = get(addr, "/metrics", Some(PROMETHEUS_ACCEPT));
    assert_eq!(r.status, 200, "{r:?}");
    parse_exposition(&r.body)
}

#[test]
fn a_scrape_shows_two_nodes_gossiping() {
    let a = builder("ma").start().unwrap();
    let b = builder("mb")
        .seed(a.local_addr().to_string())
        .start()
        .unwrap();
    let server = MetricsServer::start("127.0.0.1:0".parse().unwrap(), a.clone()).unwrap();
    let addr = server.local_addr();
    assert_eq!(a.cluster(), CLUSTER);

    // Both nodes alive and traffic both ways, as a's scrapes tell it.
    let start = Instant::now();
    let samples = loop {
        let s = scrape(addr);
        if value(&s, "hearsay_members", &[("status", "alive")]) == 2.0
            && value(&s, "hearsay_datagrams_in_total", &[]) > 0.0
        {
            break s;
        }
        assert!(start.elapsed() < PATIENCE, "a never saw b alive: {s:?}");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(value(&samples, "hearsay_datagrams_out_total", &[]) > 0.0);
    assert!(value(&samples, "hearsay_datagrams_out_bytes_total", &[]) > 0.0);
    assert!(value(&samples, "hearsay_datagrams_received_total", &[]) > 0.0);
    assert_eq!(
        value(&samples, "hearsay_members", &[("status", "dead")]),
        0.0
    );
    assert!(
        value(
            &samples,
            "hearsay_membership_events_total",
            &[("kind", "joined")]
        ) >= 1.0
    );
    assert_eq!(
        value(&samples, "hearsay_nodes_capacity", &[]),
        a.capacity().nodes as f64
    );
    assert!(value(&samples, "hearsay_max_phi", &[]) >= 0.0);
    // Every sample carries the cluster label.
    assert!(
        samples
            .keys()
            .all(|(_, labels)| labels.get("cluster").map(String::as_str) == Some(CLUSTER)),
        "{samples:?}"
    );

    // Counters only go up; a key set on b shows up on a as a key event
    // and in its state.
    b.set("http", "127.0.0.1:8080").unwrap();
    let before = samples;
    let start = Instant::now();
    let after = loop {
        let s = scrape(addr);
        if value(&s, "hearsay_key_events_total", &[("kind", "set")]) >= 1.0 {
            break s;
        }
        assert!(start.elapsed() < PATIENCE, "a never learned b's key");
        std::thread::sleep(Duration::from_millis(20));
    };
    for (series, v) in &before {
        if series.0.ends_with("_total") {
            assert!(after[series] >= *v, "{series:?} went back");
        }
    }
    assert!(value(&after, "hearsay_state_bytes", &[]) > value(&before, "hearsay_state_bytes", &[]));
    server.stop();
}

#[test]
fn formats_follow_the_accept_header() {
    let a = builder("fa").start().unwrap();
    let server = MetricsServer::start("127.0.0.1:0".parse().unwrap(), a.clone()).unwrap();
    let addr = server.local_addr();

    let open = get(addr, "/metrics", Some(PROMETHEUS_ACCEPT));
    assert_eq!(open.headers["content-type"], OPENMETRICS_CONTENT_TYPE);
    assert!(open.body.ends_with("# EOF\n"));
    let plain = get(addr, "/metrics", None);
    assert_eq!(plain.status, 200);
    assert_eq!(plain.headers["content-type"], PROMETHEUS_CONTENT_TYPE);
    assert!(!plain.body.contains("# EOF"));
    let curl = get(addr, "/metrics?x=1", Some("*/*"));
    assert_eq!(curl.headers["content-type"], PROMETHEUS_CONTENT_TYPE);
    // Both formats carry the same series.
    let (o, p) = (parse_exposition(&open.body), parse_exposition(&plain.body));
    assert_eq!(o.keys().collect::<Vec<_>>(), p.keys().collect::<Vec<_>>());

    // HEAD: the same head, no body.
    let head = exchange(addr, b"HEAD /metrics HTTP/1.1\r\n\r\n");
    assert_eq!(head.status, 200);
    assert!(head.body.is_empty());
    assert!(head.headers["content-length"].parse::<usize>().unwrap() > 0);
    assert_eq!(head.headers["connection"], "close");
}

#[test]
fn bad_requests_are_refused_and_the_listener_keeps_serving() {
    let a = builder("ba").start().unwrap();
    let server = MetricsServer::start("127.0.0.1:0".parse().unwrap(), a.clone()).unwrap();
    let addr = server.local_addr();

    for (request, status) in [
        (&b"garbage\r\n\r\n"[..], 400),
        (b"GET /metrics HTTP/9.9\r\n\r\n", 400),
        (b"GET /metrics HTTP/1.1\r\nno colon\r\n\r\n", 400),
        (b"\xff\xfe\xfd\r\n\r\n", 400),
        (b"\r\n\r\n", 400),
        (b"GET /other HTTP/1.1\r\n\r\n", 404),
        (b"POST /metrics HTTP/1.1\r\nContent-Length: 0\r\n\r\n", 405),
    ] {
        let r = exchange(addr, request);
        assert_eq!(
            r.status,
            status,
            "{:?}: {r:?}",
            String::from_utf8_lossy(request)
        );
        // Still serving.
        assert_eq!(get(addr, "/metrics", None).status, 200);
    }
    let r = exchange(addr, b"DELETE /metrics HTTP/1.1\r\n\r\n");
    assert_eq!(r.headers["allow"], "GET, HEAD");

    // A head larger than the bound: 431, and the connection closes
    // without the client's rest being read.
    let mut big = b"GET /metrics HTTP/1.1\r\nX-Filler: ".to_vec();
    big.resize(MAX_REQUEST_BYTES * 2, b'a');
    big.extend_from_slice(b"\r\n\r\n");
    assert_eq!(exchange(addr, &big).status, 431);
    assert_eq!(get(addr, "/metrics", None).status, 200);

    // A client that connects and closes without a word gets nothing; one
    // that sends half a head and closes neither.
    drop(TcpStream::connect(addr).unwrap());
    let mut half = TcpStream::connect(addr).unwrap();
    half.write_all(b"GET /met").unwrap();
    half.shutdown(Shutdown::Write).unwrap();
    let mut rest = Vec::new();
    half.set_read_timeout(Some(PATIENCE)).unwrap();
    half.read_to_end(&mut rest).unwrap();
    assert!(rest.is_empty());
    assert_eq!(get(addr, "/metrics", None).status, 200);
}

/// A client that connects and says nothing holds the listener only until
/// the request deadline: it gets 408, and the next client is served.
#[test]
fn a_silent_client_cannot_hang_the_listener() {
    let a = builder("sa").start().unwrap();
    let server = MetricsServer::start("127.0.0.1:0".parse().unwrap(), a.clone()).unwrap();
    let addr = server.local_addr();
    let mut silent = TcpStream::connect(addr).unwrap();
    // Served after the silent one's deadline passes (one connection at a
    // time); the read timeout in `get` is only a liveness bound.
    assert_eq!(get(addr, "/metrics", None).status, 200);
    silent.set_read_timeout(Some(PATIENCE)).unwrap();
    let mut raw = Vec::new();
    silent.read_to_end(&mut raw).unwrap();
    assert_eq!(parse_response(&raw).status, 408);
}

#[test]
fn a_shut_down_node_gets_503_and_stop_closes_the_listener() {
    let a = builder("da").start().unwrap();
    let server = MetricsServer::start("127.0.0.1:0".parse().unwrap(), a.clone()).unwrap();
    let addr = server.local_addr();
    assert_eq!(get(addr, "/metrics", None).status, 200);
    a.shutdown().unwrap();
    assert_eq!(get(addr, "/metrics", None).status, 503);
    server.stop();
    // The listener is closed once stop returns.
    assert!(TcpStream::connect(addr).is_err());

    // Dropping a server stops it too; a second server can bind anew.
    let b = builder("db").start().unwrap();
    let dropped = MetricsServer::start("127.0.0.1:0".parse().unwrap(), b.clone()).unwrap();
    let addr = dropped.local_addr();
    drop(dropped);
    assert!(TcpStream::connect(addr).is_err());
    let again = MetricsServer::start(addr, b).unwrap();
    assert_eq!(again.local_addr(), addr);
}

#[test]
fn an_address_in_use_is_a_typed_error() {
    let a = builder("ea").start().unwrap();
    let first = MetricsServer::start("127.0.0.1:0".parse().unwrap(), a.clone()).unwrap();
    let taken = first.local_addr();
    match MetricsServer::start(taken, a) {
        Err(hearsay_std::Error::MetricsListen { addr, .. }) => assert_eq!(addr, taken),
        other => panic!("expected MetricsListen, got {other:?}"),
    }
}
