//! `simulate --json` against its documented schema (docs/simulate-json.md):
//! small runs of each kind of phase 3 (spaced crashes, flipping one-way
//! partitions, lossy nodes) print exactly the documented fields, in the
//! documented order, each of its documented type. A field added, removed,
//! renamed, moved or retyped in the output without the same change to the
//! document fails here.

use std::fmt;

use clap::Parser;
use examples::measure_cli::{JSON_SCHEMA_DOC, SimulateCli};
use hearsay_sim::measure;
use serde::de::{Deserialize, Deserializer, MapAccess, Visitor};
use serde_json::Value;

/// A JSON object's fields in the order printed (serde_json's `Map` sorts
/// them).
struct Ordered(Vec<(String, Value)>);

impl<'de> Deserialize<'de> for Ordered {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Fields;
        impl<'de> Visitor<'de> for Fields {
            type Value = Ordered;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Ordered, A::Error> {
                let mut fields = Vec::new();
                while let Some(field) = map.next_entry()? {
                    fields.push(field);
                }
                Ok(Ordered(fields))
            }
        }
        d.deserialize_map(Fields)
    }
}

/// The schema document, read when the test is built.
const SCHEMA: &str = include_str!("../../docs/simulate-json.md");

/// The (field, type) rows of every table in the document, in order: rows
/// whose first cell is a field name in backquotes.
fn documented() -> Vec<(String, String)> {
    SCHEMA
        .lines()
        .filter_map(|line| {
            let cells: Vec<&str> = line.split('|').map(str::trim).collect();
            // "| `name` | type | unit | meaning |" splits into 6 cells.
            let name = cells.get(1)?.strip_prefix('`')?.strip_suffix('`')?;
            Some((name.to_owned(), (*cells.get(2)?).to_owned()))
        })
        .collect()
}

/// Whether `v` is of the documented type `ty`.
fn has_type(v: &Value, ty: &str) -> bool {
    if let Some(base) = ty.strip_suffix(" or null") {
        return v.is_null() || has_type(v, base);
    }
    match ty {
        "integer" => v.is_u64(),
        "number" => v.is_number(),
        "bool" => v.is_boolean(),
        "string" => v.is_string(),
        "[[number, string, string]]" => v.as_array().is_some_and(|list| {
            list.iter().all(|row| {
                row.as_array().is_some_and(|r| {
                    r.len() == 3 && r[0].is_number() && r[1].is_string() && r[2].is_string()
                })
            })
        }),
        other => panic!("{JSON_SCHEMA_DOC} names an unknown type {other:?}"),
    }
}

/// `simulate ARGS --json`'s object, run in this process.
fn simulate(args: &str) -> Vec<(String, Value)> {
    let cli = SimulateCli::try_parse_from(
        ["simulate", "--json"]
            .into_iter()
            .chain(args.split_whitespace()),
    )
    .expect("valid options");
    let run = cli.check().expect("a valid workload");
    let report = measure::run(&run.workload).expect("the run completes");
    let line = report.to_json();
    assert!(!line.contains('\n'), "one line: {line}");
    match serde_json::from_str::<Ordered>(&line) {
        Ok(Ordered(fields)) => fields,
        Err(e) => panic!("not one JSON object ({e}): {line}"),
    }
}

/// Checks `object` against the schema; returns the fields that were not
/// null (those whose non-null type this run checked).
fn check(object: &[(String, Value)], what: &str) -> Vec<String> {
    let schema = documented();
    let printed: Vec<&String> = object.iter().map(|(n, _)| n).collect();
    let names: Vec<&String> = schema.iter().map(|(n, _)| n).collect();
    assert_eq!(printed, names, "{what}: fields and their order");
    let mut present = Vec::new();
    for ((name, ty), (_, v)) in schema.iter().zip(object) {
        assert!(has_type(v, ty), "{what}: {name} = {v} is not {ty}");
        if !v.is_null() {
            present.push(name.clone());
        }
    }
    present
}

#[test]
fn the_json_object_is_the_documented_one() {
    let schema = documented();
    assert!(
        schema.len() > 60,
        "the document's tables were read: {schema:?}"
    );
    let runs = [
        ("spaced crashes", "--nodes 8 --rounds 20"),
        (
            "crashes together",
            "--nodes 8 --rounds 20 --crash-count 2 --crash-together --key",
        ),
        (
            "flipping partitions",
            "--nodes 8 --rounds 20 --flip-partitions 2 --flips 2",
        ),
        (
            "lossy nodes",
            "--nodes 8 --rounds 20 --lossy-nodes 0.2 --lossy-seconds 2",
        ),
    ];
    let mut seen = std::collections::BTreeSet::new();
    for (what, args) in runs {
        let object = simulate(args);
        seen.extend(check(&object, what));
    }
    // Every field was seen with a value in some run, so every non-null
    // type was checked; only these are null in all four small runs.
    let never: Vec<&str> = schema
        .iter()
        .map(|(n, _)| n.as_str())
        .filter(|n| !seen.contains(*n))
        .collect();
    assert_eq!(never, ["mass_crash"], "fields null in every run");
}
