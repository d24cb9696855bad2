//! The `[[zone]]` table: a zone's role and the propagation settings around it.
//!
//! Defaults are those an operator of BIND or Knot would expect in a lab that runs every
//! server on loopback: transfers are allowed to loopback only (Knot allows nobody,
//! BIND anybody; loopback is safe and lets local secondaries work unconfigured), NOTIFY
//! is accepted from the zone's primaries only, `notify-delay` is 0 (Knot), the serial
//! policy is `increment` (Knot) and the journal keeps Knot's 20 changesets up to BIND's
//! twice the zone size.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use hickory_proto::rr::Name;
use serde::Deserialize;
use toml::Spanned;

use crate::serial::SerialPolicy;
use crate::store::{JournalLimits, SizeLimit};
use crate::update::{AclRule, UpdateAcl};
use crate::xfr::acl::Acl;

/// Whether a zone is loaded from a file or transferred from primaries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    #[default]
    Primary,
    Secondary,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(super) struct RawZone {
    pub name: Spanned<String>,
    pub file: Option<PathBuf>,
    pub role: Option<Spanned<Role>>,
    #[serde(default)]
    pub primaries: Vec<Spanned<String>>,
    pub allow_transfer: Option<Spanned<Vec<String>>>,
    #[serde(default)]
    pub also_notify: Vec<Spanned<String>>,
    pub allow_notify: Option<Spanned<Vec<String>>>,
    pub notify_delay: Option<Spanned<String>>,
    pub serial_policy: Option<SerialPolicy>,
    pub journal_max_depth: Option<u32>,
    pub journal_max_size: Option<Spanned<String>>,
    pub tsig_key: Option<Spanned<String>>,
    pub allow_update: Option<Spanned<Vec<String>>>,
}

/// One served zone.
#[derive(Debug, Clone, PartialEq)]
pub struct ZoneConfig {
    pub name: Name,
    pub role: Role,
    /// The zone file of a primary (a secondary has none).
    pub file: Option<PathBuf>,
    /// Where a secondary transfers from, tried in order.
    pub primaries: Vec<SocketAddr>,
    pub allow_transfer: Acl,
    pub also_notify: Vec<SocketAddr>,
    pub allow_notify: Acl,
    pub notify_delay: Duration,
    pub serial_policy: SerialPolicy,
    pub journal: JournalLimits,
    /// The TSIG key that signs our transfer requests and NOTIFYs, and that requests for
    /// this zone (transfers, NOTIFY) must carry.
    pub tsig_key: Option<Name>,
    /// Who may send RFC 2136 UPDATEs to a primary zone; empty (the default) refuses all.
    pub allow_update: UpdateAcl,
}

impl ZoneConfig {
    /// A primary served from `file` with every default.
    pub fn primary(name: Name, file: PathBuf) -> ZoneConfig {
        ZoneConfig {
            name,
            role: Role::Primary,
            file: Some(file),
            primaries: Vec::new(),
            allow_transfer: default_allow_transfer(),
            also_notify: Vec::new(),
            allow_notify: Acl::none(),
            notify_delay: Duration::ZERO,
            serial_policy: SerialPolicy::default(),
            journal: JournalLimits::default(),
            tsig_key: None,
            allow_update: UpdateAcl::default(),
        }
    }

    /// A secondary of `primaries` with every default.
    pub fn secondary(name: Name, primaries: Vec<SocketAddr>) -> ZoneConfig {
        let allow_notify = acl_of(&primaries);
        ZoneConfig {
            role: Role::Secondary,
            file: None,
            primaries,
            allow_notify,
            ..ZoneConfig::primary(name, PathBuf::new())
        }
    }
}

/// Loopback, IPv4 and IPv6.
pub fn default_allow_transfer() -> Acl {
    Acl::parse(&["127.0.0.0/8", "::1"]).unwrap_or_default()
}

fn acl_of(addrs: &[SocketAddr]) -> Acl {
    let ips: Vec<String> = addrs.iter().map(|a| a.ip().to_string()).collect();
    Acl::parse(&ips).unwrap_or_default()
}

/// An address with an optional port (`192.0.2.1`, `192.0.2.1:5300`, `[::1]:53`, `::1`).
pub fn parse_addr(s: &str, default_port: u16) -> Result<SocketAddr, String> {
    if let Ok(sa) = SocketAddr::from_str(s) {
        return Ok(sa);
    }
    IpAddr::from_str(s)
        .map(|ip| SocketAddr::new(ip, default_port))
        .map_err(|_| format!("{s:?} is not an address (with an optional port)"))
}

/// `10M`, `512k`, `1G`, a plain byte count, `unlimited`, or a multiple of the zone size
/// such as `2x` (BIND's default).
fn parse_size(s: &str) -> Result<SizeLimit, String> {
    let t = s.trim().to_ascii_lowercase();
    if t == "unlimited" {
        return Ok(SizeLimit::Unlimited);
    }
    if let Some(r) = t.strip_suffix('x') {
        return r
            .parse::<f64>()
            .ok()
            .filter(|r| *r > 0.0)
            .map(SizeLimit::ZoneRatio)
            .ok_or_else(|| format!("journal-max-size: bad ratio {s:?}"));
    }
    let (num, mult) = [('k', 1u64 << 10), ('m', 1 << 20), ('g', 1 << 30)]
        .iter()
        .find_map(|&(c, m)| t.strip_suffix(c).map(|n| (n, m)))
        .unwrap_or((t.as_str(), 1));
    num.trim()
        .parse::<u64>()
        .map(|n| SizeLimit::Bytes(n.saturating_mul(mult)))
        .map_err(|_| format!("journal-max-size: {s:?} is not a size (like 10M, 2x or unlimited)"))
}

