use super::*;

fn spec(name: &str, role: Role, last_octet: u8) -> ServerSpec {
    ServerSpec {
        name: name.into(),
        role,
        addr: SocketAddr::from(([127, 0, 0, last_octet], 53)),
    }
}

fn a(ip: &str) -> AnswerData {
    AnswerData::Records(vec![format!("A {ip}")])
}

fn auth_reply(ip: &str, serial: u32) -> Outcome {
    Outcome::Reply(Reply::answer(a(ip), 300, Some(serial)))
}

fn resolver_reply(ip: &str, ttl: u32) -> Outcome {
    let mut r = Reply::answer(a(ip), ttl, None);
    r.authoritative = false;
    Outcome::Reply(r)
}

const P: usize = 0;
const S1: usize = 1;
const S2: usize = 2;
const R: usize = 3;

/// A primary, two secondaries and a resolver.
fn lab() -> Model {
    Model::new(vec![
        spec("primary", Role::Primary, 10),
        spec("sec1", Role::Secondary, 11),
        spec("sec2", Role::Secondary, 12),
        spec("resolver", Role::Resolver, 20),
    ])
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn obs(server: usize, at: Instant, outcome: Outcome) -> Observation {
    Observation {
        server,
        at,
        outcome,
    }
}

/// Round at `at`: every server as given, in order, 1 ms apart.
fn round(m: &mut Model, at: Instant, outcomes: Vec<(usize, Outcome)>) {
    for (i, (server, outcome)) in outcomes.into_iter().enumerate() {
        m.ingest(obs(server, at + ms(i as u64), outcome));
    }
    m.end_round(at + ms(10));
}

fn state(v: &View, server: usize) -> State {
    v.rows[server].state.clone()
}

#[test]
fn agreeing_servers_are_converged_without_a_change() {
    let t0 = Instant::now();
    let mut m = lab();
    round(
        &mut m,
        t0,
        vec![
            (P, auth_reply("192.0.2.1", 1)),
            (S1, auth_reply("192.0.2.1", 1)),
            (S2, auth_reply("192.0.2.1", 1)),
            (R, resolver_reply("192.0.2.1", 300)),
        ],
    );
    let v = m.view(t0 + ms(20));
    assert!(v.agree);
    assert!(v.converged);
    assert_eq!(v.newest_serial, Some(1));
    assert_eq!(v.since_change, None, "nothing changed while watching");
    assert!(!m.change_seen());
    assert_eq!(v.old_answers, OldAnswersBound::Gone);
    assert!(m.converged_at().is_some());
}

#[test]
fn change_seen_on_primary_first_then_secondaries() {
    let t0 = Instant::now();
    let mut m = lab();
    let old = |s| auth_reply("192.0.2.1", s);
    round(
        &mut m,
        t0,
        vec![
            (P, old(1)),
            (S1, old(1)),
            (S2, old(1)),
            (R, resolver_reply("192.0.2.1", 60)),
        ],
    );
    // Second round: the primary has the edit, the secondaries not yet.
    let t1 = t0 + Duration::from_secs(1);
    round(
        &mut m,
        t1,
        vec![
            (P, auth_reply("192.0.2.2", 2)),
            (S1, old(1)),
            (S2, old(1)),
            (R, resolver_reply("192.0.2.1", 59)),
        ],
    );
    let v = m.view(t1 + ms(20));
    assert!(!v.agree);
    assert!(!v.converged);
    assert_eq!(v.newest_serial, Some(2));
    assert_eq!(v.newest_answer, Some(a("192.0.2.2")));
    assert_eq!(v.since_change, Some(ms(20)));
    assert_eq!(state(&v, P), State::Current);
    assert_eq!(state(&v, S1), State::Behind);
    assert_eq!(state(&v, S2), State::Behind);
    assert_eq!(state(&v, R), State::StaleCache);
    assert_eq!(v.old_answers, OldAnswersBound::Unknown { serving_old: 2 });
    assert_eq!(v.rows[P].current_for, Some(ms(20)));
    assert_eq!(v.rows[S1].current_for, None);

    // Third round: sec1 caught up; sec2 still behind.
    let t2 = t1 + Duration::from_secs(1);
    round(
        &mut m,
        t2,
        vec![
            (P, auth_reply("192.0.2.2", 2)),
            (S1, auth_reply("192.0.2.2", 2)),
            (S2, old(1)),
            (R, resolver_reply("192.0.2.1", 58)),
        ],
    );
    // Fourth: sec2 too; the resolver still holds the old answer.
    let t3 = t2 + Duration::from_secs(1);
    round(
        &mut m,
        t3,
        vec![
            (P, auth_reply("192.0.2.2", 2)),
            (S1, auth_reply("192.0.2.2", 2)),
            (S2, auth_reply("192.0.2.2", 2)),
            (R, resolver_reply("192.0.2.1", 57)),
        ],
    );
    let v = m.view(t3 + ms(10));
    assert!(!v.converged, "the resolver still serves the old answer");
    assert_eq!(
        v.old_answers,
        OldAnswersBound::Within(Duration::from_secs(57))
    );
    assert!(m.converged_at().is_none());

    // The cache expires; the resolver refetches.
    let t4 = t0 + Duration::from_secs(61);
    round(
        &mut m,
        t4,
        vec![
            (P, auth_reply("192.0.2.2", 2)),
            (S1, auth_reply("192.0.2.2", 2)),
            (S2, auth_reply("192.0.2.2", 2)),
            (R, resolver_reply("192.0.2.2", 300)),
        ],
    );
    let v = m.view(t4 + ms(10));
    assert!(v.converged);
    assert!(v.agree);
    assert_eq!(v.old_answers, OldAnswersBound::Gone);
    assert_eq!(m.converged_at(), Some(t4 + ms(10)));
    let delays: Vec<Option<Duration>> = m.delays().into_iter().map(|d| d.delay).collect();
    assert_eq!(
        delays,
        vec![
            Some(Duration::ZERO),
            Some(Duration::from_secs(1) + ms(1)),
            Some(Duration::from_secs(2) + ms(2)),
            Some(Duration::from_secs(60) + ms(3)),
        ]
    );
    assert!(m.change_seen());
}

#[test]
fn a_secondary_seen_first_still_defines_the_change() {
    // A serial can reach a secondary before we poll the primary; the first sighting
    // anywhere starts the clock, whatever the role.
    let t0 = Instant::now();
    let mut m = lab();
    round(
        &mut m,
        t0,
        vec![
            (P, auth_reply("192.0.2.1", 5)),
            (S1, auth_reply("192.0.2.1", 5)),
        ],
    );
    let t1 = t0 + Duration::from_secs(1);
    round(
        &mut m,
        t1,
        vec![
            (S1, auth_reply("192.0.2.9", 6)),
            (P, auth_reply("192.0.2.9", 6)),
        ],
    );
    let d = m.delays();
    assert_eq!(d[S1].delay, Some(Duration::ZERO));
    assert_eq!(d[P].delay, Some(ms(1)));
}

#[test]
fn serial_comparison_wraps_per_rfc_1982() {
    assert!(serial_newer(1, 0));
    assert!(serial_newer(0, u32::MAX));
    assert!(!serial_newer(u32::MAX, 0));
    assert!(!serial_newer(7, 7));
    let t0 = Instant::now();
    let mut m = Model::new(vec![
        spec("p", Role::Primary, 1),
        spec("s", Role::Secondary, 2),
    ]);
    round(
        &mut m,
        t0,
        vec![
            (P, auth_reply("192.0.2.1", u32::MAX)),
            (1, auth_reply("192.0.2.1", u32::MAX)),
        ],
    );
    round(
        &mut m,
        t0 + Duration::from_secs(1),
        vec![
            (P, auth_reply("192.0.2.2", 0)),
            (1, auth_reply("192.0.2.1", u32::MAX)),
        ],
    );
    let v = m.view(t0 + Duration::from_secs(2));
    assert_eq!(v.newest_serial, Some(0));
    assert_eq!(state(&v, 1), State::Behind);
}

#[test]
fn resolver_countdown_decreases_between_polls_and_bounds_old_answers() {
    let t0 = Instant::now();
    let mut m = lab();
    round(
        &mut m,
        t0,
        vec![
            (P, auth_reply("192.0.2.2", 2)),
            (S1, auth_reply("192.0.2.2", 2)),
            (S2, auth_reply("192.0.2.2", 2)),
            (R, resolver_reply("192.0.2.1", 90)),
        ],
    );
    // Observed at t0 + 3 ms with TTL 90.
    let v = m.view(t0 + Duration::from_secs(30) + ms(3));
    assert_eq!(state(&v, R), State::StaleCache);
    assert_eq!(v.rows[R].ttl, Some(60));
    assert_eq!(
        v.old_answers,
        OldAnswersBound::Within(Duration::from_secs(60))
    );
    // Authoritative TTLs do not count down.
    assert_eq!(v.rows[P].ttl, Some(300));
    // Past the TTL the countdown stops at zero rather than wrapping.
    let v = m.view(t0 + Duration::from_secs(500));
    assert_eq!(v.rows[R].ttl, Some(0));
    assert_eq!(v.old_answers, OldAnswersBound::Within(Duration::ZERO));
}

#[test]
fn expire_counts_down_from_the_observation() {
    let t0 = Instant::now();
    let mut m = lab();
    let mut r = Reply::answer(a("192.0.2.1"), 300, Some(1));
    r.expire = Some(1000);
    m.ingest(obs(S1, t0, Outcome::Reply(r)));
    let v = m.view(t0 + Duration::from_secs(250));
    assert_eq!(v.rows[S1].expire, Some(750));
    assert_eq!(v.rows[P].expire, None);
}

#[test]
fn unreachable_and_servfail_block_convergence() {
    let t0 = Instant::now();
    let mut m = lab();
    let mut servfail = Reply::answer(a("x"), 0, None);
    servfail.rcode = 2;
    servfail.answer = None;
    servfail.ttl = None;
    round(
        &mut m,
        t0,
        vec![
            (P, auth_reply("192.0.2.1", 1)),
            (S1, Outcome::Unreachable("timeout".into())),
            (S2, Outcome::Reply(servfail)),
            (R, resolver_reply("192.0.2.1", 60)),
        ],
    );
    let v = m.view(t0 + ms(20));
    assert_eq!(state(&v, S1), State::Unreachable("timeout".into()));
    assert_eq!(state(&v, S1).label(), "unreachable");
    assert_eq!(state(&v, S2), State::Error(2));
    assert_eq!(state(&v, S2).label(), "SERVFAIL");
    assert!(!v.agree);
    assert!(!v.converged);
    assert!(m.converged_at().is_none());

    // The stopped secondary comes back and catches up.
    round(
        &mut m,
        t0 + Duration::from_secs(1),
        vec![
            (P, auth_reply("192.0.2.1", 1)),
            (S1, auth_reply("192.0.2.1", 1)),
            (S2, auth_reply("192.0.2.1", 1)),
            (R, resolver_reply("192.0.2.1", 59)),
        ],
    );
    assert!(m.view(t0 + Duration::from_secs(1) + ms(20)).converged);
}

#[test]
fn an_unreachable_server_keeps_its_last_data_but_is_not_current() {
    let t0 = Instant::now();
    let mut m = lab();
    round(
        &mut m,
        t0,
        vec![
            (P, auth_reply("192.0.2.1", 1)),
            (S1, auth_reply("192.0.2.1", 1)),
        ],
    );
    round(
        &mut m,
        t0 + Duration::from_secs(1),
        vec![
            (P, auth_reply("192.0.2.1", 1)),
            (S1, Outcome::Unreachable("refused".into())),
        ],
    );
    let v = m.view(t0 + Duration::from_secs(2));
    assert_eq!(
        v.rows[S1].serial,
        Some(1),
        "last known serial stays visible"
    );
    assert!(matches!(state(&v, S1), State::Unreachable(_)));
    assert_eq!(v.rows[S1].current_for, None);
}

#[test]
fn lame_server_is_not_authoritative() {
    let t0 = Instant::now();
    let mut m = lab();
    let mut r = Reply::answer(AnswerData::NoData, 0, Some(1));
    r.authoritative = false;
    m.ingest(obs(S1, t0, Outcome::Reply(r)));
    m.ingest(obs(P, t0, auth_reply("192.0.2.1", 1)));
    let v = m.view(t0);
    assert_eq!(state(&v, S1), State::NotAuthoritative);
    assert_eq!(state(&v, P), State::Current);
    assert_eq!(state(&v, S2), State::Pending);
}

#[test]
fn resolvers_only_follow_the_newest_answer() {
    let t0 = Instant::now();
    let mut m = Model::new(vec![
        spec("r1", Role::Resolver, 1),
        spec("r2", Role::Resolver, 2),
        spec("r3", Role::Resolver, 3),
    ]);
    // First round: the majority answer is taken as the newest.
    round(
        &mut m,
        t0,
        vec![
            (0, resolver_reply("192.0.2.9", 10)),
            (1, resolver_reply("192.0.2.1", 10)),
            (2, resolver_reply("192.0.2.1", 10)),
        ],
    );
    let v = m.view(t0 + ms(20));
    assert_eq!(v.newest_answer, Some(a("192.0.2.1")));
    assert_eq!(state(&v, 0), State::StaleCache);
    // Later a new answer appears on one resolver: it is the change.
    let t1 = t0 + Duration::from_secs(11);
    round(
        &mut m,
        t1,
        vec![
            (0, resolver_reply("192.0.2.9", 5)),
            (1, resolver_reply("192.0.2.5", 10)),
            (2, resolver_reply("192.0.2.1", 1)),
        ],
    );
    let v = m.view(t1 + ms(20));
    assert_eq!(v.newest_answer, Some(a("192.0.2.5")));
    assert_eq!(state(&v, 1), State::Current);
    assert_eq!(state(&v, 2), State::StaleCache);
    assert_eq!(v.since_change, Some(ms(19)));
    assert_eq!(
        v.old_answers,
        OldAnswersBound::Within(Duration::from_secs(5))
    );
}

#[test]
fn unrelated_serial_bump_keeps_resolvers_current() {
    let t0 = Instant::now();
    let mut m = lab();
    let full = |m: &mut Model, at, serial| {
        round(
            m,
            at,
            vec![
                (P, auth_reply("192.0.2.1", serial)),
                (S1, auth_reply("192.0.2.1", serial)),
                (S2, auth_reply("192.0.2.1", serial)),
                (R, resolver_reply("192.0.2.1", 100)),
            ],
        )
    };
    full(&mut m, t0, 1);
    full(&mut m, t0 + Duration::from_secs(1), 2);
    let v = m.view(t0 + Duration::from_secs(2));
    assert!(v.converged);
    assert_eq!(v.rows[R].current_for, Some(Duration::from_secs(2) - ms(3)));
    assert_eq!(v.newest_serial, Some(2));
}

#[test]
fn nxdomain_is_an_answer_like_any_other() {
    let t0 = Instant::now();
    let mut m = lab();
    round(
        &mut m,
        t0,
        vec![
            (
                P,
                Outcome::Reply(Reply::answer(AnswerData::NxDomain, 60, Some(4))),
            ),
            (S1, auth_reply("192.0.2.1", 3)),
        ],
    );
    let v = m.view(t0);
    assert_eq!(v.newest_answer, Some(AnswerData::NxDomain));
    assert_eq!(v.rows[P].rcode, Some(3));
    assert_eq!(state(&v, S1), State::Behind);
    assert_eq!(v.distinct_answers, 2);
}

#[test]
fn polls_fast_right_after_a_change_while_secondaries_lag() {
    let t0 = Instant::now();
    let base = Duration::from_secs(1);
    let mut m = lab();
    let all = |m: &mut Model, at, p, s| {
        round(
            m,
            at,
            vec![
                (P, auth_reply("192.0.2.1", p)),
                (S1, auth_reply("192.0.2.1", s)),
                (S2, auth_reply("192.0.2.1", s)),
                (R, resolver_reply("192.0.2.1", 50)),
            ],
        )
    };
    all(&mut m, t0, 1, 1);
    assert_eq!(
        m.poll_interval(t0 + ms(20), base),
        base,
        "no change, no hurry"
    );
    let t1 = t0 + base;
    all(&mut m, t1, 2, 1);
    assert_eq!(m.poll_interval(t1 + ms(20), base), BURST_INTERVAL);
    // Past the window it falls back, even though the secondaries still lag.
    assert_eq!(m.poll_interval(t1 + BURST_WINDOW + ms(1), base), base);
    // Caught up: back to the base interval at once.
    let t2 = t1 + ms(40);
    all(&mut m, t2, 2, 2);
    assert_eq!(m.poll_interval(t2 + ms(20), base), base);
    // A base interval shorter than the burst one is kept.
    assert_eq!(m.poll_interval(t1 + ms(20), ms(5)), ms(5));
}
