//! Byte-level helpers: where two versions of a file differ, and where lines start.
//!
//! A 1,000,000-record file is about 22 MB, so the comparisons go by chunks (slice
//! equality is a `memcmp`) and only the last chunk byte by byte. An edit often touches
//! two distant places (a record, and the SOA serial at the top), so the changed part is
//! split into regions: after each difference the nearest pair of equal lines ahead in
//! both texts (the least lines skipped) is taken as the point where they agree again.

use std::ops::Range;

const CHUNK: usize = 512;
/// How many lines ahead a difference may end and still be found; past that, everything
/// up to the common suffix is one region.
const SCAN_LINES: usize = 200;
/// Consecutive equal lines that mark where the texts agree again.
const ANCHOR_LINES: usize = 2;

/// One changed part: `old` in the old text became `new` in the new one. Both start at a
/// line start; between regions the texts are equal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Region {
    pub old: Range<usize>,
    pub new: Range<usize>,
}

/// The regions where `old` and `new` differ, in order, or `None` past `max` regions.
pub(super) fn regions(old: &[u8], new: &[u8], max: usize) -> Option<Vec<Region>> {
    let mut out = Vec::new();
    // Positions in both texts after which they are to be compared; equal before.
    let (mut o, mut n) = (0, 0);
    loop {
        let q = common_prefix(old.get(o..)?, new.get(n..)?);
        let (oi, ni) = (o + q, n + q);
        if oi == old.len() && ni == new.len() {
            return Some(out);
        }
        if out.len() == max {
            return None;
        }
        // Back to the start of the line (the same bytes in both texts).
        let back = old
            .get(o..oi)?
            .iter()
            .rev()
            .take_while(|b| **b != b'\n')
            .count();
        let (os, ns) = (oi - back, ni - back);
        match resync(old.get(os..)?, new.get(ns..)?) {
            Some((oa, na)) => {
                out.push(Region {
                    old: os..os + oa,
                    new: ns..ns + na,
                });
                (o, n) = (os + oa, ns + na);
            }
            None => {
                let s = common_suffix(old.get(os..)?, new.get(ns..)?);
                out.push(Region {
                    old: os..old.len() - s,
                    new: ns..new.len() - s,
                });
                return Some(out);
            }
        }
    }
}

/// Byte offsets in `a` and `b` (both starting at a line that differs) of the nearest
/// line pair from which `ANCHOR_LINES` lines, or what is left of both texts, are equal,
/// fewest lines skipped first.
fn resync(a: &[u8], b: &[u8]) -> Option<(usize, usize)> {
    let (la, lb) = (lines_ahead(a), lines_ahead(b));
    let agree = |i: usize, j: usize| -> bool {
        let (Some(ra), Some(rb)) = (la.get(i), lb.get(j)) else {
            return false;
        };
        let (ea, eb) = (la.get(i + ANCHOR_LINES - 1), lb.get(j + ANCHOR_LINES - 1));
        match (ea, eb) {
            (Some(ea), Some(eb)) => a.get(ra.start..ea.end) == b.get(rb.start..eb.end),
            // Fewer lines left: the rest of both texts must be equal.
            _ => a.get(ra.start..) == b.get(rb.start..),
        }
    };
    for d in 1..2 * SCAN_LINES {
        for i in d.saturating_sub(SCAN_LINES)..=d.min(SCAN_LINES) {
            if agree(i, d - i) {
                return Some((la.get(i)?.start, lb.get(d - i)?.start));
            }
        }
    }
    None
}

/// The first lines of `s` (a line's range includes its newline).
fn lines_ahead(s: &[u8]) -> Vec<Range<usize>> {
    let mut at = 0;
    s.split_inclusive(|c| *c == b'\n')
        .take(SCAN_LINES + ANCHOR_LINES)
        .map(|l| {
            at += l.len();
            at - l.len()..at
        })
        .collect()
}

/// The length of the longest common prefix of `a` and `b`.
pub(super) fn common_prefix(a: &[u8], b: &[u8]) -> usize {
    let n = a.len().min(b.len());
    let mut i = 0;
    while i + CHUNK <= n && a.get(i..i + CHUNK) == b.get(i..i + CHUNK) {
        i += CHUNK;
    }
    while i < n && a.get(i) == b.get(i) {
        i += 1;
    }
    i
}

