//! `$ORIGIN`, `$TTL`, `$INCLUDE` (RFC 1035 §5.1, RFC 2308 §4) and BIND's `$GENERATE`.

use std::path::Path;

use super::Severity;
use super::fields::{parse_name, parse_ttl};
use super::lexer::{Entry, Token};
use super::parser::{FileCtx, Parser};

/// The most records one `$GENERATE` may produce; keeps a typo from exhausting memory.
const GENERATE_MAX: u64 = 1_000_000;

pub(super) fn directive(p: &mut Parser, entry: &Entry, ctx: &mut FileCtx) {
    let toks = &entry.tokens;
    let Some(d) = toks.first() else { return };
    let args = toks.get(1..).unwrap_or_default();
    let name = d.raw.to_ascii_uppercase();
    let want = |p: &mut Parser, ctx: &FileCtx, min: usize, max: usize| -> bool {
        if args.len() < min {
            p.diag(Severity::Error, ctx, d, format!("{name} needs an argument"));
            false
        } else if args.len() > max {
            p.diag(
                Severity::Error,
                ctx,
                &args[max],
                format!("extra argument to {name}"),
            );
            false
        } else {
            true
        }
    };
    match name.as_str() {
        "$ORIGIN" => {
            if !want(p, ctx, 1, 1) {
                return;
            }
            match parse_name(&args[0].raw, &ctx.origin) {
                Ok(n) => ctx.origin = n,
                Err(m) => p.diag(Severity::Error, ctx, &args[0], format!("bad $ORIGIN: {m}")),
            }
        }
        "$TTL" => {
            if !want(p, ctx, 1, 1) {
                return;
            }
            match parse_ttl(&args[0].raw) {
                Some(t) => p.default_ttl = Some(p.max_ttl(ctx, &args[0], t)),
                None => p.diag(Severity::Error, ctx, &args[0], "bad TTL"),
            }
        }
        "$INCLUDE" => {
            if !want(p, ctx, 1, 2) {
                return;
            }
            let origin = match args.get(1) {
                Some(o) => match parse_name(&o.raw, &ctx.origin) {
                    Ok(n) => n,
                    Err(m) => {
                        p.diag(Severity::Error, ctx, o, format!("bad origin: {m}"));
                        return;
                    }
                },
                None => ctx.origin.clone(),
            };
            p.include(Path::new(&args[0].raw), origin, ctx, &args[0]);
        }
        "$GENERATE" => generate(p, entry, ctx),
        _ => p.diag(Severity::Error, ctx, d, "unknown directive"),
    }
}

/// `$GENERATE start-stop[/step] lhs [ttl] [class] type rhs`: every `$` in lhs and rhs is
/// replaced by the iterator, `${offset[,width[,base]]}` formats it, `\$` is a literal.
fn generate(p: &mut Parser, entry: &Entry, ctx: &mut FileCtx) {
    let toks = &entry.tokens;
    let (Some(dir), Some(range)) = (toks.first(), toks.get(1)) else {
        if let Some(d) = toks.first() {
            p.diag(Severity::Error, ctx, d, "$GENERATE needs a range");
        }
        return;
    };
    if toks.len() < 5 {
        p.diag(
            Severity::Error,
            ctx,
            dir,
            "$GENERATE needs range, lhs, type and rhs",
        );
        return;
    }
    let Some((start, stop, step)) = parse_range(&range.raw) else {
        p.diag(Severity::Error, ctx, range, "bad $GENERATE range");
        return;
    };
    if (stop - start) / step >= GENERATE_MAX {
        p.diag(Severity::Error, ctx, range, "$GENERATE range too large");
        return;
    }
    let template = &toks[2..];
    // Validate the templates once so a bad modifier is reported once, not per record.
    for t in template {
        if let Err(m) = substitute(&t.raw, start) {
            p.diag(Severity::Error, ctx, t, m);
            return;
        }
    }
    let mut i = start;
    while i <= stop {
        let tokens: Vec<Token> = template
            .iter()
            .map(|t| Token {
                raw: substitute(&t.raw, i).unwrap_or_default(),
                ..t.clone()
            })
            .collect();
        p.record(
            &Entry {
                tokens,
                owner_omitted: false,
                start_line: entry.start_line,
            },
            ctx,
        );
        i += step;
    }
}

