//! The servers of a topology file, for `watch --topology FILE`.
//!
//! The full format is `zonecast up`'s (`crate::topology`, `zones/topology.toml`); watch
//! reads only the list of nodes and the port, and ignores every other key (`zones`,
//! `primary`, `root-hint`, `zones-dir`, `watch`), so both read the same file:
//!
//! ```toml
//! port = 5300                  # optional: the port of nodes that give none (default 53)
//!
//! [[node]]
//! name = "primary"
//! role = "primary"             # primary | secondary | auth | resolver | root | tld
//! address = "127.0.0.10"
//! port = 5300                  # optional
//! ```
//!
//! Root and TLD nodes are skipped: they hold referrals, not the watched zone.

use std::net::{IpAddr, SocketAddr};

use serde::Deserialize;

use super::model::{Role, ServerSpec};

#[derive(Debug, thiserror::Error)]
pub enum TopologyError {
    #[error("{0}")]
    Toml(#[from] toml::de::Error),
    #[error("node {node}: unknown role {role:?} (primary, secondary, auth, resolver, root, tld)")]
    Role { node: String, role: String },
    #[error("node {node}: address {address:?} is not an IP address")]
    Address { node: String, address: String },
    #[error("no nodes to watch (root and TLD nodes are skipped)")]
    Empty,
}

#[derive(Debug, Deserialize)]
struct File {
    port: Option<u16>,
    #[serde(default, alias = "nodes")]
    node: Vec<Node>,
}

#[derive(Debug, Deserialize)]
struct Node {
    name: String,
    role: String,
    address: String,
    port: Option<u16>,
}

/// Parses a topology file's text into the servers to watch, in file order.
pub fn parse(text: &str) -> Result<Vec<ServerSpec>, TopologyError> {
    let file: File = toml::from_str(text)?;
    let default_port = file.port.unwrap_or(53);
    let mut servers = Vec::new();
    for node in file.node {
        let role = match node.role.to_ascii_lowercase().as_str() {
            "primary" => Role::Primary,
            "secondary" => Role::Secondary,
            "auth" | "authoritative" => Role::Auth,
            "resolver" => Role::Resolver,
            "root" | "tld" => continue,
            _ => {
                return Err(TopologyError::Role {
                    node: node.name,
                    role: node.role,
                });
            }
        };
        let ip: IpAddr = node.address.parse().map_err(|_| TopologyError::Address {
            node: node.name.clone(),
            address: node.address.clone(),
        })?;
        servers.push(ServerSpec {
            name: node.name,
            role,
            addr: SocketAddr::new(ip, node.port.unwrap_or(default_port)),
        });
    }
    if servers.is_empty() {
        return Err(TopologyError::Empty);
    }
    Ok(servers)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nodes_with_default_port_and_skipped_roles() {
        let text = r#"
            port = 5300
            data_dir = ".zonecast"   # other keys are someone else's business

            [[node]]
            name = "root"
            role = "root"
            address = "127.0.0.2"

            [[node]]
            name = "primary"
            role = "primary"
            address = "127.0.0.10"

            [[node]]
            name = "resolver"
            role = "Resolver"
            address = "127.0.0.20"
            port = 5353
        "#;
        let servers = parse(text).unwrap();
        assert_eq!(servers.len(), 2);
        assert_eq!(servers[0].name, "primary");
        assert_eq!(servers[0].role, Role::Primary);
        assert_eq!(servers[0].addr, "127.0.0.10:5300".parse().unwrap());
        assert_eq!(servers[1].role, Role::Resolver);
        assert_eq!(servers[1].addr, "127.0.0.20:5353".parse().unwrap());
    }

    #[test]
    fn errors_name_the_node() {
        let bad_role = "[[node]]\nname = \"x\"\nrole = \"cache\"\naddress = \"127.0.0.1\"\n";
        let e = parse(bad_role).unwrap_err().to_string();
        assert!(e.contains("node x") && e.contains("cache"), "{e}");
        let bad_addr = "[[node]]\nname = \"y\"\nrole = \"primary\"\naddress = \"localhost\"\n";
        let e = parse(bad_addr).unwrap_err().to_string();
        assert!(e.contains("node y") && e.contains("localhost"), "{e}");
        assert!(matches!(parse("port = 53\n"), Err(TopologyError::Empty)));
        assert!(matches!(
            parse("[[node]]\nname = 1\n"),
            Err(TopologyError::Toml(_))
        ));
    }
}
