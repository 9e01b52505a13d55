//! Unit tests of peer selection: every Syn is answered.

use super::*;

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
    let (_, _, body) = wire::read_header(synack).expect("header");
    let msg = wire::parse_synack(body).expect("valid");
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
    let long = "l".repeat(64);
    let mut l = engine::<16, 512, 65_536>(&long, 3, Config::new());
    sync(&mut a, &mut l);
    sync(&mut l, &mut a);
    let seen = exchange(
        &mut a,
        &mut l,
        &mut Log::default(),
        &mut Log::default(),
        |_| false,
    );
    assert_eq!(seen.len(), 1, "only the Syn");
}
