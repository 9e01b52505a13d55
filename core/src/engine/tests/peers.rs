//! Unit tests of peer selection: every Syn is answered, and live peers that
//! stop answering, or whose heartbeat stalls, give up their fanout slots
//! until they answer again.

use super::*;

/// Engines of these tests: node `k` listens at `addr(k)`.
type Node = Box<Small>;

fn index(a: SocketAddr) -> usize {
    usize::from(a.port() - 7000)
}

/// Delivers `sent` (sent by node `from`) and every reply it draws among
/// `nodes` at `now`, except datagrams for which `lost(from, to)` holds.
fn deliver(
    nodes: &mut [Node],
    from: usize,
    sent: Vec<(SocketAddr, Vec<u8>)>,
    now: Instant,
    lost: &impl Fn(usize, usize) -> bool,
) {
    let mut queue: Vec<(usize, SocketAddr, Vec<u8>)> =
        sent.into_iter().map(|(to, d)| (from, to, d)).collect();
    while let Some((from, to, d)) = queue.pop() {
        let to = index(to);
        if lost(from, to) {
            continue;
        }
        let mut replies = Sink::default();
        nodes[to]
            .handle_datagram(
                addr(from as u16),
                &mut d.clone(),
                now,
                &mut replies,
                &mut Log::default(),
            )
            .expect("valid");
        queue.extend(replies.sent.into_iter().map(|(t, d)| (to, t, d)));
    }
}

/// `from` opens an exchange with `to`, delivered in full.
fn push(nodes: &mut [Node], from: usize, to: usize, now: Instant) {
    let mut net = Sink::default();
    nodes[from]
        .start_exchange(addr(to as u16), &mut net)
        .expect("syn");
    deliver(nodes, from, net.sent, now, &|_, _| false);
}

/// Node `k` ticks; returns the nodes its Syns went to, and the Syns.
fn tick(
    nodes: &mut [Node],
    k: usize,
    now: Instant,
    rng: &mut TestRng,
) -> (Vec<usize>, Vec<(SocketAddr, Vec<u8>)>) {
    let mut net = Sink::default();
    nodes[k].tick(now, rng, &mut net, &mut Log::default());
    let mut to: Vec<usize> = net
        .sent
        .iter()
        .filter(|(_, d)| wire::read_header(d).map(|h| h.0) == Ok(MessageKind::Syn))
        .map(|(a, _)| index(*a))
        .collect();
    to.dedup();
    (to, net.sent)
}

/// x (0), p (1) and q (2), all live at each other after ten rounds; x
/// gossips with one peer a round.
fn trio(config: Config) -> Vec<Node> {
    let mut x_config = config.clone();
    x_config.fanout = 1;
    let mut nodes = vec![
        engine::<16, 512, 65_536>("x", 0, x_config),
        engine::<16, 512, 65_536>("p", 1, config.clone()),
        engine::<16, 512, 65_536>("q", 2, config),
    ];
    let mut rng = TestRng(7);
    for r in 0..10u64 {
        let now = Instant(r * 1000);
        for k in 0..3 {
            let (_, sent) = tick(&mut nodes, k, now, &mut rng);
            deliver(&mut nodes, k, sent, now, &|_, _| false);
            // Everyone hears everyone each round, whatever the picks.
            for j in 0..3 {
                if j != k {
                    push(&mut nodes, k, j, now);
                }
            }
        }
    }
    for name in ["p", "q"] {
        assert_eq!(
            nodes[0].node(name).map(|n| n.status()),
            Some(NodeStatus::Alive)
        );
    }
    nodes
}

#[test]
fn a_responder_with_nothing_to_send_still_answers() {
    let mut a = engine::<16, 512, 65_536>("a", 1, Config::new());
    let mut b = engine::<16, 512, 65_536>("b", 2, Config::new());
    a.set("color", b"red").expect("set");
    sync(&mut a, &mut b);
    sync(&mut b, &mut a);
    // b holds everything a has: its reply is an empty SynAck, and a does
    // not answer that.
    let seen = exchange(
        &mut a,
        &mut b,
        &mut Log::default(),
        &mut Log::default(),
        |_| false,
    );
    let kinds: Vec<_> = seen.iter().map(|(k, _)| *k).collect();
    assert_eq!(kinds, [MessageKind::Syn, MessageKind::SynAck]);
    let (syn, synack) = (&seen[0].1, &seen[1].1);
    let (_, hv, _, body) = wire::read_header(synack).expect("header");
    let msg = wire::parse_synack(hv, body).expect("valid");
    assert_eq!(msg.sender.name, "b");
    assert_eq!(msg.request_len(), 0);
    assert_eq!(msg.updates().count(), 0);
    assert!(
        synack.len() <= syn.len(),
        "{} > {}",
        synack.len(),
        syn.len()
    );
    assert_eq!(b.counters().datagrams_out, 3);

    // An empty reply is never longer than the Syn it answers: with a
    // 64-byte name against a 1-byte one it would be, so there is none.
    // (A fresh `s`: `a` also lists `b`, which `l` would ask for.)
    let mut s = engine::<16, 512, 65_536>("s", 4, Config::new());
    let long = "l".repeat(64);
    let mut l = engine::<16, 512, 65_536>(&long, 3, Config::new());
    sync(&mut s, &mut l);
    sync(&mut l, &mut s);
    let seen = exchange(
        &mut s,
        &mut l,
        &mut Log::default(),
        &mut Log::default(),
        |_| false,
    );
    assert_eq!(seen.len(), 1, "only the Syn");
}

