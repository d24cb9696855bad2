//! The shipped hierarchy (`zones/`) served by zonecast's own authoritative server for
//! the resolver tests: root on 127.0.0.11, `test.` on .12, `example.test.` on .13-.15,
//! `sub.example.test.` and `shop.test.` on .13, every server on one port (glue carries
//! none, so the resolver's `upstream-port` must be shared). Each test starts its own
//! hierarchy on a port of its own, so the tests run in parallel.
//!
//! A zone has one `ZoneHandle` shared by every server that serves it, so publishing a
//! new version is a change that has reached every secondary at once.
//!
//! `forge` adds a tiny UDP front for the spoofing and counting tests: it relays to
//! these servers and can send forged replies first.
#![allow(dead_code)]

pub mod forge;

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;

use arc_swap::ArcSwap;
use hickory_proto::rr::Name;
use zonecast::catalog::{Catalog, ZoneHandle};
use zonecast::server::{Handler, HandlerConfig, ListenConfig, Server, TcpOptions};
use zonecast::zone::load::{load_zone_file, load_zone_str};

/// Which zones each lab address serves (the last octet of 127.0.0.x).
pub const LAYOUT: &[(u8, &[&str])] = &[
    (11, &["."]),
    (12, &["test."]),
    (13, &["example.test.", "sub.example.test.", "shop.test."]),
    (14, &["example.test."]),
    (15, &["example.test."]),
];

pub fn lab_ip(last: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(127, 0, 0, last))
}

/// The root hint of the lab: `a.root-servers.test.` at 127.0.0.11.
pub fn root_hints() -> Vec<(Name, Vec<IpAddr>)> {
    vec![(
        Name::from_ascii("a.root-servers.test.").unwrap(),
        vec![lab_ip(11)],
    )]
}

/// The same hint as a named.root file, for the paths that read one.
pub const ROOT_HINTS_FILE: &str =
    ".  3600000 NS a.root-servers.test.\na.root-servers.test. 3600000 A 127.0.0.11\n";

fn zone_path(apex: &str) -> PathBuf {
    let file = match apex {
        "." => "root.zone".to_string(),
        a => format!("{}zone", a),
    };
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("zones")
        .join(file)
}

/// The running servers; dropping it stops them.
pub struct Hierarchy {
    /// The port every lab address listens on (when started by `start`).
    pub port: u16,
    servers: HashMap<u8, Server>,
    handles: HashMap<String, Arc<ZoneHandle>>,
}

impl Hierarchy {
    /// Serves the shipped zones on 127.0.0.11-15, on one free port.
    pub fn start() -> Hierarchy {
        let mut last_err = None;
        for _ in 0..50 {
            // A port the kernel just found free on .11; another test may take it on some
            // address before we bind them all, in which case `Server::start` fails (the
            // TCP listener is exclusive) and we try another.
            let port = UdpSocket::bind((lab_ip(11), 0))
                .and_then(|s| s.local_addr())
                .map(|a| a.port())
                .expect("a free port on 127.0.0.11");
            match Self::try_start(|last| SocketAddr::new(lab_ip(last), port)) {
                Ok(mut h) => {
                    h.port = port;
                    return h;
                }
                Err(e) => last_err = Some(e),
            }
        }
        panic!("no port free on all of 127.0.0.11-15: {last_err:?}");
    }

    /// Serves the shipped zones with each lab server on its own ephemeral port of
    /// 127.0.0.1, as the backends of a front (see `forge`).
    pub fn start_backends() -> Hierarchy {
        Self::try_start(|_| SocketAddr::from(([127, 0, 0, 1], 0))).expect("backends")
    }

    fn try_start(addr_of: impl Fn(u8) -> SocketAddr) -> std::io::Result<Hierarchy> {
        let mut handles: HashMap<String, Arc<ZoneHandle>> = HashMap::new();
        for (_, zones) in LAYOUT {
            for apex in *zones {
                if handles.contains_key(*apex) {
                    continue;
                }
                let name = Name::from_str(apex).unwrap();
                let loaded = load_zone_file(&zone_path(apex), &name)
                    .unwrap_or_else(|e| panic!("loading {apex}: {e}"));
                let handle = ZoneHandle::new(name, Some(Arc::new(loaded.zone)));
                handles.insert(apex.to_string(), Arc::new(handle));
            }
        }
        let mut servers = HashMap::new();
        for (last, zones) in LAYOUT {
            let mut catalog = Catalog::new();
            for apex in *zones {
                catalog.insert(handles[*apex].clone());
            }
            let handler = Handler::new(
                Arc::new(ArcSwap::from_pointee(catalog)),
                HandlerConfig::default(),
            );
            let listen = ListenConfig {
                addrs: vec![addr_of(*last)],
                udp_threads: 1,
                tcp: TcpOptions::default(),
            };
            // An error drops the servers started so far, which stops them.
            servers.insert(*last, Server::start(&listen, Arc::new(handler))?);
        }
        Ok(Hierarchy {
            port: 0,
            servers,
            handles,
        })
    }

    /// Where the server of 127.0.0.`last` really listens.
    pub fn addr(&self, last: u8) -> SocketAddr {
        self.servers[&last].local_addrs()[0]
    }

    /// Publishes a new version of `apex`, read from its shipped file after `edit`, on
    /// every server of the zone: the change has propagated on the authoritative side.
    pub fn publish(&self, apex: &str, edit: impl FnOnce(String) -> String) {
        let path = zone_path(apex);
        let text = edit(std::fs::read_to_string(&path).unwrap());
        let name = Name::from_str(apex).unwrap();
        let dir = path.parent().unwrap();
        let loaded = load_zone_str(&text, &name, "edited", dir)
            .unwrap_or_else(|e| panic!("edited {apex}: {e}"));
        self.handles[apex].publish(Arc::new(loaded.zone));
    }

    /// Stops the server of 127.0.0.`last`, as a server that went down.
    pub fn stop(&mut self, last: u8) {
        if let Some(s) = self.servers.remove(&last) {
            s.shutdown();
        }
    }
}
