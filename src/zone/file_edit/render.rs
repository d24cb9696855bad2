//! Turning wanted RRsets into new file text: which lines are kept, rewritten in place
//! (token by token where the shape allows, so comments inside parentheses survive),
//! deleted, or added after the last record of their owner.

use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::path::Path;

use hickory_proto::rr::{LowerName, Name, RData, RecordType};

use super::files::{Entry, relativize};
use super::{EditError, Key, ZoneEditor};
use crate::zone::load::{Token, lex, parse_name, parse_rdata, parse_ttl, type_name};
use crate::zone::print::rdata_text;

#[derive(Debug, Clone)]
enum Action {
    Delete,
    /// New RDATA, and a TTL to write explicitly when the RRset's TTL changes.
    Rewrite {
        rdata: RData,
        ttl: Option<u32>,
    },
}

#[derive(Debug, Clone, Copy)]
enum Anchor {
    After(usize),
    EndOfMain,
}

/// New text for every file that changes, by file index.
pub(super) fn render(
    ed: &ZoneEditor,
    wanted: &BTreeMap<Key, (Name, u32, Vec<RData>)>,
) -> Result<Vec<(usize, String)>, EditError> {
    let entries = &ed.files.entries;
    let mut actions: HashMap<usize, Action> = HashMap::new();
    let mut inserts: Vec<(Anchor, Name, u32, RecordType, RData)> = Vec::new();
    for (key, (name, ttl, rdata)) in wanted {
        let current = ed.zone.node(&key.0).and_then(|n| n.get(key.1));
        let mine: Vec<usize> = (0..entries.len())
            .filter(|&i| entries[i].key() == *key)
            .collect();
        if let Some(cur) = current {
            for r in &cur.rdata {
                if !mine.iter().any(|&i| entries[i].rdata() == Some(r)) {
                    return Err(EditError::Unsupported(format!(
                        "{} {} is not written literally in the files (from $GENERATE?); edit it by hand",
                        cur.name,
                        type_name(cur.rtype)
                    )));
                }
            }
        }
        let ttl_changed = current.is_none_or(|c| c.ttl != *ttl);
        let mut unclaimed: Vec<&RData> = rdata.iter().collect();
        let mut spare = Vec::new();
        for &i in &mine {
            match unclaimed
                .iter()
                .position(|r| entries[i].rdata() == Some(*r))
            {
                Some(p) => {
                    let claimed = unclaimed.remove(p);
                    if ttl_changed {
                        let rdata = claimed.clone();
                        actions.insert(
                            i,
                            Action::Rewrite {
                                rdata,
                                ttl: Some(*ttl),
                            },
                        );
                    }
                }
                None => spare.push(i),
            }
        }
        let mut spare = spare.into_iter();
        let mut left = Vec::new();
        for r in unclaimed {
            match spare.next() {
                Some(i) => {
                    let ttl = ttl_changed.then_some(*ttl);
                    actions.insert(
                        i,
                        Action::Rewrite {
                            rdata: r.clone(),
                            ttl,
                        },
                    );
                }
                None => left.push(r),
            }
        }
        for i in spare {
            actions.insert(i, Action::Delete);
        }
        if !left.is_empty() {
            // After the RRset's last line, else the owner's last line, else at the end.
            let last_of = |same: &dyn Fn(&Entry) -> bool| {
                (0..entries.len()).rev().find(|&i| same(&entries[i]))
            };
            let anchor = last_of(&|e| e.key() == *key)
                .or_else(|| last_of(&|e| LowerName::new(&e.owner) == key.0))
                .map_or(Anchor::EndOfMain, Anchor::After);
            for r in left {
                inserts.push((anchor, name.clone(), *ttl, key.1, r.clone()));
            }
        }
    }

    pin_inherited_ttls(ed, &mut actions, &inserts);

    let mut out = Vec::new();
    for (fi, file) in ed.files.files.iter().enumerate() {
        let nl = file.newline();
        let mut replace: HashMap<usize, (usize, Vec<String>)> = HashMap::new();
        let mut after: BTreeMap<usize, Vec<String>> = BTreeMap::new();
        // An omitted owner is inherited from the previous record of the same file; when
        // that record goes, the first survivor of the chain must name its owner.
        let mut source_removed = false;
        for (i, e) in entries.iter().enumerate().filter(|(_, e)| e.file == fi) {
            let deleted = matches!(actions.get(&i), Some(Action::Delete));
            let needs_owner = e.owner_omitted && source_removed && !deleted;
            if !e.owner_omitted || !deleted {
                source_removed = deleted;
            }
            if deleted {
                replace.insert(e.first, (e.last, Vec::new()));
            } else if needs_owner || actions.contains_key(&i) {
                let lines = render_entry(e, &file.lines, actions.get(&i), needs_owner, nl)?;
                replace.insert(e.first, (e.last, lines));
            }
        }
        for (anchor, name, ttl, rtype, rdata) in &inserts {
            let (key, reference, origin) = match anchor {
                Anchor::After(i) => match entries.get(*i) {
                    Some(e) if e.file == fi => (e.last, Some(e), &e.origin),
                    _ => continue,
                },
                Anchor::EndOfMain if fi == 0 => {
                    let last = entries.iter().rev().find(|e| e.file == 0);
                    (usize::MAX, last, &file.end_origin)
                }
                Anchor::EndOfMain => continue,
            };
            let line = new_line(
                reference,
                &file.lines,
                name,
                origin,
                *ttl,
                *rtype,
                rdata,
                nl,
            )?;
            after.entry(key).or_default().push(line);
        }
        if replace.is_empty() && after.is_empty() {
            continue;
        }
        let mut text = String::new();
        let mut i = 0;
        while let Some(line) = file.lines.get(i) {
            let last = match replace.get(&i) {
                Some((last, lines)) => {
                    lines.iter().for_each(|l| text.push_str(l));
                    *last
                }
                None => {
                    text.push_str(line);
                    i
                }
            };
            if let Some(lines) = after.get(&last) {
                ensure_newline(&mut text, nl);
                lines.iter().for_each(|l| text.push_str(l));
            }
            i = last + 1;
        }
        if let Some(lines) = after.get(&usize::MAX) {
            ensure_newline(&mut text, nl);
            lines.iter().for_each(|l| text.push_str(l));
        }
        if text != file.lines.concat() {
            out.push((fi, text));
        }
    }
    Ok(out)
}

