//! Incremental reload of a primary's zone file: a saved edit becomes a changeset by
//! re-parsing only the lines around it, not the whole file.
//!
//! A full load keeps a [`Snapshot`]: the main file's text, each included file's text,
//! and the parser's state at checkpoints: every 64 entries and on both sides of each
//! `$INCLUDE` and `$GENERATE`, always at the start of an entry's first line, where
//! lexing can restart. On a reload the new text is compared with the kept one and the
//! difference split into changed regions (`text`); each region grows to the checkpoints
//! around it, into a window (`windows`). Both versions of a window are parsed from its
//! first checkpoint's state (`$ORIGIN`, `$TTL` and kept includes included), and the new
//! one must end in a state from which the rest parses as before (otherwise the window
//! grows by a checkpoint, a few times). The records of the old and new windows then give
//! the changeset (`rrsets`), which goes through the same serial policy and `apply` as a
//! full reload's diff (`edit::finish_edit`).
//!
//! Whenever the windows alone cannot tell what a full reload would give,
//! [`Snapshot::plan`] says why ([`Fallback`]) and the caller reloads in full: a syntax
//! error, `$GENERATE` or a new `$INCLUDE` in a window, a changed include, NS, DNAME or
//! RRSIG changes, data at or below a delegation or DNAME or beside a CNAME, NS targets,
//! duplicate records, mixed TTLs, a rewrite of most of the file. A full load that leaves
//! a file the windows could not describe (repeated records, mixed TTLs) keeps no
//! snapshot ([`NotKept`]).
//!
//! Everything here is text in, changeset out; reading files and timing are the caller's.

mod rrsets;
mod text;
mod windows;

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use hickory_proto::rr::{LowerName, Name, Record, RecordType};
use thiserror::Error;

use super::Zone;
use super::diff::Changeset;
use super::load::Diagnostic;
use super::load::window::{Kept, ParseState};

/// How many times a window may grow by one checkpoint to find a point after which the
/// parser's state is the same as before.
const MAX_WIDEN: usize = 8;
/// Separate changed places in one save beyond which a full load is simpler.
const MAX_REGIONS: usize = 64;
/// Below this many bytes parsed, reading the changed lines is always worth it.
const BUDGET_FLOOR: usize = 1 << 20;

/// Where a parse can resume: the start of an entry's first line, and the state there.
#[derive(Debug, Clone)]
struct Checkpoint {
    offset: usize,
    line: usize,
    state: ParseState,
}

/// What a full load left for incremental reloads of one zone file. Its invariant: the
/// served version of the zone is this text loaded (the SOA serial aside, which the
/// serial policy may have changed).
#[derive(Debug, Clone)]
pub struct Snapshot {
    label: String,
    dir: PathBuf,
    /// The main file's bytes (valid UTF-8: they loaded).
    text: Vec<u8>,
    /// The buffer of the text before the last edit, handed out for reading the next
    /// one: a 1,000,000-record file is 22 MB, and a fresh buffer for each reload costs
    /// its page faults, and freeing the old one its unmapping, in every reload.
    spare: Vec<u8>,
    /// Each included file's text, by path as joined to its includer's directory.
    includes: Arc<HashMap<PathBuf, String>>,
    /// Ascending by offset; the first is at offset 0.
    checkpoints: Vec<Checkpoint>,
    /// The SOA record as the file writes it (serial included).
    file_soa: Record,
    ns_targets: HashSet<LowerName>,
    /// `BUDGET_FLOOR`; tests lower it.
    budget_floor: usize,
    /// The version the text loads to, when the served one has moved on without the
    /// file being reread: a dynamic update, which writes its RRsets back into the file.
    base: Option<Arc<Zone>>,
}

/// Why a full load leaves no snapshot: files for which a window cannot tell.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum NotKept {
    #[error("the file repeats a record")]
    Duplicates,
    #[error("the file gives the records of an RRset different TTLs")]
    MixedTtls,
    #[error("the zone has no SOA record")]
    NoSoa,
}

