//! Metrics for Prometheus and other OpenMetrics scrapers (feature
//! `metrics`): everything a node counts and a few gauges, as text.
//!
//! Operators of memberlist, Consul or Cassandra watch membership through
//! their metrics system; this module is that view of a hearsay node.
//! [`encode`] renders one node's [`Counters`] and [`Gauges`] in the
//! OpenMetrics text format ([`encode_prometheus`]: the older Prometheus
//! 0.0.4 text format), and [`MetricsServer`] serves them over HTTP from one
//! plain thread, blocking sockets, no async runtime. The encoding itself is
//! the `prometheus-client` crate's (the Prometheus project's Rust client):
//! escaping, naming and the two formats are its business, not ours.
//!
//! ```no_run
//! # fn main() -> Result<(), hearsay_std::Error> {
//! let node = hearsay_std::Node::builder("web-1").cluster("prod").start()?;
//! let server = hearsay_std::metrics::MetricsServer::start(
//!     "0.0.0.0:9464".parse().unwrap(),
//!     node.clone(),
//! )?;
//! // curl http://HOST:9464/metrics
//! # server.stop();
//! # Ok(()) }
//! ```
//!
//! Each scrape reads the node's counters and gauges afresh (two commands to
//! the engine thread); nothing is kept between scrapes.
//!
//! ## The metrics
//!
//! Every metric is prefixed `hearsay_` and carries the label
//! `cluster` ([`Node::cluster`]: the builder's cluster name). Counters are
//! monotonic since the node started; in the text a counter `x` is the
//! sample `x_total`. Labelled families always list every label value, zeros
//! included, so rates and alerts work from the first scrape.
//!
//! Traffic (counters):
//!
//! | metric | labels | what |
//! |---|---|---|
//! | `hearsay_datagrams_received` | | datagrams the receive thread read from the socket |
//! | `hearsay_datagrams_in` | | datagrams handed to the engine |
//! | `hearsay_datagrams_in_bytes` | | their bytes |
//! | `hearsay_datagrams_out` | | datagrams the engine produced |
//! | `hearsay_datagrams_out_bytes` | | their bytes (sealed ones as sealed) |
//! | `hearsay_pushes_out` | | datagrams pushing fresh changes unasked (in `datagrams_out` too) |
//! | `hearsay_beats_out` | | direct beats: this node's heartbeat alone (in `datagrams_out` too) |
//! | `hearsay_sealed_in` | | sealed datagrams opened with an installed key |
//! | `hearsay_unsealed_in` | | unsealed datagrams accepted while this node has keys |
//! | `hearsay_sealed_out` | | datagrams this node sealed |
//! | `hearsay_seal_failures` | | datagrams not sent: the nonce sequence ran out |
//! | `hearsay_recv_errors` | | socket read errors (timeouts excluded) |
//! | `hearsay_send_errors` | | datagrams the socket refused to send |
//!
//! Rejected input and refused state (counters):
//!
//! | metric | labels | what |
//! |---|---|---|
//! | `hearsay_datagrams_rejected` | `kind` | rejected datagrams by [`DecodeError`] kind (`too_short`, `oversized`, `bad_magic`, `unsupported_version`, `unknown_kind`, `foreign_cluster`, `from_self`, `truncated`, `invalid_encoding`, `trailing_bytes`, `impossible_count`, `out_of_order`, `invalid_field`, `unknown_key`, `sealed_truncated`, `unsealed_refused`, `sealed_refused`, `replayed`) |
//! | `hearsay_refused_nodes` | | nodes not learned: the node table was full |
//! | `hearsay_refused_pieces` | | pieces not applied: the entry table or arena was full |
//! | `hearsay_oversized_namespaces` | | pieces refused: beyond the per-node share |
//! | `hearsay_oversized_values` | | pieces refused: a value longer than this node's `max_value_len` (misconfiguration) |
//! | `hearsay_chunks_in` | | chunks of long values taken into a transfer |
//! | `hearsay_chunks_out` | | chunks of long values sent |
//! | `hearsay_transfers_completed` | | long values assembled whole and applied |
//! | `hearsay_transfers_dropped` | | long values in flight given up (superseded, reset, removed) |
//! | `hearsay_transfers_refused` | | chunks not kept: the values in flight were at their bound |
//! | `hearsay_values_held_back` | | long values held back from peers older than protocol 6 |
//! | `hearsay_stale_generations` | | ids ignored: a newer generation of the name is known |
//! | `hearsay_id_conflicts` | | ids ignored: their ring hash or name and generation is taken |
//! | `hearsay_implausible_generations` | | ids refused: generation beyond any owner's reach |
//! | `hearsay_unknown_nodes` | | updates naming a ring hash this node does not know |
//! | `hearsay_unusable_pieces` | | pieces starting above the version held, or not allowed by collection |
//! | `hearsay_stale_pieces` | | pieces that brought nothing new |
//! | `hearsay_pieces_applied` | | pieces applied |
//! | `hearsay_resets_applied` | | pieces applied as a reset (a copy rebuilt) |
//! | `hearsay_budget_exhausted` | | replies cut short by the exchange budget |
//! | `hearsay_replies_bounded` | | of those, cut by the amplification bound |
//! | `hearsay_resurrections_refused` | | stale gossip about removed nodes ignored |
//! | `hearsay_implausible_heartbeats` | | heartbeats ignored: too far ahead |
//! | `hearsay_blocks_read` | | compact digest blocks read |
//! | `hearsay_blocks_differ` | | of those, blocks that differed here |
//!
//! This node's own condition and the runtime around it (counters):
//!
//! | metric | labels | what |
//! |---|---|---|
//! | `hearsay_local_stalls` | | times this node noticed it had itself stalled |
//! | `hearsay_refutations` | | times it took a new generation to refute what it heard of itself |
//! | `hearsay_name_conflicts` | | times another live process was found using its name |
//! | `hearsay_pending_dropped` | | pending nodes dropped, never heard from |
//! | `hearsay_channel_drops` | `channel` | items dropped because a bounded channel was full: `inbound` (received datagrams: the engine was too busy), `subscriptions` (events subscribers did not read in time), `seeds` (resolved seed lists) |
//! | `hearsay_resolve_failures` | | seed names that failed to resolve, per attempt |
//! | `hearsay_membership_events` | `kind` | membership changes: `joined`, `alive_again`, `dead`, `left`, `removed`, `replaced` |
//! | `hearsay_key_events` | `kind` | key changes: `set`, `deleted` (remote keys), `expired` (this node's, by TTL) |
//!
//! Gauges:
//!
//! | metric | labels | what |
//! |---|---|---|
//! | `hearsay_members` | `status` | known nodes by status (`pending`, `alive`, `dead`, `left`), this one included (alive) |
//! | `hearsay_max_phi` | | the highest phi among the other live nodes (0 when none); an infinite phi shows as the largest double |
//! | `hearsay_max_timeout_seconds` | | the longest adaptive timeout among the other live nodes (0 when none has a history) |
//! | `hearsay_nodes_capacity` | | node slots ([`crate::Builder::max_nodes`]) |
//! | `hearsay_entries` | | entries stored over all nodes, tombstones included |
//! | `hearsay_entries_capacity` | | entry slots ([`crate::Builder::max_entries`]) |
//! | `hearsay_state_bytes` | | bytes of keys and values stored, block headers included |
//! | `hearsay_state_capacity_bytes` | | their capacity ([`crate::Builder::max_state_bytes`]) |
//!
//! The sum of `hearsay_members` is the number of known nodes, to compare
//! with `hearsay_nodes_capacity`.
//!
//! ## Which text format
//!
//! [`MetricsServer`] answers in the OpenMetrics format
//! ([`OPENMETRICS_CONTENT_TYPE`]) when the scraper's `Accept` header asks
//! for it, as Prometheus does, and otherwise in the Prometheus 0.0.4 text
//! format ([`PROMETHEUS_CONTENT_TYPE`]) that every tool reads (and that
//! curl gets): the choice Prometheus's own Go client makes. Both carry the
//! same samples.

