//! Master-file tokenizer (RFC 1035 §5.1). It only splits text into entries (one logical
//! line each, parentheses joined) and tokens with their positions; escapes are kept
//! verbatim in `raw` so that names and character-strings can each decode them by their
//! own rules later.

/// One token as written. `raw` excludes the quotes of a quoted string but keeps escapes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token {
    pub raw: String,
    pub quoted: bool,
    pub line: usize,
    pub col: usize,
}

impl Token {
    /// True for an unquoted token equal to `s` ignoring ASCII case.
    pub fn is(&self, s: &str) -> bool {
        !self.quoted && self.raw.eq_ignore_ascii_case(s)
    }

    /// The token as it would be written back into a master file.
    pub fn written(&self) -> String {
        if self.quoted {
            format!("\"{}\"", self.raw)
        } else {
            self.raw.clone()
        }
    }
}

/// One logical line: a record or a directive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub tokens: Vec<Token>,
    /// The entry began with blank space: the owner is the previous owner (RFC 1035 §5.1).
    pub owner_omitted: bool,
    /// The line on which the entry's text begins, at depth 0 outside any entry: lexing
    /// may restart there and gives the same entries (an incremental reload relies on it).
    /// The first token can sit on a later line, after a lone `(`.
    pub start_line: usize,
}

/// A lexical error; the entry it occurred in is dropped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LexError {
    pub line: usize,
    pub col: usize,
    pub text: String,
    pub message: String,
}

/// A position in the text. Columns count characters, so only bytes that start a UTF-8
/// character advance them; delimiters are all ASCII, so scanning bytes is exact.
struct Cursor<'a> {
    text: &'a str,
    at: usize,
    line: usize,
    col: usize,
}

impl Cursor<'_> {
    fn peek(&self) -> Option<u8> {
        self.text.as_bytes().get(self.at).copied()
    }

    fn bump(&mut self) -> Option<u8> {
        let b = self.peek()?;
        self.at += 1;
        if b == b'\n' {
            self.line += 1;
            self.col = 1;
        } else if b & 0xC0 != 0x80 {
            self.col += 1;
        }
        Some(b)
    }

    /// After a backslash: steps over the escaped character, whole (it may be multi-byte),
    /// unless it is the end of the line.
    fn skip_escaped(&mut self) {
        if self.peek().is_some_and(|n| n != b'\n') {
            self.bump();
            while self.peek().is_some_and(|b| b & 0xC0 == 0x80) {
                self.bump();
            }
        }
    }

    /// The text from `from` to here. Token boundaries fall on ASCII bytes, so this is a
    /// character boundary.
    fn since(&self, from: usize) -> String {
        self.text.get(from..self.at).unwrap_or_default().to_string()
    }
}

