//! Node identity: who a node is, and the fixed hash that places it on the ring.
//!
//! A node is `name + generation + gossip address`. The name is what users
//! recognise ("api-3"); the generation tells incarnations of one name apart (a
//! restart picks a higher one, typically its start time); the address is where
//! peers gossip to it. For one name, a higher generation supersedes a lower one.
//!
//! Every node id also has a 64-bit [`NodeId::ring_hash`], the same on every
//! node, that orders nodes on the digest ring and refers to known nodes on the
//! wire in 8 bytes instead of a full id.

use core::fmt;
use core::net::SocketAddr;

/// Longest node name, in bytes of UTF-8.
pub const MAX_NAME_LEN: usize = 64;

/// A node name: 1 to [`MAX_NAME_LEN`] bytes of UTF-8 without NUL, stored
/// inline.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeName(heapless::String<MAX_NAME_LEN>);

/// Why a string cannot be a node name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameError {
    /// The name is empty.
    Empty,
    /// The name is longer than [`MAX_NAME_LEN`] bytes.
    TooLong,
    /// The name contains a NUL character: C strings end there, so through
    /// the C API two different names would look alike.
    ContainsNul,
}

impl fmt::Display for NameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NameError::Empty => f.write_str("node name is empty"),
            NameError::TooLong => write!(f, "node name is longer than {MAX_NAME_LEN} bytes"),
            NameError::ContainsNul => f.write_str("node name contains a NUL character"),
        }
    }
}

impl NodeName {
    /// Validates and copies `name`.
    pub fn new(name: &str) -> Result<Self, NameError> {
        if name.is_empty() {
            return Err(NameError::Empty);
        }
        if name.contains('\0') {
            return Err(NameError::ContainsNul);
        }
        heapless::String::try_from(name)
            .map(NodeName)
            .map_err(|_| NameError::TooLong)
    }

    /// The name as a string slice.
    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }
}

/// A name serializes as its string; deserializing checks it as
/// [`NodeName::new`] does, so no invalid name can come in that way.
#[cfg(feature = "serde")]
impl serde::Serialize for NodeName {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

#[cfg(feature = "serde")]
impl<'de> serde::Deserialize<'de> for NodeName {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct NameVisitor;
        impl serde::de::Visitor<'_> for NameVisitor {
            type Value = NodeName;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(
                    f,
                    "a node name (1 to {MAX_NAME_LEN} bytes of UTF-8, no NUL)"
                )
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<NodeName, E> {
                NodeName::new(v).map_err(E::custom)
            }
        }
        deserializer.deserialize_str(NameVisitor)
    }
}

impl fmt::Debug for NodeName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for NodeName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The identity of one incarnation of a node.
#[derive(Clone, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct NodeId {
    /// Stable, human-chosen name, unique in the cluster.
    pub name: NodeName,
    /// Incarnation number; a restart must pick a higher one (e.g. start time).
    pub generation: u64,
    /// Address peers send gossip to (the advertised, public one).
    pub addr: SocketAddr,
}

impl fmt::Debug for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}#{}@{}", self.name, self.generation, self.addr)
    }
}

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

/// How far above the generation known for a name (or, for a name not
/// known yet, above the receiver's own generation) a received generation
/// may be: 2⁴⁴ (in milliseconds, about 557 years). Generations are
/// typically start times in milliseconds since the UNIX epoch, so honest
/// ones are far closer together; a generation further out is one no owner
/// could ever exceed, and accepting it would shut the real node out for
/// good, so it is refused and counted
/// ([`crate::Counters::implausible_generations`]). Within the margin, the
/// node itself refutes a forged generation by taking the next one above.
pub const GENERATION_MARGIN: u64 = 1 << 44;

impl NodeId {
    /// Builds an id, validating the name.
    pub fn new(name: &str, generation: u64, addr: SocketAddr) -> Result<Self, NameError> {
        Ok(NodeId {
            name: NodeName::new(name)?,
            generation,
            addr,
        })
    }

