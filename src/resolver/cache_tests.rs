use std::str::FromStr;

use hickory_proto::rr::rdata::{A, CNAME, SOA};

use super::*;

fn n(s: &str) -> Name {
    Name::from_str(s).unwrap()
}

fn a(name: &str, ttl: u32, ip: [u8; 4]) -> Record {
    Record::from_rdata(n(name), ttl, RData::A(A::new(ip[0], ip[1], ip[2], ip[3])))
}

fn soa(zone: &str, ttl: u32, minimum: u32) -> Record {
    Record::from_rdata(
        n(zone),
        ttl,
        RData::SOA(SOA::new(
            n("ns1.example.test."),
            n("admin.example.test."),
            1,
            3600,
            600,
            86400,
            minimum,
        )),
    )
}

fn ttl_of(hit: Option<Hit>) -> Option<u32> {
    match hit? {
        Hit::Records(rs) => rs.first().map(|r| r.ttl),
        Hit::NxDomain(s) | Hit::NoData(s) => s.map(|r| r.ttl),
        Hit::Failure(_) => None,
    }
}

fn look(c: &mut Cache, name: &str, t: RecordType, now: Instant) -> Option<Hit> {
    c.lookup(&n(name), t, DNSClass::IN, Rank::Additional, now)
}

#[test]
fn ttl_counts_down_to_zero_then_entry_is_gone() {
    let mut c = Cache::new(CacheConfig::default());
    let t0 = Instant::now();
    assert!(c.insert_rrset(
        &[a("www.example.test.", 10, [1, 2, 3, 4])],
        Rank::AuthAnswer,
        t0
    ));
    assert_eq!(
        ttl_of(look(&mut c, "www.example.test.", RecordType::A, t0)),
        Some(10)
    );
    let t3 = t0 + Duration::from_secs(3);
    assert_eq!(
        ttl_of(look(&mut c, "WWW.example.test.", RecordType::A, t3)),
        Some(7)
    );
    let t9 = t0 + Duration::from_millis(9500);
    assert_eq!(
        ttl_of(look(&mut c, "www.example.test.", RecordType::A, t9)),
        Some(0)
    );
    let t10 = t0 + Duration::from_secs(10);
    assert_eq!(look(&mut c, "www.example.test.", RecordType::A, t10), None);
    assert!(c.is_empty(), "expired entry must be dropped");
    assert_eq!(c.bytes(), 0);
}

#[test]
fn negative_entries_expire_at_soa_derived_ttl() {
    let mut c = Cache::new(CacheConfig::default());
    let t0 = Instant::now();
    // SOA TTL 300, MINIMUM 60: the negative TTL is 60.
    c.insert_negative(
        &n("nope.example.test."),
        DNSClass::IN,
        None,
        Some(soa("example.test.", 300, 60)),
        Rank::AuthAnswer,
        t0,
    );
    // SOA TTL 30, MINIMUM 600: the negative TTL is 30.
    c.insert_negative(
        &n("www.example.test."),
        DNSClass::IN,
        Some(RecordType::AAAA),
        Some(soa("example.test.", 30, 600)),
        Rank::AuthAnswer,
        t0,
    );
    let nx = look(&mut c, "nope.example.test.", RecordType::MX, t0);
    assert!(matches!(nx, Some(Hit::NxDomain(Some(_)))), "{nx:?}");
    assert_eq!(ttl_of(nx), Some(60));
    let nd = look(&mut c, "www.example.test.", RecordType::AAAA, t0);
    assert!(matches!(nd, Some(Hit::NoData(Some(_)))));
    assert_eq!(ttl_of(nd), Some(30));
    // NODATA is per type.
    assert_eq!(look(&mut c, "www.example.test.", RecordType::A, t0), None);

    let t29 = t0 + Duration::from_secs(29);
    assert_eq!(
        ttl_of(look(&mut c, "www.example.test.", RecordType::AAAA, t29)),
        Some(1)
    );
    let t30 = t0 + Duration::from_secs(30);
    assert_eq!(
        look(&mut c, "www.example.test.", RecordType::AAAA, t30),
        None
    );
    let t59 = t0 + Duration::from_secs(59);
    assert!(look(&mut c, "nope.example.test.", RecordType::A, t59).is_some());
    let t60 = t0 + Duration::from_secs(60);
    assert_eq!(look(&mut c, "nope.example.test.", RecordType::A, t60), None);
    // Without an SOA there is no negative TTL: nothing is cached.
    assert!(!c.insert_negative(
        &n("x.test."),
        DNSClass::IN,
        None,
        None,
        Rank::AuthAnswer,
        t0
    ));
}

