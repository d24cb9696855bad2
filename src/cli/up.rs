//! `zonecast up [--topology FILE]`: a whole DNS hierarchy on loopback, one process per
//! node, and the watch view on it; `zonecast node stop|start NAME` for one node of it.
//!
//! The data directory (default `.zonecast/`) holds `topology.toml` (the topology as run:
//! port and zones directory resolved), `control` (the loopback endpoint of `up`
//! itself, which `node start|stop NAME` and `cache` use), and one directory per node
//! with its generated `node.toml`, `node.log`, SQLite store, `control` and `pid`. A
//! re-run regenerates the configs and keeps the stores, so secondaries start with
//! what they had.
//!
//! Zone files come from `--zones-dir`, else the topology's `zones-dir`; with the shipped
//! topology, `zones/` in the current directory when it holds the shipped zones (a
//! checkout: edit them in place), else a copy under the data directory (written once,
//! so edits survive a re-run).

use std::io::Write as _;
use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};

use super::up_members::{Members, Supervisor, node_dir};
use super::watch::WatchArgs;
use crate::control::{
    BoxFuture, ControlHandler, ControlRequest, ControlResponse, ControlServer,
    request as control_request, request_blocking,
};
use crate::node::{CONTROL_FILE, control_addr_in};
use crate::topology::{NodeRole, Topology, zone_file_name};

const SHIPPED_TOPOLOGY: &str = include_str!("../../zones/topology.toml");

#[derive(Debug, clap::Args)]
pub struct UpArgs {
    /// The topology to run (default: the shipped one, zones/topology.toml).
    #[arg(long, value_name = "FILE")]
    pub topology: Option<PathBuf>,
    /// The DNS port of every node (default: the topology's, 5300 for the shipped one).
    #[arg(long)]
    pub port: Option<u16>,
    /// Where configs, logs and each node's SQLite store live.
    #[arg(long, value_name = "DIR", default_value = ".zonecast")]
    pub data_dir: PathBuf,
    /// Where the zone files are. Default: the topology's zones-dir; for the shipped
    /// topology ./zones when it holds the shipped files, else a copy in DIR/zones.
    #[arg(long, value_name = "DIR")]
    pub zones_dir: Option<PathBuf>,
    /// Do not open the watch view: start, print, and wait for Ctrl-C or SIGTERM.
    #[arg(long)]
    pub no_watch: bool,
    /// How long each node may take to answer before `up` gives up.
    #[arg(long, default_value = "15s", value_parser = humantime::parse_duration)]
    pub start_timeout: Duration,
}

/// Loads the topology, applies `--port`, and picks the zones directory.
fn topology(args: &UpArgs, data: &Path) -> anyhow::Result<Topology> {
    let mut topo = match &args.topology {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading {}", path.display()))?;
            let base = path.parent().unwrap_or(Path::new("."));
            Topology::parse(&text, base).with_context(|| format!("topology {}", path.display()))?
        }
        None => {
            let mut t = Topology::parse(SHIPPED_TOPOLOGY, Path::new("zones"))
                .context("the shipped topology")?;
            if args.zones_dir.is_none() {
                t.zones_dir = shipped_zones(&t, data)?;
            }
            t
        }
    };
    if let Some(p) = args.port {
        topo.port = p;
    }
    if let Some(d) = &args.zones_dir {
        topo.zones_dir = d.clone();
    }
    topo.zones_dir = std::fs::canonicalize(&topo.zones_dir)
        .with_context(|| format!("zones directory {}", topo.zones_dir.display()))?;
    for n in topo.nodes.iter().filter(|n| n.role.loads_files()) {
        for z in &n.zones {
            let f = topo.zone_file(z);
            if !f.is_file() {
                bail!("node {}: no zone file {} for {z}", n.name, f.display());
            }
        }
    }
    Ok(topo)
}

/// `zones/` when it holds every shipped zone file, else the embedded copies written
/// (once) to DATA/zones.
fn shipped_zones(topo: &Topology, data: &Path) -> anyhow::Result<PathBuf> {
    let needed: Vec<String> = topo
        .nodes
        .iter()
        .filter(|n| n.role.loads_files())
        .flat_map(|n| n.zones.iter().map(zone_file_name))
        .collect();
    let local = Path::new("zones");
    if needed.iter().all(|f| local.join(f).is_file()) {
        return Ok(local.to_path_buf());
    }
    let dir = data.join("zones");
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    for (_, file, text) in super::serve::SHIPPED {
        let p = dir.join(file);
        if !p.exists() {
            std::fs::write(&p, text).with_context(|| format!("writing {}", p.display()))?;
        }
    }
    Ok(dir)
}

