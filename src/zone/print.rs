//! The canonical text form of a zone: one record per line, absolute names,
//! `name TTL IN TYPE rdata`, in `Zone::rrsets_canonical()` order. Every line is checked
//! to parse back to the same RDATA; a type whose text form would not round-trip is
//! printed in RFC 3597 generic form instead, so the output always reloads identically.

use std::fmt::Write;

use hickory_proto::rr::{Name, RData, RecordType};

use super::Zone;
use super::load::wire::{self, Value};
use super::load::{lex, parse_rdata};

/// The zone as master-file text.
pub fn print_zone(zone: &Zone) -> String {
    let mut out = String::new();
    for set in zone.rrsets_canonical() {
        let ty = wire::type_name(set.rtype);
        for rd in &set.rdata {
            let _ = writeln!(
                out,
                "{} {} IN {} {}",
                set.name,
                set.ttl,
                ty,
                rdata_text(set.rtype, rd)
            );
        }
    }
    out
}

/// RDATA in presentation form that parses back to `rdata`.
pub fn rdata_text(rtype: RecordType, rdata: &RData) -> String {
    if let Some(text) = presentation(rtype, rdata)
        && reparses(rtype, rdata, &text)
    {
        return text;
    }
    generic(rdata)
}

fn reparses(rtype: RecordType, rdata: &RData, text: &str) -> bool {
    let (entries, errors) = lex(text);
    if !errors.is_empty() || entries.len() > 1 {
        return false;
    }
    let tokens = entries
        .into_iter()
        .next()
        .map(|e| e.tokens)
        .unwrap_or_default();
    parse_rdata(rtype, &tokens, &Name::root()).is_ok_and(|r| r == *rdata)
}

fn presentation(rtype: RecordType, rdata: &RData) -> Option<String> {
    if let Some(layout) = wire::layout(u16::from(rtype)) {
        let values = wire::split(layout, &wire::encode(rdata)?)?;
        let parts: Vec<String> = values
            .iter()
            .map(|v| match v {
                Value::Name(n) => n.to_string(),
                Value::U8(x) => x.to_string(),
                Value::U16(x) => x.to_string(),
                Value::U32(x) => x.to_string(),
                Value::Hex(b) => data_encoding::HEXUPPER.encode(b),
                Value::B64(b) => data_encoding::BASE64.encode(b),
                Value::Str(s) => quote(s),
            })
            .collect();
        return Some(parts.join(" "));
    }
    if rtype.is_dnssec()
        || matches!(
            rtype,
            RecordType::SIG | RecordType::KEY | RecordType::SVCB | RecordType::HTTPS
        )
    {
        return super::print_wire::presentation(rtype, &wire::encode(rdata)?);
    }
    match rdata {
        RData::NAPTR(n) => Some(format!(
            "{} {} {} {} {} {}",
            n.order,
            n.preference,
            quote(&n.flags),
            quote(&n.services),
            quote(&n.regexp),
            n.replacement
        )),
        RData::Unknown { .. } | RData::NULL(_) => None,
        other => Some(other.to_string()),
    }
}

/// A character-string in quotes, escaping what the lexer would otherwise take apart.
pub fn quote(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() + 2);
    s.push('"');
    for &b in bytes {
        match b {
            b'"' | b'\\' => {
                s.push('\\');
                s.push(b as char);
            }
            0x20..=0x7e => s.push(b as char),
            _ => {
                let _ = write!(s, "\\{b:03}");
            }
        }
    }
    s.push('"');
    s
}

/// RFC 3597 §5 generic form.
fn generic(rdata: &RData) -> String {
    let bytes = wire::encode(rdata).unwrap_or_default();
    if bytes.is_empty() {
        return "\\# 0".into();
    }
    let hex: String = bytes.iter().map(|b| format!("{b:02X}")).collect();
    format!("\\# {} {hex}", bytes.len())
}

#[cfg(test)]
#[path = "print_tests.rs"]
mod tests;
