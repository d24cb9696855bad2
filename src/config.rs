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
//! [[zone]]
//! name = "example.test."
//! file = "zones/example.test.zone"   # relative to this file's directory
//! ```

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use hickory_proto::rr::Name;
use serde::Deserialize;
use thiserror::Error;
use toml::Spanned;

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
    #[serde(default)]
    zone: Vec<RawZone>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawZone {
    name: Spanned<String>,
    file: PathBuf,
}

/// A validated node configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeConfig {
    pub listen: Vec<SocketAddr>,
    /// UDP worker threads per address; `None` means one per core.
    pub threads: Option<usize>,
    pub nsid: Option<String>,
    pub udp_payload: u16,
    pub tcp_idle_timeout: Duration,
    pub tcp_max_connections: usize,
    pub query_log: bool,
    pub zones: Vec<ZoneConfig>,
}

/// One served zone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZoneConfig {
    pub name: Name,
    pub file: PathBuf,
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
            zones: Vec::new(),
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
        for z in raw.zone {
            let name =
                parse_zone_name(z.name.get_ref()).map_err(|m| invalid(z.name.span().start, m))?;
            if cfg.zones.iter().any(|o| o.name == name) {
                return Err(invalid(
                    z.name.span().start,
                    format!("zone {name} is listed twice"),
                ));
            }
            cfg.zones.push(ZoneConfig {
                name,
                file: base.join(z.file),
            });
        }
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
            cfg.zones[0].file,
            Path::new("/etc/zc/zones/example.test.zone")
        );
        assert_eq!(cfg.zones[1].file, Path::new("/abs/root.zone"));
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
            "node.toml:2:1: unknown field `listen-on`, expected one of `listen`, `threads`, `nsid`, `udp-payload`, `tcp-idle-timeout`, `tcp-max-connections`, `query-log`, `zone`"
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
        let e = err("[[zone]]\nname = \"a.\"\nfile = \"a\"\nrole = \"x\"\n");
        assert!(e.starts_with("node.toml:4:1: unknown field `role`"), "{e}");
        let e = err("threads = 0");
        assert!(e.starts_with("node.toml:1:11: threads"), "{e}");
        let e = err("listen = [");
        assert!(e.starts_with("node.toml:1:"), "{e}");
    }
}
