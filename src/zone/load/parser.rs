//! The master-file parser proper: entries to records, with the state RFC 1035 §5 and
//! RFC 2308 §4 define (current origin, previous owner, default and previous TTL).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use hickory_proto::rr::{DNSClass, Name, RData, Record};

use super::directives;
use super::fields::{parse_name, parse_ttl};
use super::lexer::{Entry, Token, lex};
use super::rdata::parse_rdata;
use super::window::ParseState;
use super::wire;
use super::{Diagnostic, ParseOutput, ParsedRecord, Severity};

/// State that lives for one file; `$INCLUDE` gets a fresh one and the includer's is
/// restored afterwards (RFC 1035 §5.1: origin and current owner revert).
pub(super) struct FileCtx {
    pub label: String,
    pub dir: PathBuf,
    pub origin: Name,
    pub last_owner: Option<Name>,
}

pub(super) struct Parser {
    /// `$TTL`, which BIND keeps across `$INCLUDE`.
    pub default_ttl: Option<u32>,
    /// The previous record's TTL, the default when there is no `$TTL` (RFC 1035).
    pub last_ttl: Option<u32>,
    pub out: ParseOutput,
    /// Files being read, innermost last, to detect `$INCLUDE` loops.
    pub stack: Vec<PathBuf>,
    /// Text to use instead of a file's content, by canonical path: an editor validates
    /// its result before anything is written.
    pub overlay: HashMap<PathBuf, String>,
    /// When set, the state at the main file's entries `MarkRule` picks, with the line
    /// each starts on: where an incremental reload can resume parsing.
    pub marks: Option<Vec<(usize, ParseState)>>,
    /// When set, every included file's path and the text that was parsed from it, so
    /// that a later reload can tell whether it changed.
    pub kept_includes: Option<Vec<(PathBuf, String)>>,
    /// When set, included files are taken from here (by path as joined) and never read:
    /// an incremental reload re-parses an `$INCLUDE` from the text a full load kept.
    pub include_texts: Option<Arc<HashMap<PathBuf, String>>>,
}

/// Entries between two marks; a reload re-parses about twice this many.
pub(super) const MARK_EVERY: usize = 64;

/// Which entries get a mark: every `MARK_EVERY`th, and those on both sides of an
/// `$INCLUDE` or `$GENERATE`, so that an edit near one does not need it re-read.
#[derive(Default)]
pub(super) struct MarkRule {
    count: usize,
    after_special: bool,
}

impl MarkRule {
    pub fn wants(&mut self, entry: &Entry) -> bool {
        let special = is_directive(entry) && !state_only_directive(entry);
        let want = self.count.is_multiple_of(MARK_EVERY) || special || self.after_special;
        self.count += 1;
        self.after_special = special;
        want
    }
}

/// True for a `$` directive entry (as opposed to a record).
pub(super) fn is_directive(entry: &Entry) -> bool {
    matches!(entry.tokens.first(), Some(t) if !entry.owner_omitted && t.raw.starts_with('$') && !t.quoted)
}

/// `$ORIGIN` and `$TTL`, which only change the parser's state: an incremental reload
/// parses them in the lines it re-reads, but not `$INCLUDE` or `$GENERATE`.
pub(super) fn state_only_directive(entry: &Entry) -> bool {
    let name = entry.tokens.first().map(|t| t.raw.to_ascii_uppercase());
    is_directive(entry) && matches!(name.as_deref(), Some("$ORIGIN" | "$TTL"))
}

impl Parser {
    pub fn new() -> Self {
        Parser {
            default_ttl: None,
            last_ttl: None,
            out: ParseOutput::default(),
            stack: Vec::new(),
            overlay: HashMap::new(),
            marks: None,
            kept_includes: None,
            include_texts: None,
        }
    }

    /// Everything that carries from one entry to the next.
    pub fn state(&self, ctx: &FileCtx) -> ParseState {
        ParseState {
            origin: ctx.origin.clone(),
            last_owner: ctx.last_owner.clone(),
            default_ttl: self.default_ttl,
            last_ttl: self.last_ttl,
        }
    }

    pub fn diag(&mut self, sev: Severity, ctx: &FileCtx, tok: &Token, message: impl Into<String>) {
        self.diag_at(sev, ctx, tok.line, tok.col, tok.written(), message);
    }

    pub fn diag_at(
        &mut self,
        severity: Severity,
        ctx: &FileCtx,
        line: usize,
        column: usize,
        text: String,
        message: impl Into<String>,
    ) {
        self.out.diagnostics.push(Diagnostic {
            file: ctx.label.clone(),
            line,
            column,
            text,
            message: message.into(),
            severity,
        });
    }