use std::borrow::Cow;
use std::fmt;

use hearsay_core::DecodeError;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::{Registry, Unit};

use crate::counters::{Counters, Gauges};
use crate::error::Error;
use crate::node::Node;

mod server;

pub use server::{MAX_REQUEST_BYTES, MetricsServer, REQUEST_DEADLINE};

/// The `Content-Type` of [`encode`]'s output (OpenMetrics 1.0 text).
pub const OPENMETRICS_CONTENT_TYPE: &str =
    "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// The `Content-Type` of [`encode_prometheus`]'s output (Prometheus text
/// format 0.0.4).
pub const PROMETHEUS_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Every metric's name starts with this and an underscore.
pub const PREFIX: &str = "hearsay";

/// Text exposition (OpenMetrics) of one node's counters and gauges, ending
/// with `# EOF`. Fails only when the node is shut down
/// ([`Error::ShutDown`]).
pub fn encode(node: &Node) -> Result<String, Error> {
    encode_as(node, Format::OpenMetrics)
}

/// The same metrics in the Prometheus text format 0.0.4 (no `# EOF`; a
/// counter's `TYPE` line names its `_total` sample).
pub fn encode_prometheus(node: &Node) -> Result<String, Error> {
    encode_as(node, Format::Prometheus)
}

/// The two text formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Format {
    OpenMetrics,
    Prometheus,
}

