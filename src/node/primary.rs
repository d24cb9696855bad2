//! A primary zone: load the file, diff it against the stored version, commit, publish,
//! announce. Triggered at start, by the file watcher, SIGHUP and `zonecast reload`.
//!
//! The order is the whole point (design principle 3): the version and its changeset are
//! committed in one transaction before `publish`, and NOTIFY goes out after `publish`, so a
//! secondary that reacts at once is served the version it was told about, and a crash at
//! any point leaves a store that agrees with what was announced.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use hickory_proto::rr::{LowerName, Name};
use tokio::sync::mpsc;

use super::sources;
use super::watch::WatchHandle;
use super::{Shared, ZoneEvent, ZoneState, notifier::NotifyCommand};
use crate::config::ZoneConfig;
use crate::notify::notify_targets;
use crate::store::{Prepared, Store, TransferKind, TransferOutcome};
use crate::zone::Zone;
use crate::zone::diff::{Changeset, apply};
use crate::zone::edit::{EditError, EditOutcome, finish_edit, prepare_edit};
use crate::zone::load::Source;
use crate::zone::load::window::{load_zone_file_keeping, load_zone_file_keeping_each};
use crate::zone::reload::{Fallback, Snapshot};

/// How long file events are gathered before a reload: editors write a file in several
/// steps (truncate, write, rename), and one reload should see the last one. Once an event
/// says a writer finished (close after write, rename into place), only a short quiet
/// period is waited for, to coalesce the rest of the burst.
const DEBOUNCE: Duration = Duration::from_millis(20);
const SETTLE: Duration = Duration::from_millis(2);

/// The result of one load.
pub(super) struct Loaded {
    /// The version to publish, when it changed.
    pub zone: Option<Arc<Zone>>,
    pub files: Vec<PathBuf>,
    /// What the load read; the current version is what they say (see `sources`). Empty
    /// after an incremental reload, which does not digest the whole text again: the next
    /// start then parses the files.
    pub sources: Vec<Source>,
    pub message: String,
}

fn load_error(zc: &ZoneConfig, e: &crate::zone::load::LoadErrors) -> String {
    format!("zone {}: {e}", zc.name)
}

/// Loads the file and commits what changed against `current` (the served version, or the
/// stored one at start). `snapshot` is what the last full load kept: when there is one,
/// the edit is read off the changed lines (`zone::reload`), and only when those cannot
/// tell is the whole file loaded again (which then keeps a new snapshot). Blocking: runs
/// on the store thread.
pub(super) fn load_and_commit(
    store: &mut Store,
    zc: &ZoneConfig,
    current: Option<&Zone>,
    snapshot: &mut Option<Snapshot>,
    now: SystemTime,
) -> Result<Loaded, String> {
    let Some(file) = &zc.file else {
        return Err(format!("zone {}: no file to load", zc.name));
    };
    let cx = Cx {
        zc,
        now,
        started: Instant::now(),
    };
    if let (Some(current), Some(snap)) = (current, snapshot.as_mut()) {
        match incremental(store, &cx, file, current, snap) {
            Ok(Some(loaded)) => return Ok(loaded),
            Ok(None) => {}
            Err(Ok(e)) => return Err(e),
            Err(Err(e)) => {
                tracing::warn!("zone {}: {e}; reloading in full", zc.name);
                *snapshot = None;
            }
        }
    }
    // Without a current version the whole zone is committed: its store chunks are
    // encoded while it is built.
    let mut prepared = current.is_none().then(Prepared::default);
    let (loaded, kept) = match prepared.as_mut() {
        Some(p) => load_zone_file_keeping_each(file, &zc.name, &mut |r| p.push(r)),
        None => load_zone_file_keeping(file, &zc.name),
    }
    .map_err(|e| load_error(zc, &e))?;
    for w in &loaded.warnings {
        tracing::warn!("zone {}: {w}", zc.name);
    }
    let next = match Snapshot::new(kept, &loaded.zone) {
        Ok(s) => {
            tracing::debug!(
                "zone {}: keeping {:.1} MB of zone file text for incremental reloads",
                zc.name,
                s.approx_bytes() as f64 / 1e6
            );
            Some(s)
        }
        Err(why) => {
            tracing::info!("zone {}: every edit reloads the whole file: {why}", zc.name);
            None
        }
    };
    let files = loaded.files.clone();
    let sources = loaded.sources.clone();
    let record =
        |store: &mut Store, serial: u32| record(store, zc, TransferKind::Load, serial, now);
    let Some(current) = current else {
        match prepared {
            Some(p) => store.commit_full_prepared(&loaded.zone, p),
            None => store.commit_full(&loaded.zone),
        }
        .map_err(|e| format!("zone {}: committing: {e}", zc.name))?;
        let serial = loaded.zone.serial();
        record(store, serial);
        *snapshot = next;
        return Ok(Loaded {
            zone: Some(Arc::new(loaded.zone)),
            files,
            sources,
            message: format!("zone {}: loaded serial {serial} ({})", zc.name, cx.took()),
        });
    };
    let outcome = prepare_edit(zc.serial_policy, current, &loaded.zone, now);
    let loaded = finish(
        store,
        &cx,
        current,
        outcome,
        (files, sources),
        "full reload",
    )?;
    *snapshot = next;
    Ok(loaded)
}