/// Without `$TTL`, a record with no TTL of its own takes the previous record's. When
/// the record before it changes (deleted, new TTL, lines added after it), its TTL is
/// written out so that it keeps the one it had.
fn pin_inherited_ttls(
    ed: &ZoneEditor,
    actions: &mut HashMap<usize, Action>,
    inserts: &[(Anchor, Name, u32, RecordType, RData)],
) {
    let entries = &ed.files.entries;
    for (i, e) in entries.iter().enumerate().skip(1) {
        if e.ttl_idx.is_some() || e.ttl_directive_seen {
            continue;
        }
        let prev_changed = match actions.get(&(i - 1)) {
            Some(Action::Delete) | Some(Action::Rewrite { ttl: Some(_), .. }) => true,
            _ => inserts
                .iter()
                .any(|(a, ..)| matches!(a, Anchor::After(p) if *p == i - 1)),
        };
        let ttl = ed
            .zone
            .node(&e.key().0)
            .and_then(|n| n.get(e.rtype))
            .map(|s| s.ttl);
        let (true, Some(ttl)) = (prev_changed, ttl) else {
            continue;
        };
        match actions.get_mut(&i) {
            Some(Action::Delete) | Some(Action::Rewrite { ttl: Some(_), .. }) => {}
            Some(Action::Rewrite { ttl: t, .. }) => *t = Some(ttl),
            None => {
                let Some(rdata) = e.rdata().cloned() else {
                    continue;
                };
                actions.insert(
                    i,
                    Action::Rewrite {
                        rdata,
                        ttl: Some(ttl),
                    },
                );
            }
        }
    }
}

fn ensure_newline(text: &mut String, nl: &str) {
    if !text.is_empty() && !text.ends_with('\n') {
        text.push_str(nl);
    }
}

fn char_to_byte(line: &str, col: usize) -> usize {
    line.char_indices()
        .nth(col.saturating_sub(1))
        .map_or(line.len(), |(b, _)| b)
}

