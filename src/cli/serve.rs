//! `zonecast serve`, and `zonecast` with no arguments: start a node (`crate::node`),
//! wait for SIGINT/SIGTERM or `zonecast node stop`, stop cleanly.
//!
//! The data directory (SQLite store and the `control` file) is `--data-dir`, else
//! `data-dir` from the config, else `.zonecast/<config stem>` beside the config file, or
//! `.zonecast/<first listen address>` in the current directory for the quick form. The no-argument demo
//! keeps its store in a temporary directory removed at exit: it is a demo, and running it
//! from anywhere should leave nothing behind.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};

use super::ServeArgs;
use crate::config::{NodeConfig, ZoneConfig, parse_zone_name};
use crate::node::{Node, NodeOptions, default_data_dir};

/// The shipped demo hierarchy: (origin, file name, text). Embedded so the no-argument
/// mode works from any directory.
pub(crate) const SHIPPED: &[(&str, &str, &str)] = &[
    (".", "root.zone", include_str!("../../zones/root.zone")),
    ("test.", "test.zone", include_str!("../../zones/test.zone")),
    (
        "example.test.",
        "example.test.zone",
        include_str!("../../zones/example.test.zone"),
    ),
    (
        "sub.example.test.",
        "sub.example.test.zone",
        include_str!("../../zones/sub.example.test.zone"),
    ),
    (
        "shop.test.",
        "shop.test.zone",
        include_str!("../../zones/shop.test.zone"),
    ),
];

/// The port the no-argument mode tries first, then the next ones.
const DEMO_PORT: u16 = 5300;
const DEMO_PORT_TRIES: u16 = 100;

/// Builds the node config from `--config` or the quick form (`--listen`, `--zone`);
/// flags given with `--config` override the file.
pub fn node_config(args: &ServeArgs) -> anyhow::Result<NodeConfig> {
    let mut cfg = match &args.config {
        Some(path) => NodeConfig::load(path)?,
        None => NodeConfig::default(),
    };
    if !args.listen.is_empty() {
        cfg.listen = args
            .listen
            .iter()
            .map(|l| {
                l.parse::<SocketAddr>()
                    .with_context(|| format!("--listen {l:?}: expected ADDRESS:PORT"))
            })
            .collect::<anyhow::Result<_>>()?;
    }
    for z in &args.zone {
        let Some((name, file)) = z.split_once('=') else {
            bail!("--zone {z:?}: expected NAME=FILE");
        };
        let name = parse_zone_name(name).map_err(|e| anyhow::anyhow!("--zone {z:?}: {e}"))?;
        cfg.zones
            .push(ZoneConfig::primary(name, PathBuf::from(file)));
    }
    if let Some(t) = args.threads {
        if t == 0 {
            bail!("--threads must be at least 1");
        }
        cfg.threads = Some(t);
    }
    if args.nsid.is_some() {
        cfg.nsid = args.nsid.clone();
    }
    cfg.query_log |= args.query_log;
    if let Some(d) = &args.data_dir {
        cfg.data_dir = Some(d.clone());
    }
    if cfg.listen.is_empty() && cfg.resolver.is_none() {
        bail!("nothing to listen on: give --listen ADDRESS:PORT or `listen` in the config");
    }
    if cfg.zones.is_empty() && cfg.resolver.is_none() {
        bail!("no zones: give --zone NAME=FILE or [[zone]] entries in the config");
    }
    if cfg.data_dir.is_none() {
        cfg.data_dir = Some(default_data_dir(
            args.config.as_deref(),
            cfg.listen.first().copied(),
        ));
    }
    Ok(cfg)
}

/// Starts a node for `cfg` (its `data_dir` should be set; see the module doc).
pub fn start(cfg: &NodeConfig) -> anyhow::Result<Node> {
    Ok(Node::start(cfg, NodeOptions::default())?)
}

/// `zonecast serve ...`: runs until SIGINT or SIGTERM.
pub fn run(args: &ServeArgs) -> anyhow::Result<()> {
    let cfg = node_config(args)?;
    let signals = Signals::install()?;
    let node = start(&cfg)?;
    for a in node.local_addrs() {
        tracing::info!("serving {} zones on {a} (UDP and TCP)", cfg.zones.len());
    }
    for a in node.resolver_addrs() {
        tracing::info!("resolving on {a} (UDP and TCP)");
    }
    tracing::info!(
        "data in {}, control endpoint {}",
        node.data_dir().display(),
        node.control_addr()
    );
    signals.wait(node.stopped());
    tracing::info!("stopping");
    node.shutdown();
    Ok(())
}

