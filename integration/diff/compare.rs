//! What a reply is compared on: rcode (with the EDNS extended bits), the header flags, the
//! question as echoed, and the three sections as sets of records. Names are compared
//! case-insensitively, order and ID are ignored. Of the OPT record only its presence,
//! version and DO bit are compared: payload size and options (NSID, cookies, padding)
//! are server settings, not answers.

use std::collections::BTreeSet;
use std::fmt;

use hickory_proto::op::Message;
use hickory_proto::rr::{RData, Record, RecordType};

use crate::servers::type_name;

/// A reply reduced to what must agree between servers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reply {
    pub rcode: String,
    pub flags: BTreeSet<&'static str>,
    pub question: Vec<String>,
    pub answer: BTreeSet<String>,
    pub authority: BTreeSet<String>,
    pub additional: BTreeSet<String>,
    /// (version, DO) of the OPT record, if any.
    pub opt: Option<(u8, bool)>,
}

impl Reply {
    /// Decodes a raw reply; an undecodable one becomes a reply whose rcode says so, which
    /// then differs from every decodable reply.
    pub fn from_wire(bytes: &[u8]) -> Reply {
        match Message::from_vec(bytes) {
            Ok(m) => Reply::from_message(&m),
            Err(e) => Reply::failure(&format!("undecodable reply: {e}")),
        }
    }

    /// A reply that never came or could not be read; it differs from every real reply.
    pub fn failure(why: &str) -> Reply {
        Reply {
            rcode: format!("FAILED({why})"),
            flags: BTreeSet::new(),
            question: vec![],
            answer: BTreeSet::new(),
            authority: BTreeSet::new(),
            additional: BTreeSet::new(),
            opt: None,
        }
    }

    pub fn from_message(m: &Message) -> Reply {
        let h = &m.metadata;
        let mut flags = BTreeSet::new();
        for (on, tag) in [
            (h.authoritative, "aa"),
            (h.truncation, "tc"),
            (h.recursion_desired, "rd"),
            (h.recursion_available, "ra"),
            (h.authentic_data, "ad"),
            (h.checking_disabled, "cd"),
        ] {
            if on {
                flags.insert(tag);
            }
        }
        Reply {
            rcode: format!("{:?}", h.response_code),
            flags,
            question: m
                .queries
                .iter()
                .map(|q| {
                    format!(
                        "{} {} {}",
                        q.name(),
                        q.query_class(),
                        type_name(q.query_type())
                    )
                })
                .collect(),
            answer: m.answers.iter().map(canonical).collect(),
            authority: m.authorities.iter().map(canonical).collect(),
            additional: m
                .additionals
                .iter()
                .filter(|r| r.record_type() != RecordType::OPT)
                .map(canonical)
                .collect(),
            opt: m.edns.as_ref().map(|e| (e.version(), e.flags().dnssec_ok)),
        }
    }

    /// The differences from `other`, one line each (empty when they agree).
    pub fn diff(&self, other: &Reply, mine: &str, theirs: &str) -> Vec<String> {
        let mut out = Vec::new();
        if self.rcode != other.rcode {
            out.push(format!(
                "rcode: {mine} {} / {theirs} {}",
                self.rcode, other.rcode
            ));
        }
        if self.flags != other.flags {
            out.push(format!(
                "flags: {mine} [{}] / {theirs} [{}]",
                join(&self.flags),
                join(&other.flags)
            ));
        }
        if self.question != other.question {
            out.push(format!(
                "question: {mine} {:?} / {theirs} {:?}",
                self.question, other.question
            ));
        }
        if self.opt != other.opt {
            out.push(format!(
                "opt: {mine} {:?} / {theirs} {:?}",
                self.opt, other.opt
            ));
        }
        for (sec, a, b) in [
            ("answer", &self.answer, &other.answer),
            ("authority", &self.authority, &other.authority),
            ("additional", &self.additional, &other.additional),
        ] {
            for r in a.difference(b) {
                out.push(format!("{sec}: only {mine}: {r}"));
            }
            for r in b.difference(a) {
                out.push(format!("{sec}: only {theirs}: {r}"));
            }
        }
        out
    }
}

fn join(s: &BTreeSet<&str>) -> String {
    s.iter().copied().collect::<Vec<_>>().join(" ")
}

/// One record as text with its names lowercased (owner, and names inside RDATA), so that
/// comparison ignores case as DNS does while TXT strings keep theirs.
pub fn canonical(r: &Record) -> String {
    let rdata = match &r.data {
        RData::TXT(_) | RData::Unknown { .. } | RData::CAA(_) | RData::HINFO(_) => {
            r.data.to_string()
        }
        other => other.to_string().to_ascii_lowercase(),
    };
    format!(
        "{} {} {} {} {}",
        r.name.to_ascii().to_ascii_lowercase(),
        r.ttl,
        r.dns_class,
        type_name(r.record_type()),
        rdata
    )
}

impl fmt::Display for Reply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "      rcode {} flags [{}] opt {:?}",
            self.rcode,
            join(&self.flags),
            self.opt
        )?;
        for (sec, set) in [
            ("AN", &self.answer),
            ("NS", &self.authority),
            ("AR", &self.additional),
        ] {
            for r in set {
                writeln!(f, "      {sec} {r}")?;
            }
        }
        Ok(())
    }
}
