//! `allow-update`: who may send a dynamic update, by client address and TSIG key.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use hickory_proto::rr::Name;

/// An address range: an address with a prefix length (`192.0.2.0/24`, `::1`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    addr: IpAddr,
    prefix: u8,
}

impl Cidr {
    pub fn contains(&self, addr: IpAddr) -> bool {
        match (self.addr, addr.to_canonical()) {
            (IpAddr::V4(net), IpAddr::V4(a)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(net) & mask == u32::from(a) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(a)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(net) & mask == u128::from(a) & mask
            }
            _ => false,
        }
    }
}

impl FromStr for Cidr {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let (a, p) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let addr: IpAddr = a.parse().map_err(|_| format!("bad address in {s:?}"))?;
        let addr = addr.to_canonical();
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match p {
            Some(p) => p
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= max)
                .ok_or_else(|| format!("bad prefix length in {s:?}"))?,
            None => max,
        };
        Ok(Cidr { addr, prefix })
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

/// One `allow-update` rule: it matches when the client's address is in one of
/// `networks` (any address when empty) and, if `key` is set, the request was signed by
/// that TSIG key (verified by the caller). Like Knot's ACL rules, both parts must hold.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AclRule {
    pub networks: Vec<Cidr>,
    pub key: Option<Name>,
}

/// The `allow-update` list: an update is allowed when any rule matches. Empty denies
/// every update, the safe default of every server.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct UpdateAcl {
    pub rules: Vec<AclRule>,
}

impl UpdateAcl {
    /// `verified_key` is the name of the TSIG key that signed the request, already checked.
    pub fn allows(&self, client: IpAddr, verified_key: Option<&Name>) -> bool {
        self.rules.iter().any(|r| {
            let net_ok = r.networks.is_empty() || r.networks.iter().any(|n| n.contains(client));
            let key_ok = match (&r.key, verified_key) {
                (None, _) => true,
                (Some(want), Some(got)) => want == got,
                (Some(_), None) => false,
            };
            net_ok && key_ok
        })
    }
}