#[test]
fn a_live_peer_that_stops_answering_gives_up_its_fanout_slot_until_it_answers() {
    let mut nodes = trio(Config::new());
    let mut rng = TestRng(3);
    // x and p can no longer reach each other; p's heartbeat still reaches
    // x every round through q, so p stays live and fresh at x.
    let cut = |a: usize, b: usize| (a == 0 && b == 1) || (a == 1 && b == 0);
    let mut unanswered = 0;
    let mut slot_taken_by_q_after_limit = 0;
    let mut probes = 0;
    for r in 10..60u64 {
        let now = Instant(r * 1000);
        nodes[1].tick(now, &mut rng, &mut Sink::default(), &mut Log::default());
        push(&mut nodes, 1, 2, now);
        nodes[2].tick(now, &mut rng, &mut Sink::default(), &mut Log::default());
        push(&mut nodes, 2, 0, now);
        let (to, sent) = tick(&mut nodes, 0, now, &mut rng);
        if unanswered >= UNANSWERED_LIMIT {
            // p no longer takes the one fanout slot: q has it every round,
            // and p is only probed on top of it now and then.
            assert!(to.contains(&2), "round {r}: x gossiped with {to:?} only");
            slot_taken_by_q_after_limit += 1;
            probes += usize::from(to.contains(&1));
        }
        if to.contains(&1) {
            unanswered = unanswered.saturating_add(1);
        }
        deliver(&mut nodes, 0, sent, now, &cut);
        assert_eq!(
            nodes[0].node("p").map(|n| n.status()),
            Some(NodeStatus::Alive)
        );
    }
    assert!(
        slot_taken_by_q_after_limit >= 20,
        "{slot_taken_by_q_after_limit}"
    );
    assert!(probes > 0, "p is still probed");

    // The link is back: the next probe is answered, and p takes the slot
    // again in some rounds.
    let mut p_alone = 0;
    for r in 60..100u64 {
        let now = Instant(r * 1000);
        let (to, sent) = tick(&mut nodes, 0, now, &mut rng);
        p_alone += usize::from(to == [1]);
        deliver(&mut nodes, 0, sent, now, &|_, _| false);
        for k in 1..3 {
            nodes[k].tick(now, &mut rng, &mut Sink::default(), &mut Log::default());
            push(&mut nodes, k, 3 - k, now);
        }
    }
    assert!(p_alone > 5, "p took the slot alone in {p_alone} rounds");
}

#[test]
fn a_live_peer_whose_heartbeat_stalls_gives_up_its_fanout_slot() {
    let mut config = Config::new();
    // A long pause keeps p live well past a quarter of its timeout.
    config.detector.acceptable_heartbeat_pause = Duration::from_secs(10);
    let mut nodes = trio(config);
    let mut rng = TestRng(5);
    let timeout = nodes[0]
        .node("p")
        .and_then(|n| n.timeout())
        .expect("history");
    let last = nodes[0]
        .node("p")
        .and_then(|n| n.last_heartbeat_at())
        .expect("heard");
    let quiet_from = last.saturating_add(timeout / crate::nodes::QUIET_FRACTION);
    // p stops beating (it still answers, so only its heartbeat tells).
    let mut quiet_rounds = 0;
    for r in 10..40u64 {
        let now = Instant(r * 1000);
        if nodes[0].node("p").map(|n| n.status()) != Some(NodeStatus::Alive) {
            break;
        }
        nodes[2].tick(now, &mut rng, &mut Sink::default(), &mut Log::default());
        push(&mut nodes, 2, 0, now);
        let (to, sent) = tick(&mut nodes, 0, now, &mut rng);
        if now >= quiet_from {
            assert!(to.contains(&2), "round {r}: x gossiped with {to:?} only");
            quiet_rounds += 1;
        }
        deliver(&mut nodes, 0, sent, now, &|_, _| false);
    }
    assert!(quiet_rounds >= 5, "{quiet_rounds}");
    // p beats again: it is a full candidate again.
    let mut p_alone = 0;
    for r in 40..80u64 {
        let now = Instant(r * 1000);
        nodes[1].tick(now, &mut rng, &mut Sink::default(), &mut Log::default());
        push(&mut nodes, 1, 0, now);
        let (to, sent) = tick(&mut nodes, 0, now, &mut rng);
        p_alone += usize::from(to == [1]);
        deliver(&mut nodes, 0, sent, now, &|_, _| false);
    }
    assert!(p_alone > 5, "p took the slot alone in {p_alone} rounds");
}
