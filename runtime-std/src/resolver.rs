//! The resolver thread: turns seed "host:port" strings into addresses,
//! again and again.
//!
//! Seeds are usually DNS names (a Kubernetes headless service, a load
//! balancer, a list of hosts) whose addresses change over a cluster's life,
//! so they are re-resolved every `seed_resolve_interval` and the engine is
//! given the new list ([`hearsay_core::Engine::set_seeds`]) whenever it
//! changes. A name that does not resolve is logged and retried (after 1 s,
//! doubling up to the interval); it is never fatal, and the addresses it
//! last resolved to are kept meanwhile, so a DNS hiccup does not cost the
//! node its seeds. Literal addresses skip DNS altogether.
//!
//! Resolution uses a [`Resolve`] implementation: by default
//! [`SystemResolver`], the system resolver (`getaddrinfo` through
//! `ToSocketAddrs`), which blocks; that is why it has its own thread. Set
//! another one with [`crate::Builder::resolver`] (a fixed table, a service
//! registry, a test double).
//!
//! A lookup cannot be interrupted, and one can hang for tens of seconds
//! when DNS is broken, so shutting down does not wait for it: the node
//! waits half a second for the thread, then lets it go. Such a thread holds
//! nothing of the node but its own inputs; it notices the shutdown as soon
//! as the lookup returns, and ends.

use std::fmt;
use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::Arc;
use std::time::Duration;

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender, TryRecvError, TrySendError};

use crate::counters::{Stats, bump};
use crate::error::Error;

/// Turns a seed name, `"host:port"` as given to [`crate::Builder::seed`],
/// into socket addresses. Called on the node's resolver thread only, for
/// seeds that are not literal addresses; it may block (a lookup that never
/// returns delays nothing but later lookups of the same node).
///
/// Closures `Fn(&str) -> io::Result<Vec<SocketAddr>>` implement it:
///
/// ```
/// use std::net::SocketAddr;
/// let table = |seed: &str| match seed {
///     "seed.internal:7946" => Ok(vec![SocketAddr::from(([10, 0, 0, 1], 7946))]),
///     _ => Err(std::io::Error::other("unknown seed")),
/// };
/// let builder = hearsay_std::Node::builder("a")
///     .seed("seed.internal:7946")
///     .resolver(table);
/// # drop(builder);
/// ```
pub trait Resolve: Send + Sync + 'static {
    /// The addresses `seed` stands for now; an error (or no usable
    /// address) keeps the ones found last time and is retried later.
    fn resolve(&self, seed: &str) -> io::Result<Vec<SocketAddr>>;
}

impl<F> Resolve for F
where
    F: Fn(&str) -> io::Result<Vec<SocketAddr>> + Send + Sync + 'static,
{
    fn resolve(&self, seed: &str) -> io::Result<Vec<SocketAddr>> {
        self(seed)
    }
}

/// The default [`Resolve`]: the operating system's resolver
/// (`getaddrinfo`, through [`ToSocketAddrs`]).
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemResolver;

impl Resolve for SystemResolver {
    fn resolve(&self, seed: &str) -> io::Result<Vec<SocketAddr>> {
        Ok(seed.to_socket_addrs()?.collect())
    }
}

/// A shared [`Resolve`], debug-printable so that the builder stays so.
#[derive(Clone)]
pub(crate) struct SharedResolver(pub Arc<dyn Resolve>);

impl Default for SharedResolver {
    fn default() -> Self {
        SharedResolver(Arc::new(SystemResolver))
    }
}

impl fmt::Debug for SharedResolver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Resolve")
    }
}

/// How long shutting down waits for the resolver thread before it lets the
/// thread end on its own (when a lookup is stuck). Between lookups the
/// thread ends at once.
pub(crate) const RESOLVER_JOIN_WAIT: Duration = Duration::from_millis(500);

/// First retry delay after a seed failed to resolve.
const RETRY_MIN: Duration = Duration::from_secs(1);

