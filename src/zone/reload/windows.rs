//! From changed regions to parsed windows: each region grows to the checkpoints around
//! it, overlapping windows merge, and each window is parsed in both versions from its
//! first checkpoint's state. A window whose new version does not end in the state the
//! old one ended in grows by a checkpoint (merging into the next window if it reaches
//! it), a few times at most.

use std::path::PathBuf;

use super::text::{self, Region};
use super::{Checkpoint, Fallback, MAX_WIDEN, Snapshot};
use crate::zone::load::window::{ParseState, WindowError, WindowFile, parse_window, resumes_alike};
use crate::zone::load::{Diagnostic, ParsedRecord};

/// Checkpoint indices `start..end` (`end` may be the number of checkpoints: the end of
/// the file) and how many bytes the edit adds inside.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Window {
    pub start: usize,
    pub end: usize,
    pub delta: isize,
}

/// Both versions of one window, parsed.
#[derive(Debug)]
pub(super) struct Parsed {
    pub start: usize,
    pub end: usize,
    pub old: Vec<ParsedRecord>,
    pub new: Vec<ParsedRecord>,
    /// The files `$INCLUDE`d in the old and in the new version.
    pub old_includes: Vec<PathBuf>,
    pub new_includes: Vec<PathBuf>,
    pub warnings: Vec<Diagnostic>,
    /// The new version's checkpoints strictly inside the window (new text offsets).
    pub inner: Vec<Checkpoint>,
    pub delta_bytes: isize,
    pub delta_lines: isize,
    /// The state the new version reaches at the end checkpoint, when it differs from
    /// the kept one in what the entry there does not use.
    pub end_state: Option<ParseState>,
}

/// The windows covering `regions`, merged where they overlap.
pub(super) fn windows(checkpoints: &[Checkpoint], regions: &[Region]) -> Vec<Window> {
    let mut out: Vec<Window> = Vec::new();
    for r in regions {
        let start = checkpoints
            .partition_point(|c| c.offset <= r.old.start)
            .saturating_sub(1);
        let end = checkpoints.partition_point(|c| c.offset < r.old.end);
        let delta = r.new.len() as isize - r.old.len() as isize;
        match out.last_mut() {
            Some(w) if start < w.end => {
                w.end = w.end.max(end);
                w.delta += delta;
            }
            _ => out.push(Window { start, end, delta }),
        }
    }
    out
}

/// Parses every window; `budget` bounds the bytes parsed (both versions) before a full
/// load is the better deal.
pub(super) fn parse_all(
    snap: &Snapshot,
    new_text: &[u8],
    mut wins: Vec<Window>,
    budget: usize,
) -> Result<Vec<Parsed>, Fallback> {
    let mut out = Vec::with_capacity(wins.len());
    // Bytes and lines the windows so far added.
    let mut before = (0isize, 0isize);
    let mut spent = 0usize;
    let mut k = 0;
    while let Some(w) = wins.get(k).cloned() {
        let mut w = w;
        let mut widened = 0;
        let parsed = loop {
            if let Some(p) = parse_one(snap, new_text, &w, before, (&mut spent, budget))? {
                break p;
            }
            if w.end >= snap.checkpoints.len() || widened == MAX_WIDEN {
                return Err(Fallback::StateDiverges);
            }
            widened += 1;
            w.end += 1;
            // Swallow the windows the grown one now reaches.
            while let Some(next) = wins.get(k + 1).filter(|n| n.start < w.end).cloned() {
                w.end = w.end.max(next.end);
                w.delta += next.delta;
                wins.remove(k + 1);
            }
        };
        before.0 += parsed.delta_bytes;
        before.1 += parsed.delta_lines;
        out.push(parsed);
        k += 1;
    }
    Ok(out)
}

