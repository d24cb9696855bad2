//! The node configuration, in TOML.
//!
//! Unknown keys are errors (a misspelt option silently ignored is worse than a refusal
//! to start), and every error names `file:line:column`. The `[[zone]]` table is the
//! place later issues extend (role, primaries, ACLs), so it is a struct of its own.
//!
//! ```toml
//! listen = ["127.0.0.1:5300", "[::1]:5300"]
//! threads = 2                 # UDP workers per address; default: one per core
//! nsid = "ns1.example"        # RFC 5001; default: none
//! udp-payload = 1232          # largest UDP reply and advertised EDNS size
//! tcp-idle-timeout = "10s"
//! tcp-max-connections = 512
//! query-log = false
//!
//! data-dir = ".zonecast/ns1"  # SQLite store; default: .zonecast/<config file stem>
//!                             # beside the config file
//! control = "127.0.0.1:5399"  # loopback control endpoint; default: an ephemeral port,
//!                             # written to DATA-DIR/control
//! notify-port = 5300          # port for NOTIFY targets derived from NS records (53)
//!
//! [[key]]                     # as `tsig-keygen` / `keymgr -t` print it
//! name = "xfr-key"
//! algorithm = "hmac-sha256"
//! secret = "base64..."
//!
//! [[zone]]
//! name = "example.test."
//! file = "zones/example.test.zone"   # relative to this file's directory
//! allow-transfer = ["127.0.0.0/8"]   # default: loopback only
//! also-notify = ["127.0.0.21:5300"]
//! notify-delay = "0s"
//! serial-policy = "increment"        # keep | increment | unixtime | dateserial
//! journal-max-depth = 20
//! journal-max-size = "2x"            # bytes (10M), a multiple of the zone, or unlimited
//! tsig-key = "xfr-key"
//! allow-update = ["127.0.0.1", "key upd-key"]  # RFC 2136 UPDATE; default: none
//!
//! [[zone]]
//! name = "other.test."
//! role = "secondary"
//! primaries = ["127.0.0.13:5300"]    # tried in order; port defaults to 53
//! allow-notify = ["127.0.0.13"]      # default: the primaries' addresses
//!
//! [resolver]                         # a caching resolver in the same node (optional)
//! listen = ["127.0.0.16:5300"]
//! root-hints = "root.hints"          # named.root format, relative to this file
//! upstream-port = 5300
//! ```
//!
//! `[resolver]` takes every key of [`ResolverConfig`]; a node may be only a resolver
//! (no `listen`, no `[[zone]]`).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use hickory_proto::rr::Name;
use serde::Deserialize;
use thiserror::Error;
use toml::Spanned;

use crate::resolver::config::ResolverConfig;
use crate::tsig::{TsigKey, TsigKeyConfig};

mod zone;
pub use zone::{Role, ZoneConfig, default_allow_transfer, parse_addr};

/// Where a configuration came from, for error messages.
fn location(text: &str, offset: usize) -> (usize, usize) {
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let col = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
    (line, col)
}

#[derive(Debug, Error)]
pub enum ConfigError {
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}:{line}:{col}: {message}")]
    Invalid {
        path: String,
        line: usize,
        col: usize,
        message: String,
    },
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawConfig {
    #[serde(default)]
    listen: Vec<Spanned<String>>,
    threads: Option<Spanned<usize>>,
    nsid: Option<String>,
    udp_payload: Option<Spanned<u16>>,
    tcp_idle_timeout: Option<Spanned<String>>,
    tcp_max_connections: Option<usize>,
    #[serde(default)]
    query_log: bool,
    data_dir: Option<PathBuf>,
    notify_port: Option<u16>,
    control: Option<Spanned<String>>,
    #[serde(default)]
    key: Vec<Spanned<TsigKeyConfig>>,
    #[serde(default)]
    zone: Vec<zone::RawZone>,
    resolver: Option<ResolverConfig>,
}

/// A validated node configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeConfig {
    pub listen: Vec<SocketAddr>,
    /// UDP worker threads per address; `None` means one per core.
    pub threads: Option<usize>,
    pub nsid: Option<String>,
    pub udp_payload: u16,
    pub tcp_idle_timeout: Duration,
    pub tcp_max_connections: usize,
    pub query_log: bool,
    /// Where the node keeps its SQLite store and `control` file.
    pub data_dir: Option<PathBuf>,
    /// The port of NOTIFY targets taken from a zone's NS records.
    pub notify_port: u16,
    /// The control endpoint's address (loopback only); None picks a free port.
    pub control: Option<SocketAddr>,
    pub keys: Vec<TsigKey>,
    pub zones: Vec<ZoneConfig>,
    /// The caching resolver this node also runs (`[resolver]`).
    pub resolver: Option<ResolverConfig>,
}