/// The length of the longest common suffix of `a` and `b`.
pub(super) fn common_suffix(a: &[u8], b: &[u8]) -> usize {
    let n = a.len().min(b.len());
    let mut i = 0;
    while i + CHUNK <= n {
        let (ea, eb) = (a.len() - i, b.len() - i);
        if a.get(ea - CHUNK..ea) != b.get(eb - CHUNK..eb) {
            break;
        }
        i += CHUNK;
    }
    while i < n && a.get(a.len() - 1 - i) == b.get(b.len() - 1 - i) {
        i += 1;
    }
    i
}

pub(super) fn count_newlines(s: &[u8]) -> usize {
    s.iter().filter(|&&b| b == b'\n').count()
}

/// The byte offset of the start of each line in `s` (line 1 at index 0).
pub(super) fn line_starts(s: &[u8]) -> Vec<usize> {
    let mut out = vec![0];
    out.extend(
        s.iter()
            .enumerate()
            .filter(|(_, b)| **b == b'\n')
            .map(|(i, _)| i + 1),
    );
    out
}

/// The byte offsets of the given lines (ascending, 1-based) in `s`, in one pass; `None`
/// for a line past the end.
pub(super) fn offsets_of_lines(s: &[u8], lines: &[usize]) -> Vec<Option<usize>> {
    let mut out = Vec::with_capacity(lines.len());
    let mut wanted = lines.iter().peekable();
    let mut line = 1;
    while wanted.next_if(|l| **l <= line).is_some() {
        out.push(Some(0));
    }
    for (i, b) in s.iter().enumerate() {
        if *b != b'\n' {
            continue;
        }
        line += 1;
        while wanted.next_if(|l| **l == line).is_some() {
            out.push(Some(i + 1));
        }
        if wanted.peek().is_none() {
            break;
        }
    }
    out.extend(wanted.map(|_| None));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_and_suffix_across_chunks() {
        let a: Vec<u8> = (0..5000u32).map(|i| (i % 251) as u8).collect();
        let mut b = a.clone();
        b[1234] ^= 1;
        assert_eq!(common_prefix(&a, &b), 1234);
        assert_eq!(common_suffix(&a, &b), 5000 - 1235);
        assert_eq!(common_prefix(&a, &a), 5000);
        assert_eq!(common_suffix(&a, &a), 5000);
        let mut c = a.clone();
        c.insert(3000, 7);
        assert_eq!(common_prefix(&a, &c), 3000);
        assert_eq!(common_suffix(&a, &c), 2000);
        assert_eq!(common_prefix(b"", b"x"), 0);
        assert_eq!(common_suffix(b"ab", b"b"), 1);
    }

    fn region(old: &str, new: &str) -> Vec<(String, String)> {
        regions(old.as_bytes(), new.as_bytes(), 10)
            .unwrap()
            .into_iter()
            .map(|r| (old[r.old].to_string(), new[r.new].to_string()))
            .collect()
    }

    #[test]
    fn distant_edits_are_separate_regions() {
        let body: String = (0..500)
            .map(|i| format!("h{i} A 10.0.0.{}\n", i % 250))
            .collect();
        let old = format!("@ SOA ns host 1 2 3 4 5\n{body}");
        let new = format!(
            "@ SOA ns host 10 2 3 4 5\n{}",
            body.replace("h300 A", "h300 AAAA")
        );
        assert_eq!(
            region(&old, &new),
            [
                (
                    "@ SOA ns host 1 2 3 4 5\n".into(),
                    "@ SOA ns host 10 2 3 4 5\n".into()
                ),
                ("h300 A 10.0.0.50\n".into(), "h300 AAAA 10.0.0.50\n".into()),
            ]
        );
        // Insertions, deletions, an edit of the last line without a newline.
        assert_eq!(
            region("a\nb\nc\nd\n", "a\nx\nb\nc\nd\n"),
            [(String::new(), "x\n".into())]
        );
        assert_eq!(
            region("a\nb\nc\nd\n", "a\nc\nd\n"),
            [("b\n".into(), String::new())]
        );
        assert_eq!(region("a\nb\nc", "a\nb\nd"), [("c".into(), "d".into())]);
        assert_eq!(region("a\nb\n", "a\nb\n"), []);
        assert!(regions(b"a\nb\n", b"a\nc\n", 0).is_none());
    }

    #[test]
    fn lines_and_offsets() {
        let s = b"a\nbb\n\nccc\nd";
        assert_eq!(line_starts(s), [0, 2, 5, 6, 10]);
        assert_eq!(count_newlines(s), 4);
        assert_eq!(
            offsets_of_lines(s, &[1, 2, 4, 5, 9]),
            [Some(0), Some(2), Some(6), Some(10), None]
        );
    }
}