/// What every step of one reload needs to know.
struct Cx<'a> {
    zc: &'a ZoneConfig,
    now: SystemTime,
    started: Instant,
}

impl Cx<'_> {
    /// Milliseconds since the reload started, for the log: which path a reload took
    /// and its cost.
    fn took(&self) -> String {
        format!("{:.1} ms", self.started.elapsed().as_secs_f64() * 1000.0)
    }
}

/// The reload read off the changed lines: `Ok(None)` when a full load is needed,
/// `Err(Ok(_))` for what a full load would refuse too (the serial policy, the store),
/// `Err(Err(_))` when the snapshot turned out not to match the served version.
fn incremental(
    store: &mut Store,
    cx: &Cx<'_>,
    file: &Path,
    current: &Zone,
    snap: &mut Snapshot,
) -> Result<Option<Loaded>, Result<String, String>> {
    let zc = cx.zc;
    // Unreadable files are the full load's to report.
    let mut text = snap.take_buffer();
    let read = std::fs::File::open(file).and_then(|mut f| f.read_to_end(&mut text));
    if read.is_err() {
        return Ok(None);
    }
    let includes: Vec<Option<String>> = snap
        .include_paths()
        .map(|p| std::fs::read_to_string(p).ok())
        .collect();
    let files = std::iter::once(file.to_path_buf())
        .chain(snap.include_paths().map(Path::to_path_buf))
        .collect();
    let base = snap.base();
    let edit = match snap.plan(base.as_deref().unwrap_or(current), text, &includes) {
        Ok(e) => e,
        // A syntax error is the full load's to report, with all the others.
        Err(why @ Fallback::Syntax(_)) => {
            tracing::debug!("zone {}: reloading the whole file: {why}", zc.name);
            return Ok(None);
        }
        Err(why) => {
            tracing::info!("zone {}: reloading the whole file: {why}", zc.name);
            return Ok(None);
        }
    };
    for w in &edit.warnings {
        tracing::warn!("zone {}: {w}", zc.name);
    }
    let outcome = match &base {
        None => finish_edit(zc.serial_policy, current, edit.changeset, cx.now),
        // The file was last read before a dynamic update: the edit (mostly the update's
        // write-back) is against the version the file described then, and what the file
        // holds now is compared with the served version. Both come from that version by
        // `apply`, so the diff only looks at the shards they changed.
        Some(b) => match apply(b, &edit.changeset) {
            Ok(loaded) => prepare_edit(zc.serial_policy, current, &loaded, cx.now),
            Err(e) => Err(EditError::Diff(e)),
        },
    };
    let outcome = match outcome {
        Err(EditError::Diff(e)) => return Err(Err(format!("incremental reload: {e}"))),
        other => other,
    };
    let loaded = finish(
        store,
        cx,
        current,
        outcome,
        (files, Vec::new()),
        "incremental",
    )
    .map_err(Ok)?;
    snap.accept(edit.update);
    Ok(Some(loaded))
}

/// Commits an edit's outcome and says what happened; `how` names the path taken.
fn finish(
    store: &mut Store,
    cx: &Cx<'_>,
    current: &Zone,
    outcome: Result<EditOutcome, EditError>,
    read: (Vec<PathBuf>, Vec<Source>),
    how: &str,
) -> Result<Loaded, String> {
    let (files, sources) = read;
    let name = &cx.zc.name;
    match outcome {
        Err(e) => Err(format!("zone {name}: {e}")),
        Ok(EditOutcome::Unchanged) => Ok(Loaded {
            zone: None,
            files,
            sources,
            message: format!(
                "zone {name}: unchanged (serial {}) ({how}, {})",
                current.serial(),
                cx.took()
            ),
        }),
        Ok(EditOutcome::New { zone, changeset }) => {
            commit_version(store, cx.zc, &changeset, &zone, TransferKind::Load, cx.now)?;
            let n = changeset.len().saturating_sub(2);
            Ok(Loaded {
                message: format!(
                    "zone {name}: serial {} -> {} ({n} record{} changed, {how}, {})",
                    changeset.from_serial,
                    changeset.to_serial,
                    if n == 1 { "" } else { "s" },
                    cx.took()
                ),
                zone: Some(zone),
                files,
                sources,
            })
        }
    }
}

