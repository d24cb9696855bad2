//! A running node: the DNS server plus the tokio tasks that move zones between nodes.
//!
//! Every role's protocol logic lives elsewhere, sans-IO (`zone::edit`, `xfr`, `notify`,
//! `secondary`); this module only wires it to sockets, timers, files and the store:
//!
//! - a primary zone is loaded from its file, diffed against the stored version, committed,
//!   published and announced; a file watcher, SIGHUP and `zonecast reload` repeat that;
//! - a secondary zone is served from the store at once, and a task runs its timer machine,
//!   transferring over TCP and committing before publishing and announcing downstream;
//! - [`ext::PropagationExtension`] answers AXFR/IXFR, NOTIFY and EDNS EXPIRE;
//! - the control endpoint (`crate::control`) answers `reload`, `zone status`, `node stop`.
//!
//! Store work runs on tokio's blocking pool behind one mutex (SQLite writes are serial
//! anyway); transfers are served from a second, read-only connection, so a long commit
//! never stalls an IXFR that only reads the journal.

mod cache;
mod ext;
mod net;
mod notifier;
mod primary;
mod secondary;
mod sources;
mod status;
mod update;
mod watch;

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use arc_swap::ArcSwap;
use hickory_proto::rr::{LowerName, Name};
use thiserror::Error;
use tokio::sync::{mpsc, oneshot};

use crate::catalog::{Catalog, ZoneHandle};
use crate::config::{NodeConfig, Role, ZoneConfig};
use crate::control::ControlServer;
use crate::secondary::TimerLimits;
use crate::server::{Handler, HandlerConfig, ListenConfig, Server, TcpOptions};
use crate::store::{DB_FILE_NAME, Store, StoreError, ZoneRole};
use crate::tsig::{Keyring, TsigKey};
use crate::zone::reload::Snapshot;

/// The file in the data directory that holds the control endpoint's address.
pub const CONTROL_FILE: &str = "control";

#[derive(Debug, Error)]
pub enum NodeError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{0}")]
    Zone(String),
    /// The error is printed, not chained as a source: `anyhow`'s `{:#}` would print it
    /// twice.
    #[error("{what}: {error}")]
    Io { what: String, error: std::io::Error },
}

fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> NodeError {
    let what = what.into();
    move |error| NodeError::Io { what, error }
}

/// Things that happen to one zone, delivered to its task.
#[derive(Debug)]
pub(crate) enum ZoneEvent {
    /// An accepted NOTIFY.
    Notify { from: IpAddr, serial: Option<u32> },
    /// The zone file or one of its includes changed on disk; `complete` when the event
    /// says the writer is done (closed after writing, or renamed into place).
    FileChanged { complete: bool },
    /// SIGHUP or `zonecast reload`: the reply says what happened.
    Reload {
        reply: Option<oneshot::Sender<Result<String, String>>>,
    },
    /// An RFC 2136 UPDATE whose TSIG (if any) verified; the job carries the reply channel.
    Update(Box<update::UpdateJob>),
}

/// A served zone: its configuration, the handle queries read, and its task's inbox.
pub(crate) struct ZoneState {
    pub config: ZoneConfig,
    pub handle: Arc<ZoneHandle>,
    pub events: mpsc::UnboundedSender<ZoneEvent>,
    /// A secondary's expiry in ms since the epoch (`i64::MIN`: none), for EDNS EXPIRE.
    expire_at_ms: AtomicI64,
    /// What the last full load of a primary's file kept for incremental reloads. The
    /// zone's task runs one reload or update at a time, so this is never contended.
    snapshot: Mutex<Option<Snapshot>>,
    /// The last reload's outcome and message, for `zone status`.
    last_reload: Mutex<Option<(bool, String)>>,
}

impl ZoneState {
    fn new(
        config: ZoneConfig,
        handle: Arc<ZoneHandle>,
        events: mpsc::UnboundedSender<ZoneEvent>,
        snapshot: Option<Snapshot>,
    ) -> Self {
        ZoneState {
            config,
            handle,
            events,
            expire_at_ms: AtomicI64::new(i64::MIN),
            snapshot: Mutex::new(snapshot),
            last_reload: Mutex::new(None),
        }
    }

    pub fn snapshot(&self) -> MutexGuard<'_, Option<Snapshot>> {
        self.snapshot.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn set_last_reload(&self, ok: bool, message: &str) {
        let mut last = self.last_reload.lock().unwrap_or_else(|p| p.into_inner());
        *last = Some((ok, message.to_string()));
    }