/// Splits a whole file into entries. Errors are collected; lexing goes on after them.
pub fn lex(text: &str) -> (Vec<Entry>, Vec<LexError>) {
    let mut cur = Cursor {
        text,
        at: 0,
        line: 1,
        col: 1,
    };
    let mut entries = Vec::new();
    let mut errors = Vec::new();
    let mut tokens: Vec<Token> = Vec::new();
    let mut owner_omitted = false;
    let mut bad = false;
    // Position of the outermost open parenthesis, for the unbalanced-at-EOF error.
    let mut open: Option<(usize, usize)> = None;
    let mut depth = 0usize;
    let mut line_start = true;
    // The line after the last newline seen at depth 0: where the next entry begins.
    let mut start_line = 1;

    let mut finish = |tokens: &mut Vec<Token>, owner_omitted: bool, bad: &mut bool, start_line| {
        if !tokens.is_empty() && !*bad {
            let next = Vec::with_capacity(tokens.len());
            entries.push(Entry {
                tokens: std::mem::replace(tokens, next),
                owner_omitted,
                start_line,
            });
        }
        tokens.clear();
        *bad = false;
    };

    while let Some(c) = cur.peek() {
        if line_start && depth == 0 && tokens.is_empty() {
            owner_omitted = c == b' ' || c == b'\t';
        }
        line_start = false;
        let (line, col) = (cur.line, cur.col);
        match c {
            b'\n' => {
                cur.bump();
                line_start = true;
                if depth == 0 {
                    finish(&mut tokens, owner_omitted, &mut bad, start_line);
                    start_line = cur.line;
                }
            }
            b' ' | b'\t' | b'\r' => {
                cur.bump();
            }
            b';' => {
                while let Some(c) = cur.peek() {
                    if c == b'\n' {
                        break;
                    }
                    cur.bump();
                }
            }
            b'(' => {
                cur.bump();
                if depth == 0 {
                    open = Some((line, col));
                }
                depth += 1;
            }
            b')' => {
                cur.bump();
                if depth == 0 {
                    errors.push(LexError {
                        line,
                        col,
                        text: ")".into(),
                        message: "unbalanced parentheses".into(),
                    });
                    bad = true;
                } else {
                    depth -= 1;
                }
            }
            b'"' => {
                cur.bump();
                let start = cur.at;
                let mut end = None;
                while let Some(c) = cur.peek() {
                    if c == b'\n' {
                        break;
                    }
                    cur.bump();
                    match c {
                        b'"' => {
                            end = Some(cur.at - 1);
                            break;
                        }
                        b'\\' => cur.skip_escaped(),
                        _ => {}
                    }
                }
                let raw = match end {
                    Some(e) => text.get(start..e).unwrap_or_default().to_string(),
                    None => {
                        let raw = cur.since(start);
                        errors.push(LexError {
                            line,
                            col,
                            text: format!("\"{raw}"),
                            message: "unterminated quoted string".into(),
                        });
                        bad = true;
                        raw
                    }
                };
                tokens.push(Token {
                    raw,
                    quoted: true,
                    line,
                    col,
                });
            }
            _ => {
                let start = cur.at;
                while let Some(c) = cur.peek() {
                    if matches!(c, b' ' | b'\t' | b'\r' | b'\n' | b';' | b'(' | b')') {
                        break;
                    }
                    cur.bump();
                    if c == b'\\' {
                        cur.skip_escaped();
                    }
                }
                tokens.push(Token {
                    raw: cur.since(start),
                    quoted: false,
                    line,
                    col,
                });
            }
        }
    }
    if depth > 0 {
        let (line, col) = open.unwrap_or((cur.line, cur.col));
        errors.push(LexError {
            line,
            col,
            text: "(".into(),
            message: "unbalanced parentheses".into(),
        });
        bad = true;
    }
    finish(&mut tokens, owner_omitted, &mut bad, start_line);
    (entries, errors)
}

