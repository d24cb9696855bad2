use super::*;

fn t(secs: u64) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000 + secs)
}

fn soa(serial: u32) -> SoaTimers {
    SoaTimers {
        serial,
        refresh: 100,
        retry: 10,
        expire: 1000,
    }
}

fn sec(
    primaries: usize,
    current: Option<SoaTimers>,
    persisted: Option<PersistedTimers>,
) -> Secondary {
    Secondary::new(
        primaries,
        TimerLimits::default(),
        Box::new(NoJitter),
        current,
        persisted,
        t(0),
    )
}

fn drain(s: &mut Secondary) -> Vec<Action> {
    std::iter::from_fn(|| s.poll_action()).collect()
}

/// Actions without the Persist noise.
fn acts(s: &mut Secondary) -> Vec<Action> {
    drain(s)
        .into_iter()
        .filter(|a| !matches!(a, Action::Persist(_)))
        .collect()
}

fn serial(serial: u32) -> SoaResult {
    SoaResult::Serial {
        serial,
        edns_expire: None,
    }
}

fn applied(s: u32) -> TransferResult {
    TransferResult::Applied {
        timers: soa(s),
        edns_expire: None,
    }
}

#[test]
fn start_with_data_checks_the_soa_then_ixfrs() {
    let mut s = sec(2, Some(soa(1)), None);
    assert_eq!(s.phase(), Phase::Refreshing);
    assert_eq!(acts(&mut s), vec![Action::QuerySoa { primary: 0 }]);
    s.on_soa(t(1), 0, serial(2));
    assert_eq!(
        acts(&mut s),
        vec![Action::Transfer {
            primary: 0,
            kind: TransferKind::Ixfr { from: 1 }
        }]
    );
    s.on_transfer(t(2), 0, applied(2));
    let a = drain(&mut s);
    assert!(matches!(a.as_slice(), [Action::Persist(p)] if p.last_refresh == Some(t(2))));
    assert_eq!(s.phase(), Phase::Current);
    assert_eq!(s.serial(), Some(2));
    assert_eq!(s.next_wakeup(), Some(t(102)));
    assert_eq!(s.persisted().expire_at, Some(t(1002)));

    // Nothing happens before the refresh time.
    s.handle_timeout(t(101));
    assert!(drain(&mut s).is_empty());
    s.handle_timeout(t(102));
    assert_eq!(acts(&mut s), vec![Action::QuerySoa { primary: 0 }]);
    s.on_soa(t(103), 0, serial(2));
    assert!(acts(&mut s).is_empty());
    assert_eq!(s.next_wakeup(), Some(t(203)));
    // A primary with an older serial: we keep ours and count it as a refresh.
    s.handle_timeout(t(203));
    assert_eq!(acts(&mut s), vec![Action::QuerySoa { primary: 0 }]);
    s.on_soa(t(203), 0, serial(1));
    assert!(acts(&mut s).is_empty());
    assert_eq!(s.phase(), Phase::Current);
}

#[test]
fn without_data_it_transfers_at_once_and_tries_every_primary() {
    let mut s = sec(2, None, None);
    assert_eq!(s.phase(), Phase::NoData);
    assert_eq!(
        acts(&mut s),
        vec![Action::Transfer {
            primary: 0,
            kind: TransferKind::Axfr
        }]
    );
    s.on_transfer(
        t(1),
        0,
        TransferResult::Failed {
            fallback_to_axfr: true,
        },
    );
    assert_eq!(
        acts(&mut s),
        vec![Action::Transfer {
            primary: 1,
            kind: TransferKind::Axfr
        }]
    );
    s.on_transfer(
        t(2),
        1,
        TransferResult::Failed {
            fallback_to_axfr: false,
        },
    );
    assert!(acts(&mut s).is_empty());
    assert_eq!(s.phase(), Phase::NoData);
    // No SOA yet: the retry is the minimum.
    assert_eq!(s.next_wakeup(), Some(t(3)));
    s.handle_timeout(t(3));
    assert_eq!(
        acts(&mut s),
        vec![Action::Transfer {
            primary: 0,
            kind: TransferKind::Axfr
        }]
    );
    s.on_transfer(t(4), 0, applied(5));
    assert_eq!(s.phase(), Phase::Current);
    assert_eq!(s.serial(), Some(5));
}

