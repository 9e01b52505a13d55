//! Tests of the C API called from Rust, as C would call it: argument
//! checks (NULL, invalid UTF-8, buffers too small), status codes, events,
//! leaving, concurrent use of one handle, and panics turned into
//! `HEARSAY_INTERNAL_ERROR`. `tests/c_demo.rs` runs the same API from C.

use std::ffi::{CStr, CString, c_char};
use std::ptr::{null, null_mut};
use std::time::{Duration, Instant};

use crate::boundary::c_str_of;
use crate::hearsay_status::*;
use crate::unwind::test_hook;
use crate::*;

/// How long an expected outcome may take before a test fails: a liveness
/// bound, generous enough for a loaded two-core machine. Speed is measured
/// by the benchmarks, not asserted here.
const PATIENCE: Duration = Duration::from_secs(20);
/// [`PATIENCE`] as a `timeout_ms` argument.
const PATIENCE_MS: u32 = 20_000;

/// Default options with `name` (kept alive by the caller) and a fast
/// gossip interval.
fn options(name: &CStr) -> hearsay_options {
    let mut o = std::mem::MaybeUninit::<hearsay_options>::uninit();
    // SAFETY: a writable hearsay_options; init fills every field.
    unsafe { hearsay_options_init(o.as_mut_ptr()) };
    // SAFETY: initialised just above.
    let mut o = unsafe { o.assume_init() };
    o.name = name.as_ptr();
    o.gossip_interval_ms = 50;
    o
}

fn start_with(o: &hearsay_options) -> Result<*mut hearsay_node, hearsay_status> {
    let mut node = null_mut();
    // SAFETY: valid options and out pointer.
    match unsafe { hearsay_start(o, &mut node) } {
        HEARSAY_OK => Ok(node),
        status => {
            assert!(node.is_null(), "no node on failure");
            Err(status)
        }
    }
}

fn start(name: &CStr) -> *mut hearsay_node {
    start_with(&options(name)).expect("node starts")
}

fn free(node: *mut hearsay_node) {
    // SAFETY: a node from hearsay_start, not used afterwards.
    unsafe { hearsay_free(node) };
}

fn local_addr(node: *mut hearsay_node) -> CString {
    let mut buf = [0 as c_char; HEARSAY_ADDR_SIZE];
    // SAFETY: a live node and a buffer of the stated size.
    let status = unsafe { hearsay_local_addr(node, buf.as_mut_ptr(), buf.len()) };
    assert_eq!(status, HEARSAY_OK);
    CString::new(c_str_of(&buf)).unwrap()
}

fn set(node: *mut hearsay_node, key: &CStr, value: &[u8]) -> hearsay_status {
    // SAFETY: a live node, a C string, `value.len()` readable bytes.
    unsafe { hearsay_set(node, key.as_ptr(), value.as_ptr(), value.len()) }
}

/// `hearsay_get` into a buffer of `cap` bytes: the status and `*len_out`.
fn get(node: *mut hearsay_node, member: &CStr, key: &CStr, cap: usize) -> (hearsay_status, usize) {
    let mut buf = vec![0u8; cap];
    let mut len = usize::MAX;
    // SAFETY: a live node, C strings, `cap` writable bytes, a size_t.
    let status = unsafe {
        hearsay_get(
            node,
            member.as_ptr(),
            key.as_ptr(),
            buf.as_mut_ptr(),
            cap,
            &mut len,
        )
    };
    (status, len)
}

fn next_event(node: *mut hearsay_node, timeout_ms: u32) -> Result<hearsay_event, hearsay_status> {
    let mut e = std::mem::MaybeUninit::<hearsay_event>::uninit();
    // SAFETY: a live node and a writable event.
    match unsafe { hearsay_next_event(node, e.as_mut_ptr(), timeout_ms) } {
        // SAFETY: OK means the event was written.
        HEARSAY_OK => Ok(unsafe { e.assume_init() }),
        status => Err(status),
    }
}

