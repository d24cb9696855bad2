//! What an incremental reload needs from the loader: the parser's state between two
//! entries of the main file, a full load that keeps those states (and the text it read),
//! and a parse of a window of the main file resumed from such a state.
//!
//! Parsing is a function of the text and of the state at the start, and the lexer can
//! restart at any entry's `start_line`, so a window parsed from the state recorded there
//! yields exactly the records a full parse yields for those lines.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use hickory_proto::rr::{LowerName, Name, RData};

use super::directives;
use super::lexer::lex;
use super::parser::{FileCtx, MarkRule, Parser, include_path, is_directive, state_only_directive};
use super::{Diagnostic, LoadErrors, LoadedZone, ParsedRecord, Severity};

/// Entries between two regular checkpoints (tests size their files by it).
#[cfg(test)]
pub(crate) const MARK_EVERY: usize = super::parser::MARK_EVERY;

/// Everything that carries from one entry to the next (RFC 1035 §5.1: origin, previous
/// owner; RFC 2308 §4: `$TTL`; the previous record's TTL).
#[derive(Debug, Clone)]
pub struct ParseState {
    pub origin: Name,
    pub last_owner: Option<Name>,
    pub default_ttl: Option<u32>,
    pub last_ttl: Option<u32>,
}

impl ParseState {
    /// The state at the top of a zone's main file.
    pub fn initial(origin: &Name) -> Self {
        ParseState {
            origin: origin.clone(),
            last_owner: None,
            default_ttl: None,
            last_ttl: None,
        }
    }

    /// Equality with names compared case and all: an omitted owner is copied as written
    /// into the records that follow, so a case change is a change.
    pub fn same(&self, other: &ParseState) -> bool {
        self.same_owner(other)
            && self.origin.eq_case(&other.origin)
            && self.default_ttl == other.default_ttl
            && self.last_ttl == other.last_ttl
    }

    fn same_owner(&self, other: &ParseState) -> bool {
        match (&self.last_owner, &other.last_owner) {
            (Some(a), Some(b)) => a.eq_case(b),
            (None, None) => true,
            _ => false,
        }
    }
}

/// Whether parsing `next` (the text from a checkpoint to the next one) from `new` gives
/// what parsing it from `old`, the checkpoint's state, gave. Besides equal states, that
/// is when only the previous TTL differs while a `$TTL` is in force (it is then never
/// used), or when the previous owner differs too but a record with its own owner comes
/// before any record without one (`$ORIGIN`, `$TTL` and `$INCLUDE` leave the includer's
/// previous owner alone).
pub fn resumes_alike(next: &str, old: &ParseState, new: &ParseState) -> bool {
    if old.same(new) {
        return true;
    }
    if !old.origin.eq_case(&new.origin) || old.default_ttl != new.default_ttl {
        return false;
    }
    if old.last_ttl != new.last_ttl && old.default_ttl.is_none() {
        return false;
    }
    if old.same_owner(new) {
        return true;
    }
    let (entries, _) = lex(next);
    for e in &entries {
        if !is_directive(e) {
            return !e.owner_omitted;
        }
        let include = e.tokens.first().is_some_and(|t| t.is("$INCLUDE"));
        if !state_only_directive(e) && !include {
            return false;
        }
    }
    false
}

/// What a full load keeps for the incremental reloads that follow it.
#[derive(Debug, Clone)]
pub struct Kept {
    /// The main file as parsed.
    pub text: String,
    /// Each `$INCLUDE`d file (once per inclusion) with the text parsed from it.
    pub includes: Vec<(PathBuf, String)>,
    /// (line, state) at the entries of the main file `MarkRule` picks, the first one
    /// included.
    pub marks: Vec<(usize, ParseState)>,
    /// Records that passed the checks, before identical ones were merged: more than the
    /// zone's record count means the file repeats a record somewhere.
    pub in_zone_records: usize,
    /// The checks unified the TTLs of some RRset ("TTL set to prior TTL").
    pub mixed_ttls: bool,
    /// The target of every NS record: names whose address records the checks look at.
    pub ns_targets: HashSet<LowerName>,
    /// How diagnostics name the main file, and where its relative includes live.
    pub label: String,
    pub dir: PathBuf,
}

/// The records of a window and the state it ends in.
#[derive(Debug, Clone)]
pub struct WindowParse {
    /// Every record, out-of-zone ones included, in file order.
    pub records: Vec<ParsedRecord>,
    /// Warnings of the parse (errors make it fail).
    pub warnings: Vec<Diagnostic>,
    pub end: ParseState,
    /// (line, state) at the entries of the window `MarkRule` picks, the first included.
    pub marks: Vec<(usize, ParseState)>,
    /// The files the window's `$INCLUDE`s read.
    pub includes: Vec<PathBuf>,
}

/// Why a window could not be parsed on its own. The full load that follows reports the
/// details; these only say why it was needed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WindowError {
    /// A lexical or parse error; the first one.
    Syntax(Box<Diagnostic>),
    /// `$GENERATE`, or an `$INCLUDE` of a file the last full load did not read.
    Directive { line: usize },
}

/// Where a window is: the main file's label and directory, and the texts of the files
/// it may include (never read again).
pub struct WindowFile<'a> {
    pub label: &'a str,
    pub dir: &'a Path,
    pub includes: &'a Arc<HashMap<PathBuf, String>>,
}

