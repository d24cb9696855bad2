//! The watch view, computed from observations alone.
//!
//! Nothing here touches a socket or a clock: the prober hands in what each server said
//! and when, the renderers ask for a [`View`] at a given instant. That keeps every rule
//! about "newest", "behind", countdowns and propagation delays testable with made-up
//! times, and lets the same model run against zonecast, BIND, Knot or public servers.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

pub use super::observation::{
    AnswerData, Observation, Outcome, Reply, Role, SerialSource, ServerSpec, rcode_name,
    serial_newer,
};

/// How long after a change fast polling lasts, and its interval.
pub const BURST_WINDOW: Duration = Duration::from_secs(3);
pub const BURST_INTERVAL: Duration = Duration::from_millis(20);

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum State {
    /// Not asked yet.
    Pending,
    Current,
    /// An authoritative server at an older serial (or older answer).
    Behind,
    /// A resolver still answering from a cache filled before the change.
    StaleCache,
    /// An authoritative server that answered without AA: lame, or not loaded.
    NotAuthoritative,
    /// An rcode other than NOERROR/NXDOMAIN, e.g. SERVFAIL from an expired secondary.
    Error(u16),
    Unreachable(String),
}

impl State {
    pub fn label(&self) -> String {
        match self {
            State::Pending => "pending".into(),
            State::Current => "current".into(),
            State::Behind => "behind".into(),
            State::StaleCache => "stale-cache".into(),
            State::NotAuthoritative => "not-auth".into(),
            State::Error(rcode) => rcode_name(*rcode),
            State::Unreachable(_) => "unreachable".into(),
        }
    }
}

/// The newest version of the watched data, and when it was first seen anywhere.
#[derive(Debug, Clone)]
struct Target {
    serial: Option<u32>,
    answer: Option<AnswerData>,
    first_seen: Instant,
    /// False when this target was already there in the first round: then nothing changed
    /// while we watched, and there is no propagation delay to measure.
    changed_during_watch: bool,
}

#[derive(Debug, Clone)]
struct Track {
    spec: ServerSpec,
    last: Option<(Instant, Outcome)>,
    /// The last reply, kept across unreachable rounds so a countdown can go on.
    last_reply: Option<(Instant, Reply)>,
    current_since: Option<Instant>,
}

/// Per-server row of the view.
#[derive(Debug, Clone)]
pub struct Row {
    pub server: usize,
    pub name: String,
    pub role: Role,
    pub addr: SocketAddr,
    pub state: State,
    pub rcode: Option<u16>,
    pub serial: Option<u32>,
    pub answer: Option<AnswerData>,
    /// For a resolver, the seconds until its cached answer must expire, counted down
    /// from the TTL it returned; for an authoritative server, the TTL it serves.
    pub ttl: Option<u32>,
    /// Seconds until this server's copy of the zone expires (RFC 7314), counted down.
    pub expire: Option<u32>,
    /// How long it has been showing the newest data.
    pub current_for: Option<Duration>,
    pub rtt: Option<Duration>,
}

/// How long stale answers can survive in the watched caches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OldAnswersBound {
    /// No answer seen yet, so nothing to call old.
    NoAnswer,
    /// No watched server holds an old answer.
    Gone,
    /// Every watched resolver holding an old answer must drop it within this time.
    Within(Duration),
    /// Some authoritative server still serves an old answer, so caches can refill with it.
    Unknown { serving_old: usize },
}

#[derive(Debug, Clone)]
pub struct View {
    pub rows: Vec<Row>,
    /// Every server answered, with the same answer and (authoritative ones) the same serial.
    pub agree: bool,
    pub distinct_answers: usize,
    pub newest_serial: Option<u32>,
    pub newest_answer: Option<AnswerData>,
    /// Time since the newest data was first seen, when it appeared while watching.
    pub since_change: Option<Duration>,
    pub converged: bool,
    pub old_answers: OldAnswersBound,
}

