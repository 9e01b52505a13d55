//! How the fields serde's defaults would serialize badly are serialized
//! (feature `serde`).
//!
//! - **Values** (key values are bytes): in a human-readable format (JSON,
//!   YAML, TOML…), a value that is valid UTF-8 is a string and any other
//!   value a sequence of byte numbers, so `{"http": "10.0.0.2:8080"}` reads
//!   as written while nothing is lost; both forms deserialize back to the
//!   same bytes. In a binary format (postcard, bincode…), always bytes.
//! - **Phi** may be infinite (a silence no history explains), which JSON
//!   cannot write: serde_json would write `null` for it and then refuse to
//!   read it back as a number. It is serialized as an option: the number,
//!   or none (`null`) for infinity, in every format alike.

use std::collections::BTreeMap;
use std::fmt;

use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde::ser::{SerializeMap, Serializer};
use serde::{Deserialize, Serialize};

/// A value, borrowed for serializing.
struct ValueRef<'a>(&'a [u8]);

impl Serialize for ValueRef<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if serializer.is_human_readable()
            && let Ok(text) = std::str::from_utf8(self.0)
        {
            return serializer.serialize_str(text);
        }
        serializer.serialize_bytes(self.0)
    }
}

/// A value, owned after deserializing.
struct ValueBuf(Vec<u8>);

impl<'de> Deserialize<'de> for ValueBuf {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        if deserializer.is_human_readable() {
            deserializer.deserialize_any(ValueVisitor)
        } else {
            deserializer.deserialize_byte_buf(ValueVisitor)
        }
    }
}

struct ValueVisitor;

impl<'de> Visitor<'de> for ValueVisitor {
    type Value = ValueBuf;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a value: a string, bytes, or a sequence of byte numbers")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<ValueBuf, E> {
        Ok(ValueBuf(v.as_bytes().to_vec()))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<ValueBuf, E> {
        Ok(ValueBuf(v.into_bytes()))
    }

    fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<ValueBuf, E> {
        Ok(ValueBuf(v.to_vec()))
    }

    fn visit_byte_buf<E: de::Error>(self, v: Vec<u8>) -> Result<ValueBuf, E> {
        Ok(ValueBuf(v))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<ValueBuf, A::Error> {
        // The hint comes from the input: trust it only so far.
        let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(4096));
        while let Some(b) = seq.next_element::<u8>()? {
            out.push(b);
        }
        Ok(ValueBuf(out))
    }
}

/// One value (`#[serde(with = "crate::serde_fields::value")]`).
pub(crate) mod value {
    use super::*;

    pub(crate) fn serialize<S: Serializer>(v: &[u8], serializer: S) -> Result<S::Ok, S::Error> {
        ValueRef(v).serialize(serializer)
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Vec<u8>, D::Error> {
        ValueBuf::deserialize(deserializer).map(|v| v.0)
    }
}

/// Keys and their values (`#[serde(with = "crate::serde_fields::values")]`).
pub(crate) mod values {
    use super::*;

    pub(crate) fn serialize<S: Serializer>(
        map: &BTreeMap<String, Vec<u8>>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        let mut out = serializer.serialize_map(Some(map.len()))?;
        for (k, v) in map {
            out.serialize_entry(k, &ValueRef(v))?;
        }
        out.end()
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<BTreeMap<String, Vec<u8>>, D::Error> {
        let map = BTreeMap::<String, ValueBuf>::deserialize(deserializer)?;
        Ok(map.into_iter().map(|(k, v)| (k, v.0)).collect())
    }
}

/// A phi (`#[serde(with = "crate::serde_fields::phi")]`): the number, or
/// none for infinity.
pub(crate) mod phi {
    use super::*;

    pub(crate) fn serialize<S: Serializer>(phi: &f64, serializer: S) -> Result<S::Ok, S::Error> {
        let finite = phi.is_finite().then_some(*phi);
        finite.serialize(serializer)
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<f64, D::Error> {
        Ok(Option::<f64>::deserialize(deserializer)?.unwrap_or(f64::INFINITY))
    }
}