fn record(store: &mut Store, zc: &ZoneConfig, kind: TransferKind, serial: u32, now: SystemTime) {
    let outcome = TransferOutcome {
        kind,
        at: now,
        serial: Some(serial),
        error: None,
    };
    if let Err(e) = store.record_transfer(&zc.name, &outcome) {
        tracing::warn!("zone {}: recording the {}: {e}", zc.name, kind.as_str());
    }
}

/// Commits the next version of a primary zone and its journal step in one transaction
/// (a file load and a dynamic update take the same path). Blocking: store thread.
pub(super) fn commit_version(
    store: &mut Store,
    zc: &ZoneConfig,
    changeset: &Changeset,
    zone: &Zone,
    kind: TransferKind,
    now: SystemTime,
) -> Result<(), String> {
    store
        .commit_changeset(changeset, zone)
        .map_err(|e| format!("zone {}: committing: {e}", zc.name))?;
    record(store, zc, kind, zone.serial(), now);
    Ok(())
}

/// Serves a committed version and tells the secondaries about it, in that order.
pub(super) fn publish(shared: &Shared, state: &ZoneState, zone: Arc<Zone>) {
    state.handle.publish(zone);
    announce(shared, state);
}

/// The start-up load. If the files still hold exactly what the stored version was loaded
/// from, that version is served without parsing them. Otherwise the files are loaded
/// against the stored version, so that an edit made while the node was down becomes one
/// journal step; if they do not load but a stored version exists, that one is served.
pub(super) fn initial_load(
    store: &mut Store,
    zc: &ZoneConfig,
    now: SystemTime,
) -> Result<Initial, String> {
    let reading = |e: crate::store::StoreError| format!("zone {}: reading the store: {e}", zc.name);
    let recorded = store
        .source(&zc.name)
        .map_err(reading)?
        .and_then(|blob| sources::decode(&blob));
    if let (Some(recorded), Some(file)) = (recorded, &zc.file)
        && sources::unchanged(&recorded, file)
        && let Some(zone) = store.load_zone(&zc.name).map_err(reading)?
    {
        // No snapshot is kept: the first edit after this start reloads in full (and
        // keeps one from then on).
        tracing::info!(
            "zone {}: files unchanged since serial {} was committed; serving it",
            zc.name,
            zone.serial()
        );
        let files = recorded.into_iter().map(|s| s.path).collect();
        return Ok(Initial {
            zone: Arc::new(zone),
            files,
            snapshot: None,
        });
    }
    let stored = store.load_zone(&zc.name).map_err(reading)?;
    let mut snapshot = None;
    match load_and_commit(store, zc, stored.as_ref(), &mut snapshot, now) {
        Ok(l) => {
            tracing::info!("{}", l.message);
            record_sources(store, zc, &l.sources);
            let zone = match (l.zone, stored) {
                (Some(z), _) => z,
                (None, Some(s)) => Arc::new(s),
                (None, None) => return Err(format!("zone {}: nothing loaded", zc.name)),
            };
            Ok(Initial {
                zone,
                files: l.files,
                snapshot,
            })
        }
        Err(e) => match stored {
            Some(s) => {
                tracing::warn!(
                    "{e}; serving the stored serial {} until the file is fixed",
                    s.serial()
                );
                Ok(Initial {
                    zone: Arc::new(s),
                    files: Vec::new(),
                    snapshot: None,
                })
            }
            None => Err(e),
        },
    }
}

/// What the start-up load serves, watches and keeps.
pub(super) struct Initial {
    pub zone: Arc<Zone>,
    pub files: Vec<PathBuf>,
    pub snapshot: Option<Snapshot>,
}

/// Records what the current version was loaded from (after its commit, or after a load
/// that found nothing to change). Only a faster next start depends on it.
fn record_sources(store: &mut Store, zc: &ZoneConfig, read: &[Source]) {
    if read.is_empty() {
        return;
    }
    if let Err(e) = store.set_source(&zc.name, &sources::encode(read)) {
        tracing::warn!("zone {}: recording its files' digests: {e}", zc.name);
    }
}

