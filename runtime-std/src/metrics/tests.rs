use std::collections::BTreeMap;
use std::time::Duration;

use hearsay_core::Capacity;

use super::*;

/// One sample: its name and labels (sorted), as text.
type Key = (String, Vec<(String, String)>);

/// The samples of a text exposition (either format), by name and labels.
/// Comment lines are skipped; a malformed line fails the test.
fn samples(text: &str) -> BTreeMap<Key, f64> {
    let mut out = BTreeMap::new();
    for line in text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
    {
        let (series, value) = line.rsplit_once(' ').expect("a value");
        let value: f64 = value.parse().expect("a number");
        let (name, labels) = match series.split_once('{') {
            None => (series.to_owned(), Vec::new()),
            Some((name, rest)) => {
                let rest = rest.strip_suffix('}').expect("labels end with }");
                (name.to_owned(), parse_labels(rest))
            }
        };
        assert!(
            out.insert((name, labels), value).is_none(),
            "sample twice: {line}"
        );
    }
    out
}

/// `k="v",k2="v2"` with `\"`, `\\` and `\n` escapes, sorted by name.
fn parse_labels(mut s: &str) -> Vec<(String, String)> {
    let mut labels = Vec::new();
    while !s.is_empty() {
        let (k, rest) = s.split_once("=\"").expect("k=\"v\"");
        let mut v = String::new();
        let mut chars = rest.char_indices();
        let end = loop {
            match chars.next().expect("a closing quote") {
                (i, '"') => break i,
                (_, '\\') => match chars.next().expect("an escape").1 {
                    'n' => v.push('\n'),
                    c => v.push(c),
                },
                (_, c) => v.push(c),
            }
        };
        labels.push((k.to_owned(), v));
        s = &rest[end + 1..];
        s = s.strip_prefix(',').unwrap_or(s);
    }
    labels.sort();
    labels
}

fn key(name: &str, labels: &[(&str, &str)]) -> Key {
    let mut labels: Vec<(String, String)> = labels
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    labels.sort();
    (name.to_owned(), labels)
}