/// Waits up to `within` for `cond`.
fn eventually(within: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + within;
    while Instant::now() < end {
        if cond() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    cond()
}

const INVALID_UTF8: &CStr = c"\xff\xfe";

#[test]
fn start_rejects_bad_options_with_invalid_argument() {
    let long = CString::new("n".repeat(65)).unwrap();
    let names: [&CStr; 3] = [c"", INVALID_UTF8, &long];
    for name in names {
        assert_eq!(start_with(&options(name)), Err(HEARSAY_INVALID_ARGUMENT));
    }
    let mut o = options(c"a");
    o.name = null();
    assert_eq!(start_with(&o), Err(HEARSAY_INVALID_ARGUMENT));

    let bad_addrs: [&CStr; 3] = [c"nope", c"127.0.0.1", INVALID_UTF8];
    for addr in bad_addrs {
        let mut o = options(c"a");
        o.listen_addr = addr.as_ptr();
        assert_eq!(start_with(&o), Err(HEARSAY_INVALID_ARGUMENT));
        let mut o = options(c"a");
        o.advertise_addr = addr.as_ptr();
        assert_eq!(start_with(&o), Err(HEARSAY_INVALID_ARGUMENT));
    }
    // A wildcard address needs an advertise address.
    let mut o = options(c"a");
    o.listen_addr = c"0.0.0.0:0".as_ptr();
    assert_eq!(start_with(&o), Err(HEARSAY_INVALID_ARGUMENT));

    // Seeds: NULL array with a count, a NULL seed, a seed without a port.
    let mut o = options(c"a");
    o.seed_count = 1;
    assert_eq!(start_with(&o), Err(HEARSAY_INVALID_ARGUMENT));
    for seed in [null(), c"no-port".as_ptr(), INVALID_UTF8.as_ptr()] {
        let seeds = [c"127.0.0.1:1".as_ptr(), seed];
        let mut o = options(c"a");
        o.seeds = seeds.as_ptr();
        o.seed_count = 2;
        assert_eq!(start_with(&o), Err(HEARSAY_INVALID_ARGUMENT));
    }
    let mut o = options(c"a");
    o.cluster_id = INVALID_UTF8.as_ptr();
    assert_eq!(start_with(&o), Err(HEARSAY_INVALID_ARGUMENT));
    // Durations beyond their range (an hour for both).
    let mut o = options(c"a");
    o.gossip_interval_ms = 3_600_001;
    assert_eq!(start_with(&o), Err(HEARSAY_INVALID_ARGUMENT));
    let mut o = options(c"a");
    o.leave_linger_ms = u32::MAX;
    assert_eq!(start_with(&o), Err(HEARSAY_INVALID_ARGUMENT));
    // A pending timeout shorter than two gossip intervals.
    let mut o = options(c"a");
    o.gossip_interval_ms = 1000;
    o.pending_timeout_ms = 1999;
    assert_eq!(start_with(&o), Err(HEARSAY_INVALID_ARGUMENT));

    // NULL options or out.
    let mut node = null_mut();
    // SAFETY: NULL is allowed and checked.
    let status = unsafe { hearsay_start(null(), &mut node) };
    assert_eq!(status, HEARSAY_INVALID_ARGUMENT);
    assert!(node.is_null());
    let o = options(c"a");
    // SAFETY: as above.
    let status = unsafe { hearsay_start(&o, null_mut()) };
    assert_eq!(status, HEARSAY_INVALID_ARGUMENT);
    // SAFETY: init ignores NULL.
    unsafe { hearsay_options_init(null_mut()) };
}

#[test]
fn a_custom_capacity_reaches_the_engine() {
    // Room for 16 entries: 15 keys and the entry a leave writes, then the
    // store is full. The default capacity (16,384 entries) takes all 20
    // writes.
    let mut o = options(c"small");
    o.max_nodes = 4;
    o.max_entries = 16;
    o.max_state_bytes = 4096;
    o.detector_window = 16;
    let small = start_with(&o).expect("starts");
    let big = start(c"big");
    let mut small_full = None;
    for i in 0..20 {
        let key = CString::new(format!("k{i}")).unwrap();
        assert_eq!(set(big, &key, b"v"), HEARSAY_OK, "default capacity");
        let status = set(small, &key, b"v");
        if status != HEARSAY_OK {
            small_full = Some((i, status));
            break;
        }
    }
    assert_eq!(
        small_full.map(|(_, s)| s),
        Some(HEARSAY_CAPACITY_FULL),
        "the 16-entry store fills: {small_full:?}"
    );
    free(small);
    free(big);
}

#[test]
fn a_bad_capacity_is_an_invalid_argument() {
    type Set = fn(&mut hearsay_options);
    let cases: [(&str, Set); 6] = [
        ("65536 nodes", |o| o.max_nodes = 65_536),
        ("u32::MAX nodes", |o| o.max_nodes = u32::MAX),
        ("window 65536", |o| o.detector_window = 65_536),
        ("u32::MAX entries", |o| o.max_entries = u32::MAX),
        ("u32::MAX state bytes", |o| o.max_state_bytes = u32::MAX),
        // Smaller than the local reserve (8 entries + the leave entry).
        ("3 entries", |o| o.max_entries = 3),
    ];
    for (what, set) in cases {
        let mut o = options(c"a");
        set(&mut o);
        assert_eq!(start_with(&o), Err(HEARSAY_INVALID_ARGUMENT), "{what}");
    }
}

#[test]
fn a_port_in_use_is_a_bind_failure() {
    let a = start(c"a");
    let addr = local_addr(a);
    let mut o = options(c"b");
    o.listen_addr = addr.as_ptr();
    assert_eq!(start_with(&o), Err(HEARSAY_BIND_FAILED));
    free(a);
}

#[test]
fn every_option_is_applied() {
    let a = start(c"seed");
    let seed = local_addr(a);
    let seeds = [seed.as_ptr()];
    let mut o = options(c"full");
    o.listen_addr = c"127.0.0.1:0".as_ptr();
    o.advertise_addr = c"127.0.0.1:1".as_ptr();
    o.seeds = seeds.as_ptr();
    o.seed_count = 1;
    o.cluster_id = c"hearsay".as_ptr();
    // An hour: unmistakable against the default of 3 s.
    o.leave_linger_ms = 3_600_000;
    let b = start_with(&o).expect("starts");
    let mut me = std::mem::MaybeUninit::<hearsay_member>::uninit();
    // SAFETY: a live node, a C string, a writable member.
    let status = unsafe { hearsay_member_get(b, c"full".as_ptr(), me.as_mut_ptr()) };
    assert_eq!(status, HEARSAY_OK);
    // SAFETY: written on OK.
    let me = unsafe { me.assume_init() };
    assert_eq!(c_str_of(&me.addr), "127.0.0.1:1", "advertised address");
    assert_eq!(me.status, hearsay_member_status::HEARSAY_MEMBER_ALIVE);
    // With the default linger (3 s) the leave would be over within 5 s;
    // with the hour set it is still lingering. However slow the machine,
    // the hour does not run out, so a correct build cannot fail here.
    // SAFETY: a live node.
    let status = unsafe { hearsay_leave(b, 5000) };
    assert_eq!(status, HEARSAY_TIMEOUT, "the long linger applies");
    free(b);
    free(a);
}

#[test]
fn calls_reject_null_pointers_and_invalid_utf8() {
    let n = start(c"args");
    let v = b"value";
    let mut len = 0usize;
    let mut buf = [0u8; 16];
    let k = c"k".as_ptr();
    let bad = INVALID_UTF8.as_ptr();
    let me = c"args".as_ptr();
    let mut member = std::mem::MaybeUninit::<hearsay_member>::uninit();
    // SAFETY: every pointer is NULL or valid for what it claims; the calls
    // must refuse the NULLs and invalid strings.
    unsafe {
        // No node.
        assert_eq!(
            hearsay_set(null_mut(), k, v.as_ptr(), v.len()),
            HEARSAY_INVALID_ARGUMENT
        );
        assert_eq!(
            hearsay_set_with_ttl(null_mut(), k, v.as_ptr(), 1, 10),
            HEARSAY_INVALID_ARGUMENT
        );
        assert_eq!(hearsay_delete(null_mut(), k), HEARSAY_INVALID_ARGUMENT);
        assert_eq!(
            hearsay_get(null_mut(), me, k, buf.as_mut_ptr(), 16, &mut len),
            HEARSAY_INVALID_ARGUMENT
        );
        assert_eq!(
            hearsay_local_addr(null_mut(), null_mut(), 0),
            HEARSAY_INVALID_ARGUMENT
        );
        assert_eq!(hearsay_leave(null_mut(), 0), HEARSAY_INVALID_ARGUMENT);
        assert_eq!(hearsay_live_count(null_mut()), 0);
        assert_eq!(
            hearsay_live_members(null_mut(), null_mut(), &mut len),
            HEARSAY_INVALID_ARGUMENT
        );
        assert_eq!(
            hearsay_member_get(null_mut(), me, null_mut()),
            HEARSAY_INVALID_ARGUMENT
        );
        assert_eq!(
            hearsay_next_event(null_mut(), null_mut(), 0),
            HEARSAY_INVALID_ARGUMENT
        );
        hearsay_free(null_mut());

        // NULL or invalid keys and names.
        assert_eq!(
            hearsay_set(n, null(), v.as_ptr(), v.len()),
            HEARSAY_INVALID_ARGUMENT
        );
        assert_eq!(
            hearsay_set(n, bad, v.as_ptr(), v.len()),
            HEARSAY_INVALID_ARGUMENT
        );
        assert_eq!(
            hearsay_set_with_ttl(n, bad, v.as_ptr(), v.len(), 10),
            HEARSAY_INVALID_ARGUMENT
        );
        assert_eq!(hearsay_delete(n, null()), HEARSAY_INVALID_ARGUMENT);
        assert_eq!(hearsay_delete(n, bad), HEARSAY_INVALID_ARGUMENT);
        assert_eq!(
            hearsay_get(n, null(), k, buf.as_mut_ptr(), 16, &mut len),
            HEARSAY_INVALID_ARGUMENT
        );
        assert_eq!(
            hearsay_get(n, bad, k, buf.as_mut_ptr(), 16, &mut len),
            HEARSAY_INVALID_ARGUMENT
        );
        assert_eq!(
            hearsay_get(n, me, null(), buf.as_mut_ptr(), 16, &mut len),
            HEARSAY_INVALID_ARGUMENT
        );
        assert_eq!(
            hearsay_get(n, me, bad, buf.as_mut_ptr(), 16, &mut len),
            HEARSAY_INVALID_ARGUMENT
        );
        assert_eq!(
            hearsay_member_get(n, bad, member.as_mut_ptr()),
            HEARSAY_INVALID_ARGUMENT
        );
        assert_eq!(
            hearsay_member_get(n, null(), member.as_mut_ptr()),
            HEARSAY_INVALID_ARGUMENT
        );

        // NULL outputs and value buffers.
        assert_eq!(hearsay_set(n, k, null(), 3), HEARSAY_INVALID_ARGUMENT);
        assert_eq!(
            hearsay_get(n, me, k, buf.as_mut_ptr(), 16, null_mut()),
            HEARSAY_INVALID_ARGUMENT
        );
        assert_eq!(
            hearsay_live_members(n, null_mut(), null_mut()),
            HEARSAY_INVALID_ARGUMENT
        );
        assert_eq!(
            hearsay_member_get(n, me, null_mut()),
            HEARSAY_INVALID_ARGUMENT
        );
        assert_eq!(
            hearsay_next_event(n, null_mut(), 0),
            HEARSAY_INVALID_ARGUMENT
        );
        assert_eq!(
            hearsay_local_addr(n, null_mut(), 64),
            HEARSAY_INVALID_ARGUMENT
        );

        // Keys hearsay refuses, and a value beyond max_value_len (64 KiB).
        assert_eq!(set(n, c"", v), HEARSAY_INVALID_ARGUMENT);
        let long = CString::new("k".repeat(256)).unwrap();
        assert_eq!(set(n, &long, v), HEARSAY_INVALID_ARGUMENT);
        assert_eq!(set(n, c"big", &[0; 65_537]), HEARSAY_INVALID_ARGUMENT);

        // An empty value may come as NULL.
        assert_eq!(hearsay_set(n, c"empty".as_ptr(), null(), 0), HEARSAY_OK);
        assert_eq!(
            hearsay_get(n, me, c"empty".as_ptr(), null_mut(), 0, &mut len),
            HEARSAY_OK
        );
        assert_eq!(len, 0);
    }
    // Nothing refused was written.
    assert_eq!(get(n, c"args", c"k", 16).0, HEARSAY_NOT_FOUND);
    free(n);
}

#[test]
fn a_full_node_reports_capacity_full() {
    // A share larger than the whole store, so that the store fills first.
    let mut o = options(c"full");
    o.max_node_entries = u32::MAX;
    o.max_node_bytes = u32::MAX;
    let n = start_with(&o).expect("starts");
    // The default engine holds 1 MiB of keys and values: about 1150 of
    // these before it refuses.
    let value = [7u8; 900];
    let mut status = HEARSAY_OK;
    let mut written = 0;
    while status == HEARSAY_OK && written < 5000 {
        let key = CString::new(format!("k{written}")).unwrap();
        status = set(n, &key, &value);
        written += 1;
    }
    assert_eq!(status, HEARSAY_CAPACITY_FULL, "after {written} writes");
    // Deleting still works: the tombstone takes the entry's place.
    // SAFETY: a live node and a C string.
    assert_eq!(unsafe { hearsay_delete(n, c"k0".as_ptr()) }, HEARSAY_OK);
    free(n);
}

#[test]
fn a_namespace_beyond_its_share_reports_namespace_full() {
    let mut o = options(c"shared");
    o.max_node_entries = 3;
    let n = start_with(&o).expect("starts");
    // Three entries: two keys and the room kept for the leave entry.
    assert_eq!(set(n, c"k1", b"v"), HEARSAY_OK);
    assert_eq!(set(n, c"k2", b"v"), HEARSAY_OK);
    assert_eq!(set(n, c"k3", b"v"), HEARSAY_NAMESPACE_FULL);
    free(n);
    let mut o = options(c"shared");
    o.max_node_entries = 1;
    assert_eq!(start_with(&o).err(), Some(HEARSAY_INVALID_ARGUMENT));
}

#[test]
fn a_value_beyond_max_value_len_is_an_invalid_argument() {
    let mut o = options(c"limited");
    o.max_value_len = 10;
    let n = start_with(&o).expect("starts");
    assert_eq!(set(n, c"k", &[1; 10]), HEARSAY_OK);
    assert_eq!(set(n, c"k", &[1; 11]), HEARSAY_INVALID_ARGUMENT);
    let (status, len) = get(n, c"limited", c"k", 64);
    assert_eq!(
        (status, len),
        (HEARSAY_OK, 10),
        "the refused write changed nothing"
    );
    free(n);
}

#[test]
fn get_reports_missing_values_and_sizes() {
    let n = start(c"getter");
    let value = b"0123456789";
    assert_eq!(set(n, c"k", value), HEARSAY_OK);
    assert_eq!(get(n, c"getter", c"k", 10), (HEARSAY_OK, 10));
    assert_eq!(get(n, c"getter", c"k", 64), (HEARSAY_OK, 10));
    assert_eq!(get(n, c"getter", c"k", 4), (HEARSAY_BUFFER_TOO_SMALL, 10));
    assert_eq!(get(n, c"getter", c"k", 0), (HEARSAY_BUFFER_TOO_SMALL, 10));
    assert_eq!(get(n, c"getter", c"missing", 64), (HEARSAY_NOT_FOUND, 0));
    assert_eq!(get(n, c"nobody", c"k", 64), (HEARSAY_NOT_FOUND, 0));

    // The bytes, and a too-small buffer left untouched.
    let mut buf = [b'#'; 12];
    let mut len = 0;
    let (me, k) = (c"getter".as_ptr(), c"k".as_ptr());
    // SAFETY: a live node, C strings, 12 writable bytes, a size_t.
    let status = unsafe { hearsay_get(n, me, k, buf.as_mut_ptr(), 12, &mut len) };
    assert_eq!((status, len), (HEARSAY_OK, 10));
    assert_eq!(&buf, b"0123456789##");
    let mut small = [b'#'; 4];
    // SAFETY: as above, 4 bytes.
    let status = unsafe { hearsay_get(n, me, k, small.as_mut_ptr(), 4, &mut len) };
    assert_eq!((status, len), (HEARSAY_BUFFER_TOO_SMALL, 10));
    assert_eq!(&small, b"####");

    // Delete: once found, then not.
    // SAFETY: a live node and a C string.
    assert_eq!(unsafe { hearsay_delete(n, k) }, HEARSAY_OK);
    // SAFETY: as above.
    assert_eq!(unsafe { hearsay_delete(n, k) }, HEARSAY_NOT_FOUND);
    assert_eq!(get(n, c"getter", c"k", 64), (HEARSAY_NOT_FOUND, 0));

    // The local address: too small, then enough.
    let mut addr = [0 as c_char; HEARSAY_ADDR_SIZE];
    // SAFETY: a live node and a buffer of at least the stated size.
    let status = unsafe { hearsay_local_addr(n, addr.as_mut_ptr(), 5) };
    assert_eq!(status, HEARSAY_BUFFER_TOO_SMALL);
    let text = local_addr(n).into_string().unwrap();
    let parsed: std::net::SocketAddr = text.parse().unwrap();
    assert!(parsed.ip().is_loopback() && parsed.port() != 0, "{text}");
    free(n);
}

#[test]
fn events_report_own_writes_and_time_out() {
    let n = start(c"ev");
    let t = Instant::now();
    assert_eq!(next_event(n, 0).err(), Some(HEARSAY_TIMEOUT));
    assert_eq!(next_event(n, 60).err(), Some(HEARSAY_TIMEOUT));
    let waited = t.elapsed();
    // The timeout is honoured; the upper bound only says the call
    // returned rather than waiting for an event (liveness, not speed).
    assert!(
        waited >= Duration::from_millis(60) && waited < PATIENCE,
        "{waited:?}"
    );

    assert_eq!(set(n, c"color", b"blue"), HEARSAY_OK);
    // SAFETY: a live node and a C string.
    assert_eq!(unsafe { hearsay_delete(n, c"color".as_ptr()) }, HEARSAY_OK);
    let e = next_event(n, PATIENCE_MS).expect("set event");
    assert_eq!(e.kind, hearsay_event_kind::HEARSAY_EVENT_KEY_SET);
    assert_eq!(c_str_of(&e.member), "ev");
    assert_eq!(c_str_of(&e.key), "color");
    assert_eq!(&e.value[..e.value_len], b"blue");
    let d = next_event(n, PATIENCE_MS).expect("delete event");
    assert_eq!(d.kind, hearsay_event_kind::HEARSAY_EVENT_KEY_DELETED);
    assert!(d.version > e.version);
    free(n);
}

/// A 32 KiB value set through the C API on one node is read whole through
/// it on the other (it travels in chunks): `hearsay_get` tells its length,
/// then copies all of it.
#[test]
fn a_value_longer_than_a_datagram_round_trips_through_the_c_api() {
    let o = options(c"big-a");
    let a = start_with(&o).unwrap();
    let seed = local_addr(a);
    let seeds = [seed.as_ptr()];
    let mut o = options(c"big-b");
    o.seeds = seeds.as_ptr();
    o.seed_count = 1;
    let b = start_with(&o).unwrap();
    let big: Vec<u8> = (0..32 * 1024).map(|i| (i * 13 + i / 251) as u8).collect();
    assert_eq!(set(a, c"big", &big), HEARSAY_OK);
    assert!(eventually(PATIENCE, || get(b, c"big-a", c"big", 0).0
        == HEARSAY_BUFFER_TOO_SMALL));
    let (status, len) = get(b, c"big-a", c"big", 0);
    assert_eq!((status, len), (HEARSAY_BUFFER_TOO_SMALL, big.len()));
    let mut buf = vec![0u8; big.len()];
    let mut got = 0usize;
    // SAFETY: a live node, C strings, `buf.len()` writable bytes, a size_t.
    let status = unsafe {
        hearsay_get(
            b,
            c"big-a".as_ptr(),
            c"big".as_ptr(),
            buf.as_mut_ptr(),
            buf.len(),
            &mut got,
        )
    };
    assert_eq!((status, got), (HEARSAY_OK, big.len()));
    assert!(buf == big, "the value arrived changed");
    free(b);
    free(a);
}

#[test]
fn two_nodes_see_each_other() {
    let a = start(c"a");
    let seed = local_addr(a);
    let seeds = [seed.as_ptr()];
    let mut o = options(c"b");
    o.seeds = seeds.as_ptr();
    o.seed_count = 1;
    let b = start_with(&o).unwrap();
    assert_eq!(set(b, c"http", b"10.0.0.2:80"), HEARSAY_OK);
    let both_live = || {
        // SAFETY: live nodes.
        unsafe { hearsay_live_count(a) == 1 && hearsay_live_count(b) == 1 }
    };
    assert!(eventually(PATIENCE, both_live));
    assert!(eventually(PATIENCE, || get(a, c"b", c"http", 64).0 == HEARSAY_OK));

    // Listing: asking with no room reports the count.
    let mut count = 0;
    // SAFETY: a live node; NULL array with count 0.
    let status = unsafe { hearsay_live_members(a, null_mut(), &mut count) };
    assert_eq!(status, HEARSAY_BUFFER_TOO_SMALL);
    assert_eq!(count, 1);
    let mut members = [std::mem::MaybeUninit::<hearsay_member>::uninit(); 4];
    let mut count = members.len();
    // SAFETY: a live node, `count` writable members.
    let status = unsafe { hearsay_live_members(a, members.as_mut_ptr().cast(), &mut count) };
    assert_eq!((status, count), (HEARSAY_OK, 1));
    // SAFETY: the first `count` were written.
    let m = unsafe { members[0].assume_init() };
    assert_eq!(c_str_of(&m.name), "b");
    assert_eq!(c_str_of(&m.addr), local_addr(b).to_str().unwrap());
    assert_eq!(m.status, hearsay_member_status::HEARSAY_MEMBER_ALIVE);
    assert!(m.generation > 0);

    // a's events, in one ordered stream: b joined, then its key (never
    // before), and nothing else about b.
    let mut about_b = Vec::new();
    while let Ok(e) = next_event(a, PATIENCE_MS) {
        if c_str_of(&e.member) == "b" {
            about_b.push((e.kind, c_str_of(&e.key).to_owned()));
        }
        if e.kind == hearsay_event_kind::HEARSAY_EVENT_KEY_SET {
            break;
        }
    }
    assert_eq!(
        about_b,
        [
            (
                hearsay_event_kind::HEARSAY_EVENT_MEMBER_JOINED,
                String::new()
            ),
            (hearsay_event_kind::HEARSAY_EVENT_KEY_SET, "http".to_owned()),
        ]
    );
    free(b);
    free(a);
}

#[test]
fn leave_refuses_writes_at_once_and_finishes_in_the_background() {
    let mut o = options(c"leaver");
    o.leave_linger_ms = 300;
    let n = start_with(&o).unwrap();
    assert_eq!(set(n, c"k", b"v"), HEARSAY_OK);
    // SAFETY: a live node.
    assert_eq!(unsafe { hearsay_leave(n, 0) }, HEARSAY_TIMEOUT);
    assert_eq!(set(n, c"k", b"w"), HEARSAY_LEFT);
    // SAFETY: a live node and a C string.
    assert_eq!(unsafe { hearsay_delete(n, c"k".as_ptr()) }, HEARSAY_LEFT);
    // Reads still work.
    assert_eq!(get(n, c"leaver", c"k", 8), (HEARSAY_OK, 1));
    // SAFETY: a live node.
    assert_eq!(unsafe { hearsay_leave(n, 5000) }, HEARSAY_OK);
    // SAFETY: a live node.
    assert_eq!(unsafe { hearsay_leave(n, 0) }, HEARSAY_OK, "already left");
    free(n);

    // Freeing while a leave is still lingering stops it promptly.
    let mut o = options(c"quitter");
    // An hour: freeing must not wait it out, however slow the machine.
    o.leave_linger_ms = 3_600_000;
    let n = start_with(&o).unwrap();
    // SAFETY: a live node.
    assert_eq!(unsafe { hearsay_leave(n, 10) }, HEARSAY_TIMEOUT);
    // Raw pointers are not Send; the address is, and no other call on the
    // node overlaps this free.
    let addr = n as usize;
    let (done_tx, done) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        free(addr as *mut hearsay_node);
        let _ = done_tx.send(());
    });
    done.recv_timeout(PATIENCE)
        .expect("free returns without waiting out the linger");
}

