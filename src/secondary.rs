//! The secondary's per-zone timer state machine (RFC 1034 §4.3.5, RFC 1996, RFC 7314),
//! sans-IO.
//!
//! Events go in with the current wall-clock time; [`Action`]s come out through
//! [`Secondary::poll_action`] and the next wake-up through [`Secondary::next_wakeup`].
//! Time is `SystemTime` rather than `Instant` because the timers are persisted: after a
//! restart the zone must still expire when it would have, so the driver stores every
//! [`Action::Persist`] and hands it back to [`Secondary::new`].
//!
//! Only one operation (SOA query or transfer) is in flight at a time. A NOTIFY that
//! arrives meanwhile is remembered and causes one more check when the operation ends, so a
//! change made during a transfer is never missed. Any failure, including one that followed
//! a NOTIFY, schedules a retry (CoreDNS issue 5089 is a secondary that waited for the full
//! refresh interval instead).

use std::collections::VecDeque;
use std::time::{Duration, SystemTime};

use hickory_proto::rr::SerialNumber;

/// The SOA timer fields of the zone version we hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SoaTimers {
    pub serial: u32,
    pub refresh: u32,
    pub retry: u32,
    pub expire: u32,
}

/// Clamps on the SOA values, like Knot's `refresh-min-interval` etc.: a zone with a
/// refresh of one second, or of a year, is a typo more often than a wish.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimerLimits {
    pub refresh_min: Duration,
    pub refresh_max: Duration,
    pub retry_min: Duration,
    pub retry_max: Duration,
    pub expire_min: Duration,
    pub expire_max: Duration,
}

impl Default for TimerLimits {
    /// Knot's defaults (2 s .. 1 day for refresh and retry, 3 s .. 4 weeks for expire).
    fn default() -> Self {
        TimerLimits {
            refresh_min: Duration::from_secs(2),
            refresh_max: Duration::from_secs(86_400),
            retry_min: Duration::from_secs(1),
            retry_max: Duration::from_secs(86_400),
            expire_min: Duration::from_secs(3),
            expire_max: Duration::from_secs(28 * 86_400),
        }
    }
}

/// Spreads refreshes of many zones so they do not all hit the primary at once. Returns the
/// interval to use for a nominal one (Knot takes up to 10% off; tests inject none).
pub trait Jitter {
    fn apply(&mut self, nominal: Duration) -> Duration;
}

/// No jitter: for tests and for a single zone.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoJitter;

impl Jitter for NoJitter {
    fn apply(&mut self, nominal: Duration) -> Duration {
        nominal
    }
}

/// Takes a fraction in [0, max_fraction) off each interval, from an injected source of
/// uniform values in [0, 1).
pub struct FractionJitter<F: FnMut() -> f64> {
    pub max_fraction: f64,
    pub uniform: F,
}

impl<F: FnMut() -> f64> Jitter for FractionJitter<F> {
    fn apply(&mut self, nominal: Duration) -> Duration {
        let u = (self.uniform)().clamp(0.0, 1.0);
        nominal.mul_f64(1.0 - self.max_fraction.clamp(0.0, 1.0) * u)
    }
}

/// The state that must survive a restart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PersistedTimers {
    /// Last time a primary confirmed our data (SOA check or transfer).
    pub last_refresh: Option<SystemTime>,
    pub next_refresh: SystemTime,
    /// When the data stops being served; None while we have no data.
    pub expire_at: Option<SystemTime>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransferKind {
    /// IXFR from this serial (ours).
    Ixfr {
        from: u32,
    },
    Axfr,
}

/// What the driver must do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    QuerySoa {
        primary: usize,
    },
    Transfer {
        primary: usize,
        kind: TransferKind,
    },
    /// Stop serving: answer SERVFAIL with EDE 24.
    MarkExpired,
    MarkUnexpired,
    Persist(PersistedTimers),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    NoData,
    Current,
    Refreshing,
    Retrying,
    Expired,
}

/// The driver's report of an SOA query.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SoaResult {
    Serial {
        serial: u32,
        edns_expire: Option<u32>,
    },
    /// Timeout, network error, bad RCODE or a malformed answer.
    Failed,
}

/// The driver's report of a transfer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransferResult {
    /// Committed and published; `timers` are those of the new version.
    Applied {
        timers: SoaTimers,
        edns_expire: Option<u32>,
    },
    /// The primary said we are current.
    UpToDate { edns_expire: Option<u32> },
    /// Nothing was committed. `fallback_to_axfr` comes from the transfer client's error.
    Failed { fallback_to_axfr: bool },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    Soa,
    Transfer(TransferKind),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Op {
    /// Index into the order of primaries tried in this round.
    attempt: usize,
    primary: usize,
    step: Step,
}