/// Decodes `\X` and `\DDD` escapes (RFC 1035 §5.1) into bytes.
pub fn unescape(raw: &str) -> Result<Vec<u8>, String> {
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        if b != b'\\' {
            out.push(b);
            i += 1;
            continue;
        }
        match bytes.get(i + 1) {
            None => return Err("dangling backslash".into()),
            Some(d) if d.is_ascii_digit() => {
                let digits = bytes
                    .get(i + 1..i + 4)
                    .filter(|d| d.iter().all(u8::is_ascii_digit))
                    .ok_or_else(|| "a \\DDD escape needs three digits".to_string())?;
                let v = digits
                    .iter()
                    .fold(0u32, |acc, d| acc * 10 + u32::from(d - b'0'));
                let v = u8::try_from(v).map_err(|_| format!("\\{v} is not a byte value"))?;
                out.push(v);
                i += 4;
            }
            Some(&c) => {
                out.push(c);
                i += 2;
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raws(e: &Entry) -> Vec<&str> {
        e.tokens.iter().map(|t| t.raw.as_str()).collect()
    }

    #[test]
    fn joins_parentheses_and_skips_comments() {
        let (entries, errors) =
            lex("a IN SOA ns h ( 1 ; serial\n 2 3\n 4 5 ) ; end\n; only a comment\n\n  b\n");
        assert!(errors.is_empty());
        assert_eq!(entries.len(), 2);
        assert_eq!(
            raws(&entries[0]),
            ["a", "IN", "SOA", "ns", "h", "1", "2", "3", "4", "5"]
        );
        assert!(!entries[0].owner_omitted);
        assert!(entries[1].owner_omitted);
        assert_eq!(
            (entries[1].tokens[0].line, entries[1].tokens[0].col),
            (6, 3)
        );
        assert_eq!((entries[0].start_line, entries[1].start_line), (1, 6));
    }

    #[test]
    fn start_line_is_where_lexing_can_restart() {
        let text = "a A 1.2.3.4
(
b A 1.2.3.4 )

c TXT ( \"x\"
 \"y\" )
 d A 1.2.3.4
";
        let (entries, errors) = lex(text);
        assert!(errors.is_empty());
        let starts: Vec<usize> = entries.iter().map(|e| e.start_line).collect();
        assert_eq!(starts, [1, 2, 5, 7]);
        // Lexing from each start line gives the same entries from there on.
        let lines: Vec<&str> = text.split_inclusive('\n').collect();
        for (i, e) in entries.iter().enumerate() {
            let rest: String = lines[e.start_line - 1..].concat();
            let (again, errs) = lex(&rest);
            assert!(errs.is_empty());
            assert_eq!(again.len(), entries.len() - i);
            for (a, b) in again.iter().zip(&entries[i..]) {
                let raw = |e: &Entry| e.tokens.iter().map(|t| t.raw.clone()).collect::<Vec<_>>();
                assert_eq!((raw(a), a.owner_omitted), (raw(b), b.owner_omitted));
            }
        }
    }

    #[test]
    fn quoted_strings_keep_escapes_and_spaces() {
        let (entries, errors) = lex("x TXT \"a \\\"b\\\" ; c\" d\\ e\n");
        assert!(errors.is_empty());
        let t = &entries[0].tokens;
        assert_eq!(t[2].raw, "a \\\"b\\\" ; c");
        assert!(t[2].quoted);
        assert_eq!(t[3].raw, "d\\ e");
        assert_eq!(t[2].col, 7);
    }

    #[test]
    fn reports_unbalanced_and_unterminated() {
        let (entries, errors) = lex("a A 1.2.3.4 )\nb TXT \"open\nc A ( 1.2.3.4\n");
        assert!(entries.is_empty(), "{entries:?}");
        let pos: Vec<_> = errors
            .iter()
            .map(|e| (e.line, e.col, e.message.as_str()))
            .collect();
        assert_eq!(
            pos,
            [
                (1, 13, "unbalanced parentheses"),
                (2, 7, "unterminated quoted string"),
                (3, 5, "unbalanced parentheses"),
            ]
        );
    }

    #[test]
    fn unescapes_decimal_and_literal() {
        assert_eq!(unescape("a\\065\\\\\\.").unwrap(), b"aA\\.");
        assert!(unescape("\\256").is_err());
        assert!(unescape("\\12").is_err());
        assert!(unescape("x\\").is_err());
    }

    #[test]
    fn garbage_never_panics() {
        let inputs = [
            "\\",
            "(((",
            ")))",
            "\"",
            "\\0",
            "\u{0}\u{ffff}",
            "$",
            "\t\t\n\n",
            "(\n\"\n)",
        ];
        for s in inputs {
            let _ = lex(s);
        }
        let mut state = 12345u32;
        for _ in 0..200 {
            let s: String = (0..64)
                .map(|_| {
                    state = state.wrapping_mul(1103515245).wrapping_add(12345);
                    let alphabet = b"ab1 \t\n();\"\\$@.";
                    alphabet[(state >> 16) as usize % alphabet.len()] as char
                })
                .collect();
            let _ = lex(&s);
            let _ = unescape(&s);
        }
    }
}