#[test]
fn one_handle_serves_many_threads() {
    let n = start(c"shared");
    // Raw pointers are not Send; the address is, and the API promises
    // the node may be used from any thread.
    let addr = n as usize;
    let writers: Vec<_> = (0..4)
        .map(|t| {
            std::thread::spawn(move || {
                let n = addr as *mut hearsay_node;
                for i in 0..50 {
                    let key = CString::new(format!("t{t}/{i}")).unwrap();
                    let value = format!("{t}:{i}");
                    assert_eq!(set(n, &key, value.as_bytes()), HEARSAY_OK);
                    assert_eq!(get(n, c"shared", &key, 16), (HEARSAY_OK, value.len()));
                    // SAFETY: a live node.
                    let _ = unsafe { hearsay_live_count(n) };
                }
            })
        })
        .collect();
    let reader = std::thread::spawn(move || {
        let n = addr as *mut hearsay_node;
        let mut seen = 0;
        while seen < 200 {
            match next_event(n, PATIENCE_MS) {
                Ok(e) => {
                    assert_eq!(e.kind, hearsay_event_kind::HEARSAY_EVENT_KEY_SET);
                    seen += 1;
                }
                Err(s) => panic!("event {seen}: {s:?}"),
            }
        }
    });
    for w in writers {
        w.join().unwrap();
    }
    reader.join().unwrap();
    free(n);
}

