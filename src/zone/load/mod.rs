//! Our own RFC 1035 master-file loader, accepting what BIND accepts.
//!
//! hickory's zone parser cannot be used (no positions, wrong `@` in RDATA, relative
//! `$ORIGIN`, `\DDD`, RFC 3597), so this module tokenizes and tracks the master-file
//! state itself and reuses hickory only for per-type RDATA and the wire decoder. Errors
//! are collected, never fatal mid-file, so one run reports every problem with its
//! `file:line:column`, like named-checkzone.

mod directives;
mod fields;
mod lexer;
mod parser;
mod rdata;
pub mod window;
pub(crate) mod wire;

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};

use hickory_proto::rr::{Name, Record};
use thiserror::Error;

use super::{Zone, ZoneBuilder, ZoneError};

pub use fields::{parse_name, parse_ttl};
pub use lexer::{Token, lex};
pub use rdata::{RdataError, parse_rdata};
pub use wire::{parse_type, type_name};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    Error,
    Warning,
}

/// One finding, located at the offending text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub file: String,
    pub line: usize,
    pub column: usize,
    /// The offending text as written.
    pub text: String,
    pub message: String,
    pub severity: Severity,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sev = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        // Line 0 means the file as a whole (unreadable): no position, no text.
        if self.line == 0 {
            return write!(f, "{}: {sev}: {}", self.file, self.message);
        }
        write!(
            f,
            "{}:{}:{}: {sev}: {}",
            self.file, self.line, self.column, self.message
        )?;
        if !self.text.is_empty() {
            write!(f, " (near `{}`)", self.text)?;
        }
        Ok(())
    }
}

/// A record with where it was written, so semantic checks can point at it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedRecord {
    pub record: Record,
    pub file: String,
    pub line: usize,
    pub column: usize,
    /// The owner as written (or the type when the owner was omitted).
    pub text: String,
}

impl ParsedRecord {
    pub fn diagnostic(&self, severity: Severity, message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            file: self.file.clone(),
            line: self.line,
            column: self.column,
            text: self.text.clone(),
            message: message.into(),
            severity,
        }
    }
}

/// Records and diagnostics of a parse, before semantic checks.
#[derive(Debug, Clone, Default)]
pub struct ParseOutput {
    pub records: Vec<ParsedRecord>,
    pub diagnostics: Vec<Diagnostic>,
    /// Every file read through `$INCLUDE`.
    pub files: Vec<PathBuf>,
    /// Every file read (the main one first), with a digest of the text parsed.
    pub sources: Vec<Source>,
}

/// A file a load read, with the SHA-256 of exactly the text it parsed: a primary that
/// finds the same digests at start knows its stored version is what the files say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    pub path: PathBuf,
    pub sha256: [u8; 32],
}

impl Source {
    pub fn of(path: &Path, text: &str) -> Source {
        let d = ring::digest::digest(&ring::digest::SHA256, text.as_bytes());
        let mut sha256 = [0u8; 32];
        sha256.copy_from_slice(d.as_ref());
        Source {
            path: path.to_path_buf(),
            sha256,
        }
    }
}

/// A zone that loaded, with its warnings and the files it came from (for watching).
#[derive(Debug, Clone)]
pub struct LoadedZone {
    pub zone: Zone,
    pub warnings: Vec<Diagnostic>,
    pub files: Vec<PathBuf>,
    /// The files read, with digests (see [`Source`]).
    pub sources: Vec<Source>,
}

/// Every error (and warning) of a load that failed.
#[derive(Debug, Clone, Error)]
pub struct LoadErrors {
    pub errors: Vec<Diagnostic>,
    pub warnings: Vec<Diagnostic>,
}

impl fmt::Display for LoadErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, d) in self.errors.iter().chain(&self.warnings).enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{d}")?;
        }
        Ok(())
    }
}

/// Sizes the record list for a record per line: growing a vector of a million records
/// by doubling copies it over and over.
fn reserve_records(p: &mut parser::Parser, text: &str) {
    let lines = text.bytes().filter(|&b| b == b'\n').count() + 1;
    p.out.records.reserve(lines);
}

/// Parses master-file text into records without semantic checks (for `zone set/del` and
/// the loader itself). `include_dir` resolves relative `$INCLUDE` paths.
pub fn parse_records(
    text: &str,
    origin: &Name,
    file_label: &str,
    include_dir: &Path,
) -> ParseOutput {
    let mut p = parser::Parser::new();
    reserve_records(&mut p, text);
    let mut ctx = parser::FileCtx {
        label: file_label.to_string(),
        dir: include_dir.to_path_buf(),
        origin: origin.clone(),
        last_owner: None,
    };
    p.parse_text(text, &mut ctx);
    p.out
}

/// Loads and checks a zone file.
pub fn load_zone_file(path: &Path, origin: &Name) -> Result<LoadedZone, LoadErrors> {
    load_zone_file_overlay(path, origin, HashMap::new())
}

/// A record of the version being built, handed over while it is at hand (see
/// [`load_zone_file_each`]).
pub type EachRecord<'a> = &'a mut (dyn FnMut(&Record) + Send);

/// [`load_zone_file`], handing every record that goes into the version to `each`, in file
/// order, on the thread that builds the version: a caller that stores the version can
/// encode it meanwhile instead of walking the finished version again.
pub fn load_zone_file_each(
    path: &Path,
    origin: &Name,
    each: EachRecord<'_>,
) -> Result<LoadedZone, LoadErrors> {
    load_file(path, origin, HashMap::new(), each)
}

/// Loads and checks a zone file as if the files named in `overlay` (by canonical path)
/// had the given text: how an edit is validated before it is written.
pub fn load_zone_file_overlay(
    path: &Path,
    origin: &Name,
    overlay: HashMap<PathBuf, String>,
) -> Result<LoadedZone, LoadErrors> {
    load_file(path, origin, overlay, &mut |_| {})
}

