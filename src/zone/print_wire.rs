//! Presentation form of DNSSEC RDATA (RFC 4034 §§2.2, 3.2, 4.2, 5.3; RFC 5155 §§3.3,
//! 4.3) and SVCB/HTTPS (RFC 9460 §2.1), written from the wire bytes. hickory's Display
//! for these is not master-file syntax (SVCB lists get a trailing comma), and writing
//! from the wire mirrors exactly what the loader parses.

use data_encoding::{BASE32HEX_NOPAD, BASE64, HEXUPPER};
use hickory_proto::rr::RecordType;

use super::load::wire::{self, Field, Value};

struct Reader<'a> {
    b: &'a [u8],
    i: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let s = self.b.get(self.i..self.i.checked_add(n)?)?;
        self.i += n;
        Some(s)
    }
    fn u8(&mut self) -> Option<u8> {
        self.take(1).map(|s| s[0])
    }
    fn u16(&mut self) -> Option<u16> {
        self.take(2).map(|s| u16::from_be_bytes([s[0], s[1]]))
    }
    fn u32(&mut self) -> Option<u32> {
        self.take(4)
            .map(|s| u32::from_be_bytes([s[0], s[1], s[2], s[3]]))
    }
    fn rest(&mut self) -> &'a [u8] {
        let s = self.b.get(self.i..).unwrap_or_default();
        self.i = self.b.len();
        s
    }
    fn name(&mut self) -> Option<String> {
        let start = self.i;
        let mut end = start;
        loop {
            let len = usize::from(*self.b.get(end)?);
            end += 1 + len;
            if len == 0 {
                break;
            }
        }
        let vals = wire::split(&[Field::Name], self.b.get(start..end)?)?;
        self.i = end;
        match vals.into_iter().next()? {
            Value::Name(n) => Some(n.to_string()),
            _ => None,
        }
    }
    fn types(&mut self) -> Option<String> {
        let mut out = Vec::new();
        while self.i < self.b.len() {
            let window = u16::from(self.u8()?);
            let len = usize::from(self.u8()?);
            let bits = self.take(len)?;
            for (byte_i, byte) in bits.iter().enumerate() {
                for bit in 0..8 {
                    if byte & (0x80 >> bit) != 0 {
                        let code = window * 256 + (byte_i * 8 + bit) as u16;
                        out.push(wire::type_name(RecordType::from(code)));
                    }
                }
            }
        }
        Some(out.join(" "))
    }
}

pub fn presentation(rtype: RecordType, bytes: &[u8]) -> Option<String> {
    let mut r = Reader { b: bytes, i: 0 };
    let text = match rtype {
        RecordType::DS | RecordType::CDS => {
            let (tag, alg, dt) = (r.u16()?, r.u8()?, r.u8()?);
            format!("{tag} {alg} {dt} {}", HEXUPPER.encode(r.rest()))
        }
        RecordType::DNSKEY | RecordType::CDNSKEY | RecordType::KEY => {
            let (flags, proto, alg) = (r.u16()?, r.u8()?, r.u8()?);
            format!("{flags} {proto} {alg} {}", BASE64.encode(r.rest()))
        }
        RecordType::NSEC => {
            let next = r.name()?;
            format!("{next} {}", r.types()?).trim_end().to_string()
        }
        RecordType::NSEC3PARAM | RecordType::NSEC3 => {
            let (alg, flags, iter) = (r.u8()?, r.u8()?, r.u16()?);
            let len = usize::from(r.u8()?);
            let salt = r.take(len)?;
            let salt = if salt.is_empty() {
                "-".to_string()
            } else {
                HEXUPPER.encode(salt)
            };
            let mut s = format!("{alg} {flags} {iter} {salt}");
            if rtype == RecordType::NSEC3 {
                let len = usize::from(r.u8()?);
                let hash = BASE32HEX_NOPAD.encode(r.take(len)?);
                s = format!("{s} {hash} {}", r.types()?).trim_end().to_string();
            }
            s
        }
        RecordType::RRSIG | RecordType::SIG => {
            let covered = wire::type_name(RecordType::from(r.u16()?));
            let (alg, labels, ttl) = (r.u8()?, r.u8()?, r.u32()?);
            let (exp, inc, tag) = (r.u32()?, r.u32()?, r.u16()?);
            let signer = r.name()?;
            format!(
                "{covered} {alg} {labels} {ttl} {} {} {tag} {signer} {}",
                sig_time(exp),
                sig_time(inc),
                BASE64.encode(r.rest())
            )
        }
        RecordType::SVCB | RecordType::HTTPS => {
            let prio = r.u16()?;
            let mut s = format!("{prio} {}", r.name()?);
            while r.i < bytes.len() {
                let key = r.u16()?;
                let len = usize::from(r.u16()?);
                let v = r.take(len)?;
                s.push(' ');
                s.push_str(&svc_param(key, v)?);
            }
            s
        }
        _ => return None,
    };
    (r.i == bytes.len()).then_some(text)
}

const SVC_KEYS: [&str; 7] = [
    "mandatory",
    "alpn",
    "no-default-alpn",
    "port",
    "ipv4hint",
    "ech",
    "ipv6hint",
];

fn svc_key(k: u16) -> String {
    SVC_KEYS
        .get(usize::from(k))
        .map_or_else(|| format!("key{k}"), |s| s.to_string())
}

/// One SvcParam as `key=value`; None for a value that needs escapes (printed generically).
fn svc_param(key: u16, v: &[u8]) -> Option<String> {
    let mut r = Reader { b: v, i: 0 };
    let mut items = Vec::new();
    match key {
        0 => {
            while r.i < v.len() {
                items.push(svc_key(r.u16()?));
            }
        }
        1 => {
            while r.i < v.len() {
                let len = usize::from(r.u8()?);
                let id = r.take(len)?;
                let plain = id
                    .iter()
                    .all(|b| b.is_ascii_graphic() && !b",\\\"();".contains(b));
                if !plain || id.is_empty() {
                    return None;
                }
                items.push(String::from_utf8_lossy(id).into_owned());
            }
        }
        2 if v.is_empty() => return Some(svc_key(key)),
        3 => items.push(r.u16()?.to_string()),
        4 => {
            while r.i < v.len() {
                let b = r.take(4)?;
                items.push(std::net::Ipv4Addr::new(b[0], b[1], b[2], b[3]).to_string());
            }
        }
        5 => items.push(BASE64.encode(r.rest())),
        6 => {
            while r.i < v.len() {
                let b: [u8; 16] = r.take(16)?.try_into().ok()?;
                items.push(std::net::Ipv6Addr::from(b).to_string());
            }
        }
        _ => return None,
    }
    (r.i == v.len()).then(|| format!("{}={}", svc_key(key), items.join(",")))
}

/// `YYYYMMDDHHmmSS` for a time read as seconds since the epoch (RFC 4034 §3.2).
fn sig_time(t: u32) -> String {
    let t = i64::from(t);
    let (days, secs) = (t / 86400, t % 86400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}{m:02}{d:02}{:02}{:02}{:02}",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

/// Proleptic Gregorian date of a day count since 1970-01-01 (H. Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719468;
    let era = z.div_euclid(146097);
    let doe = z - era * 146097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}