/// Per-server propagation delay, measured from the first sighting of the newest data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delay {
    pub server: usize,
    pub name: String,
    pub addr: SocketAddr,
    /// `None` when the server has not shown the newest data.
    pub delay: Option<Duration>,
}

/// The watch state: feed it observations, ask it for views.
#[derive(Debug, Clone)]
pub struct Model {
    tracks: Vec<Track>,
    target: Option<Target>,
    /// The round in which each distinct answer was first seen; for watches with no
    /// serial at all.
    answers_seen: HashMap<AnswerData, u64>,
    rounds: u64,
    converged_at: Option<Instant>,
}

impl Model {
    pub fn new(servers: Vec<ServerSpec>) -> Model {
        Model {
            tracks: servers
                .into_iter()
                .map(|spec| Track {
                    spec,
                    last: None,
                    last_reply: None,
                    current_since: None,
                })
                .collect(),
            target: None,
            answers_seen: HashMap::new(),
            rounds: 0,
            converged_at: None,
        }
    }

    pub fn servers(&self) -> impl Iterator<Item = &ServerSpec> {
        self.tracks.iter().map(|t| &t.spec)
    }

    pub fn server(&self, index: usize) -> Option<&ServerSpec> {
        self.tracks.get(index).map(|t| &t.spec)
    }

    /// Takes one observation. Observations for unknown servers are ignored.
    pub fn ingest(&mut self, obs: Observation) {
        let Some(track) = self.tracks.get_mut(obs.server) else {
            return;
        };
        track.last = Some((obs.at, obs.outcome.clone()));
        if let Outcome::Reply(reply) = &obs.outcome {
            track.last_reply = Some((obs.at, reply.clone()));
            let is_resolver = track.spec.role.is_resolver();
            if let Some(answer) = &reply.answer {
                self.answers_seen
                    .entry(answer.clone())
                    .or_insert(self.rounds);
            }
            if !is_resolver {
                self.consider_target(reply, obs.at);
            }
        }
        if self.target.as_ref().is_none_or(|t| t.serial.is_none()) {
            self.answer_only_target(obs.at);
        }
        self.refresh_current(obs.at);
    }

    /// Marks the end of a polling round. Targets found in the first round were already
    /// there when the watch began; later ones are changes seen happening.
    pub fn end_round(&mut self, now: Instant) {
        self.rounds += 1;
        if self.is_converged() {
            self.converged_at.get_or_insert(now);
        } else {
            self.converged_at = None;
        }
    }

    /// When the servers last became converged, if they still are.
    pub fn converged_at(&self) -> Option<Instant> {
        self.converged_at
    }

    /// Whether the newest data appeared while watching (so delays mean something).
    pub fn change_seen(&self) -> bool {
        self.target.as_ref().is_some_and(|t| t.changed_during_watch)
    }

    fn consider_target(&mut self, reply: &Reply, at: Instant) {
        let Some(serial) = reply.serial else {
            return;
        };
        if !reply.authoritative || reply.answer.is_none() {
            return;
        }
        let newer = match self.target.as_ref().and_then(|t| t.serial) {
            None => true,
            Some(current) => serial_newer(serial, current),
        };
        if newer {
            self.set_target(Some(serial), reply.answer.clone(), at);
        }
    }

    /// With no serial anywhere (resolvers only, or servers without SOA), the newest
    /// answer is the one first seen in the latest round; answers first seen in the same
    /// round (all of them, in the first) tie, and the most common one wins.
    fn answer_only_target(&mut self, at: Instant) {
        let mut counts: HashMap<&AnswerData, usize> = HashMap::new();
        for t in &self.tracks {
            if let Some((_, reply)) = &t.last_reply
                && let Some(a) = &reply.answer
            {
                *counts.entry(a).or_default() += 1;
            }
        }
        let best = counts
            .iter()
            .max_by_key(|(a, n)| (self.answers_seen.get(**a).copied(), **n))
            .map(|(a, _)| (*a).clone());
        let Some(best) = best else { return };
        if self.target.as_ref().and_then(|t| t.answer.as_ref()) != Some(&best) {
            self.set_target(None, Some(best), at);
        }
    }