/// An expected sample before the cluster label: name, labels, value.
type Expected = (&'static str, Vec<(&'static str, &'static str)>, u64);

/// Counters whose every field holds a different value (its position), and
/// the sample each should appear as (with the `cluster` label).
fn numbered() -> (Snapshot, Vec<(Key, f64)>) {
    let mut c = Counters::default();
    let mut expected: Vec<Expected> = Vec::new();
    let mut n = 0u64;
    let mut next = |name: &'static str, labels: Vec<(&'static str, &'static str)>| {
        n += 1;
        expected.push((name, labels, n));
        n
    };
    let e = &mut c.engine;
    e.datagrams_in = next("hearsay_datagrams_in_total", vec![]);
    e.bytes_in = next("hearsay_datagrams_in_bytes_total", vec![]);
    e.datagrams_out = next("hearsay_datagrams_out_total", vec![]);
    e.bytes_out = next("hearsay_datagrams_out_bytes_total", vec![]);
    for kind in DecodeError::ALL {
        e.rejected_by_kind[kind as usize] = next(
            "hearsay_datagrams_rejected_total",
            vec![("kind", decode_error_label(kind))],
        );
    }
    e.refused_nodes = next("hearsay_refused_nodes_total", vec![]);
    e.refused_pieces = next("hearsay_refused_pieces_total", vec![]);
    e.stale_generations = next("hearsay_stale_generations_total", vec![]);
    e.id_conflicts = next("hearsay_id_conflicts_total", vec![]);
    e.unknown_nodes = next("hearsay_unknown_nodes_total", vec![]);
    e.unusable_pieces = next("hearsay_unusable_pieces_total", vec![]);
    e.stale_pieces = next("hearsay_stale_pieces_total", vec![]);
    e.pieces_applied = next("hearsay_pieces_applied_total", vec![]);
    e.resets_applied = next("hearsay_resets_applied_total", vec![]);
    e.budget_exhausted = next("hearsay_budget_exhausted_total", vec![]);
    e.replies_bounded = next("hearsay_replies_bounded_total", vec![]);
    e.resurrections_refused = next("hearsay_resurrections_refused_total", vec![]);
    e.implausible_heartbeats = next("hearsay_implausible_heartbeats_total", vec![]);
    e.pending_dropped = next("hearsay_pending_dropped_total", vec![]);
    e.implausible_generations = next("hearsay_implausible_generations_total", vec![]);
    e.refutations = next("hearsay_refutations_total", vec![]);
    e.name_conflicts = next("hearsay_name_conflicts_total", vec![]);
    e.local_stalls = next("hearsay_local_stalls_total", vec![]);
    e.oversized_namespaces = next("hearsay_oversized_namespaces_total", vec![]);
    e.oversized_values = next("hearsay_oversized_values_total", vec![]);
    e.chunks_in = next("hearsay_chunks_in_total", vec![]);
    e.chunks_out = next("hearsay_chunks_out_total", vec![]);
    e.transfers_completed = next("hearsay_transfers_completed_total", vec![]);
    e.transfers_dropped = next("hearsay_transfers_dropped_total", vec![]);
    e.transfers_refused = next("hearsay_transfers_refused_total", vec![]);
    e.values_held_back = next("hearsay_values_held_back_total", vec![]);
    e.sealed_in = next("hearsay_sealed_in_total", vec![]);
    e.unsealed_in = next("hearsay_unsealed_in_total", vec![]);
    e.sealed_out = next("hearsay_sealed_out_total", vec![]);
    e.seal_failures = next("hearsay_seal_failures_total", vec![]);
    e.pushes_out = next("hearsay_pushes_out_total", vec![]);
    e.beats_out = next("hearsay_beats_out_total", vec![]);
    e.blocks_read = next("hearsay_blocks_read_total", vec![]);
    e.blocks_differ = next("hearsay_blocks_differ_total", vec![]);
    c.datagrams_received = next("hearsay_datagrams_received_total", vec![]);
    c.inbound_dropped = next("hearsay_channel_drops_total", vec![("channel", "inbound")]);
    c.recv_errors = next("hearsay_recv_errors_total", vec![]);
    c.send_errors = next("hearsay_send_errors_total", vec![]);
    c.events_dropped = next(
        "hearsay_channel_drops_total",
        vec![("channel", "subscriptions")],
    );
    c.seed_updates_dropped = next("hearsay_channel_drops_total", vec![("channel", "seeds")]);
    c.resolve_failures = next("hearsay_resolve_failures_total", vec![]);
    let membership = "hearsay_membership_events_total";
    c.nodes_joined = next(membership, vec![("kind", "joined")]);
    c.nodes_alive_again = next(membership, vec![("kind", "alive_again")]);
    c.nodes_dead = next(membership, vec![("kind", "dead")]);
    c.nodes_left = next(membership, vec![("kind", "left")]);
    c.nodes_removed = next(membership, vec![("kind", "removed")]);
    c.nodes_replaced = next(membership, vec![("kind", "replaced")]);
    let keys = "hearsay_key_events_total";
    c.keys_set = next(keys, vec![("kind", "set")]);
    c.keys_deleted = next(keys, vec![("kind", "deleted")]);
    c.keys_expired = next(keys, vec![("kind", "expired")]);

    let gauges = Gauges {
        pending: 1,
        alive: 5,
        dead: 2,
        left: 3,
        max_phi: 2.5,
        max_timeout: Some(Duration::from_millis(3250)),
        entries: 77,
        state_bytes: 1234,
        capacity: Capacity {
            nodes: 16,
            entries: 128,
            state_bytes: 8192,
            window: 64,
        },
    };
    let mut expected: Vec<(Key, f64)> = expected
        .into_iter()
        .map(|(name, mut labels, v)| {
            labels.push(("cluster", "prod"));
            (key(name, &labels), v as f64)
        })
        .collect();
    for (name, labels, v) in [
        ("hearsay_members", vec![("status", "pending")], 1.0),
        ("hearsay_members", vec![("status", "alive")], 5.0),
        ("hearsay_members", vec![("status", "dead")], 2.0),
        ("hearsay_members", vec![("status", "left")], 3.0),
        ("hearsay_max_phi", vec![], 2.5),
        ("hearsay_max_timeout_seconds", vec![], 3.25),
        ("hearsay_nodes_capacity", vec![], 16.0),
        ("hearsay_entries", vec![], 77.0),
        ("hearsay_entries_capacity", vec![], 128.0),
        ("hearsay_state_bytes", vec![], 1234.0),
        ("hearsay_state_capacity_bytes", vec![], 8192.0),
    ] {
        let mut labels = labels;
        labels.push(("cluster", "prod"));
        expected.push((key(name, &labels), v));
    }
    (
        Snapshot {
            counters: c,
            gauges,
        },
        expected,
    )
}