#[test]
fn ixfr_failure_falls_back_to_axfr_then_next_primary() {
    let mut s = sec(2, Some(soa(1)), None);
    drain(&mut s);
    s.on_soa(t(0), 0, serial(3));
    drain(&mut s);
    s.on_transfer(
        t(1),
        0,
        TransferResult::Failed {
            fallback_to_axfr: true,
        },
    );
    assert_eq!(
        acts(&mut s),
        vec![Action::Transfer {
            primary: 0,
            kind: TransferKind::Axfr
        }]
    );
    s.on_transfer(
        t(2),
        0,
        TransferResult::Failed {
            fallback_to_axfr: true,
        },
    );
    assert_eq!(acts(&mut s), vec![Action::QuerySoa { primary: 1 }]);
    // A stale report from primary 0 is ignored.
    s.on_soa(t(2), 0, serial(9));
    assert!(acts(&mut s).is_empty());
    s.on_soa(t(3), 1, serial(3));
    assert_eq!(
        acts(&mut s),
        vec![Action::Transfer {
            primary: 1,
            kind: TransferKind::Ixfr { from: 1 }
        }]
    );
    s.on_transfer(t(4), 1, applied(3));
    assert_eq!(s.phase(), Phase::Current);
}

#[test]
fn failures_retry_then_expire_then_recover_with_any_serial() {
    let mut s = sec(2, Some(soa(7)), None);
    drain(&mut s);
    s.on_soa(t(1), 0, SoaResult::Failed);
    assert_eq!(acts(&mut s), vec![Action::QuerySoa { primary: 1 }]);
    s.on_soa(t(2), 1, SoaResult::Failed);
    assert!(acts(&mut s).is_empty());
    assert_eq!(s.phase(), Phase::Retrying);
    assert_eq!(s.next_wakeup(), Some(t(12)), "retry interval, not refresh");
    // Keep failing until the expire time (1000 s after the start).
    let mut now = 12;
    while now < 1000 {
        s.handle_timeout(t(now));
        while let Some(a) = acts(&mut s).pop() {
            let Action::QuerySoa { primary } = a else {
                panic!("{a:?}")
            };
            s.on_soa(t(now), primary, SoaResult::Failed);
        }
        now = s
            .next_wakeup()
            .unwrap()
            .duration_since(t(0))
            .unwrap()
            .as_secs();
    }
    assert_eq!(now, 1000);
    s.handle_timeout(t(1000));
    let a = acts(&mut s);
    assert_eq!(a.first(), Some(&Action::MarkExpired));
    assert_eq!(s.phase(), Phase::Expired);
    // The next retry reaches the primary, back with a lower serial (rebuilt): accepted,
    // by AXFR.
    assert_eq!(s.next_wakeup(), Some(t(1002)));
    s.handle_timeout(t(1002));
    assert_eq!(acts(&mut s), vec![Action::QuerySoa { primary: 0 }]);
    s.on_soa(t(1002), 0, serial(3));
    assert_eq!(
        acts(&mut s),
        vec![Action::Transfer {
            primary: 0,
            kind: TransferKind::Axfr
        }]
    );
    s.on_transfer(t(1001), 0, applied(3));
    assert_eq!(acts(&mut s), vec![Action::MarkUnexpired]);
    assert_eq!(s.phase(), Phase::Current);
    assert_eq!(s.serial(), Some(3));
}

#[test]
fn expired_with_the_same_serial_recovers_without_transfer() {
    let persisted = PersistedTimers {
        last_refresh: Some(t(0)),
        next_refresh: t(100),
        expire_at: Some(t(0)),
    };
    let mut s = sec(1, Some(soa(4)), Some(persisted));
    assert_eq!(
        acts(&mut s),
        vec![Action::MarkExpired, Action::QuerySoa { primary: 0 }]
    );
    s.on_soa(t(1), 0, serial(4));
    assert_eq!(acts(&mut s), vec![Action::MarkUnexpired]);
    assert_eq!(s.phase(), Phase::Current);
}