/// Writes every node's config (and a resolver's root hints) and the topology as run.
fn write_configs(topo: &Topology, data: &Path) -> anyhow::Result<()> {
    for n in &topo.nodes {
        let dir = node_dir(data, &n.name);
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        let w = |file: &str, text: String| {
            let p = dir.join(file);
            std::fs::write(&p, text).with_context(|| format!("writing {}", p.display()))
        };
        w("node.toml", topo.node_config(n, &topo.zones_dir))?;
        if n.role == NodeRole::Resolver {
            w("root.hints", topo.root_hints(n))?;
        }
    }
    let p = data.join("topology.toml");
    std::fs::write(&p, topo.to_toml()).with_context(|| format!("writing {}", p.display()))
}

/// Refuses to start over a running `up` or on a port another process holds.
fn check_free(topo: &Topology, data: &Path) -> anyhow::Result<()> {
    if let Some(a) = control_addr_in(data)
        && request_blocking(
            a,
            &ControlRequest::ZoneStatus { zone: None },
            Duration::from_secs(2),
        )
        .is_ok()
    {
        bail!(
            "a zonecast up is already running on {} (its control endpoint {a} answers)",
            data.display()
        );
    }
    for n in &topo.nodes {
        let a = topo.addr(n);
        let free = UdpSocket::bind(a).is_ok() && TcpListener::bind(a).is_ok();
        if !free {
            bail!(
                "{a} (node {}) is in use: another server or zonecast up? try --port",
                n.name
            );
        }
    }
    Ok(())
}

pub fn run(args: &UpArgs) -> anyhow::Result<i32> {
    std::fs::create_dir_all(&args.data_dir)
        .with_context(|| format!("creating {}", args.data_dir.display()))?;
    let data = std::fs::canonicalize(&args.data_dir)?;
    let topo = topology(args, &data)?;
    check_free(&topo, &data)?;
    write_configs(&topo, &data)?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .context("starting the runtime")?;
    let (mut int, mut term) = rt.block_on(async {
        use tokio::signal::unix::{SignalKind, signal};
        Ok::<_, std::io::Error>((
            signal(SignalKind::interrupt())?,
            signal(SignalKind::terminate())?,
        ))
    })?;
    let supervisor = Supervisor::spawn(&topo, &data, args.start_timeout)?;
    let control = rt
        .block_on(ControlServer::bind(SocketAddr::from(([127, 0, 0, 1], 0))))
        .context("binding the control endpoint")?;
    let control_file = data.join(CONTROL_FILE);
    std::fs::write(&control_file, format!("{}\n", control.local_addr()))
        .with_context(|| format!("writing {}", control_file.display()))?;
    rt.spawn(control.serve(Arc::new(UpControl {
        members: supervisor.members(),
        topo: topo.clone(),
        data: data.clone(),
    })));
    let cleanup = |supervisor: Supervisor| {
        supervisor.stop_all();
        let _ = std::fs::remove_file(&control_file);
    };
    println!(
        "zonecast up: starting {} nodes on port {} (data in {})",
        topo.nodes.len(),
        topo.port,
        data.display()
    );
    for n in &topo.nodes {
        let interrupted = rt.block_on(async {
            tokio::select! {
                biased;
                _ = int.recv() => true,
                _ = term.recv() => true,
                _ = std::future::ready(()) => false,
            }
        });
        if interrupted {
            cleanup(supervisor);
            bail!("interrupted while starting");
        }
        if let Err(e) = supervisor.start_blocking(&n.name) {
            cleanup(supervisor);
            bail!("{e}");
        }
    }
    let banner = banner(&topo, &data);
    for line in &banner {
        println!("{line}");
    }
    let code = if args.no_watch {
        println!("zonecast up: every node answers; Ctrl-C stops them all");
        let _ = std::io::stdout().flush();
        rt.block_on(async {
            tokio::select! {
                _ = int.recv() => {}
                _ = term.recv() => {}
            }
        });
        0
    } else {
        let watch = WatchArgs {
            name: topo.watch.to_string(),
            rtype: "A".into(),
            servers: Vec::new(),
            resolvers: Vec::new(),
            topology: Some(data.join("topology.toml")),
            port: None,
            interval: Duration::from_secs(1),
            query_timeout: None,
            once: false,
            json: false,
            until_converged: false,
            after_change: false,
            timeout: None,
            ipv6: false,
            footer: banner[banner.len().saturating_sub(6)..].to_vec(),
        };
        super::watch::run(watch).unwrap_or_else(|e| {
            eprintln!("zonecast: watch: {e:#}");
            1
        })
    };
    println!("zonecast up: stopping every node");
    cleanup(supervisor);
    println!("zonecast up: stopped");
    Ok(code)
}

