//! Finding the servers to watch when none are named: the zone apex by an SOA walk from
//! the name, its NS set, and every NS address, all asked of a recursive resolver (the
//! system's from resolv.conf, or one given with `--resolver`).
//!
//! The decisions (what a reply says about the apex, which addresses an NS has) are pure
//! functions of the messages; [`discover`] only sends the queries.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::{Name, RData, RecordType};

use super::model::{Role, ServerSpec};
use super::probe::{ProbeError, Question, exchange, soa};

#[derive(Debug, thiserror::Error)]
pub enum DiscoverError {
    #[error("no resolver to discover with: none given with --resolver and none in {0}")]
    NoResolver(String),
    #[error("no resolver answered {name} {rtype}: {last}")]
    Unanswered {
        name: Name,
        rtype: RecordType,
        last: ProbeError,
    },
    #[error("no SOA found for {0} or any of its parents")]
    NoApex(Name),
    #[error("zone {0} has no NS records")]
    NoNs(Name),
    #[error("none of the name servers of {0} has an address")]
    NoAddresses(Name),
}

/// The nameservers of a resolv.conf file, on port 53.
pub fn parse_resolv_conf(text: &str) -> Vec<SocketAddr> {
    text.lines()
        .filter_map(|line| {
            let mut words = line.split_whitespace();
            if words.next() != Some("nameserver") {
                return None;
            }
            // Link-local IPv6 entries may carry a %scope; the scope-less part is kept.
            let addr = words.next()?.split('%').next()?;
            addr.parse::<IpAddr>()
                .ok()
                .map(|ip| SocketAddr::new(ip, 53))
        })
        .collect()
}

/// What an SOA reply for `candidate` says about where the zone starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApexStep {
    /// The apex, and the SOA MNAME (the primary's name).
    Found { apex: Name, mname: Name },
    /// No SOA came back for this name: try its parent.
    Up,
}

/// An SOA in the answer owned by the name is the apex itself; an SOA in the authority
/// section of a negative answer names the enclosing zone's apex.
pub fn apex_step(candidate: &Name, reply: &Message) -> ApexStep {
    let in_answer = reply.answers.iter().find_map(|r| match &r.data {
        RData::SOA(s) if &r.name == candidate => Some((r.name.clone(), s.mname.clone())),
        _ => None,
    });
    if let Some((apex, mname)) = in_answer {
        return ApexStep::Found { apex, mname };
    }
    let negative = matches!(
        reply.metadata.response_code,
        ResponseCode::NoError | ResponseCode::NXDomain
    ) && !reply
        .answers
        .iter()
        .any(|r| r.record_type() == RecordType::CNAME);
    if negative
        && let Some((owner, _, s)) = soa(reply)
        && owner.zone_of(candidate)
    {
        return ApexStep::Found {
            apex: owner,
            mname: s.mname,
        };
    }
    ApexStep::Up
}

/// The NS names in a reply to an NS query for `apex`.
pub fn ns_names(apex: &Name, reply: &Message) -> Vec<Name> {
    let mut names: Vec<Name> = reply
        .answers
        .iter()
        .filter(|r| &r.name == apex)
        .filter_map(|r| match &r.data {
            RData::NS(ns) => Some(ns.0.clone()),
            _ => None,
        })
        .collect();
    names.sort();
    names.dedup();
    names
}

/// The addresses of `host` in a reply (following a CNAME, whose target owns them).
pub fn addresses(reply: &Message) -> Vec<IpAddr> {
    reply
        .answers
        .iter()
        .filter_map(|r| match &r.data {
            RData::A(a) => Some(IpAddr::V4(a.0)),
            RData::AAAA(a) => Some(IpAddr::V6(a.0)),
            _ => None,
        })
        .collect()
}

/// How to discover.
#[derive(Debug, Clone)]
pub struct DiscoverOptions {
    /// Recursive resolvers to ask, tried in order.
    pub resolvers: Vec<SocketAddr>,
    /// The port the discovered servers listen on (labs often use one non-53 port).
    pub port: u16,
    pub ipv6: bool,
    pub timeout: Duration,
}

#[derive(Debug, Clone)]
pub struct Discovery {
    pub apex: Name,
    pub servers: Vec<ServerSpec>,
}

async fn ask(
    opts: &DiscoverOptions,
    name: &Name,
    rtype: RecordType,
) -> Result<Message, DiscoverError> {
    let q = Question {
        name: name.clone(),
        rtype,
        recursion: true,
        options: Vec::new(),
    };
    let mut last = None;
    for resolver in &opts.resolvers {
        match exchange(*resolver, &q, opts.timeout).await {
            Ok(x) => return Ok(x.message),
            Err(e) => last = Some(e),
        }
    }
    Err(DiscoverError::Unanswered {
        name: name.clone(),
        rtype,
        last: last.unwrap_or(ProbeError::Timeout(opts.timeout)),
    })
}