pub struct Secondary {
    primaries: usize,
    limits: TimerLimits,
    jitter: Box<dyn Jitter + Send>,
    soa: Option<SoaTimers>,
    expired: bool,
    failing: bool,
    op: Option<Op>,
    /// Primaries in the order this round tries them (a NOTIFY puts its sender first).
    order: Vec<usize>,
    notify_pending: bool,
    last_refresh: Option<SystemTime>,
    refresh_at: SystemTime,
    expire_at: Option<SystemTime>,
    actions: VecDeque<Action>,
}

impl Secondary {
    /// `current` is the SOA of the version loaded from storage, `persisted` the timers
    /// stored with it. A restarted secondary serves its data at once and checks the
    /// primary right away, but keeps the stored expiry: if that has passed, it starts
    /// expired.
    pub fn new(
        primaries: usize,
        limits: TimerLimits,
        jitter: Box<dyn Jitter + Send>,
        current: Option<SoaTimers>,
        persisted: Option<PersistedTimers>,
        now: SystemTime,
    ) -> Self {
        let mut s = Secondary {
            primaries,
            limits,
            jitter,
            soa: current,
            expired: false,
            failing: false,
            op: None,
            order: (0..primaries).collect(),
            notify_pending: false,
            last_refresh: persisted.and_then(|p| p.last_refresh),
            refresh_at: now,
            expire_at: None,
            actions: VecDeque::new(),
        };
        if let Some(soa) = current {
            s.expire_at = match persisted.and_then(|p| p.expire_at) {
                Some(at) => Some(at),
                None => Some(now + s.expire_interval(soa)),
            };
            if s.expire_at.is_some_and(|at| at <= now) {
                s.expired = true;
                s.actions.push_back(Action::MarkExpired);
            }
        }
        s.start_round(now, None);
        s
    }

    pub fn phase(&self) -> Phase {
        if self.soa.is_none() {
            Phase::NoData
        } else if self.expired {
            Phase::Expired
        } else if self.op.is_some() {
            Phase::Refreshing
        } else if self.failing {
            Phase::Retrying
        } else {
            Phase::Current
        }
    }

    pub fn serial(&self) -> Option<u32> {
        self.soa.map(|s| s.serial)
    }

    pub fn persisted(&self) -> PersistedTimers {
        PersistedTimers {
            last_refresh: self.last_refresh,
            next_refresh: self.refresh_at,
            expire_at: self.expire_at,
        }
    }

    pub fn poll_action(&mut self) -> Option<Action> {
        self.actions.pop_front()
    }