/// Parses `text`, the lines of the main file from `first_line` on, as the loader would
/// parse them after reaching `state`.
pub fn parse_window(
    text: &str,
    first_line: usize,
    state: &ParseState,
    file: &WindowFile<'_>,
) -> Result<WindowParse, WindowError> {
    let (label, dir) = (file.label, file.dir);
    let shift = first_line.saturating_sub(1);
    let (mut entries, lex_errors) = lex(text);
    let mut p = Parser::new();
    p.default_ttl = state.default_ttl;
    p.last_ttl = state.last_ttl;
    p.include_texts = Some(file.includes.clone());
    let mut includes = Vec::new();
    let mut ctx = FileCtx {
        label: label.to_string(),
        dir: dir.to_path_buf(),
        origin: state.origin.clone(),
        last_owner: state.last_owner.clone(),
    };
    if let Some(e) = lex_errors.into_iter().next() {
        return Err(WindowError::Syntax(Box::new(Diagnostic {
            file: label.to_string(),
            line: e.line + shift,
            column: e.col,
            text: e.text,
            message: e.message,
            severity: Severity::Error,
        })));
    }
    let mut marks = Vec::new();
    let mut rule = MarkRule::default();
    for entry in &mut entries {
        entry.start_line += shift;
        for t in &mut entry.tokens {
            t.line += shift;
        }
        if rule.wants(entry) {
            marks.push((entry.start_line, p.state(&ctx)));
        }
        if !is_directive(entry) {
            p.record(entry, &mut ctx);
            continue;
        }
        // `$ORIGIN` and `$TTL` only change the state, which the caller compares where
        // the window ends; an `$INCLUDE` of a kept file is parsed from the kept text. A
        // new include and `$GENERATE` (up to a million records) are left to a full load.
        let first = entry.tokens.first();
        let included = match (first, entry.tokens.get(1)) {
            (Some(d), Some(arg)) if d.is("$INCLUDE") => {
                Some(include_path(Path::new(&arg.raw), dir))
            }
            _ => None,
        };
        match included {
            Some(path) if file.includes.contains_key(&path) => includes.push(path),
            None if state_only_directive(entry) => {}
            _ => {
                return Err(WindowError::Directive {
                    line: entry.start_line,
                });
            }
        }
        directives::directive(&mut p, entry, &mut ctx);
    }
    let end = p.state(&ctx);
    let mut warnings = Vec::new();
    for d in p.out.diagnostics {
        match d.severity {
            Severity::Error => return Err(WindowError::Syntax(Box::new(d))),
            Severity::Warning => warnings.push(d),
        }
    }
    Ok(WindowParse {
        records: p.out.records,
        warnings,
        end,
        marks,
        includes,
    })
}

/// Loads a zone file as `load_zone_file` does, keeping what incremental reloads need.
pub fn load_zone_file_keeping(
    path: &Path,
    origin: &Name,
) -> Result<(LoadedZone, Kept), LoadErrors> {
    load_zone_file_keeping_each(path, origin, &mut |_| {})
}

/// [`load_zone_file_keeping`], handing each record of the version to `each` as
/// `load_zone_file_each` does.
pub fn load_zone_file_keeping_each(
    path: &Path,
    origin: &Name,
    each: super::EachRecord<'_>,
) -> Result<(LoadedZone, Kept), LoadErrors> {
    let main = super::parse_main(path, origin, Default::default(), true)?;
    let mut p = main.parser;
    let ns_targets = ns_targets(&p.out.records);
    let mut marks = p.marks.take().unwrap_or_default();
    // Blank and comment lines before the first entry change nothing: resume from the top.
    match marks.first_mut() {
        Some(first) => first.0 = 1,
        None => marks.push((1, ParseState::initial(origin))),
    }
    let includes = p.kept_includes.take().unwrap_or_default();
    let finished = super::finish_counted(p.out, origin, &main.label, each)?;
    Ok((
        finished.loaded,
        Kept {
            text: main.text,
            includes,
            marks,
            in_zone_records: finished.in_zone_records,
            mixed_ttls: finished.mixed_ttls,
            ns_targets,
            label: main.label,
            dir: main.dir,
        },
    ))
}

/// The NS targets among parsed records.
pub(super) fn ns_targets(records: &[ParsedRecord]) -> HashSet<LowerName> {
    records
        .iter()
        .filter_map(|r| match &r.record.data {
            RData::NS(ns) => Some(LowerName::new(&ns.0)),
            _ => None,
        })
        .collect()
}

/// The state after parsing `text` from `state`, directives and includes allowed, or
/// `None` if it has errors: lets tests check a kept checkpoint against the text.
#[cfg(test)]
pub fn resume_state(text: &str, state: &ParseState, dir: &Path) -> Option<ParseState> {
    let mut p = Parser::new();
    p.default_ttl = state.default_ttl;
    p.last_ttl = state.last_ttl;
    let mut ctx = FileCtx {
        label: "resume".into(),
        dir: dir.to_path_buf(),
        origin: state.origin.clone(),
        last_owner: state.last_owner.clone(),
    };
    p.parse_text(text, &mut ctx);
    let errors = p
        .out
        .diagnostics
        .iter()
        .any(|d| d.severity == Severity::Error);
    (!errors).then(|| p.state(&ctx))
}
