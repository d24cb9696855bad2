use std::collections::HashMap;
use std::str::FromStr;
use std::time::Duration;

use super::*;
use crate::resolver::cache::{CacheConfig, Hit};
use crate::resolver::lab::{self, LabServer};

const PORT: u16 = 5300;

#[derive(Clone, Copy, PartialEq)]
enum Behaviour {
    Timeout,
    TruncateUdp,
    Refuse,
}

struct Net {
    servers: Vec<LabServer>,
    behaviour: HashMap<IpAddr, Behaviour>,
    sent: Vec<Outgoing>,
}

impl Net {
    fn new() -> Self {
        Net {
            servers: lab::hierarchy(),
            behaviour: HashMap::new(),
            sent: Vec::new(),
        }
    }

    fn reply(&self, out: &Outgoing) -> Option<Message> {
        let q = Message::from_vec(&out.payload).unwrap();
        let b = self.behaviour.get(&out.addr.ip()).copied();
        if b == Some(Behaviour::Timeout) || out.addr.port() != PORT {
            return None;
        }
        let server = self.servers.iter().find(|s| s.addr == out.addr.ip())?;
        let mut resp = server.respond(&q);
        match b {
            Some(Behaviour::TruncateUdp) if !out.tcp => {
                resp.answers.clear();
                resp.authorities.clear();
                resp.additionals.clear();
                resp.metadata.truncation = true;
            }
            Some(Behaviour::Refuse) => {
                resp.answers.clear();
                resp.authorities.clear();
                resp.additionals.clear();
                resp.metadata.response_code = ResponseCode::Refused;
            }
            _ => {}
        }
        Some(resp)
    }
}

fn cfg() -> IterConfig {
    IterConfig {
        root_hints: lab::root_hints(),
        upstream_port: PORT,
        ..IterConfig::default()
    }
}

fn shared() -> Shared {
    Shared {
        cache: Cache::new(CacheConfig::default()),
        infra: Infra::default(),
    }
}

fn n(s: &str) -> Name {
    Name::from_str(s).unwrap()
}

/// Runs a resolution to its end against the scripted network, advancing a fake clock.
fn run(res: &mut Resolution, sh: &mut Shared, net: &mut Net, now: &mut Instant) -> Outcome {
    for _ in 0..1000 {
        match res.poll(sh, *now) {
            Action::Done(o) => return o,
            Action::Wait(_) => panic!("poll with nothing pending must not wait"),
            Action::Send(out) => {
                net.sent.push(out.clone());
                match net.reply(&out) {
                    Some(resp) => {
                        *now += Duration::from_millis(2);
                        let bytes = resp.to_vec().unwrap();
                        assert!(res.on_response(out.token, out.addr, &bytes, sh, *now));
                    }
                    None => {
                        *now = out.deadline;
                        res.on_timeout(out.token, sh, *now);
                    }
                }
            }
        }
    }
    panic!("resolution did not finish");
}

fn resolve(name: &str, t: RecordType, c: IterConfig, sh: &mut Shared, net: &mut Net) -> Outcome {
    let mut now = Instant::now();
    let mut res = Resolution::new(n(name), t, Arc::new(c)).with_trace();
    let out = run(&mut res, sh, net, &mut now);
    for line in res.take_trace() {
        eprintln!("{line}");
    }
    out
}

fn addrs(o: &Outcome) -> Vec<String> {
    o.answers.iter().map(|r| r.data.to_string()).collect()
}

#[test]
fn follows_referrals_with_glue() {
    let (mut sh, mut net) = (shared(), Net::new());
    let o = resolve("www.example.test.", RecordType::A, cfg(), &mut sh, &mut net);
    assert_eq!(o.rcode, ResponseCode::NoError);
    assert_eq!(addrs(&o), vec!["192.0.2.10"]);
    assert_eq!(o.answers[0].ttl, 30);
    let asked: Vec<u8> = net
        .sent
        .iter()
        .map(|s| match s.addr.ip() {
            IpAddr::V4(v) => v.octets()[3],
            IpAddr::V6(_) => 0,
        })
        .collect();
    assert_eq!(asked[0], 11, "starts at the root hint");
    assert!(asked.contains(&12));
    assert!(asked.iter().any(|a| (13..=15).contains(a)));
    // The delegation is now cached: the next name in the zone asks example.test directly.
    let d = sh
        .cache
        .closest_delegation(&n("other.example.test."), Instant::now())
        .unwrap();
    assert_eq!(d.zone, n("example.test."));
    assert_eq!(d.servers.len(), 3);
    net.sent.clear();
    let o = resolve(
        "alias.example.test.",
        RecordType::A,
        cfg(),
        &mut sh,
        &mut net,
    );
    assert_eq!(o.answers.len(), 2);
    assert!(
        net.sent
            .iter()
            .all(|s| s.addr.ip() != IpAddr::from([127, 0, 0, 11]))
    );
}

