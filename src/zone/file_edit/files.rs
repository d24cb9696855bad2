//! A zone's files as lines, with every literal record located: which file, which lines,
//! which tokens, and the `$ORIGIN` in effect. This is the map the editor works on; the
//! records' meaning is re-derived here with the loader's own field parsers, and the
//! loader proper validates whatever the editor produces.

use std::cell::OnceCell;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

use hickory_proto::rr::{LowerName, Name, RData, RecordType};

use super::EditError;
use crate::zone::load::{Token, lex, parse_name, parse_rdata, parse_ttl, parse_type};

/// One file of the zone, split into lines that keep their terminators.
#[derive(Debug, Clone)]
pub(crate) struct SourceFile {
    pub path: PathBuf,
    pub canon: PathBuf,
    pub lines: Vec<String>,
    /// The content read from disk (`None` when overlaid), to notice a concurrent change.
    pub disk: Option<String>,
    /// The origin in effect after the file's last line.
    pub end_origin: Name,
    /// The last `$TTL` value in the file, for new records' default TTL.
    pub last_ttl_directive: Option<u32>,
}

impl SourceFile {
    pub fn newline(&self) -> &'static str {
        match self.lines.first() {
            Some(l) if l.ends_with("\r\n") => "\r\n",
            _ => "\n",
        }
    }
}

/// A record entry written literally in a file.
#[derive(Debug, Clone)]
pub(crate) struct Entry {
    pub file: usize,
    /// Zero-based line indices, inclusive: a parenthesised record spans several.
    pub first: usize,
    pub last: usize,
    pub tokens: Vec<Token>,
    pub owner_omitted: bool,
    /// The origin in effect where the entry is written.
    pub origin: Name,
    pub owner: Name,
    pub rtype: RecordType,
    /// Parsed on first use: an edit looks at the few entries it touches, and a large
    /// zone's other entries are never parsed twice (the loader already did).
    rdata: OnceCell<Option<RData>>,
    /// Index in `tokens` of the TTL and of the type; the RDATA follows the type.
    pub ttl_idx: Option<usize>,
    pub type_idx: usize,
    /// A `$TTL` was in effect (the loader keeps it across files); without one, a record
    /// with no TTL of its own takes the previous record's (RFC 1035 §5.1).
    pub ttl_directive_seen: bool,
}

impl Entry {
    pub fn key(&self) -> (LowerName, RecordType) {
        (LowerName::new(&self.owner), self.rtype)
    }

    /// The entry's RDATA (None only for text the loader would have refused).
    pub fn rdata(&self) -> Option<&RData> {
        self.rdata
            .get_or_init(|| parse_rdata(self.rtype, self.rdata_tokens(), &self.origin).ok())
            .as_ref()
    }

    pub fn rdata_tokens(&self) -> &[Token] {
        self.tokens.get(self.type_idx + 1..).unwrap_or_default()
    }
}

/// Every file and every literal record entry of a zone, in the loader's reading order.
#[derive(Debug, Clone)]
pub(crate) struct ZoneFiles {
    pub files: Vec<SourceFile>,
    pub entries: Vec<Entry>,
    ttl_seen: bool,
}

pub(crate) fn split_lines(text: &str) -> Vec<String> {
    text.split_inclusive('\n').map(str::to_string).collect()
}

/// Reads the main file and, recursively, its `$INCLUDE`s.
/// `overlay` gives text to use instead of a file's content, by canonical path.
pub(crate) fn read_zone_files(
    main: &Path,
    origin: &Name,
    overlay: &HashMap<PathBuf, String>,
) -> Result<ZoneFiles, EditError> {
    let mut zf = ZoneFiles {
        files: Vec::new(),
        entries: Vec::new(),
        ttl_seen: false,
    };
    walk(&mut zf, main, origin.clone(), overlay, 0)?;
    Ok(zf)
}