/// Addresses, three dig lines, and what to edit.
fn banner(topo: &Topology, data: &Path) -> Vec<String> {
    let mut out = vec![String::new()];
    for n in &topo.nodes {
        let what = match n.role {
            NodeRole::Resolver => format!(
                "root hint {}",
                n.root_hint
                    .as_deref()
                    .and_then(|h| topo.node(h))
                    .or_else(|| topo.nodes.iter().find(|o| o.role == NodeRole::Root))
                    .map_or_else(String::new, |h| h.address.to_string())
            ),
            _ => {
                let zones: Vec<String> = n.zones.iter().map(|z| z.to_string()).collect();
                match &n.primary {
                    Some(p) => format!("{} (from {p})", zones.join(" ")),
                    None => zones.join(" "),
                }
            }
        };
        out.push(format!(
            "  {:<10} {:<10} {:<18} {what}",
            n.name,
            n.role.label(),
            topo.addr(n).to_string()
        ));
    }
    out.push(format!(
        "  logs: {}/NAME/node.log; stop or start one: zonecast node stop|start NAME{}",
        data.display(),
        data_flag(data)
    ));
    out.push(String::new());
    let port = topo.port;
    let watched = topo.watch.to_string();
    let watched = watched.trim_end_matches('.');
    let resolver = topo.nodes.iter().find(|n| n.role == NodeRole::Resolver);
    let zone = topo.watched_zone();
    let secondary = zone.and_then(|(_, z)| {
        topo.nodes
            .iter()
            .find(|n| n.role == NodeRole::Secondary && n.zones.contains(z))
    });
    if let Some(r) = resolver {
        out.push(format!("  try: dig @{} -p {port} {watched}", r.address));
    }
    if let Some(s) = secondary {
        out.push(format!(
            "       dig @{} -p {port} {watched} +norec",
            s.address
        ));
    }
    if let Some((p, z)) = zone {
        let apex = z.to_string();
        let apex = apex.trim_end_matches('.');
        out.push(format!(
            "       dig @{} -p {port} {apex} AXFR    (serials: ... {apex} SOA +short)",
            p.address
        ));
        let shown = relative(&topo.zone_file(z));
        let flag = if shown == Path::new("zones").join(zone_file_name(z)) {
            String::new()
        } else {
            format!(" --file {}", shown.display())
        };
        let label = watched
            .strip_suffix(apex)
            .map(|l| l.trim_end_matches('.'))
            .filter(|l| !l.is_empty())
            .unwrap_or("@");
        out.push(format!("  edit: {}", shown.display()));
        out.push(format!(
            "    or: zonecast zone set {apex} {label} A 192.0.2.99{flag}"
        ));
    }
    out
}

fn data_flag(data: &Path) -> String {
    let shown = relative(data);
    if shown == Path::new(".zonecast") {
        String::new()
    } else {
        format!(" --data-dir {}", shown.display())
    }
}

/// `path` relative to the current directory when it is inside it.
fn relative(path: &Path) -> PathBuf {
    std::env::current_dir()
        .ok()
        .and_then(|cwd| path.strip_prefix(cwd).ok().map(Path::to_path_buf))
        .unwrap_or_else(|| path.to_path_buf())
}

/// The control endpoint of `up`: member start/stop, `node stop` for everything, and
/// cache commands passed on to the resolver node.
struct UpControl {
    members: Members,
    topo: Topology,
    data: PathBuf,
}

impl ControlHandler for UpControl {
    fn handle(&self, request: ControlRequest) -> BoxFuture<'_, ControlResponse> {
        Box::pin(async move {
            let done = |r: Result<String, String>| match r {
                Ok(m) => ControlResponse::ok(m),
                Err(e) => ControlResponse::error(e),
            };
            let forward = request.clone();
            match request {
                ControlRequest::MemberStart { name } => done(self.members.start(name).await),
                ControlRequest::MemberStop { name } => done(self.members.stop(name).await),
                ControlRequest::NodeStop => {
                    // The same path as Ctrl-C: the signal ends the watch or the wait.
                    // SAFETY: kill(2) on our own pid.
                    unsafe { libc::kill(libc::getpid(), libc::SIGTERM) };
                    ControlResponse::ok("stopping every node")
                }
                ControlRequest::CacheDump | ControlRequest::CacheFlush { .. } => {
                    let Some(r) = self
                        .topo
                        .nodes
                        .iter()
                        .find(|n| n.role == NodeRole::Resolver)
                    else {
                        return ControlResponse::error("the topology has no resolver");
                    };
                    let Some(addr) = control_addr_in(&node_dir(&self.data, &r.name)) else {
                        return ControlResponse::error(format!("{} is not running", r.name));
                    };
                    control_request(addr, &forward, Duration::from_secs(10))
                        .await
                        .unwrap_or_else(|e| ControlResponse::error(format!("{}: {e}", r.name)))
                }
                ControlRequest::ZoneStatus { .. } => {
                    let names: Vec<&str> =
                        self.topo.nodes.iter().map(|n| n.name.as_str()).collect();
                    ControlResponse::data(serde_json::json!({ "up": names }))
                }
                ControlRequest::Reload { .. } => ControlResponse::error(format!(
                    "zonecast up: ask a node, e.g. --data-dir {}",
                    node_dir(&self.data, "NAME").display()
                )),
            }
        })
    }
}