impl Format {
    pub(crate) fn content_type(self) -> &'static str {
        match self {
            Format::OpenMetrics => OPENMETRICS_CONTENT_TYPE,
            Format::Prometheus => PROMETHEUS_CONTENT_TYPE,
        }
    }
}

pub(crate) fn encode_as(node: &Node, format: Format) -> Result<String, Error> {
    let snapshot = Snapshot {
        counters: node.counters()?,
        gauges: node.gauges()?,
    };
    render(node.cluster(), snapshot, format).map_err(|_| Error::MetricsEncoding)
}

/// One scrape's figures, written out by the encoder.
#[derive(Debug)]
struct Snapshot {
    counters: Counters,
    gauges: Gauges,
}

/// The text of `snapshot` with the label `cluster="<cluster>"`.
fn render(cluster: &str, snapshot: Snapshot, format: Format) -> Result<String, fmt::Error> {
    let labels = [(Cow::Borrowed("cluster"), Cow::Owned(cluster.to_owned()))];
    let mut registry = Registry::with_prefix_and_labels(PREFIX, labels.into_iter());
    registry.register_collector(Box::new(snapshot));
    let mut out = String::new();
    match format {
        Format::OpenMetrics => prometheus_client::encoding::text::encode(&mut out, &registry)?,
        Format::Prometheus => {
            prometheus_client::encoding::prometheus_text::encode(&mut out, &registry)?
        }
    }
    Ok(out)
}

/// The `kind` label of a rejected datagram.
fn decode_error_label(kind: DecodeError) -> &'static str {
    // Exhaustive: a kind added to the core fails to compile here until it
    // has a label.
    match kind {
        DecodeError::TooShort => "too_short",
        DecodeError::Oversized => "oversized",
        DecodeError::BadMagic => "bad_magic",
        DecodeError::UnsupportedVersion => "unsupported_version",
        DecodeError::UnknownKind => "unknown_kind",
        DecodeError::ForeignCluster => "foreign_cluster",
        DecodeError::FromSelf => "from_self",
        DecodeError::Truncated => "truncated",
        DecodeError::InvalidEncoding => "invalid_encoding",
        DecodeError::TrailingBytes => "trailing_bytes",
        DecodeError::ImpossibleCount => "impossible_count",
        DecodeError::OutOfOrder => "out_of_order",
        DecodeError::InvalidField => "invalid_field",
        DecodeError::UnknownKey => "unknown_key",
        DecodeError::SealedTruncated => "sealed_truncated",
        DecodeError::UnsealedRefused => "unsealed_refused",
        DecodeError::SealedRefused => "sealed_refused",
        DecodeError::Replayed => "replayed",
    }
}