/// Every entry point turns a panic in its body into its error value (the
/// test hook makes the body of the next call on this thread panic).
#[test]
fn a_panic_inside_any_entry_point_becomes_internal_error() {
    let n = start(c"panicky");
    let k = c"k".as_ptr();
    let me = c"panicky".as_ptr();
    let mut len = 0usize;
    let mut buf = [0u8; 8];
    let (lenp, bufp): (*mut usize, *mut u8) = (&mut len, buf.as_mut_ptr());
    let mut member = std::mem::MaybeUninit::<hearsay_member>::uninit();
    let mut event = std::mem::MaybeUninit::<hearsay_event>::uninit();
    let (memberp, eventp) = (member.as_mut_ptr(), event.as_mut_ptr());
    // Made before the hook is armed: `options` calls an entry point too.
    let other = options(c"x");
    type Call = Box<dyn Fn() -> hearsay_status>;
    let calls: Vec<(&str, Call)> = vec![
        (
            "set",
            Box::new(move || {
                // SAFETY: pointers valid for the call (made above).
                unsafe { hearsay_set(n, k, bufp, 1) }
            }),
        ),
        (
            "set_with_ttl",
            Box::new(move || {
                // SAFETY: pointers valid for the call (made above).
                unsafe { hearsay_set_with_ttl(n, k, bufp, 1, 100) }
            }),
        ),
        (
            "delete",
            Box::new(move || {
                // SAFETY: pointers valid for the call (made above).
                unsafe { hearsay_delete(n, k) }
            }),
        ),
        (
            "get",
            Box::new(move || {
                // SAFETY: pointers valid for the call (made above).
                unsafe { hearsay_get(n, me, k, bufp, 8, lenp) }
            }),
        ),
        (
            "local_addr",
            Box::new(move || {
                // SAFETY: pointers valid for the call (made above).
                unsafe { hearsay_local_addr(n, null_mut(), 0) }
            }),
        ),
        (
            "leave",
            Box::new(move || {
                // SAFETY: pointers valid for the call (made above).
                unsafe { hearsay_leave(n, 0) }
            }),
        ),
        (
            "live_members",
            Box::new(move || {
                // SAFETY: pointers valid for the call (made above).
                unsafe { hearsay_live_members(n, null_mut(), lenp) }
            }),
        ),
        (
            "member_get",
            Box::new(move || {
                // SAFETY: pointers valid for the call (made above).
                unsafe { hearsay_member_get(n, me, memberp) }
            }),
        ),
        (
            "next_event",
            Box::new(move || {
                // SAFETY: pointers valid for the call (made above).
                unsafe { hearsay_next_event(n, eventp, 0) }
            }),
        ),
        (
            "install_key",
            Box::new(move || {
                // SAFETY: pointers valid for the call (made above).
                unsafe { hearsay_install_key(n, KEY_A.as_ptr(), null_mut()) }
            }),
        ),
        (
            "use_key",
            Box::new(move || {
                // SAFETY: a live node.
                unsafe { hearsay_use_key(n, 1) }
            }),
        ),
        (
            "remove_key",
            Box::new(move || {
                // SAFETY: a live node.
                unsafe { hearsay_remove_key(n, 1) }
            }),
        ),
        (
            "set_key_mode",
            Box::new(move || {
                // SAFETY: a live node.
                unsafe { hearsay_set_key_mode(n, HEARSAY_KEY_MODE_LISTEN) }
            }),
        ),
        (
            "keys",
            Box::new(move || {
                // SAFETY: pointers valid for the call (made above).
                unsafe { hearsay_cluster_keys(n, null_mut(), lenp, null_mut()) }
            }),
        ),
        (
            "start",
            Box::new(move || {
                let mut out = null_mut();
                // SAFETY: valid options and out pointer.
                let status = unsafe { hearsay_start(&other, &mut out) };
                assert!(out.is_null());
                status
            }),
        ),
    ];
    for (name, call) in &calls {
        test_hook::panic_next_call();
        assert_eq!(call(), HEARSAY_INTERNAL_ERROR, "{name}");
    }
    // The node survived the panics and still works.
    assert_eq!(set(n, c"k", b"v"), HEARSAY_OK);
    drop(calls);
    len = 0;
    // SAFETY: a live node, C strings, 8 writable bytes, a size_t.
    let status = unsafe { hearsay_get(n, me, k, buf.as_mut_ptr(), 8, &mut len) };
    assert_eq!((status, len), (HEARSAY_OK, 1));

    // Functions without a status return their neutral value.
    test_hook::panic_next_call();
    // SAFETY: a live node.
    assert_eq!(unsafe { hearsay_live_count(n) }, 0);
    test_hook::panic_next_call();
    // SAFETY: any int is accepted; the result is a static C string.
    let s = unsafe { CStr::from_ptr(hearsay_status_str(0)) };
    assert_eq!(s.to_str().unwrap(), "internal error");
    let mut o = options(c"y");
    test_hook::panic_next_call();
    // SAFETY: a writable options struct.
    unsafe { hearsay_options_init(&mut o) };
    assert!(!o.name.is_null(), "left untouched by the panicking call");
    // hearsay_free still releases the node (the box is taken before the
    // guarded shutdown; unwinding drops it, which shuts the node down).
    let addr = local_addr(n);
    test_hook::panic_next_call();
    free(n);
    let rebound = std::net::UdpSocket::bind(addr.to_str().unwrap());
    assert!(
        rebound.is_ok(),
        "the node's socket was released: {rebound:?}"
    );
}