fn owner_prefix(owner: &str, ws: &str) -> String {
    if ws.chars().all(|c| c == ' ') {
        if ws.len() > owner.len() {
            format!("{owner}{}", &ws[owner.len()..])
        } else {
            format!("{owner} ")
        }
    } else {
        format!("{owner}{ws}")
    }
}

/// The lines of one kept entry after its edits.
fn render_entry(
    e: &Entry,
    lines: &[String],
    action: Option<&Action>,
    needs_owner: bool,
    nl: &str,
) -> Result<Vec<String>, EditError> {
    let mut out: Vec<String> = lines
        .get(e.first..=e.last)
        .map(<[String]>::to_vec)
        .unwrap_or_default();
    // (line offset, column, length in chars, new text)
    let mut subs: Vec<(usize, usize, usize, String)> = Vec::new();
    let owner = relativize(&e.owner, &e.origin);
    let line_of = |t: &Token| t.line.saturating_sub(1).saturating_sub(e.first);
    if needs_owner && let Some(t) = e.tokens.first() {
        let ws: String = out
            .first()
            .map(|l| l.chars().take(t.col.saturating_sub(1)).collect())
            .unwrap_or_default();
        subs.push((
            line_of(t),
            1,
            t.col.saturating_sub(1),
            owner_prefix(&owner, &ws),
        ));
    }
    if let Some(Action::Rewrite { rdata, ttl }) = action {
        if let Some(ttl) = ttl {
            match e.ttl_idx.and_then(|i| e.tokens.get(i)) {
                Some(t) if parse_ttl(&t.raw) != Some(*ttl) => {
                    subs.push((line_of(t), t.col, t.raw.chars().count(), ttl.to_string()));
                }
                Some(_) => {}
                None => {
                    let at = usize::from(!e.owner_omitted);
                    if let Some(t) = e.tokens.get(at) {
                        subs.push((line_of(t), t.col, 0, format!("{ttl} ")));
                    }
                }
            }
        }
        if Some(rdata) != e.rdata() {
            let old = e.rdata_tokens();
            let new = rdata_tokens(e.rtype, rdata, &e.origin, Some(old))?;
            if new.len() == old.len() {
                for (t, n) in old.iter().zip(&new) {
                    if t.written() != *n {
                        subs.push((line_of(t), t.col, t.written().chars().count(), n.clone()));
                    }
                }
            } else if let (Some(a), Some(b)) = (old.first(), old.last())
                && a.line == b.line
            {
                let len = b.col + b.written().chars().count() - a.col;
                subs.push((line_of(a), a.col, len, new.join(" ")));
            } else {
                // A multi-line record whose shape changes: written anew on one line.
                let ttl = ttl.or_else(|| {
                    e.ttl_idx
                        .and_then(|i| e.tokens.get(i))
                        .and_then(|t| parse_ttl(&t.raw))
                });
                let lead = if e.owner_omitted && !needs_owner {
                    None
                } else {
                    Some(owner.as_str())
                };
                let mut line = String::new();
                match lead {
                    Some(o) => line.push_str(o),
                    None => line.push('\t'),
                }
                if let Some(t) = ttl {
                    line.push_str(&format!(" {t}"));
                }
                line.push_str(&format!(" IN {} {}{nl}", type_name(e.rtype), new.join(" ")));
                return Ok(vec![line]);
            }
        }
    }
    subs.sort_by_key(|s| std::cmp::Reverse((s.0, s.1)));
    for (lo, col, len, text) in subs {
        if let Some(line) = out.get_mut(lo) {
            let start = char_to_byte(line, col);
            let end = char_to_byte(line, col + len);
            line.replace_range(start..end, &text);
        }
    }
    Ok(out)
}