/// Writes metric families through a [`DescriptorEncoder`].
struct Out<'a>(DescriptorEncoder<'a>);

impl Out<'_> {
    fn counter(&mut self, name: &str, help: &str, value: u64) -> fmt::Result {
        self.counter_with_unit(name, help, None, value)
    }

    fn counter_with_unit(
        &mut self,
        name: &str,
        help: &str,
        unit: Option<&Unit>,
        value: u64,
    ) -> fmt::Result {
        let m = self
            .0
            .encode_descriptor(name, help, unit, MetricType::Counter)?;
        ConstCounter::new(value).encode(m)
    }

    /// A counter family with one label.
    fn counters(
        &mut self,
        name: &str,
        help: &str,
        label: &str,
        values: &[(&str, u64)],
    ) -> fmt::Result {
        let mut m = self
            .0
            .encode_descriptor(name, help, None, MetricType::Counter)?;
        for &(value_label, value) in values {
            let labels = [(label, value_label)];
            let series = m.encode_family(&labels)?;
            ConstCounter::new(value).encode(series)?;
        }
        Ok(())
    }

    fn gauge<N: prometheus_client::encoding::EncodeGaugeValue>(
        &mut self,
        name: &str,
        help: &str,
        unit: Option<&Unit>,
        value: N,
    ) -> fmt::Result {
        let m = self
            .0
            .encode_descriptor(name, help, unit, MetricType::Gauge)?;
        ConstGauge::new(value).encode(m)
    }
}

/// A count as a gauge value (a `usize` always fits in practice).
fn level(n: usize) -> u64 {
    u64::try_from(n).unwrap_or(u64::MAX)
}