#[test]
fn clamps_apply() {
    let cfg = CacheConfig {
        cache_min_ttl: 50,
        cache_max_ttl: 100,
        cache_max_negative_ttl: 20,
        ..CacheConfig::default()
    };
    let mut c = Cache::new(cfg);
    let t0 = Instant::now();
    c.insert_rrset(&[a("low.test.", 5, [1, 1, 1, 1])], Rank::AuthAnswer, t0);
    c.insert_rrset(&[a("high.test.", 5000, [1, 1, 1, 1])], Rank::AuthAnswer, t0);
    c.insert_negative(
        &n("neg.test."),
        DNSClass::IN,
        None,
        Some(soa("test.", 3600, 3600)),
        Rank::AuthAnswer,
        t0,
    );
    assert_eq!(
        ttl_of(look(&mut c, "low.test.", RecordType::A, t0)),
        Some(50)
    );
    assert_eq!(
        ttl_of(look(&mut c, "high.test.", RecordType::A, t0)),
        Some(100)
    );
    assert_eq!(
        ttl_of(look(&mut c, "neg.test.", RecordType::A, t0)),
        Some(20)
    );
    let t = t0 + Duration::from_secs(20);
    assert_eq!(look(&mut c, "neg.test.", RecordType::A, t), None);
}

#[test]
fn unbound_defaults() {
    let d = CacheConfig::default();
    assert_eq!(
        (d.cache_min_ttl, d.cache_max_ttl, d.cache_max_negative_ttl),
        (0, 86400, 3600)
    );
    assert!(!d.serve_stale);
}

#[test]
fn lru_eviction_under_the_cap() {
    let mut probe = Cache::new(CacheConfig::default());
    let t0 = Instant::now();
    probe.insert_rrset(&[a("h0.test.", 100, [1, 1, 1, 1])], Rank::AuthAnswer, t0);
    let one = probe.bytes();
    let mut c = Cache::new(CacheConfig {
        max_bytes: one * 3 + one / 2,
        ..CacheConfig::default()
    });
    for i in 0..3u8 {
        c.insert_rrset(
            &[a(&format!("h{i}.test."), 100, [1, 1, 1, i])],
            Rank::AuthAnswer,
            t0,
        );
    }
    assert_eq!(c.len(), 3);
    // Touch h0 so h1 becomes the least recently used.
    assert!(look(&mut c, "h0.test.", RecordType::A, t0).is_some());
    c.insert_rrset(&[a("h3.test.", 100, [1, 1, 1, 3])], Rank::AuthAnswer, t0);
    assert_eq!(c.len(), 3);
    assert!(c.bytes() <= one * 3 + one / 2);
    assert!(
        look(&mut c, "h1.test.", RecordType::A, t0).is_none(),
        "LRU victim"
    );
    for kept in ["h0.test.", "h2.test.", "h3.test."] {
        assert!(look(&mut c, kept, RecordType::A, t0).is_some(), "{kept}");
    }
}