/// Sends NOTIFY for the zone's current version to its NS (except ourselves and the SOA
/// MNAME) and its `also-notify` list.
pub(super) fn announce(shared: &Shared, state: &ZoneState) {
    let Some(zone) = state.handle.current() else {
        return;
    };
    let zc = &state.config;
    let elsewhere = |name: &LowerName| shared.addresses_served(name);
    let (targets, unresolved) = notify_targets(
        &zone,
        &shared.own_ips,
        &zc.also_notify,
        shared.notify_port,
        &elsewhere,
    );
    if !unresolved.is_empty() {
        let names: Vec<String> = unresolved.iter().map(Name::to_string).collect();
        tracing::info!(
            "zone {}: serial {}: not notifying NS {} (no address in the zones this node \
             serves; list them in also-notify)",
            zc.name,
            zone.serial(),
            names.join(", ")
        );
    }
    let Some(soa) = zone.soa().records().next() else {
        return;
    };
    if targets.is_empty() {
        return;
    }
    let _ = shared.notify.send(NotifyCommand {
        zone: zc.name.clone(),
        soa,
        targets,
        delay: zc.notify_delay,
        key: shared.key(zc.tsig_key.as_ref()),
    });
}

/// Reloads once: load and commit on the blocking pool, then publish, then announce.
pub(super) async fn reload(
    shared: &Arc<Shared>,
    state: &Arc<ZoneState>,
    watch: Option<&WatchHandle>,
) -> Result<String, String> {
    let zc = state.config.clone();
    let current = state.handle.current();
    let now = SystemTime::now();
    let st = state.clone();
    let res = shared
        .with_store(move |store| {
            let mut snapshot = st.snapshot();
            let res = load_and_commit(store, &zc, current.as_deref(), &mut snapshot, now);
            if let Ok(l) = &res {
                record_sources(store, &zc, &l.sources);
            }
            Ok(res)
        })
        .await
        .map_err(|e| e.to_string())?;
    match &res {
        Ok(l) => state.set_last_reload(true, &l.message),
        Err(e) => state.set_last_reload(false, e),
    }
    match res {
        Ok(l) => {
            if let Some(z) = l.zone {
                publish(shared, state, z);
                tracing::info!("{}", l.message);
            } else {
                tracing::debug!("{}", l.message);
            }
            if let Some(w) = watch {
                w.set_files(state, &l.files);
            }
            Ok(l.message)
        }
        Err(e) => {
            match state.handle.current() {
                Some(z) => tracing::error!("{e}; still serving serial {}", z.serial()),
                None => tracing::error!("{e}"),
            }
            Err(e)
        }
    }
}

pub(super) async fn run(
    shared: Arc<Shared>,
    state: Arc<ZoneState>,
    mut rx: mpsc::UnboundedReceiver<ZoneEvent>,
    watch: Option<WatchHandle>,
) {
    let mut stop = shared.stop.subscribe();
    loop {
        let ev = tokio::select! {
            ev = rx.recv() => ev,
            _ = stop.wait_for(|s| *s) => return,
        };
        let Some(ev) = ev else { return };
        let mut replies = Vec::new();
        let mut deferred = Vec::new();
        match ev {
            ZoneEvent::Notify { .. } => continue,
            ZoneEvent::Reload { reply } => replies.extend(reply),
            ZoneEvent::Update(job) => {
                super::update::apply(&shared, &state, *job).await;
                continue;
            }
            ZoneEvent::FileChanged { complete } => {
                // Gather the burst of events one save makes.
                let mut done = complete;
                loop {
                    let wait = if done { SETTLE } else { DEBOUNCE };
                    match tokio::time::timeout(wait, rx.recv()).await {
                        Ok(Some(ZoneEvent::Reload { reply })) => replies.extend(reply),
                        Ok(Some(ZoneEvent::FileChanged { complete })) => done |= complete,
                        Ok(Some(ZoneEvent::Notify { .. })) => {}
                        // An update waits until the reload in progress is done, so that
                        // it applies to the version the file edit produced.
                        Ok(Some(ZoneEvent::Update(job))) => deferred.push(*job),
                        Ok(None) | Err(_) => break,
                    }
                }
            }
        }
        let r = reload(&shared, &state, watch.as_ref()).await;
        for reply in replies {
            let _ = reply.send(r.clone());
        }
        for job in deferred.drain(..) {
            super::update::apply(&shared, &state, job).await;
        }
    }
}

/// SIGHUP reloads every primary zone, as `rndc reload` does.
pub(super) async fn sighup(shared: Arc<Shared>) {
    use tokio::signal::unix::{SignalKind, signal};
    let Ok(mut hup) = signal(SignalKind::hangup()) else {
        tracing::warn!("cannot install the SIGHUP handler");
        return;
    };
    while hup.recv().await.is_some() {
        tracing::info!("SIGHUP: reloading every primary zone");
        for z in shared.zones.values() {
            let _ = z.events.send(ZoneEvent::Reload { reply: None });
        }
    }
}

#[cfg(test)]
#[path = "primary_tests.rs"]
mod tests;