#[derive(Debug, clap::Args)]
pub struct NodeStopArgs {
    /// The topology name of a node of `zonecast up` (ns2, resolver, ...).
    pub name: Option<String>,
    #[command(flatten)]
    pub target: super::control::NodeTarget,
}

#[derive(Debug, clap::Args)]
pub struct MemberArgs {
    /// The topology name of the node.
    pub name: String,
    /// The data directory of `zonecast up`.
    #[arg(long, value_name = "DIR", default_value = ".zonecast")]
    pub data_dir: PathBuf,
}

/// The data directory of `up` for a member command (`.zonecast` unless given).
fn up_dir(target: &super::control::NodeTarget) -> PathBuf {
    target
        .data_dir
        .clone()
        .unwrap_or_else(|| PathBuf::from(".zonecast"))
}

/// `zonecast node stop [NAME]`: a member through `up` (which reaps it and can start it
/// again), or through the member's own endpoint when no `up` runs; without NAME, the
/// node of --data-dir/--control as before.
pub fn node_stop(args: &NodeStopArgs) -> anyhow::Result<()> {
    let resp = match &args.name {
        None => args.target.send(&ControlRequest::NodeStop)?,
        Some(name) => {
            let dir = up_dir(&args.target);
            let via_up = super::control::NodeTarget {
                data_dir: Some(dir.clone()),
                control: args.target.control,
            };
            if via_up.addr().is_some() {
                via_up.send(&ControlRequest::MemberStop { name: name.clone() })?
            } else {
                super::control::NodeTarget {
                    data_dir: Some(node_dir(&dir, name)),
                    control: None,
                }
                .send(&ControlRequest::NodeStop)?
            }
        }
    };
    println!("{}", resp.message.unwrap_or_default());
    Ok(())
}

/// `zonecast node start NAME`: `up` spawns it, so that it dies with `up` (see
/// `up_members`), and answers once the node does.
pub fn node_start(args: &MemberArgs) -> anyhow::Result<()> {
    let target = super::control::NodeTarget {
        data_dir: Some(args.data_dir.clone()),
        control: None,
    };
    if target.addr().is_none() {
        bail!(
            "no zonecast up runs on {} (node start asks it to spawn the node)",
            args.data_dir.display()
        );
    }
    let resp = target.send(&ControlRequest::MemberStart {
        name: args.name.clone(),
    })?;
    println!("{}", resp.message.unwrap_or_default());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn banner_names_addresses_dig_lines_and_the_file() {
        let mut t = Topology::parse(SHIPPED_TOPOLOGY, Path::new("/lab/zones")).unwrap();
        t.port = 5400;
        let text = banner(&t, Path::new("/elsewhere/state")).join("\n");
        for n in 11..=16 {
            assert!(text.contains(&format!("127.0.0.{n}:5400")), "{text}");
        }
        assert!(
            text.contains(
                "ns3        secondary  127.0.0.15:5400    example.test. shop.test. (from ns2)"
            ),
            "{text}"
        );
        assert!(
            text.contains("dig @127.0.0.16 -p 5400 www.example.test\n"),
            "{text}"
        );
        assert!(
            text.contains("dig @127.0.0.14 -p 5400 www.example.test +norec"),
            "{text}"
        );
        assert!(
            text.contains("dig @127.0.0.13 -p 5400 example.test AXFR"),
            "{text}"
        );
        assert!(
            text.contains("edit: /lab/zones/example.test.zone"),
            "{text}"
        );
        assert!(
            text.contains(
                "zonecast zone set example.test www A 192.0.2.99 --file /lab/zones/example.test.zone"
            ),
            "{text}"
        );
        assert!(text.contains("--data-dir /elsewhere/state"), "{text}");
    }
}