const KEY_A: [u8; HEARSAY_CLUSTER_KEY_LEN] = [0xa1; HEARSAY_CLUSTER_KEY_LEN];
const KEY_B: [u8; HEARSAY_CLUSTER_KEY_LEN] = [0xb2; HEARSAY_CLUSTER_KEY_LEN];

/// The fingerprint hearsay gives `key`, computed independently of the C API.
fn fingerprint(key: [u8; HEARSAY_CLUSTER_KEY_LEN]) -> u32 {
    hearsay_core::ClusterKey::new(key).fingerprint().0
}

/// `hearsay_cluster_keys` with room for every key: the keys and the mode.
fn keys_of(node: *mut hearsay_node) -> (Vec<hearsay_cluster_key>, u32) {
    let mut out = [hearsay_cluster_key {
        fingerprint: 0,
        primary: false,
    }; HEARSAY_MAX_CLUSTER_KEYS];
    let mut count = out.len();
    let mut mode = u32::MAX;
    // SAFETY: a live node, `count` writable keys, a size_t and a uint32_t.
    let status = unsafe { hearsay_cluster_keys(node, out.as_mut_ptr(), &mut count, &mut mode) };
    assert_eq!(status, HEARSAY_OK);
    (out[..count].to_vec(), mode)
}

fn install(node: *mut hearsay_node, key: &[u8; HEARSAY_CLUSTER_KEY_LEN]) -> (hearsay_status, u32) {
    let mut fp = 0;
    // SAFETY: a live node, 32 readable bytes, a writable uint32_t.
    let status = unsafe { hearsay_install_key(node, key.as_ptr(), &mut fp) };
    (status, fp)
}