/// One window, `before` (bytes, lines) after the old position in the new text; `None`
/// when the new version does not end where parsing resumes as before. `spent` counts
/// the bytes parsed so far, which may not pass `budget`.
fn parse_one(
    snap: &Snapshot,
    new_text: &[u8],
    w: &Window,
    before: (isize, isize),
    (spent, budget): (&mut usize, usize),
) -> Result<Option<Parsed>, Fallback> {
    let inconsistent = Fallback::Inconsistent;
    let c = snap
        .checkpoints
        .get(w.start)
        .ok_or(inconsistent("no checkpoint"))?;
    let new_start = c.offset.checked_add_signed(before.0);
    let new_start = new_start.ok_or(inconsistent("window"))?;
    let new_line = c.line.saturating_add_signed(before.1);
    let end = snap.checkpoints.get(w.end);
    let (old_end, new_end) = match end {
        Some(e) => {
            let new_end = e.offset.checked_add_signed(before.0 + w.delta);
            (e.offset, new_end.ok_or(inconsistent("window"))?)
        }
        None => (snap.text.len(), new_text.len()),
    };
    // The checkpoint must stay at a line start (its line is unchanged, but the region
    // before it may end in the middle of its predecessor).
    let at_line_start = new_end == 0 || new_text.get(new_end - 1) == Some(&b'\n');
    if end.is_some() && !at_line_start {
        return Ok(None);
    }
    let (Some(old_w), Some(new_w)) = (
        snap.text.get(c.offset..old_end),
        new_text.get(new_start..new_end),
    ) else {
        return Ok(None);
    };
    *spent += old_w.len() + new_w.len();
    if *spent > budget {
        return Err(Fallback::LargeEdit);
    }
    // Only the lines parsed need checking: the rest is the old text, which loaded, and
    // the windows start after a newline, which no multi-byte character contains.
    let old_w = std::str::from_utf8(old_w).map_err(|_| inconsistent("the kept text"))?;
    let new_w = std::str::from_utf8(new_w).map_err(|_| Fallback::NotUtf8)?;
    let file = WindowFile {
        label: &snap.label,
        dir: &snap.dir,
        includes: &snap.includes,
    };
    let parse = |w: &str, line: usize| {
        parse_window(w, line, &c.state, &file).map_err(|e| match e {
            WindowError::Syntax(d) => Fallback::Syntax(d),
            WindowError::Directive { line } => Fallback::Directive { line },
        })
    };
    let old_parse = match parse(old_w, c.line) {
        Err(Fallback::Syntax(_)) => return Err(inconsistent("the kept text does not parse")),
        r => r?,
    };
    let new_parse = parse(new_w, new_line)?;
    let mut end_state = None;
    if let Some(e) = end {
        if !old_parse.end.same(&e.state) {
            return Err(inconsistent("the kept checkpoints do not match the text"));
        }
        if !new_parse.end.same(&e.state) {
            let next = snap
                .checkpoints
                .get(w.end + 1)
                .map_or(snap.text.len(), |n| n.offset);
            let next = snap.text.get(e.offset..next).unwrap_or_default();
            let next = std::str::from_utf8(next).unwrap_or_default();
            if !resumes_alike(next, &e.state, &new_parse.end) {
                return Ok(None);
            }
            end_state = Some(new_parse.end);
        }
    }
    let starts = text::line_starts(new_w.as_bytes());
    let inner = new_parse
        .marks
        .into_iter()
        .skip(1)
        .filter_map(|(line, state)| {
            let rel = starts.get(line.checked_sub(new_line)?)?;
            Some(Checkpoint {
                offset: new_start + rel,
                line,
                state,
            })
        })
        .collect();
    let lines = |w: &str| text::count_newlines(w.as_bytes()) as isize;
    let len = |w: &str| w.len() as isize;
    Ok(Some(Parsed {
        start: w.start,
        end: w.end,
        old: old_parse.records,
        new: new_parse.records,
        old_includes: old_parse.includes,
        new_includes: new_parse.includes,
        warnings: new_parse.warnings,
        inner,
        delta_bytes: len(new_w) - len(old_w),
        end_state,
        delta_lines: lines(new_w) - lines(old_w),
    }))
}