/// Why an edit needs a full reload.
#[derive(Debug, Clone, Error)]
pub enum Fallback {
    #[error("included file {} changed or cannot be read", .0.display())]
    Include(PathBuf),
    #[error("the edited lines hold a $GENERATE or an $INCLUDE of a new file (line {line})")]
    Directive { line: usize },
    #[error("an $INCLUDE was added or removed")]
    IncludesChanged,
    #[error("the edited lines do not parse ({0})")]
    Syntax(Box<Diagnostic>),
    #[error("the edited lines are not UTF-8")]
    NotUtf8,
    #[error("the parser's state after the edited lines differs (owner, origin or TTL)")]
    StateDiverges,
    #[error("the edit is too large to be worth reading line by line")]
    LargeEdit,
    #[error("{0} records at {1} changed")]
    Type(RecordType, Name),
    #[error("the SOA record was not replaced in place")]
    Soa,
    #[error("the file would repeat a {0} record at {1}")]
    Duplicate(RecordType, Name),
    #[error("the {0} records at {1} would have different TTLs")]
    MixedTtl(RecordType, Name),
    #[error("{0}")]
    Check(String),
    #[error("snapshot and zone disagree: {0}")]
    Inconsistent(&'static str),
}

/// An edit read off the changed lines (perhaps none: the same text still goes through
/// the serial policy, as a full reload's would).
#[derive(Debug)]
pub struct Edit {
    /// From the served version to the file's content; its new SOA and `to_serial` are
    /// the file's, for `edit::finish_edit` to apply the serial policy.
    pub changeset: Changeset,
    /// Warnings about the new lines (the full load would give them too).
    pub warnings: Vec<Diagnostic>,
    /// For [`Snapshot::accept`] once the edit is committed or found to change nothing.
    pub update: Update,
}

/// The snapshot's next state after an edit.
#[derive(Debug)]
pub struct Update {
    text: Vec<u8>,
    file_soa: Record,
    /// Per window, in order: its checkpoint indices, its new inner checkpoints, and the
    /// bytes and lines it added.
    windows: Vec<WindowUpdate>,
}

#[derive(Debug)]
struct WindowUpdate {
    start: usize,
    end: usize,
    inner: Vec<Checkpoint>,
    bytes: isize,
    lines: isize,
    end_state: Option<ParseState>,
}

impl Snapshot {
    /// The snapshot of a full load; `loaded` is the zone as loaded (the file's serial).
    pub fn new(kept: Kept, loaded: &Zone) -> Result<Snapshot, NotKept> {
        if kept.mixed_ttls {
            return Err(NotKept::MixedTtls);
        }
        if kept.in_zone_records != loaded.record_count() {
            return Err(NotKept::Duplicates);
        }
        let file_soa = loaded.soa().records().next().ok_or(NotKept::NoSoa)?;
        let lines: Vec<usize> = kept.marks.iter().map(|(l, _)| *l).collect();
        let offsets = text::offsets_of_lines(kept.text.as_bytes(), &lines);
        let checkpoints = kept
            .marks
            .into_iter()
            .zip(offsets)
            .filter_map(|((line, state), offset)| {
                Some(Checkpoint {
                    offset: offset?,
                    line,
                    state,
                })
            })
            .collect();
        Ok(Snapshot {
            label: kept.label,
            dir: kept.dir,
            text: kept.text.into_bytes(),
            spare: Vec::new(),
            includes: Arc::new(kept.includes.into_iter().collect()),
            checkpoints,
            file_soa,
            ns_targets: kept.ns_targets,
            budget_floor: BUDGET_FLOOR,
            base: None,
        })
    }

    /// The included files, in the order [`Snapshot::plan`] wants their texts.
    pub fn include_paths(&self) -> impl Iterator<Item = &Path> {
        self.includes.keys().map(PathBuf::as_path)
    }

    /// Roughly how much memory the snapshot holds (the texts dominate).
    pub fn approx_bytes(&self) -> usize {
        let names = self.ns_targets.len() * 64;
        let cps = self.checkpoints.len() * (std::mem::size_of::<Checkpoint>() + 128);
        let includes = self.includes.values().map(String::len).sum::<usize>();
        self.text.capacity() + self.spare.capacity() + includes + names + cps
    }

    /// The served version is about to become something other than what the text loads
    /// to (a dynamic update); `described` is the version it loads to, the one served
    /// until now. Until the next accepted edit, edits are planned against it.
    pub fn rebase(&mut self, described: Arc<Zone>) {
        if self.base.is_none() {
            self.base = Some(described);
        }
    }

    /// The version to plan against when it is not the served one (see `rebase`).
    pub fn base(&self) -> Option<Arc<Zone>> {
        self.base.clone()
    }

    /// An empty buffer to read the main file into, with room for a slightly larger
    /// file than the last one (give it back through [`Snapshot::plan`]).
    pub fn take_buffer(&mut self) -> Vec<u8> {
        let mut buf = std::mem::take(&mut self.spare);
        buf.clear();
        buf.reserve(self.text.len() + self.text.len() / 64 + 4096);
        buf
    }

