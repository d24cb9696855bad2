//! The differential test: the same zones served by zonecast, Knot and NSD, the same
//! queries sent to each, and the replies compared on rcode, flags and the three sections.
//! A reply of the subject (zonecast) must equal the reply of at least one reference
//! (Knot, NSD) after the intended differences below; anything else fails with a diff.
//!
//! Needs `knotd`, `nsd` and `named-checkzone`, hence `#[ignore]`: `integration/run`
//! runs it with `cargo test --release --test differential -- --ignored --nocapture`.
//! `ZC_DIFF_SUBJECT=nsd ZC_DIFF_REFS=knot` compares the peers with each other, which is
//! how the comparer itself is checked.

#[path = "diff/compare.rs"]
mod compare;
#[path = "diff/generate.rs"]
mod generate;
#[path = "diff/queries.rs"]
mod queries;
#[path = "diff/servers.rs"]
mod servers;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use compare::Reply;
use hickory_proto::rr::RecordType;
use servers::{Probe, Server, exchange};

/// A difference the test accepts, with why.
struct Intended {
    name: &'static str,
    reason: &'static str,
    applies: fn(&Probe, &Reply, &Reply) -> bool,
}

/// The intended differences between the subject and a reference.
const INTENDED: &[Intended] = &[
    Intended {
        name: "ANY picks an RRset",
        reason: "RFC 8482 section 4.1 lets a responder answer ANY with any one or more \
             RRsets of the name; Knot and NSD already pick differently at an apex \
             (NS vs SOA), so only the rcode, flags and owner are compared",
        applies: any_same_owner,
    },
    Intended {
        name: "CD copied",
        reason: "RFC 4035 section 3.1.6: the name server side MUST copy the CD bit from a \
             query into the response; BIND 9 does, Knot and NSD clear it",
        applies: cd_copied,
    },
];

/// The replies are equal except that the subject copied the query's CD bit.
fn cd_copied(p: &Probe, mine: &Reply, theirs: &Reply) -> bool {
    if !p.cd || !mine.flags.contains("cd") || theirs.flags.contains("cd") {
        return false;
    }
    let mut without = mine.clone();
    without.flags.remove("cd");
    without == *theirs || any_same_owner(p, &without, theirs)
}

fn any_same_owner(p: &Probe, mine: &Reply, theirs: &Reply) -> bool {
    let owner = p.qname.to_ascii_lowercase();
    let owned = |r: &Reply| {
        !r.answer.is_empty()
            && r.answer
                .iter()
                .all(|rr| rr.split_whitespace().next() == Some(owner.as_str()))
    };
    p.qtype == RecordType::ANY
        && mine.rcode == theirs.rcode
        && mine.flags == theirs.flags
        && mine.opt == theirs.opt
        && owned(mine)
        && owned(theirs)
}

/// How many owners of each zone are questioned at most.
const OWNER_LIMIT: usize = 300;
/// How many unexplained mismatches are printed in full.
const SHOW: usize = 25;

fn subject_and_refs() -> (String, Vec<String>) {
    let subject = std::env::var("ZC_DIFF_SUBJECT").unwrap_or_else(|_| "zonecast".into());
    let refs = std::env::var("ZC_DIFF_REFS").unwrap_or_else(|_| "knot,nsd".into());
    let refs = refs
        .split(',')
        .filter(|r| !r.is_empty() && *r != subject)
        .map(str::to_string)
        .collect();
    (subject, refs)
}

/// The shipped zones (root.zone serves the root), or ZC_ZONES (`NAME=FILE` words).
fn shipped_zones() -> Vec<(String, PathBuf)> {
    if let Ok(list) = std::env::var("ZC_ZONES") {
        return list
            .split_whitespace()
            .filter_map(|w| w.split_once('='))
            .map(|(n, f)| (n.to_string(), PathBuf::from(f)))
            .collect();
    }
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("zones");
    let mut zones = Vec::new();
    if let Ok(entries) = std::fs::read_dir(&dir) {
        for e in entries.flatten() {
            let path = e.path();
            let Some(file) = path.file_name().and_then(|f| f.to_str()) else {
                continue;
            };
            let Some(stem) = file.strip_suffix(".zone") else {
                continue;
            };
            let name = if stem == "root" {
                ".".to_string()
            } else {
                format!("{stem}.")
            };
            zones.push((name, path));
        }
    }
    zones.sort();
    zones
}

