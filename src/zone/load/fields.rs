//! Field-level text parsers shared by the record parser and the RDATA parsers: domain
//! names relative to an origin, TTLs with units, integers.

use hickory_proto::rr::Name;

use super::lexer::unescape;

/// Parses a domain name as written in a master file: `@` is the origin, a name without a
/// trailing dot is relative to the origin, `\X` and `\DDD` escapes are decoded (so a
/// `\.` is a dot inside a label). Case is preserved.
pub fn parse_name(raw: &str, origin: &Name) -> Result<Name, String> {
    if raw == "@" {
        return Ok(origin.clone());
    }
    if raw == "." {
        return Ok(Name::root());
    }
    if raw.is_empty() {
        return Err("empty name".into());
    }
    if !raw.contains('\\') {
        return plain_name(raw, origin);
    }
    let bytes = raw.as_bytes();
    let mut labels: Vec<Vec<u8>> = Vec::new();
    let mut label = String::new();
    let mut absolute = false;
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        match b {
            b'\\' => {
                let len = match bytes.get(i + 1) {
                    Some(d) if d.is_ascii_digit() => 4,
                    Some(_) => 2,
                    None => 1,
                };
                let end = (i + len).min(bytes.len());
                label.push_str(raw.get(i..end).ok_or("bad escape")?);
                i = end;
            }
            b'.' => {
                if label.is_empty() {
                    return Err("empty label".into());
                }
                labels.push(unescape(&label)?);
                label.clear();
                if i + 1 == bytes.len() {
                    absolute = true;
                }
                i += 1;
            }
            _ => {
                // Push the whole (possibly multi-byte) character.
                let ch = raw
                    .get(i..)
                    .and_then(|s| s.chars().next())
                    .ok_or("bad text")?;
                label.push(ch);
                i += ch.len_utf8();
            }
        }
    }
    if !label.is_empty() {
        labels.push(unescape(&label)?);
    }
    assemble(labels.iter().map(Vec::as_slice), absolute, origin)
}

/// [`parse_name`] for a name without escapes (nearly all of them): its labels are slices
/// of the text, put into one `Name` without an allocation each.
fn plain_name(raw: &str, origin: &Name) -> Result<Name, String> {
    let (body, absolute) = match raw.strip_suffix('.') {
        Some(b) => (b, true),
        None => (raw, false),
    };
    if body.split('.').any(str::is_empty) {
        return Err("empty label".into());
    }
    assemble(body.split('.').map(str::as_bytes), absolute, origin)
}

/// A name from its labels, relative to `origin` unless `absolute`.
fn assemble<'a>(
    labels: impl Iterator<Item = &'a [u8]> + Clone,
    absolute: bool,
    origin: &Name,
) -> Result<Name, String> {
    if labels.clone().any(|l| l.len() > 63) {
        return Err("label longer than 63 octets".into());
    }
    let mut name = Name::root();
    for label in labels {
        name = name.append_label(label).map_err(|e| e.to_string())?;
    }
    let name = if absolute {
        name
    } else {
        name.append_domain(origin).map_err(|e| e.to_string())?
    };
    if name.len() > 255 {
        return Err("name longer than 255 octets".into());
    }
    Ok(name)
}

/// Parses a TTL: seconds, or BIND's units (`1h30m`, `2W`, case-insensitive).
pub fn parse_ttl(raw: &str) -> Option<u32> {
    if raw.is_empty() || !raw.as_bytes().first()?.is_ascii_digit() {
        return None;
    }
    let mut total: u64 = 0;
    let mut num: Option<u64> = None;
    let mut units_seen = false;
    for c in raw.chars() {
        if let Some(d) = c.to_digit(10) {
            num = Some(
                num.unwrap_or(0)
                    .checked_mul(10)?
                    .checked_add(u64::from(d))?,
            );
            if num? > u64::from(u32::MAX) {
                return None;
            }
            continue;
        }
        let mult = match c.to_ascii_lowercase() {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            'd' => 86400,
            'w' => 604800,
            _ => return None,
        };
        total = total.checked_add(num.take()?.checked_mul(mult)?)?;
        units_seen = true;
    }
    if let Some(n) = num {
        // A bare number may only stand alone, as in BIND.
        if units_seen {
            return None;
        }
        total = n;
    }
    u32::try_from(total).ok()
}

pub fn parse_u8(raw: &str) -> Result<u8, String> {
    raw.parse()
        .map_err(|_| format!("expected a number 0..255, got `{raw}`"))
}

pub fn parse_u16(raw: &str) -> Result<u16, String> {
    raw.parse()
        .map_err(|_| format!("expected a number 0..65535, got `{raw}`"))
}

pub fn parse_u32(raw: &str) -> Result<u32, String> {
    raw.parse()
        .map_err(|_| format!("expected a number 0..4294967295, got `{raw}`"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    fn n(s: &str) -> Name {
        Name::from_str(s).unwrap()
    }

    #[test]
    fn names_relative_absolute_at_and_escapes() {
        let o = n("example.test.");
        assert_eq!(parse_name("@", &o).unwrap(), o);
        assert_eq!(parse_name("www", &o).unwrap(), n("www.example.test."));
        assert_eq!(parse_name("a.b.", &o).unwrap(), n("a.b."));
        assert_eq!(parse_name(".", &o).unwrap(), Name::root());
        let dotted = parse_name("a\\.b", &o).unwrap();
        assert_eq!(dotted.num_labels(), 3);
        assert_eq!(dotted.iter().next().unwrap(), b"a.b");
        let dec = parse_name("\\065bc.", &o).unwrap();
        assert_eq!(dec.iter().next().unwrap(), b"Abc");
        assert!(parse_name("a..b", &o).is_err());
        assert!(parse_name(&"x".repeat(64), &o).is_err());
        let long = vec!["abcdefghij"; 30].join(".");
        assert!(parse_name(&long, &o).is_err());
        assert!(
            parse_name("WwW", &o)
                .unwrap()
                .eq_case(&Name::from_ascii("WwW.example.test.").unwrap())
        );
    }

    #[test]
    fn ttl_units() {
        assert_eq!(parse_ttl("3600"), Some(3600));
        assert_eq!(parse_ttl("1h30m"), Some(5400));
        assert_eq!(parse_ttl("2w"), Some(1209600));
        assert_eq!(parse_ttl("1D2H3M4S"), Some(93784));
        assert_eq!(parse_ttl("1h30"), None);
        assert_eq!(parse_ttl("h"), None);
        assert_eq!(parse_ttl("IN"), None);
        assert_eq!(parse_ttl("4294967295"), Some(u32::MAX));
        assert_eq!(parse_ttl("4294967296"), None);
        assert_eq!(parse_ttl("99999999w"), None);
    }
}