#[test]
fn cache_hit_costs_no_query() {
    let (mut sh, mut net) = (shared(), Net::new());
    resolve("www.example.test.", RecordType::A, cfg(), &mut sh, &mut net);
    let before = net.sent.len();
    let o = resolve("www.example.test.", RecordType::A, cfg(), &mut sh, &mut net);
    assert_eq!(addrs(&o), vec!["192.0.2.10"]);
    assert_eq!(net.sent.len(), before);
}

#[test]
fn resolves_ns_name_without_glue() {
    let (mut sh, mut net) = (shared(), Net::new());
    let o = resolve("www.shop.test.", RecordType::A, cfg(), &mut sh, &mut net);
    assert_eq!(o.rcode, ResponseCode::NoError);
    assert_eq!(addrs(&o), vec!["192.0.2.40"]);
    // The NS name's address came from example.test's own servers, not from glue.
    let hit = sh.cache.lookup(
        &n("ns.shop-dns.example.test."),
        RecordType::A,
        DNSClass::IN,
        Rank::AuthAnswer,
        Instant::now(),
    );
    assert!(matches!(hit, Some(Hit::Records(_))), "{hit:?}");
}

#[test]
fn chases_cname_across_zones() {
    for minimise in [true, false] {
        let (mut sh, mut net) = (shared(), Net::new());
        let c = IterConfig {
            qname_minimisation: minimise,
            ..cfg()
        };
        let o = resolve(
            "shopalias.example.test.",
            RecordType::A,
            c,
            &mut sh,
            &mut net,
        );
        assert_eq!(o.rcode, ResponseCode::NoError);
        assert_eq!(o.answers.len(), 2, "{o:?}");
        assert_eq!(o.answers[0].record_type(), RecordType::CNAME);
        assert_eq!(addrs(&o)[1], "192.0.2.40");
    }
}

#[test]
fn nxdomain_and_nodata() {
    let (mut sh, mut net) = (shared(), Net::new());
    let o = resolve(
        "nope.example.test.",
        RecordType::A,
        cfg(),
        &mut sh,
        &mut net,
    );
    assert_eq!(o.rcode, ResponseCode::NXDomain);
    assert_eq!(o.authorities.len(), 1);
    assert_eq!(o.authorities[0].ttl, 60, "min(SOA TTL, MINIMUM)");
    let o = resolve(
        "www.sub.example.test.",
        RecordType::AAAA,
        cfg(),
        &mut sh,
        &mut net,
    );
    assert_eq!(o.rcode, ResponseCode::NoError);
    assert!(o.answers.is_empty());
    assert_eq!(o.authorities[0].name, n("sub.example.test."));
    // An empty non-terminal is NODATA, with or without minimisation.
    for minimise in [true, false] {
        let c = IterConfig {
            qname_minimisation: minimise,
            ..cfg()
        };
        let o = resolve(
            "a.ent.example.test.",
            RecordType::A,
            c,
            &mut shared(),
            &mut Net::new(),
        );
        assert_eq!((o.rcode, o.answers.len()), (ResponseCode::NoError, 0));
    }
    // The negatives are cached.
    let before = net.sent.len();
    let o = resolve(
        "nope.example.test.",
        RecordType::TXT,
        cfg(),
        &mut sh,
        &mut net,
    );
    assert_eq!(o.rcode, ResponseCode::NXDomain);
    assert_eq!(net.sent.len(), before);
}

#[test]
fn timeouts_and_lame_servers_fall_back_to_siblings() {
    let (mut sh, mut net) = (shared(), Net::new());
    net.behaviour
        .insert(IpAddr::from([127, 0, 0, 14]), Behaviour::Timeout);
    net.behaviour
        .insert(IpAddr::from([127, 0, 0, 15]), Behaviour::Refuse);
    for name in [
        "www.example.test.",
        "alias.example.test.",
        "nope.example.test.",
    ] {
        let o = resolve(name, RecordType::A, cfg(), &mut sh, &mut net);
        assert_ne!(o.rcode, ResponseCode::ServFail, "{name}");
    }
    let fourteen = SocketAddr::new(IpAddr::from([127, 0, 0, 14]), PORT);
    let thirteen = SocketAddr::new(IpAddr::from([127, 0, 0, 13]), PORT);
    assert!(sh.infra.srtt(&fourteen) > sh.infra.srtt(&thirteen));
    // Once .14 is known to be slow, the next query goes to the fast server first.
    net.sent.clear();
    resolve(
        "mail.example.test.",
        RecordType::A,
        cfg(),
        &mut sh,
        &mut net,
    );
    assert_eq!(net.sent[0].addr, thirteen);
}

