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

impl FromStr for AclRule {
    type Err = String;

    /// One rule as a configuration writes it: `192.0.2.0/24`, `::1`, `key upd-key`,
    /// `10.0.0.0/8 key upd-key` (both must hold), or `any`.
    fn from_str(s: &str) -> Result<Self, String> {
        let words: Vec<&str> = s.split_whitespace().collect();
        let (nets, key) = match words.as_slice() {
            ["any"] => (&[][..], None),
            ["key", k] => (&[][..], Some(*k)),
            [n @ .., "key", k] if !n.is_empty() => (n, Some(*k)),
            n if !n.is_empty() && !n.contains(&"key") => (n, None),
            _ => return Err(format!("bad allow-update rule {s:?}")),
        };
        let networks = nets
            .iter()
            .map(|n| n.parse())
            .collect::<Result<Vec<Cidr>, _>>()?;
        let key = match key {
            Some(k) => {
                let mut name = Name::from_str(k).map_err(|e| format!("bad key name {k:?}: {e}"))?;
                name.set_fqdn(true);
                Some(name)
            }
            None => None,
        };
        Ok(AclRule { networks, key })
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_from_text() {
        let r: AclRule = "10.0.0.0/8 key upd-key".parse().unwrap();
        assert_eq!(r.networks, vec!["10.0.0.0/8".parse::<Cidr>().unwrap()]);
        assert_eq!(r.key, Some(Name::from_str("upd-key.").unwrap()));
        let r: AclRule = "key upd-key.".parse().unwrap();
        assert!(r.networks.is_empty() && r.key.is_some());
        let r: AclRule = "192.0.2.1 2001:db8::/32".parse().unwrap();
        assert_eq!((r.networks.len(), r.key), (2, None));
        let any: AclRule = "any".parse().unwrap();
        assert_eq!(any, AclRule::default());
        for bad in [
            "",
            "key",
            "10.0.0.0/8 key",
            "nonsense",
            "key a b",
            "1.2.3.4/40",
        ] {
            assert!(bad.parse::<AclRule>().is_err(), "{bad:?}");
        }
        let acl = UpdateAcl { rules: vec![any] };
        assert!(acl.allows("203.0.113.9".parse().unwrap(), None));
    }
}