/// Finds the zone of `name` and its authoritative servers. The NS named by the SOA
/// MNAME is taken to be the primary, the others secondaries.
pub async fn discover(name: &Name, opts: &DiscoverOptions) -> Result<Discovery, DiscoverError> {
    if opts.resolvers.is_empty() {
        return Err(DiscoverError::NoResolver("/etc/resolv.conf".into()));
    }
    let mut candidate = name.clone();
    let (apex, mname) = loop {
        let reply = ask(opts, &candidate, RecordType::SOA).await?;
        match apex_step(&candidate, &reply) {
            ApexStep::Found { apex, mname } => break (apex, mname),
            ApexStep::Up if candidate.is_root() => return Err(DiscoverError::NoApex(name.clone())),
            ApexStep::Up => candidate = candidate.base_name(),
        }
    };
    let ns_reply = ask(opts, &apex, RecordType::NS).await?;
    let names = ns_names(&apex, &ns_reply);
    if names.is_empty() {
        return Err(DiscoverError::NoNs(apex));
    }
    let mut servers = Vec::new();
    for ns in names {
        let mut ips = Vec::new();
        let mut types = vec![RecordType::A];
        if opts.ipv6 {
            types.push(RecordType::AAAA);
        }
        for rtype in types {
            if let Ok(reply) = ask(opts, &ns, rtype).await {
                ips.extend(addresses(&reply));
            }
        }
        ips.sort();
        ips.dedup();
        let role = if ns == mname {
            Role::Primary
        } else {
            Role::Secondary
        };
        let label = ns.to_string();
        let label = label.trim_end_matches('.');
        for ip in ips {
            servers.push(ServerSpec {
                name: label.to_string(),
                role,
                addr: SocketAddr::new(ip, opts.port),
            });
        }
    }
    if servers.is_empty() {
        return Err(DiscoverError::NoAddresses(apex));
    }
    // The primary first, then by name, as a reader expects the table.
    servers.sort_by(|a, b| {
        (a.role != Role::Primary, &a.name, a.addr).cmp(&(b.role != Role::Primary, &b.name, b.addr))
    });
    Ok(Discovery { apex, servers })
}

#[cfg(test)]
mod tests {
    use super::*;
    use hickory_proto::op::{MessageType, OpCode, Query};
    use hickory_proto::rr::Record;
    use hickory_proto::rr::rdata::{A, NS, SOA};

    fn n(s: &str) -> Name {
        Name::from_ascii(s).unwrap()
    }

    fn soa_rec(owner: &str) -> Record {
        Record::from_rdata(
            n(owner),
            3600,
            RData::SOA(SOA::new(
                n("ns1.example.com."),
                n("h.example.com."),
                7,
                1,
                1,
                1,
                60,
            )),
        )
    }

    fn reply(rcode: ResponseCode) -> Message {
        let mut m = Message::new(1, MessageType::Response, OpCode::Query);
        m.metadata.response_code = rcode;
        m.add_query(Query::query(n("x."), RecordType::SOA));
        m
    }

    #[test]
    fn resolv_conf_nameservers() {
        let text = "# comment\nsearch example\nnameserver 192.0.2.53\nnameserver fe80::1%eth0\nnameserver\noptions ndots:2\nnameserver bogus\n";
        assert_eq!(
            parse_resolv_conf(text),
            vec![
                "192.0.2.53:53".parse().unwrap(),
                "[fe80::1]:53".parse().unwrap()
            ]
        );
    }

    #[test]
    fn apex_from_answer_or_authority() {
        let mut m = reply(ResponseCode::NoError);
        m.add_answer(soa_rec("example.com."));
        assert_eq!(
            apex_step(&n("example.com."), &m),
            ApexStep::Found {
                apex: n("example.com."),
                mname: n("ns1.example.com.")
            }
        );
        let mut m = reply(ResponseCode::NXDomain);
        m.add_authority(soa_rec("example.com."));
        assert!(matches!(
            apex_step(&n("www.example.com."), &m),
            ApexStep::Found { apex, .. } if apex == n("example.com.")
        ));
        // An SOA of an unrelated zone (a CNAME target's) does not count.
        let mut m = reply(ResponseCode::NoError);
        m.add_authority(soa_rec("other.net."));
        assert_eq!(apex_step(&n("www.example.com."), &m), ApexStep::Up);
        assert_eq!(
            apex_step(&n("www.example.com."), &reply(ResponseCode::ServFail)),
            ApexStep::Up
        );
    }

    #[test]
    fn ns_and_addresses() {
        let mut m = reply(ResponseCode::NoError);
        for ns in ["ns2.example.com.", "ns1.example.com.", "ns1.example.com."] {
            m.add_answer(Record::from_rdata(
                n("example.com."),
                60,
                RData::NS(NS(n(ns))),
            ));
        }
        m.add_answer(Record::from_rdata(
            n("sub.example.com."),
            60,
            RData::NS(NS(n("x."))),
        ));
        assert_eq!(
            ns_names(&n("example.com."), &m),
            vec![n("ns1.example.com."), n("ns2.example.com.")]
        );
        let mut m = reply(ResponseCode::NoError);
        m.add_answer(Record::from_rdata(
            n("ns1."),
            60,
            RData::A(A::new(192, 0, 2, 1)),
        ));
        assert_eq!(addresses(&m), vec![IpAddr::from([192, 0, 2, 1])]);
    }
}