    fn set_target(&mut self, serial: Option<u32>, answer: Option<AnswerData>, at: Instant) {
        if let Some(previous) = &mut self.target
            && previous.serial.is_none()
            && previous.answer == answer
        {
            // Learning the serial of the answer already shown is no change.
            previous.serial = serial;
            return;
        }
        let answer_changed = self.target.as_ref().map(|t| &t.answer) != Some(&answer);
        let changed_during_watch = self.rounds > 0 && self.target.is_some();
        self.target = Some(Target {
            serial,
            answer,
            first_seen: at,
            changed_during_watch,
        });
        for t in &mut self.tracks {
            // A resolver already showing the same answer keeps its time: an unrelated
            // serial bump does not make its cache any staler.
            if !t.spec.role.is_resolver() || answer_changed {
                t.current_since = None;
            }
        }
    }

    fn is_current(&self, track: &Track) -> bool {
        let (Some(target), Some((_, Outcome::Reply(_)))) = (&self.target, &track.last) else {
            return false;
        };
        let Some((_, reply)) = &track.last_reply else {
            return false;
        };
        if reply.answer.is_none() {
            return false;
        }
        if !track.spec.role.is_resolver() {
            if !reply.authoritative {
                return false;
            }
            if let (Some(have), Some(want)) = (reply.serial, target.serial) {
                return !serial_newer(want, have);
            }
        }
        reply.answer == target.answer
    }

    fn refresh_current(&mut self, at: Instant) {
        let flags: Vec<bool> = self.tracks.iter().map(|t| self.is_current(t)).collect();
        for (t, current) in self.tracks.iter_mut().zip(flags) {
            if !current {
                t.current_since = None;
            } else if t.current_since.is_none() {
                t.current_since = Some(t.last.as_ref().map_or(at, |(when, _)| *when));
            }
        }
    }

    fn state(&self, track: &Track) -> State {
        let Some((_, outcome)) = &track.last else {
            return State::Pending;
        };
        let reply = match outcome {
            Outcome::Unreachable(why) => return State::Unreachable(why.clone()),
            Outcome::Reply(reply) => reply,
        };
        if reply.answer.is_none() {
            return State::Error(reply.rcode);
        }
        let resolver = track.spec.role.is_resolver();
        if !resolver && !reply.authoritative {
            return State::NotAuthoritative;
        }
        if self.is_current(track) {
            State::Current
        } else if resolver {
            State::StaleCache
        } else {
            State::Behind
        }
    }

    fn is_converged(&self) -> bool {
        !self.tracks.is_empty() && self.tracks.iter().all(|t| self.state(t) == State::Current)
    }

    pub fn view(&self, now: Instant) -> View {
        let rows: Vec<Row> = self
            .tracks
            .iter()
            .enumerate()
            .map(|(i, t)| self.row(i, t, now))
            .collect();
        let answered: Vec<&Row> = rows.iter().filter(|r| r.answer.is_some()).collect();
        let mut distinct: Vec<&AnswerData> =
            answered.iter().filter_map(|r| r.answer.as_ref()).collect();
        distinct.sort_by_key(|a| a.summary());
        distinct.dedup();
        let mut serials: Vec<u32> = rows
            .iter()
            .filter(|r| !r.role.is_resolver())
            .filter_map(|r| r.serial)
            .collect();
        serials.sort_unstable();
        serials.dedup();
        let agree = !rows.is_empty()
            && answered.len() == rows.len()
            && distinct.len() == 1
            && serials.len() <= 1;
        let target = self.target.as_ref();
        View {
            agree,
            distinct_answers: distinct.len(),
            newest_serial: target.and_then(|t| t.serial),
            newest_answer: target.and_then(|t| t.answer.clone()),
            since_change: target
                .filter(|t| t.changed_during_watch)
                .map(|t| now.saturating_duration_since(t.first_seen)),
            converged: self.is_converged(),
            old_answers: self.old_answers_bound(&rows),
            rows,
        }
    }

