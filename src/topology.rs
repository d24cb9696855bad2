//! The lab topology `zonecast up` runs (`zones/topology.toml`): which nodes exist, their
//! roles, addresses and zones, and who feeds whom. From it `up` writes each node's
//! config (see `crate::config`); `watch --topology` reads the same file through the
//! lenient `watch::topology`, which takes only the nodes' names, roles and addresses.
//!
//! ```toml
//! port = 5300                  # every node's DNS port (default 53)
//! zones-dir = "."              # relative to this file; zone Z is read from Z.zone
//! watch = "www.example.test"   # the name `up` watches
//!
//! [[node]]
//! name = "ns2"
//! role = "secondary"           # root | tld | primary | secondary | resolver
//! address = "127.0.0.14"
//! zones = ["example.test"]     # root, tld, primary: from files; secondary: transferred
//! primary = "ns1"              # secondary: the node it transfers from
//! # root-hint = "root"         # resolver: the node whose address is its root hint
//! ```
//!
//! Unknown keys are errors here (a misspelt `primary` would silently make a broken lab).

use std::collections::HashSet;
use std::fmt::Write as _;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};

use hickory_proto::rr::Name;
use serde::Deserialize;

use crate::config::parse_zone_name;

/// The port nodes use when the file names none: 53, as `watch --topology` reads it (the
/// shipped topology says 5300).
pub const DEFAULT_PORT: u16 = 53;

