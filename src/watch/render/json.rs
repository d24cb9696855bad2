//! JSON lines for scripts: one `observation` object per reply or failure, one `round`
//! object per polling round, and a `converged` object with the per-server delays.
//!
//! ```text
//! {"event":"observation","time":RFC3339,"server","role","address","state",
//!  "rcode","aa","answer":[..]|"NXDOMAIN"|"NODATA"|null,"ttl","serial",
//!  "serial_source":"zoneversion"|"soa"|null,"expire","rtt_ms"}   or  ...,"error":"..."}
//! {"event":"round","time","agree","converged","newest_serial","newest_answer",
//!  "since_change_ms","old_answers_gone_within_s":N|null,"states":[{server,address,state,ttl,expire}]}
//! {"event":"converged","time","change_seen","delays":[{server,role,address,delay_ms}]}
//! ```
//! `state` is one of pending, current, behind, stale-cache, not-auth, unreachable, or an
//! rcode name (SERVFAIL, REFUSED, ...). `ttl` of a resolver in a round is its countdown.

use std::io::{self, Write};
use std::time::{Instant, SystemTime};

use serde_json::{Value, json};

use super::{Clock, Renderer};
use crate::watch::model::{
    AnswerData, Model, Observation, OldAnswersBound, Outcome, View, rcode_name,
};

pub struct JsonRenderer<W: Write> {
    out: W,
    clock: Clock,
}

impl<W: Write> JsonRenderer<W> {
    pub fn new(out: W, clock: Clock) -> Self {
        JsonRenderer { out, clock }
    }

    fn emit(&mut self, value: Value) -> io::Result<()> {
        writeln!(self.out, "{value}")?;
        self.out.flush()
    }

    fn time(&self, at: Instant) -> String {
        rfc3339(self.clock.wall(at))
    }
}

fn rfc3339(t: SystemTime) -> String {
    humantime::format_rfc3339_millis(t).to_string()
}

fn answer_json(answer: Option<&AnswerData>) -> Value {
    match answer {
        None => Value::Null,
        Some(AnswerData::Records(r)) => json!(r),
        Some(AnswerData::NoData) => json!("NODATA"),
        Some(AnswerData::NxDomain) => json!("NXDOMAIN"),
    }
}

fn ms(d: std::time::Duration) -> f64 {
    (d.as_secs_f64() * 1_000_000.0).round() / 1000.0
}

impl<W: Write> Renderer for JsonRenderer<W> {
    fn observation(&mut self, obs: &Observation, model: &Model) -> io::Result<()> {
        let Some(server) = model.server(obs.server) else {
            return Ok(());
        };
        let state = model
            .view(obs.at)
            .rows
            .get(obs.server)
            .map(|r| r.state.label());
        let mut v = json!({
            "event": "observation",
            "time": self.time(obs.at),
            "server": server.name,
            "role": server.role.label(),
            "address": server.addr.to_string(),
            "state": state,
        });
        match &obs.outcome {
            Outcome::Unreachable(why) => {
                v["error"] = json!(why);
            }
            Outcome::Reply(r) => {
                v["rcode"] = json!(rcode_name(r.rcode));
                v["aa"] = json!(r.authoritative);
                v["answer"] = answer_json(r.answer.as_ref());
                v["ttl"] = json!(r.ttl);
                v["serial"] = json!(r.serial);
                v["serial_source"] = json!(r.serial_source.map(|s| s.label()));
                v["expire"] = json!(r.expire);
                v["rtt_ms"] = json!(ms(r.rtt));
            }
        }
        self.emit(v)
    }

    fn round(&mut self, view: &View, now: Instant) -> io::Result<()> {
        let old = match &view.old_answers {
            OldAnswersBound::Gone => json!(0),
            OldAnswersBound::Within(d) => json!(d.as_secs()),
            OldAnswersBound::Unknown { .. } | OldAnswersBound::NoAnswer => Value::Null,
        };
        let v = json!({
            "event": "round",
            "time": self.time(now),
            "agree": view.agree,
            "converged": view.converged,
            "newest_serial": view.newest_serial,
            "newest_answer": answer_json(view.newest_answer.as_ref()),
            "since_change_ms": view.since_change.map(ms),
            "old_answers_gone_within_s": old,
            "states": view.rows.iter().map(|r| json!({
                "server": r.name,
                "address": r.addr.to_string(),
                "state": r.state.label(),
                "ttl": r.ttl,
                "expire": r.expire,
            })).collect::<Vec<_>>(),
        });
        self.emit(v)
    }

    fn converged(&mut self, _view: &View, model: &Model, now: Instant) -> io::Result<()> {
        let delays: Vec<Value> = model
            .delays()
            .into_iter()
            .map(|d| {
                json!({
                    "server": d.name,
                    "role": model.server(d.server).map(|s| s.role.label()),
                    "address": d.addr.to_string(),
                    "delay_ms": d.delay.map(ms),
                })
            })
            .collect();
        let v = json!({
            "event": "converged",
            "time": self.time(now),
            "change_seen": model.change_seen(),
            "delays": delays,
        });
        self.emit(v)
    }
}
