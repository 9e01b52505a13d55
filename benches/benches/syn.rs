//! "Answer a Syn": how long a responder takes from the received Syn datagrams
//! of a stale initiator to its encoded SynAck datagrams, for clusters of 10,
//! 100 and 1000 nodes; and how long the initiator takes to encode that Syn.
//!
//! See `benches/src/lib.rs` for how the state is built and checked.

use std::hint::black_box;
use std::time::Instant as WallClock;

use benches::{Report, Scenario, entry_slot_bytes, node_slot_bytes};
use criterion::{BenchmarkId, Criterion};
use hearsay_core::{Capacity, Engine, Heap};
use hearsay_testkit::CountingSink;

const SIZES: [usize; 3] = [10, 100, 1000];

fn main() {
    let mut scenarios = Vec::new();
    let mut reports = Vec::new();
    for n in SIZES {
        let t = WallClock::now();
        let mut s = Scenario::build(n);
        let report = s.verify();
        eprintln!(
            "built and verified N={n} in {:.2?} ({} R<->I setup exchanges)",
            t.elapsed(),
            report.setup_rounds
        );
        scenarios.push(s);
        reports.push(report);
    }

    let mut c = Criterion::default().configure_from_args();

    let mut group = c.benchmark_group("answer_syn");
    for s in scenarios.iter_mut() {
        let mut sink = CountingSink::new();
        group.bench_function(BenchmarkId::from_parameter(s.n), |b| {
            b.iter(|| s.answer_syn(black_box(&mut sink)))
        });
    }
    group.finish();

    let mut group = c.benchmark_group("start_exchange");
    for s in scenarios.iter_mut() {
        let mut sink = CountingSink::new();
        group.bench_function(BenchmarkId::from_parameter(s.n), |b| {
            b.iter(|| black_box(s.start_exchange(black_box(&mut sink))))
        });
    }
    group.finish();

    c.final_summary();
    summary(&reports);
}

fn summary(reports: &[Report]) {
    eprintln!();
    eprintln!("== answer a Syn: what is exchanged (mtu 1400, exchange budget 64 KiB) ==");
    eprintln!(
        "{:>5} {:>6} {:>9} {:>9} {:>12} {:>13} {:>15} {:>9} {:>9}",
        "N",
        "stale",
        "Syn dgs",
        "Syn B",
        "SynAck dgs",
        "SynAck B",
        "updated(+part)",
        "catch-up",
        "entries"
    );
    for r in reports {
        eprintln!(
            "{:>5} {:>6} {:>9} {:>9} {:>12} {:>13} {:>11}(+{}) {:>9} {:>9}",
            r.nodes,
            r.stale_nodes,
            r.syn_datagrams,
            r.syn_bytes,
            r.synack_datagrams,
            r.synack_bytes,
            r.nodes_updated,
            r.nodes_partly_updated,
            r.exchanges_to_catch_up,
            r.entries
        );
    }
    eprintln!();
    eprintln!("== memory ==");
    let tables = Capacity::DEFAULT.memory_bytes();
    let value = size_of::<Engine<Heap>>();
    eprintln!(
        "engine memory at Capacity::DEFAULT (1024 nodes, 16384 entries, 1 MiB arena, 256-interval window): {} bytes ({:.2} MiB) = tables {tables} + engine value {value}",
        tables + value,
        (tables + value) as f64 / (1024.0 * 1024.0)
    );
    eprintln!(
        "per entry slot (memory_bytes difference over entries = 16384 -> 32768): {:.2} bytes",
        entry_slot_bytes()
    );
    eprintln!(
        "per node slot (memory_bytes difference over nodes = 1024 -> 2048): {:.2} bytes",
        node_slot_bytes()
    );
    for r in reports {
        eprintln!(
            "N={:>4}: R holds {} entries, arena {} bytes in use = {:.2} bytes/entry",
            r.nodes,
            r.entries,
            r.arena_bytes,
            r.arena_bytes as f64 / r.entries as f64
        );
    }
}
