//! The resolver's configuration. A standalone struct for now: the node configuration
//! that wires roles together will embed it as its `[resolver]` table.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use thiserror::Error;

use super::cache::CacheConfig;

#[derive(Debug, Error, PartialEq, Eq)]
pub enum ConfigError {
    #[error("allow-recursion: {0:?} is not an address or ADDRESS/PREFIX")]
    BadCidr(String),
    #[error("forward: {0:?} is not ADDRESS or ADDRESS:PORT")]
    BadForward(String),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "kebab-case", deny_unknown_fields)]
pub struct ResolverConfig {
    /// Addresses served over UDP and TCP.
    pub listen: Vec<SocketAddr>,
    /// A named.root file; the real root servers when absent.
    pub root_hints: Option<PathBuf>,
    /// The port of every authoritative server (glue carries no port).
    pub upstream_port: u16,
    /// Resolvers to forward to (ADDRESS or ADDRESS:PORT); iterate when empty.
    pub forward: Vec<String>,
    /// Clients allowed recursion (ADDRESS/PREFIX); others get REFUSED.
    pub allow_recursion: Vec<String>,
    pub qname_minimisation: bool,
    pub use_0x20: bool,
    /// Upstream queries one client query may cost.
    pub max_queries: usize,
    /// The longest wait for one upstream reply, in milliseconds.
    pub upstream_timeout_ms: u64,
    #[serde(flatten)]
    pub cache: CacheConfig,
}

impl Default for ResolverConfig {
    fn default() -> Self {
        ResolverConfig {
            listen: vec![SocketAddr::from(([127, 0, 0, 1], 53))],
            root_hints: None,
            upstream_port: 53,
            forward: Vec::new(),
            allow_recursion: [
                "127.0.0.0/8",
                "::1/128",
                "10.0.0.0/8",
                "172.16.0.0/12",
                "192.168.0.0/16",
                "fc00::/7",
                "fe80::/10",
            ]
            .iter()
            .map(|s| s.to_string())
            .collect(),
            qname_minimisation: true,
            use_0x20: false,
            max_queries: 64,
            upstream_timeout_ms: 3000,
            cache: CacheConfig::default(),
        }
    }
}

impl ResolverConfig {
    pub fn acl(&self) -> Result<Vec<Cidr>, ConfigError> {
        self.allow_recursion.iter().map(|s| s.parse()).collect()
    }

    pub fn forwarders(&self) -> Result<Vec<SocketAddr>, ConfigError> {
        self.forward
            .iter()
            .map(|s| {
                s.parse::<SocketAddr>()
                    .or_else(|_| s.parse::<IpAddr>().map(|ip| SocketAddr::new(ip, 53)))
                    .map_err(|_| ConfigError::BadForward(s.clone()))
            })
            .collect()
    }
}

/// An address prefix for the recursion ACL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    net: IpAddr,
    len: u8,
}

impl Cidr {
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
            v4 => v4,
        };
        match (self.net, ip) {
            (IpAddr::V4(n), IpAddr::V4(a)) => {
                let mask = u32::MAX.checked_shl(32 - u32::from(self.len)).unwrap_or(0);
                u32::from(n) & mask == u32::from(a) & mask
            }
            (IpAddr::V6(n), IpAddr::V6(a)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.len))
                    .unwrap_or(0);
                u128::from(n) & mask == u128::from(a) & mask
            }
            _ => false,
        }
    }
}

impl FromStr for Cidr {
    type Err = ConfigError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || ConfigError::BadCidr(s.to_string());
        let (addr, len) = match s.split_once('/') {
            Some((a, l)) => (a, Some(l)),
            None => (s, None),
        };
        let net: IpAddr = addr.parse().map_err(|_| bad())?;
        let max = if net.is_ipv4() { 32 } else { 128 };
        let len = match len {
            Some(l) => l.parse::<u8>().map_err(|_| bad())?,
            None => max,
        };
        if len > max {
            return Err(bad());
        }
        Ok(Cidr { net, len })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_acl_is_loopback_and_private() {
        let acl = ResolverConfig::default().acl().unwrap();
        let allowed = |s: &str| acl.iter().any(|c| c.contains(s.parse().unwrap()));
        for ok in [
            "127.0.0.1",
            "127.9.9.9",
            "10.1.2.3",
            "172.31.0.1",
            "192.168.1.1",
            "::1",
            "::ffff:10.0.0.1",
        ] {
            assert!(allowed(ok), "{ok}");
        }
        for no in ["8.8.8.8", "172.32.0.1", "2001:db8::1", "0.0.0.0"] {
            assert!(!allowed(no), "{no}");
        }
    }

    #[test]
    fn parses_toml_with_defaults() {
        let c: ResolverConfig = toml::from_str(
            "listen = [\"127.0.0.1:5353\"]\nupstream-port = 5300\nforward = [\"127.0.0.2\"]\n\
             cache-max-ttl = 60\nserve-stale = true\n",
        )
        .unwrap();
        assert_eq!(c.upstream_port, 5300);
        assert_eq!(c.cache.cache_max_ttl, 60);
        assert!(c.cache.serve_stale);
        assert_eq!(c.cache.cache_max_negative_ttl, 3600);
        assert!(c.qname_minimisation);
        assert_eq!(c.forwarders().unwrap()[0], "127.0.0.2:53".parse().unwrap());
        assert!("10.0.0.0/33".parse::<Cidr>().is_err());
        assert!(toml::from_str::<ResolverConfig>("bogus = 1").is_err());
    }
}