fn load_file(
    path: &Path,
    origin: &Name,
    overlay: HashMap<PathBuf, String>,
    each: EachRecord<'_>,
) -> Result<LoadedZone, LoadErrors> {
    let main = parse_main(path, origin, overlay, false)?;
    finish(main.parser.out, origin, &main.label, each)
}

/// The main file parsed (includes and all), before the checks.
struct MainParse {
    parser: parser::Parser,
    text: String,
    label: String,
    dir: PathBuf,
}

/// Reads and parses a main file; `keep` also records what incremental reloads need.
fn parse_main(
    path: &Path,
    origin: &Name,
    overlay: HashMap<PathBuf, String>,
    keep: bool,
) -> Result<MainParse, LoadErrors> {
    let label = path.display().to_string();
    let canon = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    let text = match overlay.get(&canon) {
        Some(t) => t.clone(),
        None => parser::read_text(path).map_err(|d| LoadErrors {
            errors: vec![d],
            warnings: Vec::new(),
        })?,
    };
    let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
    let mut p = parser::Parser::new();
    p.overlay = overlay;
    if keep {
        p.marks = Some(Vec::new());
        p.kept_includes = Some(Vec::new());
    }
    p.stack.push(canon);
    p.out.sources.push(Source::of(path, &text));
    reserve_records(&mut p, &text);
    let mut ctx = parser::FileCtx {
        label: label.clone(),
        dir: dir.clone(),
        origin: origin.clone(),
        last_owner: None,
    };
    p.parse_text(&text, &mut ctx);
    p.out.files.insert(0, path.to_path_buf());
    Ok(MainParse {
        parser: p,
        text,
        label,
        dir,
    })
}

/// Loads and checks zone text; `file_label` names it in diagnostics.
pub fn load_zone_str(
    text: &str,
    origin: &Name,
    file_label: &str,
    include_dir: &Path,
) -> Result<LoadedZone, LoadErrors> {
    finish(
        parse_records(text, origin, file_label, include_dir),
        origin,
        file_label,
        &mut |_| {},
    )
}

fn finish(
    out: ParseOutput,
    origin: &Name,
    label: &str,
    each: EachRecord<'_>,
) -> Result<LoadedZone, LoadErrors> {
    finish_counted(out, origin, label, each).map(|f| f.loaded)
}

/// A load that passed, with what incremental reloads need to know about it.
struct Finished {
    loaded: LoadedZone,
    in_zone_records: usize,
    mixed_ttls: bool,
}

/// Below this many records a load checks and builds on one thread.
const PARALLEL_RECORDS: usize = 20_000;

fn finish_counted(
    out: ParseOutput,
    origin: &Name,
    label: &str,
    each: EachRecord<'_>,
) -> Result<Finished, LoadErrors> {
    let ParseOutput {
        records,
        diagnostics,
        files,
        sources,
    } = out;
    // The checks and the build only read the records, so they run side by side.
    let (found, built) = if records.len() >= PARALLEL_RECORDS {
        std::thread::scope(|s| {
            let builder = std::thread::Builder::new()
                .name("zone-build".into())
                .spawn_scoped(s, || build(origin, &records, each));
            let found = super::check::findings(origin, &records, label);
            let built = match builder {
                Ok(h) => h
                    .join()
                    .unwrap_or_else(|p| std::panic::resume_unwind(p))
                    .map_err(|e| e.to_string()),
                Err(e) => Err(format!("cannot start a thread to build the zone: {e}")),
            };
            (found, built)
        })
    } else {
        (
            super::check::findings(origin, &records, label),
            build(origin, &records, each).map_err(|e| e.to_string()),
        )
    };
    drop(records);
    let mixed_ttls = found
        .diagnostics
        .iter()
        .any(|d| d.message.starts_with(super::check::PRIOR_TTL));
    let mut errors = Vec::new();
    let mut warnings = Vec::new();
    for d in diagnostics.into_iter().chain(found.diagnostics) {
        match d.severity {
            Severity::Error => errors.push(d),
            Severity::Warning => warnings.push(d),
        }
    }
    if !errors.is_empty() {
        return Err(LoadErrors { errors, warnings });
    }
    match built {
        Ok((zone, in_zone_records)) => Ok(Finished {
            loaded: LoadedZone {
                zone,
                warnings,
                files,
                sources,
            },
            in_zone_records,
            mixed_ttls,
        }),
        Err(e) => Err(LoadErrors {
            errors: vec![Diagnostic {
                file: label.to_string(),
                line: 0,
                column: 0,
                text: String::new(),
                message: e,
                severity: Severity::Error,
            }],
            warnings,
        }),
    }
}

/// The version the records make. Out-of-zone records are left out (the checks warn about
/// them), and each RRset takes its first TTL, as the checks unify them.
#[allow(clippy::result_large_err)]
/// Also returns how many records were in the zone, duplicates counted: a reload that
/// keeps state needs to know whether the file repeats a record.
fn build(
    origin: &Name,
    records: &[ParsedRecord],
    each: EachRecord<'_>,
) -> Result<(Zone, usize), ZoneError> {
    let mut b = ZoneBuilder::with_capacity(origin.clone(), records.len());
    let mut in_zone = 0usize;
    for r in records {
        match b.push(r.record.clone()) {
            Ok(()) => {
                in_zone += 1;
                each(&r.record);
            }
            Err(ZoneError::OutOfZone { .. }) => {}
            Err(e) => return Err(e),
        }
    }
    Ok((b.finish()?, in_zone))
}

#[cfg(test)]
mod tests;