    pub fn parse_text(&mut self, text: &str, ctx: &mut FileCtx) {
        let (entries, lex_errors) = lex(text);
        let mut lex_errors = lex_errors.into_iter().peekable();
        let main = self.stack.len() <= 1;
        let mut rule = MarkRule::default();
        for entry in entries {
            if main && self.marks.is_some() && rule.wants(&entry) {
                let mark = (entry.start_line, self.state(ctx));
                if let Some(m) = self.marks.as_mut() {
                    m.push(mark);
                }
            }
            let line = entry.tokens.first().map_or(0, |t| t.line);
            while let Some(e) = lex_errors.next_if(|e| e.line <= line) {
                self.diag_at(Severity::Error, ctx, e.line, e.col, e.text, e.message);
            }
            if is_directive(&entry) {
                directives::directive(self, &entry, ctx);
            } else {
                self.record(&entry, ctx);
            }
        }
        for e in lex_errors {
            self.diag_at(Severity::Error, ctx, e.line, e.col, e.text, e.message);
        }
    }

    /// One resource record entry: `[owner] [ttl] [class] type rdata` with TTL and class
    /// in either order (RFC 1035 §5.1).
    pub fn record(&mut self, entry: &Entry, ctx: &mut FileCtx) {
        let toks = &entry.tokens;
        let Some(first) = toks.first() else { return };
        let mut i = 0;
        let owner = if entry.owner_omitted {
            match &ctx.last_owner {
                Some(o) => o.clone(),
                None => {
                    self.diag(Severity::Error, ctx, first, "no current owner name");
                    return;
                }
            }
        } else {
            i = 1;
            match parse_name(&first.raw, &ctx.origin) {
                Ok(n) => n,
                Err(m) => {
                    self.diag(Severity::Error, ctx, first, format!("bad owner name: {m}"));
                    return;
                }
            }
        };
        ctx.last_owner = Some(owner.clone());

        let mut ttl = None;
        let mut class = None;
        let rtype = loop {
            let Some(t) = toks.get(i) else {
                let last = toks.last().unwrap_or(first);
                self.diag(Severity::Error, ctx, last, "missing record type");
                return;
            };
            i += 1;
            if ttl.is_none() && t.raw.as_bytes().first().is_some_and(u8::is_ascii_digit) {
                match parse_ttl(&t.raw) {
                    Some(v) => ttl = Some(self.max_ttl(ctx, t, v)),
                    None => {
                        self.diag(Severity::Error, ctx, t, "bad TTL");
                        return;
                    }
                }
                continue;
            }
            if class.is_none()
                && let Some(c) = parse_class(&t.raw)
            {
                if c != DNSClass::IN {
                    self.diag(
                        Severity::Error,
                        ctx,
                        t,
                        format!("class {c} is not supported, only IN"),
                    );
                    return;
                }
                class = Some(c);
                continue;
            }
            match wire::parse_type(&t.raw) {
                Some(rt) if !t.quoted => break (rt, t),
                _ => {
                    self.diag(Severity::Error, ctx, t, "unknown RR type");
                    return;
                }
            }
        };
        let (rtype, type_tok) = rtype;
        let rtoks = toks.get(i..).unwrap_or_default();
        let rdata = match parse_rdata(rtype, rtoks, &ctx.origin) {
            Ok(r) => r,
            Err(e) => {
                let text = match rtoks.get(e.index) {
                    Some(t) => t.written(),
                    None => rtoks
                        .iter()
                        .map(Token::written)
                        .collect::<Vec<_>>()
                        .join(" "),
                };
                let at = rtoks.get(e.index).or(rtoks.last()).unwrap_or(type_tok);
                let (line, col) = (at.line, at.col);
                let text = if text.is_empty() {
                    type_tok.written()
                } else {
                    text
                };
                self.diag_at(Severity::Error, ctx, line, col, text, e.message);
                return;
            }
        };
        let ttl = match ttl.or(self.default_ttl).or(self.last_ttl) {
            Some(t) => t,
            None => match &rdata {
                RData::SOA(soa) => {
                    self.diag(
                        Severity::Warning,
                        ctx,
                        first,
                        "no TTL specified; using SOA MINTTL instead",
                    );
                    soa.minimum
                }
                _ => {
                    self.diag(Severity::Error, ctx, first, "no TTL specified");
                    return;
                }
            },
        };
        self.last_ttl = Some(ttl);
        let mut record = Record::from_rdata(owner, ttl, rdata);
        record.dns_class = DNSClass::IN;
        self.out.records.push(ParsedRecord {
            record,
            file: ctx.label.clone(),
            line: first.line,
            column: first.col,
            text: if entry.owner_omitted {
                type_tok.written()
            } else {
                first.written()
            },
        });
    }