#[test]
fn start_takes_keys_and_a_key_mode() {
    let keys = [KEY_A, KEY_B].concat();
    let mut o = options(c"keyed");
    o.keys = keys.as_ptr();
    o.key_count = 2;
    o.key_mode = HEARSAY_KEY_MODE_TRANSITIONAL;
    let n = start_with(&o).unwrap();
    let (listed, mode) = keys_of(n);
    assert_eq!(mode, HEARSAY_KEY_MODE_TRANSITIONAL);
    let primary: Vec<u32> = listed
        .iter()
        .filter(|k| k.primary)
        .map(|k| k.fingerprint)
        .collect();
    assert_eq!(primary, [fingerprint(KEY_A)], "the first key is primary");
    let mut all: Vec<u32> = listed.iter().map(|k| k.fingerprint).collect();
    all.sort_unstable();
    let mut want = vec![fingerprint(KEY_A), fingerprint(KEY_B)];
    want.sort_unstable();
    assert_eq!(all, want);
    free(n);

    // The defaults: no keys, mode required.
    let n = start(c"plain");
    assert_eq!(keys_of(n), (vec![], HEARSAY_KEY_MODE_REQUIRED));
    free(n);
}

#[test]
fn start_rejects_bad_key_options() {
    let five = [0x55u8; 5 * HEARSAY_CLUSTER_KEY_LEN];
    let mut o = options(c"k");
    o.keys = five.as_ptr();
    o.key_count = 5;
    assert_eq!(
        start_with(&o),
        Err(HEARSAY_INVALID_ARGUMENT),
        "more than 4 keys"
    );
    o.key_count = 1;
    o.keys = null();
    assert_eq!(start_with(&o), Err(HEARSAY_INVALID_ARGUMENT), "NULL keys");
    o.keys = five.as_ptr();
    for mode in [3, 4, u32::MAX] {
        o.key_mode = mode;
        assert_eq!(start_with(&o), Err(HEARSAY_INVALID_ARGUMENT), "mode {mode}");
    }
    // Four keys and each valid mode are fine.
    o.key_count = 4;
    for mode in [
        HEARSAY_KEY_MODE_LISTEN,
        HEARSAY_KEY_MODE_TRANSITIONAL,
        HEARSAY_KEY_MODE_REQUIRED,
    ] {
        o.key_mode = mode;
        let n = start_with(&o).unwrap();
        assert_eq!(keys_of(n).1, mode);
        free(n);
    }
}