#[test]
fn all_servers_down_is_servfail_and_cached_briefly() {
    let (mut sh, mut net) = (shared(), Net::new());
    for last in 13..=15 {
        net.behaviour
            .insert(IpAddr::from([127, 0, 0, last]), Behaviour::Timeout);
    }
    let o = resolve("www.example.test.", RecordType::A, cfg(), &mut sh, &mut net);
    assert_eq!(o.rcode, ResponseCode::ServFail);
    // Each server got at most `tries_per_server` sends.
    let to13 = net
        .sent
        .iter()
        .filter(|s| s.addr.ip() == IpAddr::from([127, 0, 0, 13]))
        .count();
    assert_eq!(to13, 2);
    let hit = sh
        .cache
        .answer(
            &n("www.example.test."),
            RecordType::A,
            DNSClass::IN,
            Instant::now(),
            false,
        )
        .unwrap();
    assert_eq!(hit.rcode, ResponseCode::ServFail);
}

#[test]
fn truncated_udp_retries_over_tcp() {
    let (mut sh, mut net) = (shared(), Net::new());
    net.behaviour
        .insert(IpAddr::from([127, 0, 0, 12]), Behaviour::TruncateUdp);
    let o = resolve("www.example.test.", RecordType::A, cfg(), &mut sh, &mut net);
    assert_eq!(addrs(&o), vec!["192.0.2.10"]);
    let to12: Vec<bool> = net
        .sent
        .iter()
        .filter(|s| s.addr.ip() == IpAddr::from([127, 0, 0, 12]))
        .map(|s| s.tcp)
        .collect();
    assert_eq!(to12, vec![false, true]);
}

#[test]
fn budget_limits_work() {
    let (mut sh, mut net) = (shared(), Net::new());
    let c = IterConfig {
        max_queries: 2,
        ..cfg()
    };
    let o = resolve("www.example.test.", RecordType::A, c, &mut sh, &mut net);
    assert_eq!(o.rcode, ResponseCode::ServFail);
    assert_eq!(net.sent.len(), 2);
}

#[test]
fn qname_minimisation_hides_the_full_name_from_the_root() {
    let first_query = |minimise: bool| {
        let mut net = Net::new();
        let c = IterConfig {
            qname_minimisation: minimise,
            ..cfg()
        };
        resolve(
            "www.example.test.",
            RecordType::A,
            c,
            &mut shared(),
            &mut net,
        );
        let q = Message::from_vec(&net.sent[0].payload).unwrap();
        q.queries[0].name().to_string()
    };
    assert_eq!(first_query(true), "test.");
    assert_eq!(first_query(false), "www.example.test.");
}

#[test]
fn forward_mode_sets_rd_and_asks_only_the_forwarder() {
    let (mut sh, mut net) = (shared(), Net::new());
    let fw = SocketAddr::new(IpAddr::from([127, 0, 0, 13]), PORT);
    let c = IterConfig {
        forward: vec![fw],
        ..cfg()
    };
    let o = resolve("www.example.test.", RecordType::A, c, &mut sh, &mut net);
    assert_eq!(addrs(&o), vec!["192.0.2.10"]);
    assert!(net.sent.iter().all(|s| s.addr == fw));
    let q = Message::from_vec(&net.sent[0].payload).unwrap();
    assert!(q.metadata.recursion_desired);
}