    pub fn last_reload(&self) -> Option<(bool, String)> {
        self.last_reload
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// The EDNS EXPIRE value we answer (RFC 7314 §3): a primary's SOA EXPIRE, a
    /// secondary's remaining time (0 once expired).
    pub fn expire_value(&self, now: SystemTime) -> Option<u32> {
        match self.config.role {
            Role::Primary => self.handle.current().and_then(|z| soa_expire(&z)),
            Role::Secondary => {
                let at = self.expire_at_ms.load(Ordering::Acquire);
                if at == i64::MIN {
                    return None;
                }
                let left = at.saturating_sub(crate::store::to_ms(now)).max(0) / 1000;
                Some(u32::try_from(left).unwrap_or(u32::MAX))
            }
        }
    }

    pub fn set_expire_at(&self, at: Option<SystemTime>) {
        let v = at.map_or(i64::MIN, crate::store::to_ms);
        self.expire_at_ms.store(v, Ordering::Release);
    }
}

pub(crate) fn soa_expire(zone: &crate::zone::Zone) -> Option<u32> {
    zone.soa().rdata.first().and_then(|rd| match rd {
        hickory_proto::rr::RData::SOA(s) => u32::try_from(s.expire).ok(),
        _ => None,
    })
}

/// What every task of a node shares.
pub(crate) struct Shared {
    pub zones: HashMap<LowerName, Arc<ZoneState>>,
    pub store: Arc<Mutex<Store>>,
    /// Read-only connection for serving IXFR from the journal.
    pub reader: Mutex<Store>,
    pub keyring: Keyring,
    pub notify: mpsc::UnboundedSender<notifier::NotifyCommand>,
    /// Our listening addresses' IPs: never NOTIFY targets.
    pub own_ips: Vec<IpAddr>,
    /// Source addresses for outgoing queries, so that peers' ACLs see our listen address.
    pub source_v4: Option<IpAddr>,
    pub source_v6: Option<IpAddr>,
    pub notify_port: u16,
    pub udp_payload: u16,
    pub limits: TimerLimits,
    pub stop: tokio::sync::watch::Sender<bool>,
    /// The caching resolver, when the node runs one (`[resolver]`).
    pub resolver: Option<Arc<crate::resolver::driver::Resolver>>,
}

impl Shared {
    pub fn key(&self, name: Option<&Name>) -> Option<TsigKey> {
        name.and_then(|n| self.keyring.get(n)).cloned()
    }

    pub fn source_for(&self, peer: SocketAddr) -> Option<IpAddr> {
        match peer {
            SocketAddr::V4(_) => self.source_v4,
            SocketAddr::V6(_) => self.source_v6,
        }
    }

    /// The addresses for `name` in the most specific zone this node serves that holds it:
    /// how a zone's out-of-zone NS (say `shop.test` served by a host named in
    /// `example.test`) get a NOTIFY without a query leaving the node.
    pub fn addresses_served(&self, name: &LowerName) -> Vec<IpAddr> {
        let mut apex = name.clone();
        loop {
            if let Some(z) = self.zones.get(&apex).and_then(|s| s.handle.current()) {
                return crate::notify::addresses_in(&z, name);
            }
            if apex.is_root() {
                return Vec::new();
            }
            apex = apex.base_name();
        }
    }

    /// Runs store work on the blocking pool.
    pub async fn with_store<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Store) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let store = self.store.clone();
        tokio::task::spawn_blocking(move || {
            let mut guard = store.lock().unwrap_or_else(|p| p.into_inner());
            f(&mut guard)
        })
        .await
        .unwrap_or_else(|e| Err(StoreError::Corrupt(format!("store task failed: {e}"))))
    }
}

/// Options the config file does not carry (tests and the CLI set them).
#[derive(Debug, Clone, Default)]
pub struct NodeOptions {
    /// Clamps on SOA timers; tests use short ones.
    pub timer_limits: Option<TimerLimits>,
    /// Do not install SIGHUP (tests run several nodes in one process).
    pub no_signals: bool,
}

/// A running node. Dropping it stops everything.
pub struct Node {
    rt: Option<tokio::runtime::Runtime>,
    server: Option<Server>,
    shared: Arc<Shared>,
    control: SocketAddr,
    data_dir: PathBuf,
    _watcher: Option<watch::FileWatcher>,
    /// The resolver's sockets; dropping it stops them.
    resolving: Option<crate::resolver::driver::Running>,
}

