//! Address lists for `allow-transfer`, `allow-notify` and `also-notify` style settings.

use std::net::IpAddr;
use std::str::FromStr;

use ipnet::IpNet;
use thiserror::Error;

#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[error("{0:?} is neither an address nor a CIDR prefix")]
pub struct AclParseError(pub String);

/// A list of addresses and prefixes. Empty means nobody, which is the safe default for
/// transfers (Knot's, and BIND's since 9.18's `allow-transfer { none; }` advice).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Acl {
    nets: Vec<IpNet>,
}

impl Acl {
    pub fn none() -> Self {
        Acl::default()
    }

    pub fn any() -> Self {
        Acl {
            nets: vec![
                IpNet::from_str("0.0.0.0/0").unwrap_or_default(),
                IpNet::from_str("::/0").unwrap_or_default(),
            ],
        }
    }

    /// Parses entries like `192.0.2.1`, `10.0.0.0/8`, `2001:db8::/32`, `any`, `none`.
    pub fn parse<S: AsRef<str>>(entries: &[S]) -> Result<Self, AclParseError> {
        let mut nets = Vec::new();
        for e in entries {
            let s = e.as_ref().trim();
            match s {
                "any" => nets.extend(Acl::any().nets),
                "none" => {}
                _ => {
                    let net = match IpNet::from_str(s) {
                        Ok(n) => n.trunc(),
                        Err(_) => IpAddr::from_str(s)
                            .map(IpNet::from)
                            .map_err(|_| AclParseError(s.to_string()))?,
                    };
                    nets.push(net);
                }
            }
        }
        Ok(Acl { nets })
    }

    pub fn allows(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        self.nets.iter().any(|n| n.contains(&ip))
    }
}

/// IPv4-mapped IPv6 addresses (from a dual-stack socket) match IPv4 entries.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6
            .to_ipv4_mapped()
            .map(IpAddr::V4)
            .unwrap_or(IpAddr::V6(v6)),
        v4 => v4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_addresses_and_prefixes() {
        let acl = Acl::parse(&["192.0.2.1", "10.1.2.3/16", "2001:db8::/32"]).unwrap();
        let ok = |s: &str| acl.allows(s.parse().unwrap());
        assert!(ok("192.0.2.1"));
        assert!(!ok("192.0.2.2"));
        assert!(ok("10.1.255.255"));
        assert!(!ok("10.2.0.0"));
        assert!(ok("2001:db8::53"));
        assert!(ok("::ffff:192.0.2.1"), "mapped v4 matches");
        assert!(!Acl::none().allows("127.0.0.1".parse().unwrap()));
        assert!(Acl::parse(&["any"]).unwrap().allows("::1".parse().unwrap()));
        assert_eq!(
            Acl::parse(&["10.0.0.0/33"]).unwrap_err(),
            AclParseError("10.0.0.0/33".into())
        );
    }
}