fn parse_range(s: &str) -> Option<(u64, u64, u64)> {
    let (range, step) = match s.split_once('/') {
        Some((r, st)) => (r, st.parse::<u64>().ok()?),
        None => (s, 1),
    };
    let (a, b) = range.split_once('-')?;
    let (a, b) = (a.parse::<u64>().ok()?, b.parse::<u64>().ok()?);
    (step > 0 && a <= b && b <= u64::from(u32::MAX)).then_some((a, b, step))
}

/// Expands one `$GENERATE` template for iterator value `i`.
pub(super) fn substitute(s: &str, i: u64) -> Result<String, String> {
    let mut out = String::new();
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some('$') => out.push('$'),
                Some(n) => {
                    out.push('\\');
                    out.push(n);
                }
                None => out.push('\\'),
            },
            '$' if chars.peek() == Some(&'{') => {
                chars.next();
                let spec: String = chars.by_ref().take_while(|c| *c != '}').collect();
                out.push_str(&modifier(&spec, i)?);
            }
            '$' => out.push_str(&i.to_string()),
            _ => out.push(c),
        }
    }
    Ok(out)
}

fn modifier(spec: &str, i: u64) -> Result<String, String> {
    let bad = || format!("bad $GENERATE modifier `${{{spec}}}`");
    let mut parts = spec.split(',');
    let offset: i64 = parts
        .next()
        .unwrap_or("0")
        .trim()
        .parse()
        .map_err(|_| bad())?;
    let width: usize = match parts.next() {
        Some(w) => w.trim().parse().map_err(|_| bad())?,
        None => 0,
    };
    let base = parts.next().unwrap_or("d").trim();
    if parts.next().is_some() || width > 255 {
        return Err(bad());
    }
    let v = i64::try_from(i)
        .ok()
        .and_then(|i| i.checked_add(offset))
        .filter(|v| *v >= 0)
        .ok_or_else(|| format!("$GENERATE offset makes a negative value in `${{{spec}}}`"))?;
    Ok(match base {
        "d" => format!("{v:0width$}"),
        "o" => format!("{v:0width$o}"),
        "x" => format!("{v:0width$x}"),
        "X" => format!("{v:0width$X}"),
        "n" | "N" => {
            // Reversed nibbles separated by dots, as in ip6.arpa; width counts the dots.
            let hex = format!("{v:x}");
            let mut nibbles: Vec<char> = hex.chars().rev().collect();
            while nibbles.len() * 2 - 1 < width {
                nibbles.push('0');
            }
            let s: Vec<String> = nibbles.iter().map(char::to_string).collect();
            let s = s.join(".");
            if base == "N" { s.to_uppercase() } else { s }
        }
        _ => return Err(bad()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn substitution_and_modifiers() {
        assert_eq!(substitute("host-$", 7).unwrap(), "host-7");
        assert_eq!(substitute("${10}", 7).unwrap(), "17");
        assert_eq!(substitute("${0,3,d}", 7).unwrap(), "007");
        assert_eq!(substitute("${-7,2,x}", 37).unwrap(), "1e");
        assert_eq!(substitute("${0,4,X}", 255).unwrap(), "00FF");
        assert_eq!(substitute("${0,0,o}", 8).unwrap(), "10");
        assert_eq!(substitute("${0,0,n}", 0x1ab).unwrap(), "b.a.1");
        assert_eq!(substitute("${0,7,N}", 0xab).unwrap(), "B.A.0.0");
        assert_eq!(substitute("a\\$b$", 3).unwrap(), "a$b3");
        assert!(substitute("${1,2,q}", 1).is_err());
        assert!(substitute("${x}", 1).is_err());
        assert!(substitute("${-5}", 1).is_err());
    }

    #[test]
    fn ranges() {
        assert_eq!(parse_range("1-10"), Some((1, 10, 1)));
        assert_eq!(parse_range("0-10/2"), Some((0, 10, 2)));
        assert_eq!(parse_range("5-1"), None);
        assert_eq!(parse_range("1-5/0"), None);
        assert_eq!(parse_range("x"), None);
    }
}