    /// RFC 2181 §8: a TTL above 2^31-1 is treated as zero (BIND warns likewise).
    pub fn max_ttl(&mut self, ctx: &FileCtx, tok: &Token, ttl: u32) -> u32 {
        if ttl > 0x7fff_ffff {
            let msg = format!("TTL {ttl} > MAXTTL, setting TTL to 0");
            self.diag(Severity::Warning, ctx, tok, msg);
            return 0;
        }
        ttl
    }

    /// Reads and parses an included file. Relative paths are against the includer.
    pub fn include(&mut self, path: &Path, origin: Name, ctx: &FileCtx, at: &Token) {
        let path = include_path(path, &ctx.dir);
        let canon = match &self.include_texts {
            Some(_) => path.clone(),
            None => std::fs::canonicalize(&path).unwrap_or_else(|_| path.clone()),
        };
        if self.stack.contains(&canon) {
            self.diag(Severity::Error, ctx, at, "$INCLUDE loop");
            return;
        }
        let read = match (&self.include_texts, self.overlay.get(&canon)) {
            (Some(texts), _) => texts.get(&path).cloned().ok_or_else(|| Diagnostic {
                file: path.display().to_string(),
                line: 0,
                column: 0,
                text: String::new(),
                message: "not read by the last full load".into(),
                severity: Severity::Error,
            }),
            (None, Some(t)) => Ok(t.clone()),
            (None, None) => read_text(&path),
        };
        let text = match read {
            Ok(t) => t,
            Err(mut d) => {
                if d.line == 0 {
                    // Unreadable: point at the $INCLUDE itself.
                    d = Diagnostic {
                        file: ctx.label.clone(),
                        line: at.line,
                        column: at.col,
                        ..d
                    };
                }
                d.text = at.written();
                self.out.diagnostics.push(d);
                return;
            }
        };
        self.out.files.push(path.clone());
        self.out.sources.push(super::Source::of(&path, &text));
        let mut inner = FileCtx {
            label: path.display().to_string(),
            dir: path.parent().map(Path::to_path_buf).unwrap_or_default(),
            origin,
            last_owner: None,
        };
        self.stack.push(canon);
        self.parse_text(&text, &mut inner);
        self.stack.pop();
        if let Some(kept) = self.kept_includes.as_mut() {
            kept.push((path, text));
        }
    }
}

/// Where an `$INCLUDE` argument points: relative paths are against the includer's
/// directory.
pub(super) fn include_path(path: &Path, dir: &Path) -> PathBuf {
    if path.is_absolute() {
        path.to_path_buf()
    } else {
        dir.join(path)
    }
}

/// Reads a master file. Text must be UTF-8 (bytes outside it are written as `\DDD`); the
/// error points at the first offending byte.
pub(super) fn read_text(path: &Path) -> Result<String, Diagnostic> {
    let label = path.display().to_string();
    let diag = |line, column, message: String| Diagnostic {
        file: label.clone(),
        line,
        column,
        text: String::new(),
        message,
        severity: Severity::Error,
    };
    let bytes = std::fs::read(path)
        .map_err(|e| diag(0, 0, format!("cannot read {}: {e}", path.display())))?;
    String::from_utf8(bytes).map_err(|e| {
        let good = e
            .as_bytes()
            .get(..e.utf8_error().valid_up_to())
            .unwrap_or_default();
        let good = String::from_utf8_lossy(good);
        let line = good.matches('\n').count() + 1;
        let col = good.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
        diag(
            line,
            col,
            "not UTF-8 text; write such bytes as \\DDD escapes".into(),
        )
    })
}

/// A class mnemonic or `CLASSnnn` (RFC 3597 §5).
fn parse_class(raw: &str) -> Option<DNSClass> {
    let up = raw.to_ascii_uppercase();
    match up.as_str() {
        "IN" => Some(DNSClass::IN),
        "CH" | "CHAOS" => Some(DNSClass::CH),
        "HS" => Some(DNSClass::HS),
        "NONE" => Some(DNSClass::NONE),
        "ANY" => Some(DNSClass::ANY),
        "CS" => Some(DNSClass::Unknown(2)),
        _ => up
            .strip_prefix("CLASS")
            .and_then(|n| n.parse::<u16>().ok())
            .map(DNSClass::from),
    }
}