/// The default data directory: `.zonecast/<config stem>` beside the config file, or for
/// the quick form (no config) `.zonecast/<first listen address>` in the current
/// directory, so that several quick-form nodes started from one directory never share a
/// store.
pub fn default_data_dir(config_path: Option<&Path>, listen: Option<SocketAddr>) -> PathBuf {
    match config_path {
        Some(p) => {
            let dir = p.parent().unwrap_or(Path::new("."));
            let stem = p
                .file_stem()
                .map_or_else(|| "node".into(), |s| s.to_string_lossy().into_owned());
            dir.join(".zonecast").join(stem)
        }
        None => {
            let tag = listen.map_or_else(
                || "node".to_string(),
                |a| format!("{}-{}", a.ip(), a.port()).replace(':', "_"),
            );
            PathBuf::from(".zonecast").join(tag)
        }
    }
}

impl Node {
    /// Opens the store, loads primaries, serves secondaries' stored versions, binds the
    /// DNS and control sockets and starts every task. `cfg.data_dir` must be set.
    pub fn start(cfg: &NodeConfig, opts: NodeOptions) -> Result<Node, NodeError> {
        let data_dir = cfg
            .data_dir
            .clone()
            .unwrap_or_else(|| default_data_dir(None, cfg.listen.first().copied()));
        std::fs::create_dir_all(&data_dir)
            .map_err(io(format!("creating {}", data_dir.display())))?;
        let db = data_dir.join(DB_FILE_NAME);
        let mut store = Store::open(&db)?;
        let reader = Store::open_read_only(&db)?;
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("node")
            .enable_all()
            .build()
            .map_err(io("starting the node runtime"))?;
        let (notify_tx, notify_rx) = mpsc::unbounded_channel();
        let (stop, _) = tokio::sync::watch::channel(false);
        let mut zones = HashMap::new();
        let mut inboxes = Vec::new();
        let mut catalog = Catalog::new();
        let now = SystemTime::now();
        let mut failures = Vec::new();
        for zc in &cfg.zones {
            store.set_journal_limits(&zc.name, zc.journal);
            let role = match zc.role {
                Role::Primary => ZoneRole::Primary,
                Role::Secondary => ZoneRole::Secondary,
            };
            store.set_role(&zc.name, role)?;
            let handle = Arc::new(ZoneHandle::new(zc.name.clone(), None));
            let mut files = Vec::new();
            let mut snapshot = None;
            match zc.role {
                Role::Primary => match primary::initial_load(&mut store, zc, now) {
                    Ok(initial) => {
                        handle.publish(initial.zone);
                        files = initial.files;
                        snapshot = initial.snapshot;
                    }
                    Err(e) => failures.push(e),
                },
                Role::Secondary => {
                    if let Some(z) = store.load_zone(&zc.name)? {
                        tracing::info!(
                            "zone {}: serving stored serial {} ({} records)",
                            zc.name,
                            z.serial(),
                            z.record_count()
                        );
                        handle.publish(Arc::new(z));
                    }
                }
            }
            let (tx, rx) = mpsc::unbounded_channel();
            let state = Arc::new(ZoneState::new(zc.clone(), handle.clone(), tx, snapshot));
            catalog.insert(handle);
            zones.insert(LowerName::new(&zc.name), state.clone());
            inboxes.push((state, rx, files));
        }
        if !failures.is_empty() {
            return Err(NodeError::Zone(failures.join("\n")));
        }
        let own_ips: Vec<IpAddr> = cfg.listen.iter().map(SocketAddr::ip).collect();
        let pick = |v6: bool| {
            cfg.listen
                .iter()
                .map(SocketAddr::ip)
                .find(|ip| ip.is_ipv6() == v6 && !ip.is_unspecified())
        };
        let shared = Arc::new(Shared {
            zones,
            store: Arc::new(Mutex::new(store)),
            reader: Mutex::new(reader),
            keyring: Keyring::new(cfg.keys.clone()),
            notify: notify_tx,
            own_ips,
            source_v4: pick(false),
            source_v6: pick(true),
            notify_port: cfg.notify_port,
            udp_payload: cfg.udp_payload,
            limits: opts.timer_limits.clone().unwrap_or_default(),
            stop,
            resolver: cache::new_resolver(cfg)?,
        });
        let catalog = Arc::new(ArcSwap::from_pointee(catalog));
        let handler = Handler::new(
            catalog,
            HandlerConfig {
                udp_payload: cfg.udp_payload,
                nsid: cfg.nsid.as_ref().map(|s| s.as_bytes().to_vec()),
                query_log: cfg.query_log,
                answer_cache: true,
            },
        )
        .with_extension(Arc::new(ext::PropagationExtension::new(shared.clone())));
        let listen = ListenConfig {
            addrs: cfg.listen.clone(),
            udp_threads: cfg
                .threads
                .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get())),
            tcp: TcpOptions {
                idle_timeout: cfg.tcp_idle_timeout,
                max_connections: cfg.tcp_max_connections,
            },
        };
        let server = Server::start(&listen, Arc::new(handler))
            .map_err(io(format!("cannot listen on {:?}", cfg.listen)))?;
        let resolving = cache::serve(&rt, &shared, cfg)?;
        let control_addr = cfg
            .control
            .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 0)));
        let control = rt
            .block_on(ControlServer::bind(control_addr))
            .map_err(io(format!("control endpoint {control_addr}")))?;
        let control_local = control.local_addr();
        let control_file = data_dir.join(CONTROL_FILE);
        std::fs::write(&control_file, format!("{control_local}\n"))
            .map_err(io(format!("writing {}", control_file.display())))?;
        let watcher = {
            let _guard = rt.enter();
            watch::FileWatcher::new(&shared)
        };
        let watcher = match watcher {
            Ok(w) => Some(w),
            Err(e) => {
                tracing::warn!("zone files will not be watched: {e}");
                None
            }
        };
        rt.spawn(notifier::run(shared.clone(), notify_rx));
        for (state, rx, files) in inboxes {
            match state.config.role {
                Role::Primary => {
                    if let Some(w) = &watcher {
                        w.watch_zone(&state, &files);
                    }
                    primary::announce(&shared, &state);
                    rt.spawn(primary::run(
                        shared.clone(),
                        state,
                        rx,
                        watcher.as_ref().map(watch::FileWatcher::handle),
                    ));
                }
                Role::Secondary => {
                    rt.spawn(secondary::run(shared.clone(), state, rx));
                }
            }
        }
        rt.spawn(control.serve(Arc::new(status::NodeControl::new(shared.clone()))));
        if !opts.no_signals {
            rt.spawn(primary::sighup(shared.clone()));
        }
        Ok(Node {
            rt: Some(rt),
            server: Some(server),
            shared,
            control: control_local,
            data_dir,
            _watcher: watcher,
            resolving,
        })
    }

    /// The resolver's bound addresses (empty without `[resolver]`).
    pub fn resolver_addrs(&self) -> &[SocketAddr] {
        self.resolving.as_ref().map_or(&[], |r| &r.addrs)
    }

    pub fn local_addrs(&self) -> &[SocketAddr] {
        self.server.as_ref().map_or(&[], |s| s.local_addrs())
    }

    pub fn control_addr(&self) -> SocketAddr {
        self.control
    }

    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// The handle a zone is served from (tests read serials and the expired flag).
    pub fn zone(&self, name: &Name) -> Option<Arc<ZoneHandle>> {
        self.shared
            .zones
            .get(&LowerName::new(name))
            .map(|z| z.handle.clone())
    }

    /// Resolves when `node stop` arrives on the control endpoint.
    pub fn stopped(&self) -> impl std::future::Future<Output = ()> + use<> {
        let mut rx = self.shared.stop.subscribe();
        async move {
            let _ = rx.wait_for(|s| *s).await;
        }
    }

    /// Stops serving and every task.
    pub fn shutdown(mut self) {
        self.stop_all();
    }

    fn stop_all(&mut self) {
        let _ = self.shared.stop.send(true);
        self.resolving = None;
        if let Some(s) = self.server.take() {
            s.shutdown();
        }
        if let Some(rt) = self.rt.take() {
            rt.shutdown_timeout(Duration::from_secs(2));
        }
        let _ = std::fs::remove_file(self.data_dir.join(CONTROL_FILE));
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.stop_all();
    }
}

/// Sends a control request to the node whose data directory is `dir`.
pub fn control_addr_in(dir: &Path) -> Option<SocketAddr> {
    let text = std::fs::read_to_string(dir.join(CONTROL_FILE)).ok()?;
    text.trim().parse().ok()
}
