//! `zonecast serve`, and `zonecast` with no arguments: load the zones, start the
//! server, wait for SIGINT/SIGTERM, stop cleanly.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, bail};
use arc_swap::ArcSwap;

use super::ServeArgs;
use crate::catalog::{Catalog, ZoneHandle};
use crate::config::{NodeConfig, ZoneConfig, parse_zone_name};
use crate::server::{Handler, HandlerConfig, ListenConfig, Server, TcpOptions};
use crate::zone::load::load_zone_file;

/// The shipped demo hierarchy: (origin, file name, text). Embedded so the no-argument
/// mode works from any directory.
const SHIPPED: &[(&str, &str, &str)] = &[
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
        cfg.zones.push(ZoneConfig {
            name,
            file: PathBuf::from(file),
        });
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
    if cfg.listen.is_empty() {
        bail!("nothing to listen on: give --listen ADDRESS:PORT or `listen` in the config");
    }
    if cfg.zones.is_empty() {
        bail!("no zones: give --zone NAME=FILE or [[zone]] entries in the config");
    }
    Ok(cfg)
}

/// Loads every configured zone, reporting all failures, not just the first.
pub fn load_catalog(zones: &[ZoneConfig]) -> anyhow::Result<Catalog> {
    let mut catalog = Catalog::new();
    let mut failures = Vec::new();
    for z in zones {
        match load_zone_file(&z.file, &z.name) {
            Ok(loaded) => {
                for w in &loaded.warnings {
                    tracing::warn!("{w}");
                }
                tracing::info!(
                    "zone {}: loaded serial {} ({} records) from {}",
                    z.name,
                    loaded.zone.serial(),
                    loaded.zone.record_count(),
                    z.file.display()
                );
                catalog.insert(Arc::new(ZoneHandle::new(
                    z.name.clone(),
                    Some(Arc::new(loaded.zone)),
                )));
            }
            Err(e) => failures.push(format!("zone {}: {e}", z.name)),
        }
    }
    if !failures.is_empty() {
        bail!("{}", failures.join("\n"));
    }
    Ok(catalog)
}

fn handler_config(cfg: &NodeConfig) -> HandlerConfig {
    HandlerConfig {
        udp_payload: cfg.udp_payload,
        nsid: cfg.nsid.as_ref().map(|s| s.as_bytes().to_vec()),
        query_log: cfg.query_log,
        answer_cache: true,
    }
}

fn listen_config(cfg: &NodeConfig, addrs: Vec<SocketAddr>) -> ListenConfig {
    ListenConfig {
        addrs,
        udp_threads: cfg.threads.unwrap_or_else(default_threads),
        tcp: TcpOptions {
            idle_timeout: cfg.tcp_idle_timeout,
            max_connections: cfg.tcp_max_connections,
        },
    }
}

fn default_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// Loads the zones and starts serving on every configured address.
pub fn start(cfg: &NodeConfig) -> anyhow::Result<Server> {
    let catalog = load_catalog(&cfg.zones)?;
    let handler = Arc::new(Handler::new(
        Arc::new(ArcSwap::from_pointee(catalog)),
        handler_config(cfg),
    ));
    Server::start(&listen_config(cfg, cfg.listen.clone()), handler)
        .with_context(|| format!("cannot listen on {:?}", cfg.listen))
}

/// `zonecast serve ...`: runs until SIGINT or SIGTERM.
pub fn run(args: &ServeArgs) -> anyhow::Result<()> {
    let cfg = node_config(args)?;
    let signals = Signals::install()?;
    let server = start(&cfg)?;
    for a in server.local_addrs() {
        tracing::info!("serving {} zones on {a} (UDP and TCP)", cfg.zones.len());
    }
    signals.wait();
    tracing::info!("stopping");
    server.shutdown();
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
            Ok(ZoneConfig {
                name: parse_zone_name(origin).map_err(anyhow::Error::msg)?,
                file: dir.join(file),
            })
        })
        .collect::<anyhow::Result<_>>()?;
    let loaded = load_catalog(&zones);
    if let Some(t) = temp {
        let _ = std::fs::remove_dir_all(t);
    }
    let catalog = Arc::new(ArcSwap::from_pointee(loaded?));
    let cfg = NodeConfig {
        zones,
        ..NodeConfig::default()
    };
    let handler = Arc::new(Handler::new(catalog, handler_config(&cfg)));
    let mut last_err = None;
    let mut server = None;
    for port in DEMO_PORT..DEMO_PORT + DEMO_PORT_TRIES {
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        match Server::start(&listen_config(&cfg, vec![addr]), handler.clone()) {
            Ok(s) => {
                server = Some(s);
                break;
            }
            Err(e) => last_err = Some(e),
        }
    }
    let Some(server) = server else {
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
    signals.wait();
    server.shutdown();
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

    /// Blocks until SIGINT or SIGTERM.
    fn wait(mut self) {
        self.rt.block_on(async {
            tokio::select! {
                _ = self.int.recv() => {}
                _ = self.term.recv() => {}
            }
        });
    }
}