fn walk(
    zf: &mut ZoneFiles,
    path: &Path,
    origin: Name,
    overlay: &HashMap<PathBuf, String>,
    depth: usize,
) -> Result<(), EditError> {
    if depth > 20 {
        return Err(EditError::Unsupported(format!(
            "{}: $INCLUDE nested too deeply",
            path.display()
        )));
    }
    let canon = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    let (text, disk) = match overlay.get(&canon) {
        Some(t) => (t.clone(), None),
        None => {
            let t = std::fs::read_to_string(path).map_err(|e| EditError::Io {
                path: path.to_path_buf(),
                source: e,
            })?;
            (t.clone(), Some(t))
        }
    };
    let lines = split_lines(&text);
    let idx = zf.files.len();
    zf.files.push(SourceFile {
        path: path.to_path_buf(),
        canon,
        lines: lines.clone(),
        disk,
        end_origin: origin.clone(),
        last_ttl_directive: None,
    });
    let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
    let mut origin = origin;
    let mut last_owner: Option<Name> = None;
    let (entries, _) = lex(&text);
    let bad = |tok: &Token, what: &str| {
        EditError::Unsupported(format!(
            "{}:{}:{}: {what}",
            path.display(),
            tok.line,
            tok.col
        ))
    };
    for entry in entries {
        let Some(first) = entry.tokens.first() else {
            continue;
        };
        if !entry.owner_omitted && !first.quoted && first.raw.starts_with('$') {
            let arg = entry.tokens.get(1);
            match first.raw.to_ascii_uppercase().as_str() {
                "$ORIGIN" => {
                    let a = arg.ok_or_else(|| bad(first, "$ORIGIN without a name"))?;
                    origin = parse_name(&a.raw, &origin).map_err(|m| bad(a, &m))?;
                }
                "$TTL" => {
                    zf.files[idx].last_ttl_directive = arg.and_then(|a| parse_ttl(&a.raw));
                    zf.ttl_seen = true;
                }
                "$INCLUDE" => {
                    let a = arg.ok_or_else(|| bad(first, "$INCLUDE without a file"))?;
                    let inc_origin = match entry.tokens.get(2) {
                        Some(o) => parse_name(&o.raw, &origin).map_err(|m| bad(o, &m))?,
                        None => origin.clone(),
                    };
                    let p = Path::new(&a.raw);
                    let p = if p.is_absolute() {
                        p.to_path_buf()
                    } else {
                        dir.join(p)
                    };
                    walk(zf, &p, inc_origin, overlay, depth + 1)?;
                }
                // $GENERATE records are not literal; edits touching them are refused
                // by the caller, which sees them missing from `entries`.
                _ => {}
            }
            continue;
        }
        let owner = if entry.owner_omitted {
            match &last_owner {
                Some(o) => o.clone(),
                None => return Err(bad(first, "no current owner name")),
            }
        } else {
            parse_name(&first.raw, &origin).map_err(|m| bad(first, &m))?
        };
        last_owner = Some(owner.clone());
        let mut i = usize::from(!entry.owner_omitted);
        let mut ttl_idx = None;
        let (type_idx, rtype) = loop {
            let t = entry
                .tokens
                .get(i)
                .ok_or_else(|| bad(first, "missing record type"))?;
            if ttl_idx.is_none() && t.raw.as_bytes().first().is_some_and(u8::is_ascii_digit) {
                ttl_idx = Some(i);
            } else if !(t.is("IN") || t.is("CLASS1")) {
                let rt = parse_type(&t.raw).ok_or_else(|| bad(t, "unknown RR type"))?;
                break (i, rt);
            }
            i += 1;
        };
        let first_line = first.line.saturating_sub(1);
        let last_line = entry_end(&lines, first_line);
        zf.entries.push(Entry {
            file: idx,
            first: first_line,
            last: last_line,
            tokens: entry.tokens,
            owner_omitted: entry.owner_omitted,
            origin: origin.clone(),
            owner,
            rtype,
            rdata: OnceCell::new(),
            ttl_idx,
            type_idx,
            ttl_directive_seen: zf.ttl_seen,
        });
    }
    zf.files[idx].end_origin = origin;
    Ok(())
}

/// The last line of the entry starting on line `first`: where its parentheses close.
fn entry_end(lines: &[String], first: usize) -> usize {
    let mut depth = 0usize;
    for (i, line) in lines.iter().enumerate().skip(first) {
        let mut chars = line.chars();
        let mut in_quote = false;
        while let Some(c) = chars.next() {
            match c {
                '\\' => {
                    chars.next();
                }
                '"' => in_quote = !in_quote,
                ';' if !in_quote => break,
                '(' if !in_quote => depth += 1,
                ')' if !in_quote => depth = depth.saturating_sub(1),
                _ => {}
            }
        }
        if depth == 0 {
            return i;
        }
    }
    lines.len().saturating_sub(1)
}

/// `name` as written relative to `origin`: `@`, a relative name, or an absolute one.
pub(crate) fn relativize(name: &Name, origin: &Name) -> String {
    if name == origin {
        return "@".into();
    }
    if !origin.is_root() && origin.zone_of(name) {
        let keep = usize::from(name.num_labels() - origin.num_labels());
        if let Ok(rel) = Name::from_labels(name.iter().take(keep)) {
            let mut rel = rel;
            rel.set_fqdn(false);
            let s = rel.to_string();
            // Only a form that reads back to the same name.
            if parse_name(&s, origin).is_ok_and(|n| n.eq_case(name)) {
                return s;
            }
        }
    }
    let mut abs = name.clone();
    abs.set_fqdn(true);
    abs.to_string()
}