/// Spoof checks: a reply from the wrong address or port, with the wrong ID or the wrong
/// question, is ignored and the real one still accepted.
#[test]
fn forged_replies_are_ignored() {
    for use_0x20 in [false, true] {
        let mut sh = shared();
        let net = Net::new();
        let c = IterConfig {
            use_0x20,
            qname_minimisation: false,
            ..cfg()
        };
        let now = Instant::now();
        let mut res = Resolution::new(n("www.example.test."), RecordType::A, Arc::new(c));
        let Action::Send(out) = res.poll(&mut sh, now) else {
            panic!()
        };
        let good = net.reply(&out).unwrap();
        let bytes = |m: &Message| m.to_vec().unwrap();
        let wrong_ip = SocketAddr::new(IpAddr::from([127, 0, 0, 99]), PORT);
        let wrong_port = SocketAddr::new(out.addr.ip(), PORT + 1);
        assert!(!res.on_response(out.token, wrong_ip, &bytes(&good), &mut sh, now));
        assert!(!res.on_response(out.token, wrong_port, &bytes(&good), &mut sh, now));
        let mut bad_id = good.clone();
        bad_id.metadata.id = good.metadata.id.wrapping_add(1);
        assert!(!res.on_response(out.token, out.addr, &bytes(&bad_id), &mut sh, now));
        let mut bad_q = good.clone();
        bad_q.queries[0].set_name(n("evil.example.test."));
        assert!(!res.on_response(out.token, out.addr, &bytes(&bad_q), &mut sh, now));
        let mut bad_type = good.clone();
        bad_type.queries[0].set_query_type(RecordType::AAAA);
        assert!(!res.on_response(out.token, out.addr, &bytes(&bad_type), &mut sh, now));
        if use_0x20 {
            let sent = good.queries[0].name().to_ascii();
            let swapped: String = sent
                .chars()
                .map(|c| {
                    if c.is_ascii_uppercase() {
                        c.to_ascii_lowercase()
                    } else {
                        c.to_ascii_uppercase()
                    }
                })
                .collect();
            let mut bad_case = good.clone();
            bad_case.queries[0].set_name(Name::from_ascii(&swapped).unwrap());
            assert!(!res.on_response(out.token, out.addr, &bytes(&bad_case), &mut sh, now));
        }
        assert!(!res.on_response(out.token + 1, out.addr, &bytes(&good), &mut sh, now));
        // Nothing forged reached the cache.
        assert!(sh.cache.is_empty());
        assert!(res.on_response(out.token, out.addr, &bytes(&good), &mut sh, now));
        // A second copy after acceptance is ignored too.
        assert!(!res.on_response(out.token, out.addr, &bytes(&good), &mut sh, now));
    }
}

#[test]
fn refresh_bypasses_the_cache_for_its_question() {
    let (mut sh, mut net) = (shared(), Net::new());
    resolve("www.example.test.", RecordType::A, cfg(), &mut sh, &mut net);
    let before = net.sent.len();
    let mut now = Instant::now();
    let mut res = Resolution::refresh(n("www.example.test."), RecordType::A, Arc::new(cfg()));
    let o = run(&mut res, &mut sh, &mut net, &mut now);
    assert_eq!(addrs(&o), vec!["192.0.2.10"]);
    // One query, straight to example.test's servers (the delegation is still cached).
    assert_eq!(net.sent.len(), before + 1);
    assert!((13..=15).contains(&match net.sent[before].addr.ip() {
        IpAddr::V4(v) => v.octets()[3],
        IpAddr::V6(_) => 0,
    }));
}

/// A cached cut whose only NS name lies inside it, with no address cached (learnt from
/// an authoritative NS answer, not a referral): start from the zone above instead.
#[test]
fn in_zone_ns_without_cached_address_goes_up() {
    let (mut sh, mut net) = (shared(), Net::new());
    let ns = Record::from_rdata(
        n("sub.example.test."),
        300,
        RData::NS(hickory_proto::rr::rdata::NS(n("ns.sub.example.test."))),
    );
    sh.cache
        .insert_rrset(&[ns], Rank::AuthAnswer, Instant::now());
    for (name, t) in [
        ("sub.example.test.", RecordType::SOA),
        ("ns.sub.example.test.", RecordType::A),
    ] {
        let o = resolve(name, t, cfg(), &mut sh, &mut net);
        assert_eq!(
            (o.rcode, o.answers.len()),
            (ResponseCode::NoError, 1),
            "{name}"
        );
    }
}

#[test]
fn relative_names_are_taken_as_absolute() {
    let (mut sh, mut net) = (shared(), Net::new());
    let o = resolve("www.example.test", RecordType::A, cfg(), &mut sh, &mut net);
    assert_eq!(addrs(&o), vec!["192.0.2.10"]);
}

/// An NS name with only an IPv6 address: after its A lookup comes back empty, AAAA.
#[test]
fn ns_name_with_only_ipv6_address() {
    let mut net = Net::new();
    let v6: IpAddr = "::1".parse().unwrap();
    let shop = net
        .servers
        .iter()
        .flat_map(|s| s.zones.iter())
        .find(|z| z.apex == n("shop.test."))
        .cloned()
        .unwrap();
    for s in &mut net.servers {
        for z in &mut s.zones {
            for r in &mut z.records {
                if r.name == n("ns.shop-dns.example.test.") {
                    *r = Record::from_rdata(
                        r.name.clone(),
                        r.ttl,
                        RData::AAAA(v6.to_string().parse().unwrap()),
                    );
                }
            }
        }
    }
    net.servers.push(LabServer {
        addr: v6,
        zones: vec![shop],
    });
    let o = resolve(
        "www.shop.test.",
        RecordType::A,
        cfg(),
        &mut shared(),
        &mut net,
    );
    assert_eq!(addrs(&o), vec!["192.0.2.40"]);
    assert!(net.sent.iter().any(|s| s.addr.ip() == v6));
}
