//! Which queries the differential test sends. They are derived from the zones' content
//! (as BIND's `named-checkzone -D` reads it, an independent parser) so that the shipped
//! zones are covered whatever they hold: every type at each owner, a missing type, names
//! below each owner and each wildcard, empty non-terminals, cuts (NS, DS, below the cut),
//! ANY, unknown types, mixed case, and names outside every zone; each over several
//! transports and EDNS settings.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;
use std::str::FromStr;

use hickory_proto::rr::RecordType;

use crate::servers::{Probe, Transport};

/// One zone's owners with the number of records of each type.
pub struct ZoneData {
    pub apex: String,
    pub owners: BTreeMap<String, BTreeMap<String, usize>>,
}

/// Reads a zone as BIND does (canonical one-record-per-line output, absolute names).
pub fn read_zone(apex: &str, file: &Path) -> Result<ZoneData, String> {
    let out = Command::new("named-checkzone")
        .args(["-D", "-o", "-", apex])
        .arg(file)
        .output()
        .map_err(|e| format!("named-checkzone: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "named-checkzone {apex} {}: {}",
            file.display(),
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let mut owners: BTreeMap<String, BTreeMap<String, usize>> = BTreeMap::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() < 4 {
            continue;
        }
        *owners
            .entry(f[0].to_ascii_lowercase())
            .or_default()
            .entry(f[3].to_string())
            .or_default() += 1;
    }
    Ok(ZoneData {
        apex: apex.to_ascii_lowercase(),
        owners,
    })
}

fn rtype(s: &str) -> RecordType {
    if let Some(n) = s.strip_prefix("TYPE").and_then(|n| n.parse::<u16>().ok()) {
        return RecordType::from(n);
    }
    RecordType::from_str(s).unwrap_or(RecordType::Unknown(65280))
}

/// Is `name` strictly below `ancestor`?
fn below(name: &str, ancestor: &str) -> bool {
    ancestor == "." && name != "."
        || name.len() > ancestor.len() && name.ends_with(&format!(".{ancestor}"))
}

fn child(label: &str, parent: &str) -> String {
    if parent == "." {
        format!("{label}.")
    } else {
        format!("{label}.{parent}")
    }
}

/// Alternates the case of letters, so a server must match case-insensitively and echo.
fn mixed_case(name: &str) -> String {
    name.chars()
        .enumerate()
        .map(|(i, c)| {
            if i % 2 == 0 {
                c.to_ascii_uppercase()
            } else {
                c
            }
        })
        .collect()
}

/// The transports and EDNS settings a question is sent with, in rotation.
fn variants(q: &Probe) -> Vec<Probe> {
    let mut out = Vec::new();
    let mut v = |t: Transport, edns: Option<u16>, f: &dyn Fn(&mut Probe)| {
        let mut p = q.clone();
        p.transport = t;
        p.edns = edns;
        f(&mut p);
        out.push(p);
    };
    v(Transport::Udp, Some(1232), &|_| {});
    v(Transport::Tcp, Some(1232), &|_| {});
    v(Transport::Udp, None, &|_| {});
    v(Transport::Udp, Some(512), &|_| {});
    v(Transport::Tcp, None, &|_| {});
    v(Transport::Udp, Some(4096), &|p| p.dnssec_ok = true);
    v(Transport::Udp, Some(1232), &|p| p.rd = true);
    v(Transport::Udp, Some(1232), &|p| p.cd = true);
    v(Transport::Udp, Some(1400), &|p| p.rd = true);
    out
}

/// Builds the probes for a set of zones served together. `limit` caps how many owners of
/// one zone are questioned (every n-th owner is taken, so all kinds stay represented).
pub fn probes(zones: &[ZoneData], limit: usize) -> Vec<Probe> {
    let apexes: Vec<&str> = zones.iter().map(|z| z.apex.as_str()).collect();
    let mut base: Vec<Probe> = Vec::new();
    let mut push = |name: &str, t: RecordType, purpose: &'static str| {
        let mut p = Probe::new(name, t, Transport::Udp, Some(1232));
        p.purpose = purpose;
        base.push(p);
    };
    let mut everything: Vec<Probe> = Vec::new();
    for z in zones {
        let apex = z.apex.as_str();
        for t in [
            "SOA",
            "NS",
            "MX",
            "TXT",
            "A",
            "AAAA",
            "DNSKEY",
            "TYPE65280",
            "NULL",
        ] {
            push(apex, rtype(t), "apex");
        }
        push(apex, RecordType::ANY, "ANY at apex");
        for i in 0..4 {
            push(
                &child(&format!("nonexistent-{i}"), apex),
                RecordType::A,
                "nxdomain",
            );
        }
        // Cuts: NS below the apex, minus cuts that are apexes of zones served here.
        let cuts: BTreeSet<&str> = z
            .owners
            .iter()
            .filter(|(o, ts)| o.as_str() != apex && ts.contains_key("NS"))
            .map(|(o, _)| o.as_str())
            .collect();
        let occluded = |o: &str| cuts.iter().any(|c| below(o, c));
        let step = (z.owners.len() / limit.max(1)).max(1);
        let mut wild_seen = 0usize;
        for (i, (owner, types)) in z.owners.iter().enumerate() {
            let o = owner.as_str();
            // Cuts, wildcards and big RRsets are rare and always asked; the bulk is sampled.
            let wild = o.starts_with("*.");
            wild_seen += usize::from(wild);
            let rare =
                cuts.contains(o) || (wild && wild_seen <= 40) || types.values().any(|n| *n >= 10);
            if o == apex || (i % step != 0 && !rare) {
                continue;
            }
            if occluded(o) {
                push(o, RecordType::A, "below a cut (glue)");
                push(o, RecordType::AAAA, "below a cut (glue)");
                continue;
            }
            if cuts.contains(o) {
                push(o, RecordType::NS, "referral");
                push(o, RecordType::A, "referral");
                push(o, RecordType::DS, "DS at a cut");
                push(o, RecordType::ANY, "ANY at a cut");
                push(&child("host", o), RecordType::A, "below a cut");
                continue;
            }
            if let Some(parent) = o.strip_prefix("*.") {
                for t in types.keys() {
                    push(&child("zz-wild", parent), rtype(t), "wildcard");
                }
                push(
                    &child("zz-wild", parent),
                    RecordType::SRV,
                    "wildcard NODATA",
                );
                push(&child("a.b", parent), RecordType::A, "wildcard, deeper");
                push(o, RecordType::A, "literal wildcard");
                push(
                    &mixed_case(&child("mc-wild", parent)),
                    RecordType::A,
                    "wildcard, case",
                );
                continue;
            }
            for t in types.keys() {
                push(o, rtype(t), "positive");
            }
            let missing = ["TXT", "AAAA", "MX", "A", "SRV"]
                .into_iter()
                .find(|t| !types.contains_key(*t))
                .unwrap_or("NULL");
            push(o, rtype(missing), "NODATA");
            if i % 3 == 0 {
                push(o, RecordType::ANY, "ANY");
            }
            if i % 4 == 0 {
                push(&child("nx", o), RecordType::A, "nxdomain below a name");
            }
            if i % 5 == 0 {
                let t = types
                    .keys()
                    .next()
                    .map(|t| rtype(t))
                    .unwrap_or(RecordType::A);
                push(&mixed_case(o), t, "mixed case");
            }
            if i % 7 == 0 {
                push(o, RecordType::Unknown(65000), "unknown type");
            }
        }
        // Empty non-terminals: ancestors of owners that own nothing.
        let mut ents = BTreeSet::new();
        for o in z.owners.keys() {
            let mut name = o.as_str();
            while let Some((_, rest)) = name.split_once('.') {
                if rest.is_empty() || !below(rest, apex) {
                    break;
                }
                if !z.owners.contains_key(rest) && !occluded(rest) && !cuts.contains(rest) {
                    ents.insert(rest.to_string());
                }
                name = rest;
            }
        }
        for e in ents.iter().take(40) {
            push(e, RecordType::A, "empty non-terminal");
            push(&child("nx", e), RecordType::A, "nxdomain below an ENT");
        }
        // Big RRsets in every transport and size.
        for (o, types) in &z.owners {
            for (t, n) in types {
                if *n >= 10 && !occluded(o) {
                    let mut p = Probe::new(o, rtype(t), Transport::Udp, Some(1232));
                    p.purpose = "size";
                    everything.push(p);
                }
            }
        }
        let mut p = Probe::new(apex, RecordType::ANY, Transport::Udp, Some(1232));
        p.purpose = "ANY at apex";
        everything.push(p);
    }
    for name in ["zz-outside.invalid.", "example.", "zc-nowhere."] {
        if !apexes.iter().any(|a| *a == name || below(name, a)) {
            push(name, RecordType::A, "outside every zone");
        }
    }
    let mut out = Vec::new();
    for (i, q) in base.iter().enumerate() {
        let vs = variants(q);
        out.push(vs[0].clone());
        out.push(vs[1 + i % (vs.len() - 1)].clone());
    }
    for q in &everything {
        out.extend(variants(q));
    }
    // EDNS version 1 must be answered BADVERS.
    for z in zones {
        let mut p = Probe::new(&z.apex, RecordType::SOA, Transport::Udp, Some(1232));
        p.edns_version = 1;
        p.purpose = "EDNS version 1";
        out.push(p.clone());
        p.transport = Transport::Tcp;
        out.push(p);
    }
    out
}
