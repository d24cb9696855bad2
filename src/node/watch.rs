//! Watching primary zone files and their `$INCLUDE`s.
//!
//! Directories are watched, not files: an editor that saves by writing a temporary file
//! and renaming it over the original replaces the inode, and a watch on the old inode
//! would never fire again. Every event under a watched directory is matched by path
//! against the files of each zone, and the zone's task debounces the burst.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use hickory_proto::rr::LowerName;
use notify::event::{AccessKind, AccessMode, ModifyKind, RenameMode};
use notify::{EventKind, RecommendedWatcher, RecursiveMode, Watcher};

use super::{Shared, ZoneEvent, ZoneState};

/// A path with its directory resolved, so that `zones/a.zone`, `./zones/a.zone` and the
/// path an event reports compare equal.
fn normalize(p: &Path) -> PathBuf {
    let dir = match p.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let dir = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf());
    match p.file_name() {
        Some(name) => dir.join(name),
        None => dir,
    }
}

const CLOSE_WRITE: EventKind = EventKind::Access(AccessKind::Close(AccessMode::Write));

struct Inner {
    watcher: Mutex<Option<RecommendedWatcher>>,
    /// File -> the zones that read it.
    files: Mutex<HashMap<PathBuf, HashSet<LowerName>>>,
    dirs: Mutex<HashSet<PathBuf>>,
}

/// Shared with the primary tasks, which update a zone's files after each load.
#[derive(Clone)]
pub struct WatchHandle(Arc<Inner>);

pub struct FileWatcher {
    handle: WatchHandle,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl FileWatcher {
    pub fn new(shared: &Arc<Shared>) -> notify::Result<FileWatcher> {
        let inner = Arc::new(Inner {
            watcher: Mutex::new(None),
            files: Mutex::new(HashMap::new()),
            dirs: Mutex::new(HashSet::new()),
        });
        let weak = Arc::downgrade(&inner);
        let shared = shared.clone();
        let watcher = notify::recommended_watcher(move |ev: notify::Result<notify::Event>| {
            let Ok(ev) = ev else { return };
            if matches!(
                ev.kind,
                EventKind::Access(_) if ev.kind != CLOSE_WRITE
            ) {
                return;
            }
            let Some(inner) = weak.upgrade() else { return };
            // zone -> whether an event says its writer is done.
            let mut hit: HashMap<LowerName, bool> = HashMap::new();
            {
                let files = lock(&inner.files);
                for (i, p) in ev.paths.iter().enumerate() {
                    let Some(zones) = files.get(&normalize(p)) else {
                        continue;
                    };
                    // Closed after writing, or renamed into place (the destination of a
                    // rename, not its source): the file is whole.
                    let complete = match ev.kind {
                        CLOSE_WRITE => true,
                        EventKind::Modify(ModifyKind::Name(RenameMode::To)) => true,
                        EventKind::Modify(ModifyKind::Name(RenameMode::Both)) => i == 1,
                        _ => false,
                    };
                    for z in zones {
                        *hit.entry(z.clone()).or_default() |= complete;
                    }
                }
            }
            for (z, complete) in hit {
                if let Some(state) = shared.zones.get(&z) {
                    let _ = state.events.send(ZoneEvent::FileChanged { complete });
                }
            }
        })?;
        *lock(&inner.watcher) = Some(watcher);
        Ok(FileWatcher {
            handle: WatchHandle(inner),
        })
    }

    pub fn handle(&self) -> WatchHandle {
        self.handle.clone()
    }

    /// Starts watching a zone's files (the main file until a load reports its includes).
    pub fn watch_zone(&self, state: &ZoneState, files: &[PathBuf]) {
        let mut all: Vec<PathBuf> = state.config.file.iter().cloned().collect();
        all.extend(files.iter().cloned());
        self.handle.set_files(state, &all);
    }
}

impl Drop for FileWatcher {
    fn drop(&mut self) {
        lock(&self.handle.0.watcher).take();
    }
}

impl WatchHandle {
    /// Replaces the set of files a zone depends on (its includes may have changed).
    pub fn set_files(&self, state: &ZoneState, files: &[PathBuf]) {
        let zone = LowerName::new(&state.config.name);
        let mut wanted: HashSet<PathBuf> = files.iter().map(|p| normalize(p)).collect();
        if let Some(f) = &state.config.file {
            wanted.insert(normalize(f));
        }
        {
            let mut map = lock(&self.0.files);
            for (path, zones) in map.iter_mut() {
                if !wanted.contains(path) {
                    zones.remove(&zone);
                }
            }
            map.retain(|_, z| !z.is_empty());
            for p in &wanted {
                map.entry(p.clone()).or_default().insert(zone.clone());
            }
        }
        let mut dirs = lock(&self.0.dirs);
        let mut watcher = lock(&self.0.watcher);
        let Some(w) = watcher.as_mut() else { return };
        for p in &wanted {
            let Some(dir) = p.parent() else { continue };
            if dirs.contains(dir) {
                continue;
            }
            match w.watch(dir, RecursiveMode::NonRecursive) {
                Ok(()) => {
                    dirs.insert(dir.to_path_buf());
                }
                Err(e) => tracing::warn!("cannot watch {}: {e}", dir.display()),
            }
        }
    }
}