#[test]
fn keyring_calls_report_each_error() {
    let n = start(c"ring");
    let (status, a) = install(n, &KEY_A);
    assert_eq!((status, a), (HEARSAY_OK, fingerprint(KEY_A)));
    assert_eq!(
        keys_of(n).0,
        [hearsay_cluster_key {
            fingerprint: a,
            primary: true
        }],
        "the first key installed is primary"
    );
    // Installing it again changes nothing; the fingerprint may be skipped.
    assert_eq!(install(n, &KEY_A), (HEARSAY_OK, a));
    // SAFETY: a live node, 32 readable bytes, NULL fingerprint_out.
    let status = unsafe { hearsay_install_key(n, KEY_B.as_ptr(), null_mut()) };
    assert_eq!(status, HEARSAY_OK);
    let b = fingerprint(KEY_B);
    assert_eq!(keys_of(n).0.len(), 2);

    // SAFETY: in all calls below, a live node; pointers valid for each call.
    unsafe {
        assert_eq!(hearsay_remove_key(n, a), HEARSAY_PRIMARY_KEY);
        let unknown = !(a | b);
        assert_eq!(hearsay_use_key(n, unknown), HEARSAY_UNKNOWN_KEY);
        assert_eq!(hearsay_remove_key(n, unknown), HEARSAY_UNKNOWN_KEY);
        assert_eq!(hearsay_use_key(n, b), HEARSAY_OK);
        assert_eq!(hearsay_remove_key(n, a), HEARSAY_OK);
        assert_eq!(hearsay_remove_key(n, a), HEARSAY_UNKNOWN_KEY);
    }
    assert_eq!(
        keys_of(n).0,
        [hearsay_cluster_key {
            fingerprint: b,
            primary: true
        }]
    );

    // A full keyring.
    for fill in 1..HEARSAY_MAX_CLUSTER_KEYS {
        assert_eq!(
            install(n, &[fill as u8; HEARSAY_CLUSTER_KEY_LEN]).0,
            HEARSAY_OK
        );
    }
    assert_eq!(install(n, &KEY_A).0, HEARSAY_KEYRING_FULL);
    assert_eq!(keys_of(n).0.len(), HEARSAY_MAX_CLUSTER_KEYS);

    // Listing into too small a buffer reports the number needed.
    let mut one = [hearsay_cluster_key {
        fingerprint: 0,
        primary: false,
    }];
    let mut count = 1;
    // SAFETY: a live node, one writable key, a size_t; NULL mode_out.
    let status = unsafe { hearsay_cluster_keys(n, one.as_mut_ptr(), &mut count, null_mut()) };
    assert_eq!(
        (status, count),
        (HEARSAY_BUFFER_TOO_SMALL, HEARSAY_MAX_CLUSTER_KEYS)
    );
    let mut count = 0;
    // SAFETY: a live node, NULL array with count 0.
    let status = unsafe { hearsay_cluster_keys(n, null_mut(), &mut count, null_mut()) };
    assert_eq!(
        (status, count),
        (HEARSAY_BUFFER_TOO_SMALL, HEARSAY_MAX_CLUSTER_KEYS)
    );

    // Modes.
    for mode in [
        HEARSAY_KEY_MODE_LISTEN,
        HEARSAY_KEY_MODE_TRANSITIONAL,
        HEARSAY_KEY_MODE_REQUIRED,
    ] {
        // SAFETY: a live node.
        assert_eq!(unsafe { hearsay_set_key_mode(n, mode) }, HEARSAY_OK);
        assert_eq!(keys_of(n).1, mode);
    }
    assert_eq!(
        // SAFETY: a live node.
        unsafe { hearsay_set_key_mode(n, 3) },
        HEARSAY_INVALID_ARGUMENT
    );
    assert_eq!(keys_of(n).1, HEARSAY_KEY_MODE_REQUIRED, "unchanged");
    free(n);
}