/// Checks that `seed` looks like "host:port" (a name, an IPv4 address or a
/// bracketed IPv6 address, and a port), without resolving it.
pub(crate) fn check_seed(seed: &str) -> Result<(), Error> {
    let bad = |reason| Error::BadAddress {
        input: seed.to_owned(),
        reason,
    };
    if seed.parse::<SocketAddr>().is_ok() {
        return Ok(());
    }
    let (host, port) = seed
        .rsplit_once(':')
        .ok_or_else(|| bad("expected host:port"))?;
    port.parse::<u16>()
        .map_err(|_| bad("the port is not a number from 0 to 65535"))?;
    if host.is_empty() {
        return Err(bad("the host is empty"));
    }
    if host.contains(':') {
        return Err(bad("IPv6 addresses must be in brackets: [addr]:port"));
    }
    if host.contains(char::is_whitespace) {
        return Err(bad("the host contains whitespace"));
    }
    Ok(())
}

/// Everything the resolver thread needs.
#[derive(Debug)]
pub(crate) struct Resolver {
    /// Seeds as given ("host:port").
    pub seeds: Vec<String>,
    /// Whether the gossip socket is IPv6 (else IPv6 results are useless).
    pub ipv6_socket: bool,
    /// How often to re-resolve.
    pub interval: Duration,
    /// Turns names into addresses.
    pub resolver: SharedResolver,
    /// Where resolved lists go (the engine thread).
    pub out: Sender<Vec<SocketAddr>>,
    /// Closed (disconnected) when the node shuts down.
    pub stop: Receiver<()>,
    pub stats: Arc<Stats>,
    /// The node's name, for log lines.
    pub name: String,
}

impl Resolver {
    /// The thread's loop: resolve, hand over changes, wait, until stopped.
    pub(crate) fn run(self) {
        let mut known: Vec<Vec<SocketAddr>> = vec![Vec::new(); self.seeds.len()];
        let mut failing = vec![false; self.seeds.len()];
        let mut last_sent: Option<Vec<SocketAddr>> = None;
        let mut retry = RETRY_MIN;
        loop {
            let mut any_failed = false;
            for ((seed, addrs), failing) in self.seeds.iter().zip(&mut known).zip(&mut failing) {
                // A lookup may have outlasted the node: do not start another.
                if self.stopped() {
                    return;
                }
                match self.resolve(seed) {
                    Ok(found) => {
                        if *failing {
                            log::info!("hearsay {}: seed {seed} resolves again", self.name);
                        }
                        *failing = false;
                        *addrs = found;
                    }
                    Err(reason) => {
                        any_failed = true;
                        bump(&self.stats.resolve_failures);
                        if *failing {
                            log::debug!("hearsay {}: seed {seed}: {reason}", self.name);
                        } else {
                            log::warn!(
                                "hearsay {}: cannot resolve seed {seed}: {reason}; will retry",
                                self.name
                            );
                        }
                        *failing = true;
                    }
                }
            }
            let mut all: Vec<SocketAddr> = Vec::new();
            for a in known.iter().flatten() {
                if !all.contains(a) {
                    all.push(*a);
                }
            }
            if last_sent.as_ref() != Some(&all) {
                match self.out.try_send(all.clone()) {
                    Ok(()) => last_sent = Some(all),
                    // Still queued from last time: count it, send next round.
                    Err(TrySendError::Full(_)) => bump(&self.stats.seed_updates_dropped),
                    Err(TrySendError::Disconnected(_)) => return,
                }
            }
            let wait = if any_failed {
                let wait = retry;
                retry = retry.saturating_mul(2).min(self.interval);
                wait
            } else {
                retry = RETRY_MIN;
                self.interval
            };
            match self.stop.recv_timeout(wait) {
                Err(RecvTimeoutError::Timeout) => {}
                // Disconnected (shutdown) or, defensively, any message.
                _ => return,
            }
        }
    }

