//! The network model: addresses, per-link behaviour and partitions.
//!
//! Every datagram is judged when it is sent: a partition between sender and
//! receiver drops it, then the link's loss probability, then it is scheduled
//! after a latency drawn from the link's distribution (plus, with the
//! reordering probability, an extra delay), and with the duplication
//! probability a second copy with its own latency. Partitions are checked
//! again on delivery, so nothing crosses a partition after it was made.

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::time::Duration;
use std::vec::Vec;

use super::queue::{Micros, micros};
use super::rng::SimRng;

/// UDP port of every simulated node.
pub const SIM_PORT: u16 = 7946;

/// First address of the simulated nodes (node 0 is `10.0.0.1`).
const BASE_IP: u32 = 0x0a00_0001;

/// Most nodes one simulation holds: every address from `10.0.0.1` to
/// `10.255.255.255` ([`node_addr`]), 16,777,215 of them.
pub const MAX_NODES: usize = 0x00ff_ffff;

/// The address of simulated node `index`: `10.0.0.1:7946` for node 0, then
/// counting up through `10.0.0.0/8`.
///
/// # Panics
///
/// If `index` is not below [`MAX_NODES`]: past it, addresses would leave
/// `10.0.0.0/8` and could not be told apart by [`node_index`].
pub fn node_addr(index: usize) -> SocketAddr {
    let offset = u32::try_from(index)
        .ok()
        .filter(|&i| (i as usize) < MAX_NODES)
        .unwrap_or_else(|| panic!("node {index}: a simulation has at most {MAX_NODES} nodes"));
    SocketAddr::V4(SocketAddrV4::new(
        Ipv4Addr::from(BASE_IP + offset),
        SIM_PORT,
    ))
}

/// The simulated node at `addr`, if the address is one [`node_addr`] gives.
pub fn node_index(addr: SocketAddr) -> Option<usize> {
    match addr {
        SocketAddr::V4(a) if a.port() == SIM_PORT => {
            let ip = u32::from(*a.ip());
            ip.checked_sub(BASE_IP)
                .filter(|&i| (i as usize) < MAX_NODES)
                .map(|i| i as usize)
        }
        _ => None,
    }
}

/// A distribution of one-way latencies.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Latency {
    /// Always the same.
    Constant(Duration),
    /// Uniform between `min` and `max` (inclusive of `min`).
    Uniform {
        /// Shortest latency.
        min: Duration,
        /// Longest latency.
        max: Duration,
    },
    /// Normal with `mean` and `std_dev`, never below `min` (draws below are
    /// clamped to it): a long tail on one side, as on real networks.
    Normal {
        /// Mean latency.
        mean: Duration,
        /// Standard deviation.
        std_dev: Duration,
        /// Floor.
        min: Duration,
    },
}

impl Latency {
    /// Draws one latency in microseconds.
    pub(crate) fn sample(&self, rng: &mut SimRng) -> Micros {
        match *self {
            Latency::Constant(d) => micros(d),
            Latency::Uniform { min, max } => {
                let (lo, hi) = (micros(min), micros(max));
                if hi <= lo {
                    lo
                } else {
                    lo + rng.below(hi - lo + 1)
                }
            }
            Latency::Normal { mean, std_dev, min } => {
                let v = micros(mean) as f64 + rng.normal() * micros(std_dev) as f64;
                let floor = micros(min);
                if v.is_finite() && v > floor as f64 {
                    v as u64
                } else {
                    floor
                }
            }
        }
    }
}

/// How one directed link (or, as the default, every link) behaves.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LinkModel {
    /// One-way latency of each datagram. Jitter alone reorders datagrams
    /// whose send times are closer than the spread.
    pub latency: Latency,
    /// Probability that a datagram is lost.
    pub loss: f64,
    /// Probability that a datagram that is not lost arrives twice (the copy
    /// draws its own latency).
    pub duplicate: f64,
    /// Probability that a datagram is held back by an extra delay, uniform
    /// in `0..=reorder_delay`, so later datagrams overtake it.
    pub reorder: f64,
    /// The longest extra delay of a held-back datagram.
    pub reorder_delay: Duration,
}

impl LinkModel {
    /// A data-centre link: latency uniform in 0.2–1 ms, no loss, no
    /// duplication, no extra reordering.
    pub const fn new() -> Self {
        LinkModel {
            latency: Latency::Uniform {
                min: Duration::from_micros(200),
                max: Duration::from_millis(1),
            },
            loss: 0.0,
            duplicate: 0.0,
            reorder: 0.0,
            reorder_delay: Duration::from_millis(50),
        }
    }
}

impl Default for LinkModel {
    fn default() -> Self {
        LinkModel::new()
    }
}

/// Names a partition so it can be healed on its own ([`super::Sim::heal`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PartitionId(u64);

/// One blocking rule: nothing from a node of `from` reaches a node of `to`.
struct Rule {
    id: u64,
    from: Vec<bool>,
    to: Vec<bool>,
}

fn member_set(nodes: &[usize]) -> Vec<bool> {
    let len = nodes.iter().max().map_or(0, |m| m + 1);
    let mut set = std::vec![false; len];
    for &n in nodes {
        set[n] = true;
    }
    set
}

fn contains(set: &[bool], node: usize) -> bool {
    set.get(node).copied().unwrap_or(false)
}