#[derive(Debug, thiserror::Error)]
pub enum TopologyError {
    #[error("{0}")]
    Toml(#[from] toml::de::Error),
    #[error("node {node}: {why}")]
    Node { node: String, why: String },
    #[error("{0}")]
    Invalid(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NodeRole {
    Root,
    Tld,
    Primary,
    Secondary,
    Resolver,
}

impl NodeRole {
    pub fn label(self) -> &'static str {
        match self {
            NodeRole::Root => "root",
            NodeRole::Tld => "tld",
            NodeRole::Primary => "primary",
            NodeRole::Secondary => "secondary",
            NodeRole::Resolver => "resolver",
        }
    }

    /// Whether the node serves its zones from files.
    pub fn loads_files(self) -> bool {
        matches!(self, NodeRole::Root | NodeRole::Tld | NodeRole::Primary)
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawTopology {
    port: Option<u16>,
    zones_dir: Option<PathBuf>,
    watch: Option<String>,
    #[serde(default)]
    node: Vec<RawNode>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawNode {
    name: String,
    role: NodeRole,
    address: IpAddr,
    #[serde(default)]
    zones: Vec<String>,
    primary: Option<String>,
    root_hint: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct TopoNode {
    pub name: String,
    pub role: NodeRole,
    pub address: IpAddr,
    pub zones: Vec<Name>,
    /// A secondary's upstream node.
    pub primary: Option<String>,
    /// A resolver's root-hint node.
    pub root_hint: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Topology {
    pub port: u16,
    /// Where zone files are (`zones-dir` resolved against the file's directory).
    pub zones_dir: PathBuf,
    pub watch: Name,
    pub nodes: Vec<TopoNode>,
}

impl Topology {
    /// Parses and checks a topology; `base` is the directory relative paths start from.
    pub fn parse(text: &str, base: &Path) -> Result<Topology, TopologyError> {
        let raw: RawTopology = toml::from_str(text)?;
        let watch = raw.watch.as_deref().unwrap_or("www.example.test");
        let watch = parse_zone_name(watch).map_err(TopologyError::Invalid)?;
        let mut nodes = Vec::new();
        for n in raw.node {
            let bad = |why: String| TopologyError::Node {
                node: n.name.clone(),
                why,
            };
            let zones = n
                .zones
                .iter()
                .map(|z| parse_zone_name(z).map_err(bad))
                .collect::<Result<Vec<_>, _>>()?;
            nodes.push(TopoNode {
                name: n.name,
                role: n.role,
                address: n.address,
                zones,
                primary: n.primary,
                root_hint: n.root_hint,
            });
        }
        let t = Topology {
            port: raw.port.unwrap_or(DEFAULT_PORT),
            zones_dir: raw
                .zones_dir
                .map_or_else(|| base.to_path_buf(), |d| base.join(d)),
            watch,
            nodes,
        };
        t.check()?;
        Ok(t)
    }

    pub fn node(&self, name: &str) -> Option<&TopoNode> {
        self.nodes.iter().find(|n| n.name == name)
    }

    pub fn addr(&self, node: &TopoNode) -> SocketAddr {
        SocketAddr::new(node.address, self.port)
    }

    fn check(&self) -> Result<(), TopologyError> {
        if self.nodes.is_empty() {
            return Err(TopologyError::Invalid("no [[node]] tables".into()));
        }
        let mut names = HashSet::new();
        let mut addrs = HashSet::new();
        for n in &self.nodes {
            let bad = |why: &str| TopologyError::Node {
                node: n.name.clone(),
                why: why.to_string(),
            };
            if n.name.is_empty()
                || !n
                    .name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            {
                return Err(bad(
                    "names are letters, digits, - and _ (they name directories)",
                ));
            }
            if !names.insert(n.name.as_str()) {
                return Err(bad("listed twice"));
            }
            if !addrs.insert(n.address) {
                return Err(bad("shares its address with another node"));
            }
            if !n.address.is_loopback() {
                return Err(bad("a lab node needs a loopback address"));
            }
            match n.role {
                NodeRole::Resolver => {
                    if !n.zones.is_empty() || n.primary.is_some() {
                        return Err(bad("a resolver has no zones and no primary"));
                    }
                    let hint = match &n.root_hint {
                        Some(h) => self.node(h),
                        None => self.nodes.iter().find(|o| o.role == NodeRole::Root),
                    };
                    if !hint.is_some_and(|h| h.role.loads_files()) {
                        return Err(bad("root-hint must name a root node"));
                    }
                }
                NodeRole::Secondary => {
                    let Some(up) = n.primary.as_deref().and_then(|p| self.node(p)) else {
                        return Err(bad("a secondary needs `primary`, the name of a node"));
                    };
                    if up.name == n.name {
                        return Err(bad("cannot be its own primary"));
                    }
                    if let Some(z) = n.zones.iter().find(|z| !up.zones.contains(z)) {
                        return Err(bad(&format!("its primary {} does not serve {z}", up.name)));
                    }
                }
                _ => {
                    if n.primary.is_some() || n.root_hint.is_some() {
                        return Err(bad(
                            "only secondaries have `primary`, resolvers `root-hint`",
                        ));
                    }
                }
            }
            if n.role != NodeRole::Resolver && n.zones.is_empty() {
                return Err(bad("serves no zones"));
            }
        }
        // Secondaries must reach a file-backed zone without a loop.
        for n in &self.nodes {
            let mut seen = HashSet::new();
            let mut cur = n;
            while let Some(p) = cur.primary.as_deref().and_then(|p| self.node(p)) {
                if !seen.insert(cur.name.as_str()) {
                    return Err(TopologyError::Node {
                        node: n.name.clone(),
                        why: "its primaries form a loop".into(),
                    });
                }
                cur = p;
            }
        }
        Ok(())
    }

    /// The file a zone is read from: `Z.zone` in the zones directory, `root.zone` for the
    /// root (the layout of `zones/`, and what `zonecast zone set` looks for).
    pub fn zone_file(&self, zone: &Name) -> PathBuf {
        self.zones_dir.join(zone_file_name(zone))
    }

    /// The file-backed zone that holds the watched name, and the node serving it.
    pub fn watched_zone(&self) -> Option<(&TopoNode, &Name)> {
        self.nodes
            .iter()
            .filter(|n| n.role == NodeRole::Primary)
            .flat_map(|n| n.zones.iter().map(move |z| (n, z)))
            .filter(|(_, z)| z.zone_of(&self.watch))
            .max_by_key(|(_, z)| z.num_labels())
    }

    /// The node config `zonecast serve --config` runs for `node`; its data directory is
    /// the directory the config is written to.
    pub fn node_config(&self, node: &TopoNode, zones_dir: &Path) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "# Written by `zonecast up` on every start; edit the topology instead.\n\
             data-dir = \".\"\nnotify-port = {}\nthreads = 1",
            self.port
        );
        let addr = self.addr(node);
        if node.role == NodeRole::Resolver {
            let _ = writeln!(
                out,
                "\n[resolver]\nlisten = [\"{addr}\"]\nroot-hints = \"root.hints\"\n\
                 upstream-port = {}\nupstream-timeout-ms = 1000",
                self.port
            );
            return out;
        }
        let _ = writeln!(out, "listen = [\"{addr}\"]");
        for z in &node.zones {
            let _ = writeln!(out, "\n[[zone]]\nname = \"{z}\"");
            match node.primary.as_deref().and_then(|p| self.node(p)) {
                Some(up) => {
                    let _ = writeln!(out, "primaries = [\"{}\"]", self.addr(up));
                }
                None => {
                    let file = zones_dir.join(zone_file_name(z));
                    let _ = writeln!(
                        out,
                        "file = {}\nnotify-delay = \"0s\"",
                        toml_string(&file.display().to_string())
                    );
                }
            }
            // Downstream secondaries hear of changes even if the zone's NS set does not
            // name them.
            let downstream: Vec<String> = self
                .nodes
                .iter()
                .filter(|d| d.primary.as_deref() == Some(node.name.as_str()) && d.zones.contains(z))
                .map(|d| format!("\"{}\"", self.addr(d)))
                .collect();
            if !downstream.is_empty() {
                let _ = writeln!(out, "also-notify = [{}]", downstream.join(", "));
            }
        }
        out
    }

    /// The named.root text of a resolver's root hint.
    pub fn root_hints(&self, node: &TopoNode) -> String {
        let hint = match &node.root_hint {
            Some(h) => self.node(h),
            None => self.nodes.iter().find(|o| o.role == NodeRole::Root),
        };
        match hint {
            Some(h) => format!(
                ".\t3600000\tIN\tNS\t{n}.root-hint.\n{n}.root-hint.\t3600000\tIN\tA\t{a}\n",
                n = h.name,
                a = h.address
            ),
            None => String::new(),
        }
    }

    /// The topology as a file again, with the port and zones directory resolved, for
    /// `watch --topology` and `zonecast node start`.
    pub fn to_toml(&self) -> String {
        let mut out = format!(
            "# Written by `zonecast up`: the topology it runs.\nport = {}\nzones-dir = {}\nwatch = \"{}\"\n",
            self.port,
            toml_string(&self.zones_dir.display().to_string()),
            self.watch
        );
        for n in &self.nodes {
            let zones: Vec<String> = n.zones.iter().map(|z| format!("\"{z}\"")).collect();
            let _ = write!(
                out,
                "\n[[node]]\nname = \"{}\"\nrole = \"{}\"\naddress = \"{}\"\nzones = [{}]\n",
                n.name,
                n.role.label(),
                n.address,
                zones.join(", ")
            );
            if let Some(p) = &n.primary {
                let _ = writeln!(out, "primary = \"{p}\"");
            }
            if let Some(h) = &n.root_hint {
                let _ = writeln!(out, "root-hint = \"{h}\"");
            }
        }
        out
    }
}

/// `example.test.zone`, `root.zone` for the root.
pub fn zone_file_name(zone: &Name) -> String {
    let label = zone.to_string();
    let stem = label
        .strip_suffix('.')
        .filter(|s| !s.is_empty())
        .unwrap_or("root");
    format!("{stem}.zone")
}

/// A TOML basic string.
fn toml_string(s: &str) -> String {
    toml::Value::String(s.to_string()).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{NodeConfig, Role};

    const SHIPPED: &str = include_str!("../zones/topology.toml");

    fn shipped() -> Topology {
        Topology::parse(SHIPPED, Path::new("/lab/zones")).unwrap()
    }

    #[test]
    fn shipped_topology() {
        let t = shipped();
        assert_eq!(t.port, 5300);
        assert_eq!(t.nodes.len(), 6);
        let roles: Vec<_> = t.nodes.iter().map(|n| n.role.label()).collect();
        assert_eq!(
            roles,
            [
                "root",
                "tld",
                "primary",
                "secondary",
                "secondary",
                "resolver"
            ]
        );
        assert_eq!(t.node("ns3").unwrap().primary.as_deref(), Some("ns2"));
        let (node, zone) = t.watched_zone().unwrap();
        assert_eq!(
            (node.name.as_str(), zone.to_string().as_str()),
            ("ns1", "example.test.")
        );
        for n in &t.nodes {
            assert_ne!(n.address, "127.0.0.53".parse::<IpAddr>().unwrap());
            assert_ne!(n.address, "127.0.1.1".parse::<IpAddr>().unwrap());
        }
        // watch reads the same file: the four servers that hold or cache the name.
        let servers = crate::watch::topology::parse(SHIPPED).unwrap();
        let names: Vec<_> = servers.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["ns1", "ns2", "ns3", "resolver"]);
        assert_eq!(servers[3].addr, "127.0.0.16:5300".parse().unwrap());
    }

    #[test]
    fn node_configs_parse_as_node_configs() {
        let t = shipped();
        let dir = Path::new("/lab/zones");
        let cfg = |name: &str| {
            let text = t.node_config(t.node(name).unwrap(), dir);
            NodeConfig::parse(&text, name, Path::new("/data/x"))
                .unwrap_or_else(|e| panic!("{text}\n{e}"))
        };
        let ns1 = cfg("ns1");
        assert_eq!(ns1.listen, vec!["127.0.0.13:5300".parse().unwrap()]);
        assert_eq!(ns1.notify_port, 5300);
        assert_eq!(ns1.zones.len(), 3);
        assert_eq!(
            ns1.zones[0].file.as_deref(),
            Some(Path::new("/lab/zones/example.test.zone"))
        );
        assert_eq!(
            ns1.zones[0].also_notify,
            vec!["127.0.0.14:5300".parse().unwrap()]
        );
        assert!(ns1.zones[1].also_notify.is_empty());
        assert_eq!(ns1.data_dir.as_deref(), Some(Path::new("/data/x/.")));
        let ns3 = cfg("ns3");
        assert_eq!(ns3.zones[0].role, Role::Secondary);
        assert_eq!(
            ns3.zones[0].primaries,
            vec!["127.0.0.14:5300".parse().unwrap()]
        );
        let root = cfg("root");
        assert_eq!(
            root.zones[0].file.as_deref(),
            Some(Path::new("/lab/zones/root.zone"))
        );
        let r = cfg("resolver");
        assert!(r.zones.is_empty() && r.listen.is_empty());
        let rc = r.resolver.unwrap();
        assert_eq!(rc.listen, vec!["127.0.0.16:5300".parse().unwrap()]);
        assert_eq!(rc.upstream_port, 5300);
        let hints =
            crate::resolver::hints::parse_hints("h", &t.root_hints(t.node("resolver").unwrap()))
                .unwrap();
        assert_eq!(hints[0].1, vec!["127.0.0.11".parse::<IpAddr>().unwrap()]);
    }

    #[test]
    fn round_trip_with_port() {
        let mut t = shipped();
        t.port = 6000;
        let again = Topology::parse(&t.to_toml(), Path::new("/elsewhere")).unwrap();
        assert_eq!(again, t);
    }

    #[test]
    fn errors() {
        let err = |text: &str| {
            Topology::parse(text, Path::new("."))
                .unwrap_err()
                .to_string()
        };
        let node = |extra: &str| {
            format!(
                "[[node]]\nname = \"p\"\nrole = \"primary\"\naddress = \"127.0.0.13\"\nzones = [\"a\"]\n\
                 [[node]]\nname = \"s\"\nrole = \"secondary\"\naddress = \"127.0.0.14\"\n{extra}"
            )
        };
        assert!(err("").contains("no [[node]]"));
        assert!(err(&node("zones = [\"a\"]\n")).contains("node s: a secondary needs `primary`"));
        assert!(err(&node("zones = [\"b\"]\nprimary = \"p\"\n")).contains("does not serve b."));
        assert!(err(&node("zones = [\"a\"]\nprimary = \"s\"\n")).contains("its own primary"));
        assert!(err(&node("zones = [\"a\"]\nprimry = \"p\"\n")).contains("unknown field `primry`"));
        let dup = node("zones = [\"a\"]\nprimary = \"p\"\n").replace("127.0.0.14", "127.0.0.13");
        assert!(err(&dup).contains("shares its address"));
        let far = node("zones = [\"a\"]\nprimary = \"p\"\n").replace("127.0.0.14", "192.0.2.1");
        assert!(err(&far).contains("loopback"));
        assert!(
            err("[[node]]\nname = \"r\"\nrole = \"resolver\"\naddress = \"127.0.0.16\"\n")
                .contains("root-hint")
        );
    }
}