    /// Whether the node has shut down (or, defensively, sent anything).
    fn stopped(&self) -> bool {
        !matches!(self.stop.try_recv(), Err(TryRecvError::Empty))
    }

    /// The usable addresses of one seed.
    fn resolve(&self, seed: &str) -> Result<Vec<SocketAddr>, String> {
        let found: Vec<SocketAddr> = match seed.parse::<SocketAddr>() {
            Ok(addr) => vec![addr],
            Err(_) => self.resolver.0.resolve(seed).map_err(|e| e.to_string())?,
        };
        let usable: Vec<SocketAddr> = found
            .into_iter()
            .filter(|a| self.ipv6_socket || a.is_ipv4())
            .collect();
        if usable.is_empty() {
            return Err(if self.ipv6_socket {
                "no address".to_owned()
            } else {
                "no IPv4 address (the gossip socket is IPv4)".to_owned()
            });
        }
        Ok(usable)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seed_syntax() {
        for ok in [
            "localhost:7000",
            "10.0.0.1:7000",
            "[::1]:7000",
            "node-1.svc.cluster.local:7946",
        ] {
            assert!(check_seed(ok).is_ok(), "{ok}");
        }
        for bad in [
            "localhost",
            ":7000",
            "host:http",
            "::1:7000",
            "a b:1",
            "h:70000",
        ] {
            assert!(
                matches!(check_seed(bad), Err(Error::BadAddress { .. })),
                "{bad}"
            );
        }
    }

    fn resolver(seeds: &[&str]) -> (Resolver, Receiver<Vec<SocketAddr>>, Sender<()>) {
        let (out, rx) = crossbeam_channel::bounded(1);
        let (stop_tx, stop) = crossbeam_channel::bounded(1);
        let r = Resolver {
            seeds: seeds.iter().map(|s| s.to_string()).collect(),
            ipv6_socket: false,
            interval: Duration::from_secs(60),
            resolver: SharedResolver::default(),
            out,
            stop,
            stats: Arc::new(Stats::default()),
            name: "t".into(),
        };
        (r, rx, stop_tx)
    }

    #[test]
    fn resolves_names_keeps_ipv4_and_survives_failures() {
        let (r, rx, stop) = resolver(&["localhost:7000", "no-such-host.invalid:1", "127.0.0.2:9"]);
        let stats = Arc::clone(&r.stats);
        let t = std::thread::spawn(move || r.run());
        let seeds = rx.recv_timeout(Duration::from_secs(30)).unwrap();
        assert!(seeds.contains(&"127.0.0.1:7000".parse().unwrap()));
        assert!(seeds.contains(&"127.0.0.2:9".parse().unwrap()));
        assert!(seeds.iter().all(SocketAddr::is_ipv4));
        assert!(
            stats
                .resolve_failures
                .load(std::sync::atomic::Ordering::Relaxed)
                >= 1
        );
        drop(stop);
        t.join().unwrap();
    }

    #[test]
    fn an_injected_resolver_replaces_dns() {
        let (mut r, rx, stop) = resolver(&["seed.test:7000", "127.0.0.2:9"]);
        let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
        let log = Arc::clone(&seen);
        r.resolver = SharedResolver(Arc::new(move |seed: &str| {
            log.lock().unwrap().push(seed.to_owned());
            Ok(vec![SocketAddr::from(([10, 1, 2, 3], 7000))])
        }));
        let t = std::thread::spawn(move || r.run());
        let seeds = rx.recv_timeout(Duration::from_secs(30)).unwrap();
        assert_eq!(
            seeds,
            vec![
                "10.1.2.3:7000".parse().unwrap(),
                "127.0.0.2:9".parse().unwrap()
            ]
        );
        // Literal addresses never reach the resolver.
        assert_eq!(*seen.lock().unwrap(), ["seed.test:7000"]);
        drop(stop);
        t.join().unwrap();
    }
}