    /// How a reload of the file reads against `current`, the version the kept text loads
    /// to (the served one, or [`Snapshot::base`] after an update): `text` is
    /// the main file now, `includes` the included files now (`None`: unreadable), in
    /// [`Snapshot::include_paths`] order. The same text gives an edit with no records.
    pub fn plan(
        &self,
        current: &Zone,
        text: Vec<u8>,
        includes: &[Option<String>],
    ) -> Result<Edit, Fallback> {
        if includes.len() != self.includes.len() {
            return Err(Fallback::Inconsistent("a different number of includes"));
        }
        for ((path, old), new) in self.includes.iter().zip(includes) {
            if new.as_deref() != Some(old.as_str()) {
                return Err(Fallback::Include(path.clone()));
            }
        }
        let regions = text::regions(&self.text, &text, MAX_REGIONS).ok_or(Fallback::LargeEdit)?;
        let wins = windows::windows(&self.checkpoints, &regions);
        // Parsing both versions of more than the file's size costs more than a full load.
        let budget = self.text.len().max(text.len()).max(self.budget_floor);
        let parsed = windows::parse_all(self, &text, wins, budget)?;
        let (mut old, mut new, mut warnings) = (Vec::new(), Vec::new(), Vec::new());
        let (mut old_inc, mut new_inc) = (Vec::new(), Vec::new());
        let mut updates = Vec::with_capacity(parsed.len());
        for p in parsed {
            old.extend(p.old);
            new.extend(p.new);
            old_inc.extend(p.old_includes);
            new_inc.extend(p.new_includes);
            warnings.extend(p.warnings);
            updates.push(WindowUpdate {
                start: p.start,
                end: p.end,
                inner: p.inner,
                bytes: p.delta_bytes,
                lines: p.delta_lines,
                end_state: p.end_state,
            });
        }
        // The files to watch stay the same.
        old_inc.sort();
        new_inc.sort();
        if old_inc != new_inc {
            return Err(Fallback::IncludesChanged);
        }
        let change = rrsets::window_change(current, &self.file_soa, &self.ns_targets, old, new)?;
        warnings.extend(change.warnings);
        Ok(Edit {
            changeset: change.changeset,
            warnings,
            update: Update {
                text,
                file_soa: change.file_soa,
                windows: updates,
            },
        })
    }

    /// Makes the snapshot describe the edited file, once the served version does too
    /// (the edit was committed, or it changed nothing the zone holds).
    pub fn accept(&mut self, u: Update) {
        let old = std::mem::take(&mut self.checkpoints);
        let inner: usize = u.windows.iter().map(|w| w.inner.len()).sum();
        let mut out = Vec::with_capacity(old.len() + inner);
        let mut windows = u.windows.into_iter().peekable();
        // Bytes and lines the windows so far added; old checkpoints before `skip` lie
        // inside a window; the state the checkpoint ending the last window takes.
        let (mut bytes, mut lines, mut skip, mut end_state) = (0isize, 0isize, 0, None);
        for (i, c) in old.into_iter().enumerate() {
            if i < skip {
                continue;
            }
            let (offset, line) = (c.offset, c.line);
            let mut state = end_state.take().unwrap_or(c.state);
            let at = |bytes, lines, state| Checkpoint {
                offset: offset.saturating_add_signed(bytes),
                line: line.saturating_add_signed(lines),
                state,
            };
            loop {
                let Some(w) = windows.next_if(|w| w.start == i) else {
                    out.push(at(bytes, lines, state));
                    break;
                };
                // A window starts here: the checkpoint stays as its start.
                out.push(at(bytes, lines, state.clone()));
                out.extend(w.inner);
                bytes += w.bytes;
                lines += w.lines;
                if w.end > i {
                    (skip, end_state) = (w.end, w.end_state);
                    break;
                }
                // An insertion right at this checkpoint: it also ends the window.
                if let Some(s) = w.end_state {
                    state = s;
                }
            }
        }
        self.checkpoints = out;
        self.spare = std::mem::replace(&mut self.text, u.text);
        self.file_soa = u.file_soa;
        self.base = None;
    }

    /// Checks every checkpoint against the text: at a line start, on the right line,
    /// and holding the state a parse from the previous one reaches. Tests only.
    #[cfg(test)]
    fn verify(&self) -> Result<(), String> {
        use crate::zone::load::window::resume_state;
        let first = self.checkpoints.first().ok_or("no checkpoints")?;
        if first.offset != 0 || first.line != 1 {
            return Err(format!(
                "first checkpoint at {}:{}",
                first.offset, first.line
            ));
        }
        for pair in self.checkpoints.windows(2) {
            let [a, b] = pair else { continue };
            let chunk = self.text.get(a.offset..b.offset).ok_or("out of the text")?;
            let chunk = std::str::from_utf8(chunk).map_err(|e| e.to_string())?;
            let lines = text::count_newlines(chunk.as_bytes());
            if !chunk.ends_with('\n') || a.line + lines != b.line {
                return Err(format!("checkpoint at line {} is misplaced", b.line));
            }
            let state = resume_state(chunk, &a.state, &self.dir)
                .ok_or_else(|| format!("lines {}..{} do not parse", a.line, b.line))?;
            if !state.same(&b.state) {
                return Err(format!(
                    "state at line {} differs: {:?} vs {:?}",
                    b.line, state, b.state
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
#[cfg(test)]
#[path = "tests_cases.rs"]
mod tests_cases;