impl Collector for Snapshot {
    fn encode(&self, encoder: DescriptorEncoder) -> fmt::Result {
        let mut out = Out(encoder);
        // Both structs are taken apart without `..`: a counter added to
        // either fails to compile here until it is exported.
        let Counters {
            engine,
            datagrams_received,
            inbound_dropped,
            recv_errors,
            send_errors,
            events_dropped,
            seed_updates_dropped,
            resolve_failures,
            nodes_joined,
            nodes_alive_again,
            nodes_dead,
            nodes_left,
            nodes_removed,
            nodes_replaced,
            keys_set,
            keys_deleted,
            keys_expired,
        } = &self.counters;
        let hearsay_core::Counters {
            datagrams_in,
            bytes_in,
            datagrams_out,
            bytes_out,
            rejected_by_kind: _,
            refused_nodes,
            refused_pieces,
            stale_generations,
            id_conflicts,
            unknown_nodes,
            unusable_pieces,
            stale_pieces,
            pieces_applied,
            resets_applied,
            budget_exhausted,
            replies_bounded,
            resurrections_refused,
            implausible_heartbeats,
            pending_dropped,
            implausible_generations,
            refutations,
            name_conflicts,
            local_stalls,
            oversized_namespaces,
            sealed_in,
            unsealed_in,
            sealed_out,
            seal_failures,
            pushes_out,
            beats_out,
            blocks_read,
            blocks_differ,
            oversized_values,
            chunks_in,
            chunks_out,
            transfers_completed,
            transfers_dropped,
            transfers_refused,
            values_held_back,
        } = engine;

        // Traffic.
        out.counter(
            "datagrams_received",
            "Datagrams the receive thread read from the socket",
            *datagrams_received,
        )?;
        out.counter(
            "datagrams_in",
            "Datagrams handed to the engine",
            *datagrams_in,
        )?;
        out.counter_with_unit(
            "datagrams_in",
            "Bytes of the datagrams handed to the engine",
            Some(&Unit::Bytes),
            *bytes_in,
        )?;
        out.counter(
            "datagrams_out",
            "Datagrams the engine produced",
            *datagrams_out,
        )?;
        out.counter_with_unit(
            "datagrams_out",
            "Bytes of the datagrams the engine produced",
            Some(&Unit::Bytes),
            *bytes_out,
        )?;
        out.counter(
            "pushes_out",
            "Datagrams that pushed fresh changes to peers unasked",
            *pushes_out,
        )?;
        out.counter(
            "beats_out",
            "Datagrams that carried this node's heartbeat alone to a peer",
            *beats_out,
        )?;
        out.counter(
            "sealed_in",
            "Sealed datagrams opened with an installed key",
            *sealed_in,
        )?;
        out.counter(
            "unsealed_in",
            "Unsealed datagrams accepted while this node has keys",
            *unsealed_in,
        )?;
        out.counter("sealed_out", "Datagrams this node sealed", *sealed_out)?;
        out.counter(
            "seal_failures",
            "Datagrams not sent because the nonce sequence ran out",
            *seal_failures,
        )?;
        out.counter(
            "recv_errors",
            "Errors reading from the socket, timeouts excluded",
            *recv_errors,
        )?;
        out.counter(
            "send_errors",
            "Datagrams the socket refused to send",
            *send_errors,
        )?;

        // Rejected input and refused state.
        let rejected: Vec<(&str, u64)> = DecodeError::ALL
            .iter()
            .map(|&k| (decode_error_label(k), engine.rejected(k)))
            .collect();
        out.counters(
            "datagrams_rejected",
            "Rejected datagrams, by reason",
            "kind",
            &rejected,
        )?;
        out.counter(
            "refused_nodes",
            "Nodes not learned because the node table was full",
            *refused_nodes,
        )?;
        out.counter(
            "refused_pieces",
            "Pieces not applied because the entry table or arena was full",
            *refused_pieces,
        )?;
        out.counter(
            "oversized_namespaces",
            "Pieces refused because they would take a node beyond the per-node share",
            *oversized_namespaces,
        )?;
        out.counter(
            "oversized_values",
            "Pieces refused because they carry a value longer than this node's max_value_len (a misconfiguration)",
            *oversized_values,
        )?;
        out.counter(
            "chunks_in",
            "Chunks of values longer than a datagram taken into a transfer",
            *chunks_in,
        )?;
        out.counter(
            "chunks_out",
            "Chunks of values longer than a datagram sent",
            *chunks_out,
        )?;
        out.counter(
            "transfers_completed",
            "Values assembled whole from chunks and applied",
            *transfers_completed,
        )?;
        out.counter(
            "transfers_dropped",
            "Values in flight given up (superseded, reset, node removed, chunks disagreed)",
            *transfers_dropped,
        )?;
        out.counter(
            "transfers_refused",
            "Chunks not kept: as many values as this node tracks were in flight",
            *transfers_refused,
        )?;
        out.counter(
            "values_held_back",
            "Values needing chunks held back from peers on a protocol older than 6",
            *values_held_back,
        )?;
        out.counter(
            "stale_generations",
            "Node ids ignored because a newer generation of the name is known",
            *stale_generations,
        )?;
        out.counter(
            "id_conflicts",
            "Node ids ignored because another id has their ring hash or name and generation",
            *id_conflicts,
        )?;
        out.counter(
            "implausible_generations",
            "Node ids refused because their generation is beyond any owner's reach",
            *implausible_generations,
        )?;
        out.counter(
            "unknown_nodes",
            "Updates naming a ring hash this node does not know",
            *unknown_nodes,
        )?;
        out.counter(
            "unusable_pieces",
            "Pieces that started above the version held or that collection does not allow",
            *unusable_pieces,
        )?;
        out.counter(
            "stale_pieces",
            "Pieces that brought nothing new",
            *stale_pieces,
        )?;
        out.counter("pieces_applied", "Pieces applied", *pieces_applied)?;
        out.counter(
            "resets_applied",
            "Pieces applied as a reset (a copy rebuilt)",
            *resets_applied,
        )?;
        out.counter(
            "budget_exhausted",
            "Replies cut short by the exchange budget",
            *budget_exhausted,
        )?;
        out.counter(
            "replies_bounded",
            "Replies to an unvalidated address cut by the amplification bound",
            *replies_bounded,
        )?;
        out.counter(
            "resurrections_refused",
            "Stale gossip about removed nodes ignored",
            *resurrections_refused,
        )?;
        out.counter(
            "implausible_heartbeats",
            "Heartbeats ignored because they jumped further ahead than time allows",
            *implausible_heartbeats,
        )?;
        out.counter(
            "blocks_read",
            "Compact digest blocks of received Syns read",
            *blocks_read,
        )?;
        out.counter(
            "blocks_differ",
            "Compact digest blocks that differed here",
            *blocks_differ,
        )?;

        // This node and the runtime around it.
        out.counter(
            "local_stalls",
            "Times this node noticed it had itself stalled",
            *local_stalls,
        )?;
        out.counter(
            "refutations",
            "Times this node took a new generation to refute what it heard of itself",
            *refutations,
        )?;
        out.counter(
            "name_conflicts",
            "Times another live process was found using this node's name",
            *name_conflicts,
        )?;
        out.counter(
            "pending_dropped",
            "Pending nodes dropped without their heartbeat ever advancing",
            *pending_dropped,
        )?;
        out.counters(
            "channel_drops",
            "Items dropped because a bounded channel was full",
            "channel",
            &[
                ("inbound", *inbound_dropped),
                ("subscriptions", *events_dropped),
                ("seeds", *seed_updates_dropped),
            ],
        )?;
        out.counter(
            "resolve_failures",
            "Seed names that failed to resolve, per attempt",
            *resolve_failures,
        )?;
        out.counters(
            "membership_events",
            "Membership changes this node saw",
            "kind",
            &[
                ("joined", *nodes_joined),
                ("alive_again", *nodes_alive_again),
                ("dead", *nodes_dead),
                ("left", *nodes_left),
                ("removed", *nodes_removed),
                ("replaced", *nodes_replaced),
            ],
        )?;
        out.counters(
            "key_events",
            "Key changes: remote keys set or deleted, local keys expired",
            "kind",
            &[
                ("set", *keys_set),
                ("deleted", *keys_deleted),
                ("expired", *keys_expired),
            ],
        )?;

        // Gauges.
        let Gauges {
            pending,
            alive,
            dead,
            left,
            max_phi,
            max_timeout,
            entries,
            state_bytes,
            capacity,
        } = &self.gauges;
        let mut members = out.0.encode_descriptor(
            "members",
            "Known nodes by status, this one included",
            None,
            MetricType::Gauge,
        )?;
        for (status, n) in [
            ("pending", pending),
            ("alive", alive),
            ("dead", dead),
            ("left", left),
        ] {
            let labels = [("status", status)];
            let series = members.encode_family(&labels)?;
            ConstGauge::new(level(*n)).encode(series)?;
        }
        // The text formats' "+Inf" is not what the encoder writes for an
        // infinite float; the largest finite one says the same here.
        out.gauge(
            "max_phi",
            "Highest phi among the other live nodes",
            None,
            max_phi.min(f64::MAX),
        )?;
        out.gauge(
            "max_timeout",
            "Longest adaptive timeout among the other live nodes",
            Some(&Unit::Seconds),
            max_timeout.map_or(0.0, |t| t.as_secs_f64()),
        )?;
        out.gauge("nodes_capacity", "Node slots", None, level(capacity.nodes))?;
        out.gauge(
            "entries",
            "Entries stored over all nodes, tombstones included",
            None,
            level(*entries),
        )?;
        out.gauge(
            "entries_capacity",
            "Entry slots",
            None,
            level(capacity.entries),
        )?;
        out.gauge(
            "state",
            "Bytes of keys and values stored, block headers included",
            Some(&Unit::Bytes),
            level(*state_bytes),
        )?;
        out.gauge(
            "state_capacity",
            "Capacity for keys and values, block headers included",
            Some(&Unit::Bytes),
            level(capacity.state_bytes),
        )?;
        Ok(())
    }
}

#[cfg(test)]
mod tests;