#[test]
fn restart_honours_the_persisted_expiry() {
    let persisted = PersistedTimers {
        last_refresh: Some(t(0)),
        next_refresh: t(50),
        expire_at: Some(t(30)),
    };
    let mut s = sec(1, Some(soa(4)), Some(persisted));
    assert_eq!(
        s.phase(),
        Phase::Refreshing,
        "serves at once, checks the primary"
    );
    drain(&mut s);
    s.on_soa(t(1), 0, SoaResult::Failed);
    drain(&mut s);
    assert_eq!(s.next_wakeup(), Some(t(11)));
    s.handle_timeout(t(11));
    drain(&mut s);
    s.on_soa(t(11), 0, SoaResult::Failed);
    drain(&mut s);
    s.handle_timeout(t(21));
    drain(&mut s);
    s.on_soa(t(21), 0, SoaResult::Failed);
    drain(&mut s);
    // Expires at the persisted time (30), not 1000 s after the restart.
    assert_eq!(s.next_wakeup(), Some(t(30)));
    s.handle_timeout(t(30));
    assert_eq!(s.phase(), Phase::Expired);
    assert!(drain(&mut s).contains(&Action::MarkExpired));
}

#[test]
fn notify_during_an_operation_triggers_one_more_check() {
    let mut s = sec(1, Some(soa(1)), None);
    drain(&mut s);
    s.on_soa(t(0), 0, serial(2));
    drain(&mut s);
    s.on_notify(t(1), Some(0), Some(3));
    s.on_notify(t(1), Some(0), Some(4));
    assert!(acts(&mut s).is_empty(), "one operation at a time");
    s.on_transfer(t(2), 0, applied(2));
    assert_eq!(acts(&mut s), vec![Action::QuerySoa { primary: 0 }]);
    s.on_soa(t(2), 0, serial(4));
    drain(&mut s);
    s.on_transfer(t(3), 0, applied(4));
    assert!(acts(&mut s).is_empty(), "only one extra check");
}

#[test]
fn a_failed_transfer_after_notify_is_retried() {
    let mut s = sec(2, Some(soa(1)), None);
    drain(&mut s);
    s.on_soa(t(0), 0, serial(1));
    drain(&mut s);
    assert_eq!(s.next_wakeup(), Some(t(100)));
    // NOTIFY from the second primary: it is asked first.
    s.on_notify(t(10), Some(1), Some(2));
    assert_eq!(acts(&mut s), vec![Action::QuerySoa { primary: 1 }]);
    s.on_soa(t(10), 1, serial(2));
    drain(&mut s);
    s.on_transfer(
        t(11),
        1,
        TransferResult::Failed {
            fallback_to_axfr: false,
        },
    );
    assert_eq!(acts(&mut s), vec![Action::QuerySoa { primary: 0 }]);
    s.on_soa(t(11), 0, SoaResult::Failed);
    drain(&mut s);
    assert_eq!(s.phase(), Phase::Retrying);
    assert_eq!(s.next_wakeup(), Some(t(21)), "retry, not the 100 s refresh");
}

#[test]
fn edns_expire_sets_the_expire_timer() {
    let mut s = sec(1, Some(soa(1)), None);
    drain(&mut s);
    s.on_soa(
        t(5),
        0,
        SoaResult::Serial {
            serial: 1,
            edns_expire: Some(50),
        },
    );
    assert_eq!(s.persisted().expire_at, Some(t(55)));
    assert_eq!(s.remaining_expire(t(15)), Some(40));
    // Never longer than our own SOA expire.
    s.handle_timeout(t(105));
    drain(&mut s);
    s.on_soa(
        t(105),
        0,
        SoaResult::Serial {
            serial: 1,
            edns_expire: Some(5000),
        },
    );
    assert_eq!(s.persisted().expire_at, Some(t(1105)));
}

#[test]
fn clamps_and_jitter() {
    let tiny = SoaTimers {
        serial: 1,
        refresh: 0,
        retry: 0,
        expire: 1,
    };
    let mut s = sec(1, Some(tiny), None);
    drain(&mut s);
    s.on_soa(t(0), 0, serial(1));
    assert_eq!(s.next_wakeup(), Some(t(2)), "refresh-min 2 s");
    assert_eq!(s.persisted().expire_at, Some(t(3)), "expire-min 3 s");

    let jitter = FractionJitter {
        max_fraction: 0.1,
        uniform: || 0.5,
    };
    let mut s = Secondary::new(
        1,
        TimerLimits::default(),
        Box::new(jitter),
        Some(soa(1)),
        None,
        t(0),
    );
    drain(&mut s);
    s.on_soa(t(0), 0, serial(1));
    assert_eq!(s.next_wakeup(), Some(t(95)));
}