type Invalid<'a> = &'a dyn Fn(usize, String) -> super::ConfigError;

impl RawZone {
    pub(super) fn validate(
        self,
        name: Name,
        base: &std::path::Path,
        invalid: Invalid<'_>,
    ) -> Result<ZoneConfig, super::ConfigError> {
        let role = match &self.role {
            Some(r) => *r.get_ref(),
            None if self.file.is_none() && !self.primaries.is_empty() => Role::Secondary,
            None => Role::Primary,
        };
        let name_at = self.name.span().start;
        let mut primaries = Vec::new();
        for p in &self.primaries {
            primaries.push(
                parse_addr(p.get_ref(), 53)
                    .map_err(|m| invalid(p.span().start, format!("primaries: {m}")))?,
            );
        }
        let file = self.file.map(|f| base.join(f));
        match role {
            Role::Primary if file.is_none() => {
                return Err(invalid(
                    name_at,
                    format!("zone {name}: a primary needs `file`"),
                ));
            }
            Role::Secondary if primaries.is_empty() => {
                return Err(invalid(
                    name_at,
                    format!("zone {name}: a secondary needs `primaries`"),
                ));
            }
            Role::Secondary if file.is_some() => {
                return Err(invalid(
                    name_at,
                    format!(
                        "zone {name}: a secondary keeps its copy in the data directory; \
                         remove `file`"
                    ),
                ));
            }
            Role::Primary if !primaries.is_empty() => {
                return Err(invalid(
                    name_at,
                    format!("zone {name}: `primaries` needs role = \"secondary\""),
                ));
            }
            _ => {}
        }
        let mut z = match role {
            Role::Primary => ZoneConfig::primary(name, file.unwrap_or_default()),
            Role::Secondary => ZoneConfig::secondary(name, primaries),
        };
        let acl = |v: &Spanned<Vec<String>>, what: &str| {
            Acl::parse(v.get_ref()).map_err(|e| invalid(v.span().start, format!("{what}: {e}")))
        };
        if let Some(a) = &self.allow_transfer {
            z.allow_transfer = acl(a, "allow-transfer")?;
        }
        if let Some(a) = &self.allow_notify {
            z.allow_notify = acl(a, "allow-notify")?;
        }
        for a in &self.also_notify {
            z.also_notify.push(
                parse_addr(a.get_ref(), 53)
                    .map_err(|m| invalid(a.span().start, format!("also-notify: {m}")))?,
            );
        }
        if let Some(d) = &self.notify_delay {
            z.notify_delay = humantime::parse_duration(d.get_ref())
                .map_err(|e| invalid(d.span().start, format!("notify-delay: {e}")))?;
        }
        if let Some(p) = self.serial_policy {
            z.serial_policy = p;
        }
        if let Some(d) = self.journal_max_depth {
            z.journal.max_depth = Some(d);
        }
        if let Some(s) = &self.journal_max_size {
            z.journal.max_size = parse_size(s.get_ref()).map_err(|m| invalid(s.span().start, m))?;
        }
        if let Some(k) = &self.tsig_key {
            let key = super::parse_zone_name(k.get_ref())
                .map_err(|m| invalid(k.span().start, format!("tsig-key: {m}")))?;
            z.tsig_key = Some(key);
        }
        if let Some(a) = &self.allow_update {
            if z.role == Role::Secondary {
                return Err(invalid(
                    a.span().start,
                    format!(
                        "zone {}: allow-update is for primaries (a secondary answers \
                         UPDATE with NOTAUTH)",
                        z.name
                    ),
                ));
            }
            let mut rules = Vec::new();
            for r in a.get_ref() {
                rules.push(
                    AclRule::from_str(r)
                        .map_err(|e| invalid(a.span().start, format!("allow-update: {e}")))?,
                );
            }
            z.allow_update = UpdateAcl { rules };
        }
        Ok(z)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("10M"), Ok(SizeLimit::Bytes(10 << 20)));
        assert_eq!(parse_size("512"), Ok(SizeLimit::Bytes(512)));
        assert_eq!(parse_size("2x"), Ok(SizeLimit::ZoneRatio(2.0)));
        assert_eq!(parse_size("unlimited"), Ok(SizeLimit::Unlimited));
        assert!(parse_size("lots").is_err());
        assert!(parse_size("0x").is_err());
    }

    #[test]
    fn addresses() {
        assert_eq!(
            parse_addr("127.0.0.13", 53),
            Ok("127.0.0.13:53".parse().unwrap())
        );
        assert_eq!(parse_addr("::1", 53), Ok("[::1]:53".parse().unwrap()));
        assert_eq!(
            parse_addr("127.0.0.1:5300", 53),
            Ok("127.0.0.1:5300".parse().unwrap())
        );
        assert!(parse_addr("ns1", 53).is_err());
    }
}