    fn row(&self, index: usize, t: &Track, now: Instant) -> Row {
        let reply = t.last_reply.as_ref();
        let countdown = |at: Instant, secs: u32| {
            let elapsed = now.saturating_duration_since(at).as_secs();
            u32::try_from(u64::from(secs).saturating_sub(elapsed)).unwrap_or(0)
        };
        Row {
            server: index,
            name: t.spec.name.clone(),
            role: t.spec.role,
            addr: t.spec.addr,
            state: self.state(t),
            rcode: reply.map(|(_, r)| r.rcode),
            serial: reply.and_then(|(_, r)| r.serial),
            answer: reply.and_then(|(_, r)| r.answer.clone()),
            ttl: reply.and_then(|(at, r)| {
                let ttl = r.ttl?;
                Some(if t.spec.role.is_resolver() {
                    countdown(*at, ttl)
                } else {
                    ttl
                })
            }),
            expire: reply.and_then(|(at, r)| Some(countdown(*at, r.expire?))),
            current_for: t.current_since.map(|s| now.saturating_duration_since(s)),
            rtt: match &t.last {
                Some((_, Outcome::Reply(r))) => Some(r.rtt),
                _ => None,
            },
        }
    }

    /// The "old answers gone in <= X" bound. It only holds once no authoritative server
    /// hands out an old answer, since a cache that expires before then can refill with it.
    fn old_answers_bound(&self, rows: &[Row]) -> OldAnswersBound {
        let Some(target) = &self.target else {
            return OldAnswersBound::NoAnswer;
        };
        let serving_old = rows
            .iter()
            .filter(|r| !r.role.is_resolver())
            .filter(|r| matches!(r.state, State::Behind))
            .filter(|r| r.answer.is_some() && r.answer != target.answer)
            .count();
        if serving_old > 0 {
            return OldAnswersBound::Unknown { serving_old };
        }
        let longest = rows
            .iter()
            .filter(|r| r.state == State::StaleCache)
            .map(|r| r.ttl.unwrap_or(0))
            .max();
        match longest {
            None => OldAnswersBound::Gone,
            Some(secs) => OldAnswersBound::Within(Duration::from_secs(u64::from(secs))),
        }
    }

    /// The time until the next polling round. Right after a change is first seen, while
    /// authoritative servers are still behind, it polls fast for a short while: transfers
    /// take milliseconds, and one-second polling would report them all as 0 or 1 s. The
    /// window keeps that from hammering a server that stays behind for long.
    pub fn poll_interval(&self, now: Instant, base: Duration) -> Duration {
        let Some(target) = self.target.as_ref().filter(|t| t.changed_during_watch) else {
            return base;
        };
        let recent = now.saturating_duration_since(target.first_seen) < BURST_WINDOW;
        let auth_behind = self
            .tracks
            .iter()
            .any(|t| !t.spec.role.is_resolver() && self.state(t) != State::Current);
        if recent && auth_behind {
            base.min(BURST_INTERVAL)
        } else {
            base
        }
    }

    /// Propagation delays from the first sighting of the newest data to each server
    /// showing it. Polling bounds their precision to one interval.
    pub fn delays(&self) -> Vec<Delay> {
        let first_seen = self.target.as_ref().map(|t| t.first_seen);
        self.tracks
            .iter()
            .enumerate()
            .map(|(i, t)| Delay {
                server: i,
                name: t.spec.name.clone(),
                addr: t.spec.addr,
                delay: match (first_seen, t.current_since) {
                    (Some(first), Some(since)) => Some(since.saturating_duration_since(first)),
                    _ => None,
                },
            })
            .collect()
    }
}

#[cfg(test)]
mod tests;