/// The network: link models and partition rules.
pub(crate) struct Network {
    /// Behaviour of every link without an override.
    pub(crate) default: LinkModel,
    /// Per directed link overrides, `(from, to)`.
    links: HashMap<(usize, usize), LinkModel>,
    rules: Vec<Rule>,
    /// Rules that were healed, with when.
    healed: Vec<(Micros, Rule)>,
    next_rule: u64,
}

impl Network {
    pub(crate) fn new(default: LinkModel) -> Self {
        Network {
            default,
            links: HashMap::new(),
            rules: Vec::new(),
            healed: Vec::new(),
            next_rule: 0,
        }
    }

    /// The model of the link `from → to`.
    pub(crate) fn link(&self, from: usize, to: usize) -> &LinkModel {
        if self.links.is_empty() {
            return &self.default;
        }
        self.links.get(&(from, to)).unwrap_or(&self.default)
    }

    pub(crate) fn set_link(&mut self, from: usize, to: usize, model: Option<LinkModel>) {
        match model {
            Some(m) => {
                self.links.insert((from, to), m);
            }
            None => {
                self.links.remove(&(from, to));
            }
        }
    }

    /// Whether a partition stops datagrams from `from` to `to`.
    pub(crate) fn blocked(&self, from: usize, to: usize) -> bool {
        self.rules
            .iter()
            .any(|r| contains(&r.from, from) && contains(&r.to, to))
    }

    /// When a partition that cut `a` and `b` apart (either way) was last
    /// healed: until then they could not talk, so news between them is late.
    pub(crate) fn last_heal_between(&self, a: usize, b: usize) -> Option<Micros> {
        self.healed
            .iter()
            .filter(|(_, r)| {
                (contains(&r.from, a) && contains(&r.to, b))
                    || (contains(&r.from, b) && contains(&r.to, a))
            })
            .map(|(at, _)| *at)
            .max()
    }

    /// Adds rules blocking `a → b` and, unless `one_way`, `b → a`.
    pub(crate) fn partition(&mut self, a: &[usize], b: &[usize], one_way: bool) -> PartitionId {
        let id = self.next_rule;
        self.next_rule += 1;
        self.rules.push(Rule {
            id,
            from: member_set(a),
            to: member_set(b),
        });
        if !one_way {
            self.rules.push(Rule {
                id,
                from: member_set(b),
                to: member_set(a),
            });
        }
        PartitionId(id)
    }

    /// Removes the rules of partition `id`; returns whether there were any.
    pub(crate) fn heal(&mut self, id: PartitionId, now: Micros) -> bool {
        let (gone, kept): (Vec<Rule>, Vec<Rule>) = self.rules.drain(..).partition(|r| r.id == id.0);
        self.rules = kept;
        let healed = !gone.is_empty();
        self.healed.extend(gone.into_iter().map(|r| (now, r)));
        healed
    }

    /// Removes every partition.
    pub(crate) fn heal_all(&mut self, now: Micros) {
        let gone = core::mem::take(&mut self.rules);
        self.healed.extend(gone.into_iter().map(|r| (now, r)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::string::ToString;

    #[test]
    fn addresses_round_trip() {
        for i in [0usize, 1, 255, 256, 1000, 65_535, 100_000] {
            assert_eq!(node_index(node_addr(i)), Some(i));
        }
        assert_eq!(node_addr(0).to_string(), "10.0.0.1:7946");
        assert_eq!(node_addr(1000).to_string(), "10.0.3.233:7946");
        assert_eq!(node_index("10.0.0.1:7947".parse().expect("addr")), None);
        assert_eq!(node_index("127.0.0.1:7946".parse().expect("addr")), None);
    }

    #[test]
    fn partitions_block_the_given_directions_until_healed() {
        let mut n = Network::new(LinkModel::new());
        let full = n.partition(&[0, 1], &[2, 3], false);
        assert!(n.blocked(0, 2) && n.blocked(3, 1));
        assert!(!n.blocked(0, 1) && !n.blocked(2, 3) && !n.blocked(0, 9));
        n.partition(&[4], &[5], true);
        assert!(n.blocked(4, 5) && !n.blocked(5, 4));
        assert!(n.heal(full, 7));
        assert!(!n.heal(full, 8));
        assert!(!n.blocked(0, 2) && n.blocked(4, 5));
        assert_eq!(n.last_heal_between(2, 0), Some(7));
        assert_eq!(n.last_heal_between(0, 1), None);
        n.heal_all(9);
        assert!(!n.blocked(4, 5));
        assert_eq!(n.last_heal_between(5, 4), Some(9));
    }

    #[test]
    fn latency_distributions_stay_in_their_ranges() {
        let mut rng = SimRng::new(3);
        let c = Latency::Constant(Duration::from_millis(2));
        assert_eq!(c.sample(&mut rng), 2000);
        let u = Latency::Uniform {
            min: Duration::from_micros(100),
            max: Duration::from_micros(300),
        };
        let n = Latency::Normal {
            mean: Duration::from_millis(5),
            std_dev: Duration::from_millis(3),
            min: Duration::from_millis(1),
        };
        let mut sum = 0u64;
        for _ in 0..10_000 {
            assert!((100..=300).contains(&u.sample(&mut rng)));
            let v = n.sample(&mut rng);
            assert!(v >= 1000);
            sum += v;
        }
        let mean = sum / 10_000;
        assert!((5000..6000).contains(&mean), "{mean}");
    }
}