/// The outcome of one zone set.
#[derive(Default)]
struct Tally {
    queries: usize,
    /// Queries per purpose (the branch each was meant to reach).
    purposes: BTreeMap<&'static str, usize>,
    exact: usize,
    intended: BTreeMap<&'static str, usize>,
    peer_disagreements: usize,
    /// (purpose, kind of difference) -> count, between the first reference and the others.
    peer_kinds: BTreeMap<(String, String), usize>,
    /// The same grouping for unexplained differences from the first reference.
    mismatch_kinds: BTreeMap<(String, String), usize>,
    unexplained: Vec<String>,
}

fn run_set(label: &str, zones: &[(String, PathBuf)], tally: &mut Tally) {
    let (subject, refs) = subject_and_refs();
    let dir = tempfile::tempdir().expect("temp dir");
    let data: Vec<queries::ZoneData> = zones
        .iter()
        .map(|(n, f)| queries::read_zone(n, f).unwrap_or_else(|e| panic!("{e}")))
        .collect();
    let probes = queries::probes(&data, OWNER_LIMIT);
    let start = |kind: &str| {
        Server::start(kind, dir.path(), zones).unwrap_or_else(|e| panic!("{label}: {e}"))
    };
    let subj = start(&subject);
    let refs: Vec<Server> = refs.iter().map(|r| start(r)).collect();
    let timeout = Duration::from_secs(2);
    let ask = |s: &Server, p: &Probe| match exchange(s.addr, p, timeout) {
        Ok(bytes) => Reply::from_wire(&bytes),
        Err(e) => Reply::failure(&e),
    };
    for p in &probes {
        tally.queries += 1;
        *tally.purposes.entry(p.purpose).or_default() += 1;
        let mine = ask(&subj, p);
        let theirs: Vec<Reply> = refs.iter().map(|r| ask(r, p)).collect();
        if theirs.windows(2).any(|w| w[0] != w[1]) {
            tally.peer_disagreements += 1;
            for (r, t) in refs.iter().zip(&theirs).skip(1) {
                for line in theirs[0].diff(t, &refs[0].kind, &r.kind) {
                    *tally
                        .peer_kinds
                        .entry((p.purpose.to_string(), kind_of(&line)))
                        .or_default() += 1;
                }
            }
        }
        if theirs.contains(&mine) {
            tally.exact += 1;
            continue;
        }
        if let Some(rule) = INTENDED
            .iter()
            .find(|rule| theirs.iter().any(|t| (rule.applies)(p, &mine, t)))
        {
            *tally.intended.entry(rule.name).or_default() += 1;
            continue;
        }
        let mut text = format!("[{label}] {} ({})\n", p.describe(), p.purpose);
        for (r, t) in refs.iter().zip(&theirs) {
            text.push_str(&format!("   vs {}:\n", r.kind));
            for line in mine.diff(t, &subject, &r.kind) {
                if r.kind == refs[0].kind {
                    *tally
                        .mismatch_kinds
                        .entry((p.purpose.to_string(), kind_of(&line)))
                        .or_default() += 1;
                }
                text.push_str(&format!("      {line}\n"));
            }
        }
        text.push_str(&format!("   {subject} replied:\n{mine}"));
        tally.unexplained.push(text);
    }
}

/// A diff line without its record, to group differences by kind.
fn kind_of(line: &str) -> String {
    match line.split_once(": only ") {
        Some((sec, rest)) => {
            let who = rest.split(':').next().unwrap_or("");
            let rtype = rest.split_whitespace().nth(4).unwrap_or("");
            format!("{sec} only {who} {rtype}")
        }
        None => line.to_string(),
    }
}