    /// When to call [`handle_timeout`](Secondary::handle_timeout) next.
    pub fn next_wakeup(&self) -> Option<SystemTime> {
        let refresh = if self.op.is_none() {
            Some(self.refresh_at)
        } else {
            None
        };
        let expire = if self.expired { None } else { self.expire_at };
        match (refresh, expire) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    pub fn handle_timeout(&mut self, now: SystemTime) {
        if !self.expired && self.expire_at.is_some_and(|at| at <= now) {
            self.expired = true;
            self.actions.push_back(Action::MarkExpired);
            self.persist();
        }
        if self.op.is_none() && self.refresh_at <= now {
            self.start_round(now, None);
        }
    }

    /// A NOTIFY from primary `from` (already checked against allow-notify). Its serial, if
    /// it carried one, is only a hint: the SOA query decides.
    pub fn on_notify(&mut self, now: SystemTime, from: Option<usize>, serial: Option<u32>) {
        let _ = serial;
        if self.op.is_some() {
            self.notify_pending = true;
            return;
        }
        self.start_round(now, from);
    }

    pub fn on_soa(&mut self, now: SystemTime, primary: usize, result: SoaResult) {
        let Some(op) = self.op else { return };
        if op.primary != primary || op.step != Step::Soa {
            return;
        }
        match result {
            SoaResult::Failed => self.next_primary(now, op),
            SoaResult::Serial {
                serial,
                edns_expire,
            } => match self.soa {
                None => self.begin(op.attempt, Step::Transfer(TransferKind::Axfr)),
                Some(ours) => {
                    let newer = SerialNumber::new(serial) > SerialNumber::new(ours.serial);
                    if newer {
                        self.begin(
                            op.attempt,
                            Step::Transfer(TransferKind::Ixfr { from: ours.serial }),
                        );
                    } else if self.expired && serial != ours.serial {
                        // After expiry any serial is accepted: the primary may have been
                        // rebuilt with a lower one.
                        self.begin(op.attempt, Step::Transfer(TransferKind::Axfr));
                    } else {
                        self.succeeded(now, ours, edns_expire);
                    }
                }
            },
        }
    }

    pub fn on_transfer(&mut self, now: SystemTime, primary: usize, result: TransferResult) {
        let Some(op) = self.op else { return };
        let Step::Transfer(kind) = op.step else {
            return;
        };
        if op.primary != primary {
            return;
        }
        match result {
            TransferResult::Applied {
                timers,
                edns_expire,
            } => {
                self.soa = Some(timers);
                self.succeeded(now, timers, edns_expire);
            }
            TransferResult::UpToDate { edns_expire } => match self.soa {
                Some(ours) if !self.expired => self.succeeded(now, ours, edns_expire),
                Some(_) if kind != TransferKind::Axfr => {
                    self.begin(op.attempt, Step::Transfer(TransferKind::Axfr))
                }
                _ => self.next_primary(now, op),
            },
            TransferResult::Failed { fallback_to_axfr } => {
                if fallback_to_axfr && matches!(kind, TransferKind::Ixfr { .. }) {
                    self.begin(op.attempt, Step::Transfer(TransferKind::Axfr));
                } else {
                    self.next_primary(now, op);
                }
            }
        }
    }

    fn expire_interval(&self, soa: SoaTimers) -> Duration {
        Duration::from_secs(u64::from(soa.expire))
            .clamp(self.limits.expire_min, self.limits.expire_max)
    }

    fn refresh_interval(&mut self, soa: SoaTimers) -> Duration {
        let d = Duration::from_secs(u64::from(soa.refresh))
            .clamp(self.limits.refresh_min, self.limits.refresh_max);
        self.jitter.apply(d)
    }

    fn retry_interval(&mut self) -> Duration {
        let nominal = self.soa.map_or(self.limits.retry_min, |s| {
            Duration::from_secs(u64::from(s.retry))
        });
        let d = nominal.clamp(self.limits.retry_min, self.limits.retry_max);
        self.jitter.apply(d)
    }

    fn start_round(&mut self, now: SystemTime, first: Option<usize>) {
        if self.primaries == 0 {
            self.refresh_at = now + self.retry_interval();
            return;
        }
        self.order = (0..self.primaries).collect();
        if let Some(p) = first.filter(|p| *p < self.primaries) {
            self.order.retain(|x| *x != p);
            self.order.insert(0, p);
        }
        let step = if self.soa.is_none() {
            Step::Transfer(TransferKind::Axfr)
        } else {
            Step::Soa
        };
        self.notify_pending = false;
        self.begin(0, step);
    }

    fn begin(&mut self, attempt: usize, step: Step) {
        let Some(&primary) = self.order.get(attempt) else {
            return;
        };
        self.op = Some(Op {
            attempt,
            primary,
            step,
        });
        self.actions.push_back(match step {
            Step::Soa => Action::QuerySoa { primary },
            Step::Transfer(kind) => Action::Transfer { primary, kind },
        });
    }

    fn next_primary(&mut self, now: SystemTime, op: Op) {
        let next = op.attempt + 1;
        if next < self.order.len() {
            let step = if self.soa.is_none() {
                Step::Transfer(TransferKind::Axfr)
            } else {
                Step::Soa
            };
            self.begin(next, step);
            return;
        }
        self.op = None;
        self.failing = true;
        self.refresh_at = now + self.retry_interval();
        self.persist();
        self.after_op(now);
    }

    fn succeeded(&mut self, now: SystemTime, soa: SoaTimers, edns_expire: Option<u32>) {
        self.op = None;
        self.failing = false;
        self.last_refresh = Some(now);
        let soa_expire = self.expire_interval(soa);
        // RFC 7314: a primary's EXPIRE value (its own remaining time, if it is itself a
        // secondary) replaces the SOA field, never lengthening it.
        let candidate = match edns_expire {
            Some(v) => now + soa_expire.min(Duration::from_secs(u64::from(v))),
            None => now + soa_expire,
        };
        self.expire_at = Some(candidate);
        if self.expired && candidate > now {
            self.expired = false;
            self.actions.push_back(Action::MarkUnexpired);
        }
        self.refresh_at = now + self.refresh_interval(soa);
        self.persist();
        self.after_op(now);
    }

    fn after_op(&mut self, now: SystemTime) {
        if self.notify_pending {
            self.start_round(now, None);
        }
    }

    fn persist(&mut self) {
        let p = self.persisted();
        self.actions.push_back(Action::Persist(p));
    }

    /// Seconds left before expiry, for the EDNS EXPIRE option we answer downstream.
    pub fn remaining_expire(&self, now: SystemTime) -> Option<u32> {
        let at = self.expire_at?;
        let left = at.duration_since(now).unwrap_or(Duration::ZERO);
        Some(u32::try_from(left.as_secs()).unwrap_or(u32::MAX))
    }
}

#[cfg(test)]
mod tests;