pub const DEFAULT_UDP_PAYLOAD: u16 = 1232;
pub const DEFAULT_TCP_IDLE: Duration = Duration::from_secs(10);
pub const DEFAULT_TCP_MAX_CONNECTIONS: usize = 512;

impl Default for NodeConfig {
    fn default() -> Self {
        NodeConfig {
            listen: Vec::new(),
            threads: None,
            nsid: None,
            udp_payload: DEFAULT_UDP_PAYLOAD,
            tcp_idle_timeout: DEFAULT_TCP_IDLE,
            tcp_max_connections: DEFAULT_TCP_MAX_CONNECTIONS,
            query_log: false,
            data_dir: None,
            notify_port: 53,
            control: None,
            keys: Vec::new(),
            zones: Vec::new(),
            resolver: None,
        }
    }
}

/// Parses a zone name, making it absolute (a config names zones, never relative ones).
pub fn parse_zone_name(s: &str) -> Result<Name, String> {
    let mut name = Name::from_str(s).map_err(|e| format!("bad zone name {s:?}: {e}"))?;
    name.set_fqdn(true);
    Ok(name)
}

impl NodeConfig {
    /// Reads and validates a config file; relative zone files are resolved against the
    /// file's directory.
    pub fn load(path: &Path) -> Result<NodeConfig, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Io {
            path: path.display().to_string(),
            source,
        })?;
        let base = path.parent().unwrap_or(Path::new("."));
        NodeConfig::parse(&text, &path.display().to_string(), base)
    }

    /// Parses config text; `label` names it in errors.
    pub fn parse(text: &str, label: &str, base: &Path) -> Result<NodeConfig, ConfigError> {
        let invalid = |offset: usize, message: String| {
            let (line, col) = location(text, offset);
            ConfigError::Invalid {
                path: label.to_string(),
                line,
                col,
                message,
            }
        };
        let raw: RawConfig = toml::from_str(text).map_err(|e| {
            let offset = e.span().map_or(0, |s| s.start);
            invalid(offset, e.message().to_string())
        })?;
        let mut cfg = NodeConfig {
            nsid: raw.nsid,
            query_log: raw.query_log,
            ..NodeConfig::default()
        };
        for l in &raw.listen {
            let addr = SocketAddr::from_str(l.get_ref()).map_err(|e| {
                invalid(
                    l.span().start,
                    format!(
                        "listen: {:?} is not an address with a port: {e}",
                        l.get_ref()
                    ),
                )
            })?;
            cfg.listen.push(addr);
        }
        if let Some(t) = raw.threads {
            if *t.get_ref() == 0 {
                return Err(invalid(t.span().start, "threads must be at least 1".into()));
            }
            cfg.threads = Some(t.into_inner());
        }
        if let Some(p) = raw.udp_payload {
            if *p.get_ref() < 512 {
                return Err(invalid(
                    p.span().start,
                    "udp-payload must be at least 512 (RFC 6891 §6.2.5)".into(),
                ));
            }
            cfg.udp_payload = p.into_inner();
        }
        if let Some(t) = raw.tcp_idle_timeout {
            cfg.tcp_idle_timeout = humantime::parse_duration(t.get_ref())
                .map_err(|e| invalid(t.span().start, format!("tcp-idle-timeout: {e}")))?;
        }
        if let Some(m) = raw.tcp_max_connections {
            cfg.tcp_max_connections = m;
        }
        cfg.data_dir = raw.data_dir.map(|d| base.join(d));
        if let Some(p) = raw.notify_port {
            cfg.notify_port = p;
        }
        if let Some(c) = raw.control {
            let addr = SocketAddr::from_str(c.get_ref())
                .ok()
                .filter(|a| a.ip().is_loopback())
                .ok_or_else(|| {
                    invalid(
                        c.span().start,
                        format!(
                            "control: {:?} is not a loopback address with a port",
                            c.get_ref()
                        ),
                    )
                })?;
            cfg.control = Some(addr);
        }
        for k in &raw.key {
            let kc = k.get_ref();
            let key = TsigKey::new(&kc.name, &kc.algorithm, &kc.secret)
                .map_err(|e| invalid(k.span().start, format!("key {}: {e}", kc.name)))?;
            cfg.keys.push(key);
        }
        for z in raw.zone {
            let at = z.name.span().start;
            let name = parse_zone_name(z.name.get_ref()).map_err(|m| invalid(at, m))?;
            if cfg.zones.iter().any(|o| o.name == name) {
                return Err(invalid(at, format!("zone {name} is listed twice")));
            }
            let key_at = z.tsig_key.as_ref().map_or(at, |k| k.span().start);
            let zc = z.validate(name, base, &invalid)?;
            if let Some(k) = &zc.tsig_key
                && !cfg.keys.iter().any(|key| key.name == *k)
            {
                return Err(invalid(key_at, format!("tsig-key: no [[key]] named {k}")));
            }
            cfg.zones.push(zc);
        }
        cfg.resolver = raw.resolver.map(|mut r| {
            r.root_hints = r.root_hints.map(|h| base.join(h));
            r
        });
        Ok(cfg)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<NodeConfig, ConfigError> {
        NodeConfig::parse(text, "node.toml", Path::new("/etc/zc"))
    }

    #[test]
    fn full_config() {
        let cfg = parse(
            r#"
listen = ["127.0.0.1:5300", "[::1]:5300"]
threads = 3
nsid = "ns-a"
udp-payload = 1400
tcp-idle-timeout = "2s 500ms"
tcp-max-connections = 7
query-log = true

[[zone]]
name = "example.test"
file = "zones/example.test.zone"

[[zone]]
name = "."
file = "/abs/root.zone"
"#,
        )
        .unwrap();
        assert_eq!(cfg.listen.len(), 2);
        assert!(cfg.listen[1].is_ipv6());
        assert_eq!(cfg.threads, Some(3));
        assert_eq!(cfg.nsid.as_deref(), Some("ns-a"));
        assert_eq!(cfg.udp_payload, 1400);
        assert_eq!(cfg.tcp_idle_timeout, Duration::from_millis(2500));
        assert_eq!(cfg.tcp_max_connections, 7);
        assert!(cfg.query_log);
        assert_eq!(cfg.zones[0].name.to_string(), "example.test.");
        assert_eq!(
            cfg.zones[0].file.as_deref(),
            Some(Path::new("/etc/zc/zones/example.test.zone"))
        );
        assert_eq!(
            cfg.zones[1].file.as_deref(),
            Some(Path::new("/abs/root.zone"))
        );
        assert_eq!(cfg.zones[0].role, Role::Primary);
    }

    #[test]
    fn secondary_zone() {
        let cfg = parse(
            r#"
data-dir = "state"
notify-port = 5300
control = "127.0.0.1:5399"
[[key]]
name = "k1"
secret = "c2VjcmV0c2VjcmV0c2VjcmV0"
[[zone]]
name = "example.test"
primaries = ["127.0.0.13:5300", "127.0.0.14"]
tsig-key = "k1"
journal-max-depth = 5
journal-max-size = "1M"
notify-delay = "50ms"
also-notify = ["127.0.0.21:5300"]
"#,
        )
        .unwrap();
        let z = &cfg.zones[0];
        assert_eq!(z.role, Role::Secondary);
        assert_eq!(z.primaries[1], "127.0.0.14:53".parse().unwrap());
        assert!(z.allow_notify.allows("127.0.0.14".parse().unwrap()));
        assert!(!z.allow_notify.allows("127.0.0.15".parse().unwrap()));
        assert!(z.allow_transfer.allows("127.0.0.99".parse().unwrap()));
        assert!(!z.allow_transfer.allows("192.0.2.1".parse().unwrap()));
        assert_eq!(z.journal.max_depth, Some(5));
        assert_eq!(z.notify_delay, Duration::from_millis(50));
        assert_eq!(
            z.tsig_key.as_ref().map(|k| k.to_string()).as_deref(),
            Some("k1.")
        );
        assert_eq!(cfg.data_dir.as_deref(), Some(Path::new("/etc/zc/state")));
        assert_eq!(cfg.notify_port, 5300);
        assert_eq!(cfg.control, Some("127.0.0.1:5399".parse().unwrap()));
    }

    #[test]
    fn allow_update() {
        let cfg = parse(
            "[[zone]]\nname = \"example.test\"\nfile = \"z\"\n\
             allow-update = [\"127.0.0.0/8\", \"key upd-key\"]\n",
        )
        .unwrap();
        let acl = &cfg.zones[0].allow_update;
        let key = Name::from_ascii("upd-key.").unwrap();
        assert!(acl.allows("127.0.0.9".parse().unwrap(), None));
        assert!(!acl.allows("192.0.2.1".parse().unwrap(), None));
        assert!(acl.allows("192.0.2.1".parse().unwrap(), Some(&key)));
        // None by default, and rules are checked where they are written.
        let cfg = parse("[[zone]]\nname = \"example.test\"\nfile = \"z\"\n").unwrap();
        assert!(
            !cfg.zones[0]
                .allow_update
                .allows("127.0.0.1".parse().unwrap(), None)
        );
        let e = parse("[[zone]]\nname = \"a.test\"\nfile = \"z\"\nallow-update = [\"key\"]\n")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("node.toml:4:") && e.contains("allow-update"),
            "{e}"
        );
        let e = parse(
            "[[zone]]\nname = \"a.test\"\nprimaries = [\"127.0.0.1\"]\nallow-update = [\"any\"]\n",
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("for primaries"), "{e}");
    }

    #[test]
    fn resolver_section() {
        let cfg = parse(
            "[resolver]\nlisten = [\"127.0.0.16:5300\"]\nroot-hints = \"root.hints\"\n\
             upstream-port = 5300\ncache-max-ttl = 60\n",
        )
        .unwrap();
        let r = cfg.resolver.unwrap();
        assert_eq!(r.listen, vec!["127.0.0.16:5300".parse().unwrap()]);
        assert_eq!(
            r.root_hints.as_deref(),
            Some(Path::new("/etc/zc/root.hints"))
        );
        assert_eq!(r.upstream_port, 5300);
        assert_eq!(r.cache.cache_max_ttl, 60);
        assert!(cfg.zones.is_empty());
        // ResolverConfig flattens its cache keys, which costs serde the key's span: the
        // error points at the table.
        let e = err("[resolver]\nlisten = []\nbogus = 1\n");
        assert!(
            e.starts_with("node.toml:") && e.contains("unknown field `bogus`"),
            "{e}"
        );
    }

    #[test]
    fn defaults() {
        let cfg = parse("").unwrap();
        assert_eq!(cfg, NodeConfig::default());
        assert_eq!(cfg.udp_payload, 1232);
    }

    fn err(text: &str) -> String {
        parse(text).unwrap_err().to_string()
    }

    #[test]
    fn errors_name_line_and_column() {
        assert_eq!(
            err("listen = []\nlisten-on = 1\n"),
            "node.toml:2:1: unknown field `listen-on`, expected one of `listen`, `threads`, `nsid`, `udp-payload`, `tcp-idle-timeout`, `tcp-max-connections`, `query-log`, `data-dir`, `notify-port`, `control`, `key`, `zone`, `resolver`"
        );
        let e = err("listen = [\"127.0.0.1\"]");
        assert!(
            e.starts_with("node.toml:1:11: listen: \"127.0.0.1\""),
            "{e}"
        );
        let e = err("udp-payload = 100");
        assert!(e.starts_with("node.toml:1:15: udp-payload must be"), "{e}");
        let e = err("\n\n  tcp-idle-timeout = \"soon\"");
        assert!(e.starts_with("node.toml:3:22: tcp-idle-timeout"), "{e}");
        let e =
            err("[[zone]]\nname = \"a.\"\nfile = \"a\"\n[[zone]]\nname = \"A.\"\nfile = \"b\"\n");
        assert!(
            e.starts_with("node.toml:5:8: zone a. is listed twice"),
            "{e}"
        );
        let e = err("[[zone]]\nname = \"a.\"\nfile = \"a\"\nrolle = \"x\"\n");
        assert!(e.starts_with("node.toml:4:1: unknown field `rolle`"), "{e}");
        let e = err("[[zone]]\nname = \"a.\"\nrole = \"secondary\"\n");
        assert!(e.contains("a secondary needs `primaries`"), "{e}");
        let e = err("[[zone]]\nname = \"a.\"\nfile = \"a\"\ntsig-key = \"k\"\n");
        assert!(e.starts_with("node.toml:4:12: tsig-key: no [[key]]"), "{e}");
        let e = err("[[zone]]\nname = \"a.\"\nfile = \"a\"\nprimaries = [\"127.0.0.1\"]\n");
        assert!(e.contains("needs role = \"secondary\""), "{e}");
        let e = err(
            "[[zone]]\nname = \"a.\"\nfile = \"a\"\nrole = \"secondary\"\nprimaries = [\"127.0.0.1\"]\n",
        );
        assert!(e.contains("remove `file`"), "{e}");
        let e = err("control = \"192.0.2.1:1\"");
        assert!(e.starts_with("node.toml:1:11: control"), "{e}");
        let e = err("threads = 0");
        assert!(e.starts_with("node.toml:1:11: threads"), "{e}");
        let e = err("listen = [");
        assert!(e.starts_with("node.toml:1:"), "{e}");
    }
}