#[test]
#[ignore = "needs knotd, nsd and named-checkzone; run by integration/run"]
fn differential() {
    let (subject, refs) = subject_and_refs();
    let gen_dir = tempfile::tempdir().expect("temp dir");
    let parent = gen_dir.path().join("difftest.zone");
    let child = gen_dir.path().join("sub.difftest.zone");
    std::fs::write(&parent, generate::parent_zone(3000)).expect("write zone");
    std::fs::write(&child, generate::child_zone()).expect("write zone");
    let generated = vec![
        (generate::APEX.to_string(), parent),
        (generate::CHILD.to_string(), child),
    ];
    let mut tally = Tally::default();
    let shipped = shipped_zones();
    if shipped.is_empty() {
        println!("no shipped zones in zones/; only the generated zones are compared");
    } else {
        run_set("shipped", &shipped, &mut tally);
    }
    run_set("generated", &generated, &mut tally);

    println!(
        "differential: {subject} vs {}: {} queries, {} identical, {} intended differences, \
         {} unexplained; the references disagreed among themselves on {}",
        refs.join("+"),
        tally.queries,
        tally.exact,
        tally.intended.values().sum::<usize>(),
        tally.unexplained.len(),
        tally.peer_disagreements
    );
    let purposes: Vec<String> = tally
        .purposes
        .iter()
        .map(|(p, n)| format!("{p} {n}"))
        .collect();
    println!("  queries by purpose: {}", purposes.join(", "));
    for rule in INTENDED {
        if let Some(n) = tally.intended.get(rule.name) {
            println!("  intended: {} x{n}: {}", rule.name, rule.reason);
        }
    }
    for ((purpose, kind), n) in &tally.peer_kinds {
        println!("  references differ: {purpose}: {kind} x{n}");
    }
    for ((purpose, kind), n) in &tally.mismatch_kinds {
        println!("  unexplained: {purpose}: {kind} x{n}");
    }
    let only = std::env::var("ZC_DIFF_SHOW").unwrap_or_default();
    for text in tally
        .unexplained
        .iter()
        .filter(|t| t.contains(&only))
        .take(SHOW)
    {
        println!("{text}");
    }
    assert!(tally.queries >= 500, "only {} queries", tally.queries);
    assert!(
        tally.unexplained.is_empty(),
        "{} unexplained differences (first {SHOW} above)",
        tally.unexplained.len()
    );
}

/// The comparer itself, without servers: order and name case are ignored, anything else
/// that differs is reported.
#[test]
fn comparer_ignores_order_and_case_only() {
    use hickory_proto::op::{Message, MessageType, OpCode, ResponseCode};
    use hickory_proto::rr::rdata::{A, CNAME};
    use hickory_proto::rr::{Name, RData, Record};
    let name = |s: &str| Name::from_ascii(s).expect("name");
    let a = |n: &str, ip: [u8; 4], ttl: u32| {
        Record::from_rdata(name(n), ttl, RData::A(A::new(ip[0], ip[1], ip[2], ip[3])))
    };
    let mut one = Message::new(1, MessageType::Response, OpCode::Query);
    one.metadata.authoritative = true;
    one.add_answer(a("www.Example.test.", [192, 0, 2, 1], 300));
    one.add_answer(a("www.example.test.", [192, 0, 2, 2], 300));
    one.add_authority(Record::from_rdata(
        name("x.example.test."),
        60,
        RData::CNAME(CNAME(name("WWW.example.test."))),
    ));
    let mut two = Message::new(2, MessageType::Response, OpCode::Query);
    two.metadata.authoritative = true;
    two.add_answer(a("WWW.example.test.", [192, 0, 2, 2], 300));
    two.add_answer(a("www.example.TEST.", [192, 0, 2, 1], 300));
    two.add_authority(Record::from_rdata(
        name("X.example.test."),
        60,
        RData::CNAME(CNAME(name("www.example.test."))),
    ));
    let (r1, r2) = (Reply::from_message(&one), Reply::from_message(&two));
    assert_eq!(r1, r2, "{:?}", r1.diff(&r2, "one", "two"));

    let mut three = two.clone();
    three.metadata.authoritative = false;
    three.metadata.response_code = ResponseCode::NXDomain;
    three.answers[0].ttl = 299;
    let diff = r1.diff(&Reply::from_message(&three), "one", "three");
    assert!(diff.iter().any(|l| l.starts_with("rcode:")), "{diff:?}");
    assert!(diff.iter().any(|l| l.starts_with("flags:")), "{diff:?}");
    assert!(
        diff.iter().any(|l| l.starts_with("answer: only three")),
        "{diff:?}"
    );
}
