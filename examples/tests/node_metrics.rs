//! `node --metrics ADDR`: the node says where it serves its metrics, and a
//! scrape over plain HTTP/1.1 returns Prometheus text that parses, with the
//! `cluster` label, the peer counted alive and traffic counted.
//!
//! Gossip every 100 ms; every wait polls for its condition, with the
//! generous bound of `support::PATIENCE`.

mod support;

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use serde_json::Value;
use support::{PATIENCE, Procs};

const COMMON: [&str; 4] = ["--listen", "127.0.0.1:0", "--interval-ms", "100"];

/// `line` as a JSON object if it is one whose event is `event`.
fn json_event(line: &str, event: &str) -> Option<Value> {
    let v: Value = serde_json::from_str(line).ok()?;
    (v["event"] == event).then_some(v)
}

/// One `GET /metrics`: the status line and the body.
fn scrape(addr: SocketAddr) -> (String, String) {
    let mut s = TcpStream::connect(addr).expect("connect to the metrics listener");
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(b"GET /metrics HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut raw = String::new();
    s.read_to_string(&mut raw).expect("a whole response");
    let (head, body) = raw.split_once("\r\n\r\n").expect("head and body");
    let status = head.lines().next().unwrap_or_default().to_owned();
    (status, body.to_owned())
}

/// The samples of Prometheus text: `name{labels}` → value. Comment lines
/// (`# HELP`, `# TYPE`, `# EOF`) are checked for shape and skipped.
fn parse(body: &str) -> BTreeMap<String, f64> {
    let mut samples = BTreeMap::new();
    for line in body.lines() {
        if line.is_empty() {
            continue;
        }
        if let Some(comment) = line.strip_prefix("# ") {
            assert!(
                comment.starts_with("HELP ") || comment.starts_with("TYPE ") || comment == "EOF",
                "unexpected comment line {line:?}"
            );
            continue;
        }
        let (series, value) = line.rsplit_once(' ').expect("series and value");
        let value: f64 = value
            .parse()
            .unwrap_or_else(|_| panic!("a number in {line:?}"));
        assert!(
            samples.insert(series.to_owned(), value).is_none(),
            "{series} twice"
        );
    }
    samples
}

#[test]
fn metrics_are_served_over_http_and_count_the_cluster() {
    let mut p = Procs::new();
    let a = p.spawn(
        &[
            &["--name", "ma", "--json", "--cluster", "metered"][..],
            &["--metrics", "127.0.0.1:0"],
            &COMMON,
        ]
        .concat(),
    );
    let start = p.expect(a, "its start", |l| json_event(l, "start").is_some());
    let seed = json_event(&start, "start").expect("start")["listen"]
        .as_str()
        .expect("listen")
        .to_owned();
    let line = p.expect(a, "where the metrics are", |l| {
        json_event(l, "metrics").is_some()
    });
    let addr: SocketAddr = json_event(&line, "metrics").expect("metrics")["addr"]
        .as_str()
        .expect("addr")
        .parse()
        .expect("a socket address");
    let _b = p.spawn(
        &[
            &["--name", "mb", "--cluster", "metered", "--seed", &seed][..],
            &COMMON,
        ]
        .concat(),
    );
    p.expect(a, "mb joined", |l| {
        json_event(l, "joined").is_some_and(|v| v["member"]["name"] == "mb")
    });

    let alive = r#"hearsay_members{cluster="metered",status="alive"}"#;
    let started = Instant::now();
    let samples = loop {
        let (status, body) = scrape(addr);
        assert!(status.contains(" 200 "), "{status}");
        let samples = parse(&body);
        if samples.get(alive) == Some(&2.0) {
            break samples;
        }
        assert!(
            started.elapsed() < PATIENCE,
            "never 2 alive members: {samples:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    let datagrams_out = samples
        .iter()
        .find(|(k, _)| k.starts_with("hearsay_datagrams_out"))
        .map(|(_, v)| *v);
    assert!(datagrams_out.is_some_and(|v| v > 0.0), "{datagrams_out:?}");
    assert!(
        samples.keys().all(|k| k.contains(r#"cluster="metered""#)),
        "every sample has the cluster label"
    );
    assert!(samples.len() > 40, "{} samples", samples.len());
}
