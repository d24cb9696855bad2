//! Root hints: where iteration starts when the cache knows no closer zone cut.
//!
//! The default is the real root servers' addresses (as published in IANA's named.root),
//! kept as data so a resolver works with no file at all. A lab hierarchy overrides them
//! with a file in the same named.root format.

use std::net::IpAddr;
use std::str::FromStr;

use hickory_proto::rr::Name;
use thiserror::Error;

#[derive(Debug, Error, PartialEq, Eq)]
pub enum HintsError {
    #[error("{file}:{line}: {why}: {text}")]
    Syntax {
        file: String,
        line: usize,
        why: String,
        text: String,
    },
    #[error("{file}: no root NS record with an address")]
    Empty { file: String },
}

/// The 13 root servers (IANA named.root, 2023 and later).
const ROOT_SERVERS: [(&str, &str, &str); 13] = [
    ("a", "198.41.0.4", "2001:503:ba3e::2:30"),
    ("b", "170.247.170.2", "2801:1b8:10::b"),
    ("c", "192.33.4.12", "2001:500:2::c"),
    ("d", "199.7.91.13", "2001:500:2d::d"),
    ("e", "192.203.230.10", "2001:500:a8::e"),
    ("f", "192.5.5.241", "2001:500:2f::f"),
    ("g", "192.112.36.4", "2001:500:12::d0d"),
    ("h", "198.97.190.53", "2001:500:1::53"),
    ("i", "192.36.148.17", "2001:7fe::53"),
    ("j", "192.58.128.30", "2001:503:c27::2:30"),
    ("k", "193.0.14.129", "2001:7fd::1"),
    ("l", "199.7.83.42", "2001:500:9f::42"),
    ("m", "202.12.27.33", "2001:dc3::35"),
];

pub type Hints = Vec<(Name, Vec<IpAddr>)>;

/// The real root servers.
pub fn default_hints() -> Hints {
    ROOT_SERVERS
        .iter()
        .filter_map(|(l, v4, v6)| {
            let name = Name::from_ascii(format!("{l}.root-servers.net.")).ok()?;
            let addrs = [v4, v6].iter().filter_map(|a| a.parse().ok()).collect();
            Some((name, addrs))
        })
        .collect()
}

/// Parses named.root: `NAME [TTL] [IN] TYPE DATA` lines, `;` comments. Root NS records
/// name the servers; A and AAAA records give their addresses; other lines are ignored.
pub fn parse_hints(file: &str, text: &str) -> Result<Hints, HintsError> {
    let mut ns: Vec<Name> = Vec::new();
    let mut addrs: Vec<(Name, IpAddr)> = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.split(';').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        let err = |why: &str| HintsError::Syntax {
            file: file.to_string(),
            line: i + 1,
            why: why.to_string(),
            text: raw.to_string(),
        };
        let toks: Vec<&str> = line.split_whitespace().collect();
        let Some(owner) = toks.first() else { continue };
        let rest: Vec<&str> = toks[1..]
            .iter()
            .copied()
            .skip_while(|t| t.parse::<u32>().is_ok() || t.eq_ignore_ascii_case("IN"))
            .collect();
        let [rtype, data, ..] = rest.as_slice() else {
            return Err(err("expected TYPE and DATA"));
        };
        let owner = Name::from_str(owner).map_err(|e| err(&format!("bad owner: {e}")))?;
        match rtype.to_ascii_uppercase().as_str() {
            "NS" if owner.is_root() => {
                ns.push(Name::from_str(data).map_err(|e| err(&format!("bad NS: {e}")))?);
            }
            "A" | "AAAA" => {
                let ip: IpAddr = data.parse().map_err(|_| err("bad address"))?;
                addrs.push((owner, ip));
            }
            _ => {}
        }
    }
    let hints: Hints = ns
        .into_iter()
        .map(|n| {
            let ips = addrs
                .iter()
                .filter(|(o, _)| *o == n)
                .map(|(_, ip)| *ip)
                .collect();
            (n, ips)
        })
        .filter(|(_, ips): &(Name, Vec<IpAddr>)| !ips.is_empty())
        .collect();
    if hints.is_empty() {
        return Err(HintsError::Empty {
            file: file.to_string(),
        });
    }
    Ok(hints)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_the_thirteen_roots() {
        let h = default_hints();
        assert_eq!(h.len(), 13);
        assert!(h.iter().all(|(_, a)| a.len() == 2));
    }

    #[test]
    fn parses_named_root() {
        let text = "; lab\n.  3600000  NS  A.ROOT-SERVERS.TEST.\nA.ROOT-SERVERS.TEST. 3600000 A 127.0.0.11\n\
                    a.root-servers.test. IN AAAA ::1\n";
        let h = parse_hints("lab.root", text).unwrap();
        assert_eq!(h.len(), 1);
        assert_eq!(
            h[0].1,
            vec![
                "127.0.0.11".parse::<IpAddr>().unwrap(),
                "::1".parse().unwrap()
            ]
        );
        let e = parse_hints("x", ". NS\n").unwrap_err();
        assert!(e.to_string().starts_with("x:1:"), "{e}");
        assert!(matches!(
            parse_hints("x", ". NS a.\n"),
            Err(HintsError::Empty { .. })
        ));
    }
}