#[test]
fn keyring_calls_reject_null_pointers() {
    let n = start(c"nulls");
    let mut count = 0usize;
    let mut fp = 0u32;
    // SAFETY: in all calls, NULL where the API checks for it, valid otherwise.
    unsafe {
        assert_eq!(
            hearsay_install_key(null_mut(), KEY_A.as_ptr(), &mut fp),
            HEARSAY_INVALID_ARGUMENT
        );
        assert_eq!(
            hearsay_install_key(n, null(), &mut fp),
            HEARSAY_INVALID_ARGUMENT
        );
        assert_eq!(hearsay_use_key(null_mut(), 1), HEARSAY_INVALID_ARGUMENT);
        assert_eq!(hearsay_remove_key(null_mut(), 1), HEARSAY_INVALID_ARGUMENT);
        assert_eq!(
            hearsay_set_key_mode(null_mut(), HEARSAY_KEY_MODE_LISTEN),
            HEARSAY_INVALID_ARGUMENT
        );
        assert_eq!(
            hearsay_cluster_keys(null_mut(), null_mut(), &mut count, null_mut()),
            HEARSAY_INVALID_ARGUMENT
        );
        assert_eq!(
            hearsay_cluster_keys(n, null_mut(), null_mut(), null_mut()),
            HEARSAY_INVALID_ARGUMENT
        );
    }
    assert_eq!(keys_of(n).0, [], "nothing was installed");
    free(n);
}

/// Two nodes with one key converge; a third with another key, seeded with
/// the first, never joins them.
#[test]
fn a_shared_key_joins_nodes_and_a_foreign_key_stays_out() {
    let start_keyed = |name: &CStr, key: &[u8; HEARSAY_CLUSTER_KEY_LEN], seed: Option<&CStr>| {
        let seeds = seed.map(|s| [s.as_ptr()]);
        let mut o = options(name);
        o.keys = key.as_ptr();
        o.key_count = 1;
        if let Some(s) = &seeds {
            o.seeds = s.as_ptr();
            o.seed_count = 1;
        }
        start_with(&o).unwrap()
    };
    let a = start_keyed(c"a", &KEY_A, None);
    let seed = local_addr(a);
    let b = start_keyed(c"b", &KEY_A, Some(&seed));
    let c = start_keyed(c"c", &KEY_B, Some(&seed));
    // SAFETY: only called on the live nodes below.
    let count = |n| unsafe { hearsay_live_count(n) };
    assert!(eventually(PATIENCE, || count(a) == 1 && count(b) == 1));
    // c has sent its Syn to a every 50 ms all along; watch 40 more
    // intervals: it must never be let in, nor let anyone in.
    let end = Instant::now() + Duration::from_millis(2_000);
    while Instant::now() < end {
        assert_eq!((count(a), count(b), count(c)), (1, 1, 0));
        let mut m = std::mem::MaybeUninit::<hearsay_member>::uninit();
        // SAFETY: a live node, a C string, a writable member.
        let status = unsafe { hearsay_member_get(a, c"c".as_ptr(), m.as_mut_ptr()) };
        assert_eq!(status, HEARSAY_NOT_FOUND, "a never heard of c");
        std::thread::sleep(Duration::from_millis(50));
    }
    free(c);
    free(b);
    free(a);
}