/// RDATA as tokens, keeping each old token (or a relative name) wherever it still reads
/// back to the same value, so an in-place edit changes only what differs.
fn rdata_tokens(
    rtype: RecordType,
    rdata: &RData,
    origin: &Name,
    old: Option<&[Token]>,
) -> Result<Vec<String>, EditError> {
    let toks = |text: &str| -> Vec<Token> {
        lex(text)
            .0
            .into_iter()
            .next()
            .map(|e| e.tokens)
            .unwrap_or_default()
    };
    let ok = |cur: &[String]| {
        parse_rdata(rtype, &toks(&cur.join(" ")), origin).is_ok_and(|r| r == *rdata)
    };
    let mut cur: Vec<String> = toks(&rdata_text(rtype, rdata))
        .iter()
        .map(Token::written)
        .collect();
    if !ok(&cur) {
        return Err(EditError::Unsupported(format!(
            "no text form for this {} record",
            type_name(rtype)
        )));
    }
    let old = old.filter(|o| o.len() == cur.len());
    for i in 0..cur.len() {
        let mut candidates = Vec::new();
        if let Some(t) = old.and_then(|o| o.get(i)) {
            candidates.push(t.written());
        }
        if cur[i].ends_with('.')
            && let Ok(n) = parse_name(&cur[i], &Name::root())
        {
            candidates.push(relativize(&n, origin));
        }
        for c in candidates {
            if c == cur[i] {
                break;
            }
            let keep = std::mem::replace(&mut cur[i], c);
            if ok(&cur) {
                break;
            }
            cur[i] = keep;
        }
    }
    Ok(cur)
}

/// A new record line, laid out like the record it follows when that one is a simple line.
#[allow(clippy::too_many_arguments)]
fn new_line(
    reference: Option<&Entry>,
    lines: &[String],
    name: &Name,
    origin: &Name,
    ttl: u32,
    rtype: RecordType,
    rdata: &RData,
    nl: &str,
) -> Result<String, EditError> {
    let rd = rdata_tokens(rtype, rdata, origin, None)?.join(" ");
    let owner = relativize(name, origin);
    let simple = reference.filter(|e| e.first == e.last);
    let ref_line = simple.and_then(|e| lines.get(e.first));
    let mut fields: Vec<(String, Option<usize>)> = vec![(owner, Some(1))];
    let col = |i: Option<usize>| {
        simple
            .and_then(|e| i.and_then(|i| e.tokens.get(i)))
            .map(|t| t.col)
    };
    let class_idx = simple.and_then(|e| {
        (0..e.type_idx).find(|&i| {
            e.tokens
                .get(i)
                .is_some_and(|t| t.is("IN") || t.is("CLASS1"))
        })
    });
    fields.push((ttl.to_string(), col(simple.and_then(|e| e.ttl_idx))));
    if class_idx.is_some() || simple.is_none() {
        fields.push(("IN".into(), col(class_idx)));
    }
    fields.push((type_name(rtype), col(simple.map(|e| e.type_idx))));
    fields.push((rd, col(simple.map(|e| e.type_idx + 1))));
    let tabs = ref_line.is_some_and(|l| l.contains('\t'));
    // A field without a column in the reference (a TTL the reference omits) is right-
    // aligned against the next field's column, as in `www  30 IN A`.
    for i in 1..fields.len() {
        if fields[i].1.is_none()
            && let Some(next) = fields.get(i + 1).and_then(|f| f.1)
        {
            let start = next.saturating_sub(1 + fields[i].0.chars().count());
            fields[i].1 = Some(start);
        }
    }
    let mut line = String::new();
    for (i, (text, col)) in fields.into_iter().enumerate() {
        if i > 0 {
            let width = line.chars().count();
            match col {
                _ if tabs => line.push('\t'),
                Some(c) if c > width + 1 => line.push_str(&" ".repeat(c - 1 - width)),
                _ => line.push(' '),
            }
        }
        line.push_str(&text);
    }
    line.push_str(nl);
    Ok(line)
}

/// See `super::atomic_write`.
pub(crate) fn atomic_write_impl(path: &Path, text: &str) -> std::io::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => std::path::PathBuf::from("."),
    };
    let base = path
        .file_name()
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or_else(|| "zone".into());
    let tmp = dir.join(format!(".{base}.zonecast-{}.tmp", std::process::id()));
    let result = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(text.as_bytes())?;
        if let Ok(meta) = std::fs::metadata(path) {
            f.set_permissions(meta.permissions())?;
        }
        f.sync_all()?;
        drop(f);
        std::fs::rename(&tmp, path)?;
        // The rename itself is durable only once the directory is synced.
        if let Ok(d) = std::fs::File::open(&dir) {
            let _ = d.sync_all();
        }
        Ok(())
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}
