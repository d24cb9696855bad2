//! What the iterator knows about upstream servers: its limits and options, and the
//! smoothed round-trip times it chooses servers by (shared by all resolutions, like
//! Unbound's infra cache).

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use hickory_proto::rr::Name;

/// Limits and options of the iterator.
#[derive(Debug, Clone)]
pub struct IterConfig {
    /// Root server names and addresses, used when the cache knows no closer cut.
    pub root_hints: Vec<(Name, Vec<IpAddr>)>,
    /// The port every authoritative server is reached on (glue carries no port).
    pub upstream_port: u16,
    /// When set, every query goes to these resolvers with RD=1 instead of iterating.
    pub forward: Vec<SocketAddr>,
    pub qname_minimisation: bool,
    pub use_0x20: bool,
    pub edns_payload: u16,
    /// How many sub-resolutions may nest (NS names without glue).
    pub max_depth: usize,
    pub max_cname_chain: usize,
    /// Upstream queries one client query may cost, sub-resolutions included.
    pub max_queries: usize,
    /// Sends to one server address for one question before it is given up.
    pub tries_per_server: u8,
    /// The longest wait for one upstream reply, however slow the server seemed.
    pub max_timeout: Duration,
}

impl Default for IterConfig {
    fn default() -> Self {
        IterConfig {
            root_hints: Vec::new(),
            upstream_port: 53,
            forward: Vec::new(),
            qname_minimisation: true,
            use_0x20: false,
            edns_payload: 1232,
            max_depth: 6,
            max_cname_chain: 11,
            max_queries: 64,
            tries_per_server: 2,
            max_timeout: MAX_TIMEOUT,
        }
    }
}

/// Smoothed round-trip times per server address, shared by all resolutions.
#[derive(Debug, Default)]
pub struct Infra {
    srtt: HashMap<SocketAddr, Duration>,
}

/// What a server nobody has measured is assumed to take (Unbound's 376 ms), so that a
/// measured fast server is preferred but unknown ones still get tried.
const UNKNOWN_RTT: Duration = Duration::from_millis(376);
const MIN_TIMEOUT: Duration = Duration::from_millis(300);
const MAX_TIMEOUT: Duration = Duration::from_secs(3);
const MAX_SERVERS: usize = 100_000;

impl Infra {
    pub fn srtt(&self, addr: &SocketAddr) -> Duration {
        self.srtt.get(addr).copied().unwrap_or(UNKNOWN_RTT)
    }

    /// Exponential smoothing (7/8 old, 1/8 new, as TCP's SRTT).
    pub fn observe(&mut self, addr: SocketAddr, rtt: Duration) {
        self.bound();
        let next = match self.srtt.get(&addr) {
            Some(old) => (*old * 7 + rtt) / 8,
            None => rtt,
        };
        self.srtt.insert(addr, next);
    }

    /// A timeout doubles the estimate, so the server drops behind its siblings.
    pub fn timed_out(&mut self, addr: SocketAddr) {
        self.bound();
        let next = (self.srtt(&addr) * 2).min(Duration::from_secs(10));
        self.srtt.insert(addr, next);
    }

    /// Keeps the table finite: past the cap it starts over, which only costs a few
    /// queries to unknown-speed servers.
    fn bound(&mut self) {
        if self.srtt.len() >= MAX_SERVERS {
            self.srtt.clear();
        }
    }

    pub fn timeout_for(&self, addr: &SocketAddr) -> Duration {
        (self.srtt(addr) * 4).clamp(MIN_TIMEOUT, MAX_TIMEOUT)
    }
}
