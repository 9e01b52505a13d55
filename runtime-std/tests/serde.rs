//! Feature `serde`: the shape of hearsay-std's data types in JSON
//! (serde_json) and their round trips, in a human-readable format (JSON)
//! and a binary one (postcard).

use std::time::Duration;

use hearsay_std::{
    Counters, Gauges, KeyEvent, Keys, Member, MembershipEvent, Node, NodeEvent, NodeStatus,
};
use serde_json::{Value, json};

/// A member with one text value and one that is not UTF-8, read back from
/// a running node.
fn member() -> Member {
    let node = Node::builder("serde-a")
        .generation(42)
        .set("http", "127.0.0.1:8080")
        .set("blob", [0xff, 0x00, 0x7f])
        .start()
        .unwrap();
    let m = node.member("serde-a").unwrap().unwrap();
    node.shutdown().unwrap();
    m
}

fn postcard_round_trip<T>(value: &T) -> T
where
    T: serde::Serialize + serde::de::DeserializeOwned,
{
    let mut buf = [0u8; 4096];
    let bytes = postcard::to_slice(value, &mut buf).unwrap();
    postcard::from_bytes(bytes).unwrap()
}

#[test]
fn a_member_serializes_as_documented() {
    let m = member();
    let v = serde_json::to_value(&m).unwrap();
    let addr = m.addr.to_string();
    assert_eq!(v["name"], "serde-a");
    assert_eq!(v["generation"], 42);
    assert_eq!(v["addr"], json!(addr));
    assert_eq!(v["status"], "Alive");
    assert_eq!(v["is_local"], true);
    assert_eq!(v["phi"], 0.0);
    assert!(v["heartbeat"].is_u64());
    assert_eq!(v["timeout"], Value::Null);
    assert_eq!(v["since_heartbeat"], Value::Null);
    assert!(v["status_age"]["secs"].is_u64() && v["status_age"]["nanos"].is_u64());
    // A UTF-8 value is a string; any other value an array of byte numbers.
    assert_eq!(
        v["keys"],
        json!({"http": "127.0.0.1:8080", "blob": [255, 0, 127]})
    );
    let fields: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(
        fields.len(),
        11,
        "a field was added or removed: update the docs of Member ({fields:?})"
    );

    // Both read back as the same member, in JSON and in postcard.
    let back: Member = serde_json::from_value(v).unwrap();
    assert_eq!(back, m);
    assert_eq!(postcard_round_trip(&m), m);
}

#[test]
fn an_infinite_phi_is_null_and_reads_back() {
    let mut v = serde_json::to_value(member()).unwrap();
    v["phi"] = Value::Null;
    let m: Member = serde_json::from_value(v).unwrap();
    assert_eq!(m.phi, f64::INFINITY);
    assert_eq!(serde_json::to_value(&m).unwrap()["phi"], Value::Null);
    assert_eq!(postcard_round_trip(&m).phi, f64::INFINITY);
}

#[test]
fn values_read_back_from_any_of_their_forms() {
    let mut v = serde_json::to_value(member()).unwrap();
    // A text value may also come as bytes; either way the same bytes.
    v["keys"] = json!({"a": [104, 105], "b": "hi", "c": ""});
    let m: Member = serde_json::from_value(v.clone()).unwrap();
    assert_eq!(m.get("a"), Some(&b"hi"[..]));
    assert_eq!(m.get("b"), Some(&b"hi"[..]));
    assert_eq!(m.get("c"), Some(&b""[..]));
    v["keys"] = json!({"a": [256]});
    assert!(serde_json::from_value::<Member>(v.clone()).is_err());
    v["keys"] = json!({"a": 7});
    assert!(serde_json::from_value::<Member>(v).is_err());
}

/// Node names (in every `NodeId`, as events carry them) are checked on the
/// way in, as `NodeName::new` checks them.
#[test]
fn invalid_names_do_not_deserialize() {
    let joined = |name: Value| {
        let v = json!({"Joined": {"node": {"name": name, "generation": 1, "addr": "127.0.0.1:1"}}});
        serde_json::from_value::<MembershipEvent>(v)
    };
    assert!(joined(json!("fine")).is_ok());
    for bad in [json!(""), json!("a\u{0}b"), json!("x".repeat(65)), json!(7)] {
        assert!(joined(bad.clone()).is_err(), "{bad}");
    }
}

#[test]
fn events_keys_counters_and_gauges_round_trip() {
    let m = member();
    let node = m.id().unwrap();
    let events = [
        MembershipEvent::Joined { node: node.clone() },
        MembershipEvent::Replaced {
            old: node.clone(),
            new: node.clone(),
        },
        MembershipEvent::Lagged { missed: 3 },
    ];
    for e in &events {
        let text = serde_json::to_string(e).unwrap();
        assert_eq!(&serde_json::from_str::<MembershipEvent>(&text).unwrap(), e);
        assert_eq!(&postcard_round_trip(e), e);
    }
    let v = serde_json::to_value(&events[0]).unwrap();
    assert_eq!(
        v,
        json!({"Joined": {"node": {"name": "serde-a", "generation": 42, "addr": m.addr.to_string()}}})
    );

    let set = KeyEvent::Set {
        node: node.clone(),
        key: "http".into(),
        value: b"127.0.0.1:8080".to_vec(),
        version: 7,
    };
    let v = serde_json::to_value(&set).unwrap();
    assert_eq!(v["Set"]["value"], "127.0.0.1:8080");
    assert_eq!(serde_json::from_value::<KeyEvent>(v).unwrap(), set);
    assert_eq!(postcard_round_trip(&set), set);

    // The one ordered stream's events (`Node::subscribe`).
    for e in [
        NodeEvent::Membership(events[1].clone()),
        NodeEvent::Key(set.clone()),
        NodeEvent::Lagged { missed: 2 },
    ] {
        let text = serde_json::to_string(&e).unwrap();
        assert_eq!(serde_json::from_str::<NodeEvent>(&text).unwrap(), e);
        assert_eq!(postcard_round_trip(&e), e);
    }
    assert_eq!(
        serde_json::to_value(NodeEvent::Lagged { missed: 2 }).unwrap(),
        json!({"Lagged": {"missed": 2}})
    );

    // From a running node: counters, gauges, keys.
    let n = Node::builder("serde-b")
        .cluster_key([7; 32])
        .gossip_interval(Duration::from_millis(100))
        .start()
        .unwrap();
    let counters: Counters = n.counters().unwrap();
    let v = serde_json::to_value(&counters).unwrap();
    assert!(v["engine"]["datagrams_out"].is_u64());
    assert_eq!(
        v["engine"]["rejected_by_kind"].as_array().unwrap().len(),
        hearsay_std::DecodeError::COUNT
    );
    assert_eq!(serde_json::from_value::<Counters>(v).unwrap(), counters);
    let gauges: Gauges = n.gauges().unwrap();
    assert_eq!(gauges.members(NodeStatus::Alive), 1);
    let v = serde_json::to_value(&gauges).unwrap();
    assert_eq!(v["alive"], 1);
    assert_eq!(v["capacity"]["nodes"], n.capacity().nodes);
    assert_eq!(serde_json::from_value::<Gauges>(v).unwrap(), gauges);
    let keys: Keys = n.keys().unwrap();
    let v = serde_json::to_value(&keys).unwrap();
    assert_eq!(v["mode"], "Required");
    assert_eq!(v["primary"], json!(keys.primary.unwrap().0));
    assert_eq!(serde_json::from_value::<Keys>(v).unwrap(), keys);
}