#[test]
fn serve_stale_only_when_enabled() {
    let t0 = Instant::now();
    let later = t0 + Duration::from_secs(15);
    let mut off = Cache::new(CacheConfig::default());
    off.insert_rrset(&[a("s.test.", 10, [9, 9, 9, 9])], Rank::AuthAnswer, t0);
    assert!(
        off.answer(&n("s.test."), RecordType::A, DNSClass::IN, later, true)
            .is_none()
    );
    assert!(
        off.answer(&n("s.test."), RecordType::A, DNSClass::IN, later, false)
            .is_none()
    );

    let mut on = Cache::new(CacheConfig {
        serve_stale: true,
        stale_max_secs: 100,
        ..CacheConfig::default()
    });
    on.insert_rrset(&[a("s.test.", 10, [9, 9, 9, 9])], Rank::AuthAnswer, t0);
    // A fresh lookup never returns stale data...
    assert!(
        on.answer(&n("s.test."), RecordType::A, DNSClass::IN, later, false)
            .is_none()
    );
    // ...only the explicit stale path does, with the stale TTL.
    let st = on
        .answer(&n("s.test."), RecordType::A, DNSClass::IN, later, true)
        .unwrap();
    assert!(st.stale);
    assert_eq!(st.answers[0].ttl, 30);
    // The cap is finite.
    let past_cap = t0 + Duration::from_secs(111);
    assert!(
        on.answer(&n("s.test."), RecordType::A, DNSClass::IN, past_cap, true)
            .is_none()
    );
    assert!(on.is_empty());
}

#[test]
fn lower_rank_never_overwrites_higher() {
    let mut c = Cache::new(CacheConfig::default());
    let t0 = Instant::now();
    c.insert_rrset(
        &[a("ns1.example.test.", 300, [127, 0, 0, 13])],
        Rank::AuthAnswer,
        t0,
    );
    assert!(!c.insert_rrset(
        &[a("ns1.example.test.", 300, [6, 6, 6, 6])],
        Rank::Additional,
        t0
    ));
    let Some(Hit::Records(rs)) = look(&mut c, "ns1.example.test.", RecordType::A, t0) else {
        panic!()
    };
    assert_eq!(rs[0].data, RData::A(A::new(127, 0, 0, 13)));
    // Glue alone is not answerable to clients.
    c.insert_rrset(&[a("glue.test.", 300, [1, 2, 3, 4])], Rank::Additional, t0);
    assert!(
        c.answer(&n("glue.test."), RecordType::A, DNSClass::IN, t0, false)
            .is_none()
    );
    // Higher rank replaces lower.
    assert!(c.insert_rrset(&[a("glue.test.", 300, [4, 3, 2, 1])], Rank::AuthAnswer, t0));
    assert!(
        c.answer(&n("glue.test."), RecordType::A, DNSClass::IN, t0, false)
            .is_some()
    );
}

#[test]
fn answer_follows_cached_cname_chain() {
    let mut c = Cache::new(CacheConfig::default());
    let t0 = Instant::now();
    let cname = Record::from_rdata(
        n("alias.example.test."),
        100,
        RData::CNAME(CNAME(n("www.shop.test."))),
    );
    c.insert_rrset(&[cname], Rank::AuthAnswer, t0);
    c.insert_rrset(
        &[a("www.shop.test.", 50, [1, 2, 3, 4])],
        Rank::AuthAnswer,
        t0,
    );
    let ans = c
        .answer(
            &n("alias.example.test."),
            RecordType::A,
            DNSClass::IN,
            t0,
            false,
        )
        .unwrap();
    assert_eq!(ans.answers.len(), 2);
    assert_eq!(ans.answers[0].record_type(), RecordType::CNAME);
    assert_eq!(ans.answers[1].ttl, 50);
    // A broken chain is a miss, not a partial answer.
    c.flush_name(&n("www.shop.test."));
    assert!(
        c.answer(
            &n("alias.example.test."),
            RecordType::A,
            DNSClass::IN,
            t0,
            false
        )
        .is_none()
    );
}

#[test]
fn failures_are_cached_briefly() {
    let mut c = Cache::new(CacheConfig::default());
    let t0 = Instant::now();
    c.insert_failure(
        &n("broken.test."),
        RecordType::A,
        DNSClass::IN,
        ResponseCode::ServFail,
        t0,
    );
    let ans = c
        .answer(&n("broken.test."), RecordType::A, DNSClass::IN, t0, false)
        .unwrap();
    assert_eq!(ans.rcode, ResponseCode::ServFail);
    let t5 = t0 + Duration::from_secs(5);
    assert!(
        c.answer(&n("broken.test."), RecordType::A, DNSClass::IN, t5, false)
            .is_none()
    );
}