    /// The node's position on the digest ring.
    ///
    /// Specified so that every implementation agrees: FNV-1a 64 over the name
    /// bytes, a `0xff` separator, the generation as 8 little-endian bytes, the
    /// address family byte (4 or 6), the IP octets and the port as 2
    /// little-endian bytes; then the `fmix64` finaliser of MurmurHash3 to
    /// spread short inputs over the whole ring.
    pub fn ring_hash(&self) -> u64 {
        let mut h = Fnv64::new();
        h.write(self.name.as_str().as_bytes());
        h.write(&[0xff]);
        h.write(&self.generation.to_le_bytes());
        match self.addr {
            SocketAddr::V4(a) => {
                h.write(&[4]);
                h.write(&a.ip().octets());
            }
            SocketAddr::V6(a) => {
                h.write(&[6]);
                h.write(&a.ip().octets());
            }
        }
        h.write(&self.addr.port().to_le_bytes());
        fmix64(h.finish())
    }
}

/// Hash of a name alone, used to find other generations of a name quickly.
pub(crate) fn name_hash(name: &str) -> u64 {
    let mut h = Fnv64::new();
    h.write(name.as_bytes());
    h.finish()
}

/// FNV-1a, 64-bit: tiny, fixed and specified, which is all the ring needs.
pub(crate) struct Fnv64(u64);

impl Fnv64 {
    pub(crate) const fn new() -> Self {
        Fnv64(0xcbf2_9ce4_8422_2325)
    }

    pub(crate) fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 ^= u64::from(b);
            self.0 = self.0.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }

    pub(crate) fn finish(&self) -> u64 {
        self.0
    }
}

/// MurmurHash3's 64-bit finaliser: every input bit affects every output bit.
pub(crate) fn fmix64(mut k: u64) -> u64 {
    k ^= k >> 33;
    k = k.wrapping_mul(0xff51_afd7_ed55_8ccd);
    k ^= k >> 33;
    k = k.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    k ^= k >> 33;
    k
}

/// FNV-1a, 32-bit, for the cluster fingerprint carried in every datagram.
pub(crate) fn fnv1a32(bytes: &[u8]) -> u32 {
    let mut h: u32 = 0x811c_9dc5;
    for &b in bytes {
        h ^= u32::from(b);
        h = h.wrapping_mul(0x0100_0193);
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(s: &str) -> SocketAddr {
        s.parse().expect("test address")
    }

    #[test]
    fn names_are_validated() {
        assert_eq!(NodeName::new(""), Err(NameError::Empty));
        assert!(NodeName::new(&"x".repeat(MAX_NAME_LEN)).is_ok());
        assert_eq!(
            NodeName::new(&"x".repeat(MAX_NAME_LEN + 1)),
            Err(NameError::TooLong)
        );
        assert_eq!(NodeName::new("api-3").map(|n| n.0.len()), Ok(5));
    }

    #[test]
    fn names_with_nul_are_refused() {
        for name in ["a\0b", "\0", "\0a", "a\0"] {
            assert_eq!(NodeName::new(name), Err(NameError::ContainsNul), "{name:?}");
            assert_eq!(
                NodeId::new(name, 1, addr("10.0.0.1:1")),
                Err(NameError::ContainsNul)
            );
        }
    }

    #[test]
    fn fnv_reference_vectors() {
        // Published FNV-1a test vectors.
        assert_eq!(fnv1a32(b""), 0x811c_9dc5);
        assert_eq!(fnv1a32(b"a"), 0xe40c_292c);
        assert_eq!(fnv1a32(b"foobar"), 0xbf9c_f968);
        let mut h = Fnv64::new();
        h.write(b"foobar");
        assert_eq!(h.finish(), 0x85944171f73967e8);
    }

    #[test]
    fn ring_hash_is_pinned_and_sensitive_to_every_part() {
        let a = NodeId::new("node-1", 7, addr("10.0.0.1:7946")).expect("id");
        // Pinned: every implementation must place this id at the same spot.
        assert_eq!(a.ring_hash(), 0x5e3c_3e47_aa0b_be58, "{:#x}", a.ring_hash());
        let mut b = a.clone();
        b.generation = 8;
        assert_ne!(a.ring_hash(), b.ring_hash());
        let mut c = a.clone();
        c.addr = addr("10.0.0.1:7947");
        assert_ne!(a.ring_hash(), c.ring_hash());
        let d = NodeId::new("node-2", 7, addr("10.0.0.1:7946")).expect("id");
        assert_ne!(a.ring_hash(), d.ring_hash());
        let e = NodeId::new("node-1", 7, addr("[::1]:7946")).expect("id");
        assert_ne!(a.ring_hash(), e.ring_hash());
    }
}
