//! hearsay-std nodes on loopback with cluster keys (issue 11): a keyed
//! cluster converges, a node with another key never joins it, and a key
//! rotated through the `Node` handles keeps the cluster together.

use hearsay_std::{DecodeError, Error, KeyError, KeyMode, Node, NodeStatus};

mod support;
use support::{builder, wait_until};

const K1: [u8; 32] = [0x31; 32];
const K2: [u8; 32] = [0x32; 32];
const OTHER: [u8; 32] = [0x99; 32];

fn alive(observer: &Node, subject: &Node) -> bool {
    observer.member(subject.name()).unwrap().map(|m| m.status) == Some(NodeStatus::Alive)
}

#[test]
fn a_keyed_cluster_converges_and_a_node_with_another_key_never_joins() {
    let a = builder("ka").cluster_key(K1).start().unwrap();
    let seed = a.local_addr().to_string();
    let b = builder("kb").cluster_key(K1).seed(&seed).start().unwrap();
    let stranger = builder("kx")
        .cluster_key(OTHER)
        .seed(&seed)
        .start()
        .unwrap();
    wait_until("a and b see each other", || alive(&a, &b) && alive(&b, &a));
    wait_until("a refused the stranger's datagrams", || {
        a.counters()
            .unwrap()
            .engine
            .rejected(DecodeError::UnknownKey)
            >= 3
    });
    assert!(a.member("kx").unwrap().is_none());
    assert!(b.member("kx").unwrap().is_none());
    assert!(stranger.members().unwrap().iter().all(|m| m.name == "kx"));
    let keys = a.keys().unwrap();
    assert_eq!(keys.installed.len(), 1);
    assert_eq!(keys.primary, Some(keys.installed[0]));
    assert_eq!(keys.mode, KeyMode::Required);
}

#[test]
fn a_key_rotated_through_the_handles_keeps_the_cluster_together() {
    let a = builder("ra").cluster_key(K1).start().unwrap();
    let seed = a.local_addr().to_string();
    let b = builder("rb").keys([K1]).seed(&seed).start().unwrap();
    wait_until("a and b see each other", || alive(&a, &b) && alive(&b, &a));
    let k1 = a.keys().unwrap().primary.unwrap();
    let k2 = a.install_key(K2).unwrap();
    assert_eq!(b.install_key(K2).unwrap(), k2);
    a.use_key(k2).unwrap();
    b.use_key(k2).unwrap();
    assert!(matches!(
        a.remove_key(k2),
        Err(Error::Key(KeyError::Primary))
    ));
    a.remove_key(k1).unwrap();
    b.remove_key(k1).unwrap();
    assert_eq!(b.keys().unwrap().installed, [k2]);
    a.set("after", "rotation").unwrap();
    wait_until("b has a's write sealed with the new key", || {
        b.get_from("ra", "after").unwrap().as_deref() == Some(&b"rotation"[..])
    });
    assert!(alive(&a, &b) && alive(&b, &a));
    let c = a.counters().unwrap().engine;
    assert_eq!(c.rejected_total(), 0, "{c:?}");
    assert!(c.sealed_in > 0);
}

#[test]
fn more_than_four_keys_are_refused_at_start() {
    let r = builder("k5")
        .keys([[1; 32], [2; 32], [3; 32], [4; 32], [5; 32]])
        .start();
    assert!(matches!(
        r,
        Err(Error::InvalidSetting {
            setting: "keys",
            ..
        })
    ));
}