#[test]
fn prefetch_flags_popular_entries_in_last_tenth() {
    let mut c = Cache::new(CacheConfig {
        prefetch: true,
        ..CacheConfig::default()
    });
    let t0 = Instant::now();
    c.insert_rrset(&[a("p.test.", 100, [1, 1, 1, 1])], Rank::AuthAnswer, t0);
    let q = |c: &mut Cache, secs| {
        c.answer(
            &n("p.test."),
            RecordType::A,
            DNSClass::IN,
            t0 + Duration::from_secs(secs),
            false,
        )
        .unwrap()
        .prefetch
    };
    assert!(!q(&mut c, 1));
    assert!(!q(&mut c, 50));
    assert!(q(&mut c, 95), "popular and in last 10%");
    assert!(!q(&mut c, 96), "flagged once");
}

#[test]
fn delegation_dump_and_flush() {
    let mut c = Cache::new(CacheConfig::default());
    let t0 = Instant::now();
    let ns = Record::from_rdata(
        n("example.test."),
        3600,
        RData::NS(hickory_proto::rr::rdata::NS(n("ns1.example.test."))),
    );
    c.insert_rrset(&[ns], Rank::NonAuthAuthority, t0);
    c.insert_rrset(
        &[a("ns1.example.test.", 3600, [127, 0, 0, 13])],
        Rank::Additional,
        t0,
    );
    c.insert_rrset(
        &[a("www.sub.example.test.", 60, [1, 1, 1, 1])],
        Rank::AuthAnswer,
        t0,
    );
    c.insert_rrset(&[a("other.test.", 60, [1, 1, 1, 1])], Rank::AuthAnswer, t0);
    let d = c.closest_delegation(&n("a.b.example.test."), t0).unwrap();
    assert_eq!(d.zone, n("example.test."));
    assert_eq!(
        d.servers[0].1,
        vec!["127.0.0.13".parse::<IpAddr>().unwrap()]
    );
    assert!(c.closest_delegation(&n("other.test."), t0).is_none());

    let dump = c.dump(t0 + Duration::from_secs(10));
    assert_eq!(dump.len(), 4);
    let www = dump
        .iter()
        .find(|e| e.name == "www.sub.example.test.")
        .unwrap();
    assert_eq!((www.ttl, www.original_ttl), (50, 60));

    assert_eq!(c.flush_subtree(&n("example.test.")), 3);
    assert_eq!(c.len(), 1);
    assert_eq!(c.flush_name(&n("other.test.")), 1);
    c.insert_rrset(&[a("x.test.", 60, [1, 1, 1, 1])], Rank::AuthAnswer, t0);
    assert_eq!(c.flush_all(), 1);
    assert!(c.is_empty());
}

#[test]
fn nodata_for_cname_does_not_hide_other_types() {
    let mut c = Cache::new(CacheConfig::default());
    let t0 = Instant::now();
    c.insert_negative(
        &n("www.example.test."),
        DNSClass::IN,
        Some(RecordType::CNAME),
        Some(soa("example.test.", 60, 60)),
        Rank::AuthAnswer,
        t0,
    );
    assert!(
        c.answer(
            &n("www.example.test."),
            RecordType::A,
            DNSClass::IN,
            t0,
            false
        )
        .is_none()
    );
    c.insert_rrset(
        &[a("www.example.test.", 30, [192, 0, 2, 10])],
        Rank::AuthAnswer,
        t0,
    );
    let ans = c
        .answer(
            &n("www.example.test."),
            RecordType::A,
            DNSClass::IN,
            t0,
            false,
        )
        .unwrap();
    assert_eq!(ans.answers.len(), 1);
    let cname = c
        .answer(
            &n("www.example.test."),
            RecordType::CNAME,
            DNSClass::IN,
            t0,
            false,
        )
        .unwrap();
    assert!(cname.answers.is_empty() && cname.authorities.len() == 1);
}