/// Every counter and gauge comes out as its own sample, with its value and
/// the cluster label, and nothing else does.
#[test]
fn every_figure_is_one_sample() {
    let (snapshot, expected) = numbered();
    let text = render("prod", snapshot, Format::OpenMetrics).unwrap();
    let got = samples(&text);
    let want: BTreeMap<Key, f64> = expected.into_iter().collect();
    assert_eq!(got, want, "{text}");
}

/// The Prometheus 0.0.4 text carries the same samples; only the comments
/// and the end marker differ.
#[test]
fn both_formats_carry_the_same_samples() {
    let (a, _) = numbered();
    let (b, _) = numbered();
    let open = render("prod", a, Format::OpenMetrics).unwrap();
    let prom = render("prod", b, Format::Prometheus).unwrap();
    assert_eq!(samples(&open), samples(&prom));
    assert!(open.ends_with("# EOF\n"), "{open}");
    assert!(!prom.contains("# EOF"), "{prom}");
    assert!(open.contains("# TYPE hearsay_datagrams_out counter\n"));
    assert!(prom.contains("# TYPE hearsay_datagrams_out_total counter\n"));
}

/// A cluster name is the user's: quotes, backslashes and newlines in it
/// are escaped, not taken as syntax.
#[test]
fn the_cluster_label_is_escaped() {
    let (snapshot, _) = numbered();
    let name = "a\"b\\c\nd";
    let text = render(name, snapshot, Format::OpenMetrics).unwrap();
    assert!(
        text.contains(r#"hearsay_entries{cluster="a\"b\\c\nd"} 77"#),
        "{text}"
    );
    let got = samples(&text);
    assert!(
        got.keys()
            .all(|(_, labels)| labels.contains(&("cluster".to_owned(), name.to_owned())))
    );
}

/// An infinite phi (a silence no history explains) is written as the
/// largest double, which every parser reads; no live peer reads as 0.
#[test]
fn an_infinite_phi_is_the_largest_double() {
    let (mut snapshot, _) = numbered();
    snapshot.gauges.max_phi = f64::INFINITY;
    snapshot.gauges.max_timeout = None;
    let text = render("prod", snapshot, Format::OpenMetrics).unwrap();
    let got = samples(&text);
    assert_eq!(
        got[&key("hearsay_max_phi", &[("cluster", "prod")])],
        f64::MAX
    );
    assert_eq!(
        got[&key("hearsay_max_timeout_seconds", &[("cluster", "prod")])],
        0.0
    );
}

#[test]
fn decode_error_labels_are_distinct_snake_case() {
    let mut seen = std::collections::BTreeSet::new();
    for kind in DecodeError::ALL {
        let label = decode_error_label(kind);
        assert!(label.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'));
        assert!(seen.insert(label), "{label} twice");
    }
}