/// `zonecast` with no arguments: serves the shipped zones on 127.0.0.1:5300 (or the
/// next free port) and says how to query them.
pub fn run_default() -> anyhow::Result<()> {
    let signals = Signals::install()?;
    let (dir, temp) = shipped_zone_dir()?;
    let zones: Vec<ZoneConfig> = SHIPPED
        .iter()
        .map(|(origin, file, _)| {
            Ok(ZoneConfig::primary(
                parse_zone_name(origin).map_err(anyhow::Error::msg)?,
                dir.join(file),
            ))
        })
        .collect::<anyhow::Result<_>>()?;
    let data = std::env::temp_dir().join(format!("zonecast-demo-{}", std::process::id()));
    let cleanup = || {
        let _ = std::fs::remove_dir_all(&data);
        if let Some(t) = &temp {
            let _ = std::fs::remove_dir_all(t);
        }
    };
    let mut last_err = None;
    let mut server = None;
    for port in DEMO_PORT..DEMO_PORT + DEMO_PORT_TRIES {
        let cfg = NodeConfig {
            zones: zones.clone(),
            listen: vec![SocketAddr::from(([127, 0, 0, 1], port))],
            data_dir: Some(data.clone()),
            ..NodeConfig::default()
        };
        match Node::start(&cfg, NodeOptions::default()) {
            Ok(s) => {
                server = Some(s);
                break;
            }
            Err(e @ crate::node::NodeError::Io { .. }) => last_err = Some(e),
            Err(e) => {
                cleanup();
                return Err(e.into());
            }
        }
    }
    let Some(server) = server else {
        cleanup();
        bail!(
            "no free port in {DEMO_PORT}..{}: {}",
            DEMO_PORT + DEMO_PORT_TRIES,
            last_err.map_or_else(String::new, |e| e.to_string())
        );
    };
    let port = server.local_addrs().first().map_or(DEMO_PORT, |a| a.port());
    println!(
        "zonecast: serving {} shipped zones from {} on 127.0.0.1:{port} (UDP and TCP); Ctrl-C stops",
        SHIPPED.len(),
        if dir.starts_with(std::env::temp_dir()) {
            "the binary".to_string()
        } else {
            dir.display().to_string()
        }
    );
    println!("try: dig @127.0.0.1 -p {port} www.example.test");
    signals.wait(server.stopped());
    server.shutdown();
    cleanup();
    Ok(())
}

/// The `zones/` directory in the current directory when it holds the shipped files,
/// otherwise a temporary copy of the embedded ones (returned second, for removal).
fn shipped_zone_dir() -> anyhow::Result<(PathBuf, Option<PathBuf>)> {
    let local = Path::new("zones");
    if SHIPPED.iter().all(|(_, f, _)| local.join(f).is_file()) {
        return Ok((local.to_path_buf(), None));
    }
    let dir = std::env::temp_dir().join(format!("zonecast-zones-{}", std::process::id()));
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    for (_, file, text) in SHIPPED {
        let p = dir.join(file);
        std::fs::write(&p, text).with_context(|| format!("writing {}", p.display()))?;
    }
    Ok((dir.clone(), Some(dir)))
}

/// SIGINT and SIGTERM handlers, installed before the server announces itself so a
/// signal sent right after the announcement is never lost (it would kill the process
/// with the default action instead of stopping it cleanly).
/// How long a stop may take after SIGINT/SIGTERM before the process exits anyway.
const SHUTDOWN_BOUND: Duration = Duration::from_secs(3);

struct Signals {
    rt: tokio::runtime::Runtime,
    int: tokio::signal::unix::Signal,
    term: tokio::signal::unix::Signal,
}

impl Signals {
    fn install() -> anyhow::Result<Signals> {
        use tokio::signal::unix::{SignalKind, signal};
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let (int, term) = rt.block_on(async {
            Ok::<_, std::io::Error>((
                signal(SignalKind::interrupt())?,
                signal(SignalKind::terminate())?,
            ))
        })?;
        Ok(Signals { rt, int, term })
    }

    /// Blocks until SIGINT, SIGTERM or `stopped` (the node was told to stop). After a
    /// signal, shutdown is bounded: every commit is one SQLite transaction, so leaving
    /// with a blocking task still running (an fsync on a loaded disk, say) loses nothing
    /// that was acknowledged, while a stop that hangs is what an operator cannot accept.
    fn wait(mut self, stopped: impl std::future::Future<Output = ()>) {
        let signalled = self.rt.block_on(async {
            tokio::select! {
                _ = self.int.recv() => true,
                _ = self.term.recv() => true,
                _ = stopped => false,
            }
        });
        if signalled {
            std::thread::spawn(|| {
                std::thread::sleep(SHUTDOWN_BOUND);
                tracing::warn!(
                    "shutdown did not finish within {}; exiting",
                    humantime::format_duration(SHUTDOWN_BOUND)
                );
                std::process::exit(0);
            });
        }
    }
}
