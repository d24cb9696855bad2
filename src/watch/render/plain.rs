//! Plain output for pipes and logs: the whole table once, then one line per change, so
//! a captured log reads as a timeline of the propagation.

use std::io::{self, Write};
use std::time::Instant;

use super::{Clock, Renderer, delay_lines, fmt_duration, fmt_secs, header_lines, table_lines};
use crate::watch::model::{Model, Row, View};

pub struct PlainRenderer<W: Write> {
    out: W,
    title: String,
    clock: Clock,
    /// What was last printed for each server, to print only changes.
    last_rows: Vec<String>,
    last_header: String,
    started: bool,
}

impl<W: Write> PlainRenderer<W> {
    pub fn new(out: W, title: String, clock: Clock) -> Self {
        PlainRenderer {
            out,
            title,
            clock,
            last_rows: Vec::new(),
            last_header: String::new(),
            started: false,
        }
    }

    fn stamp(&self, now: Instant) -> String {
        format!(
            "+{}",
            fmt_duration(now.saturating_duration_since(self.clock.start))
        )
    }
}

/// The parts of a row whose change is worth a line (not the ticking countdowns).
fn row_key(row: &Row) -> String {
    format!(
        "{} serial={} answer={}",
        row.state.label(),
        row.serial.map_or("-".to_string(), |s| s.to_string()),
        row.answer.as_ref().map_or("-".to_string(), |a| a.summary()),
    )
}

fn row_line(row: &Row) -> String {
    let mut line = format!(
        "{} ({}, {}) {}",
        row.name,
        row.role.label(),
        row.addr,
        row_key(row)
    );
    if let Some(ttl) = row.ttl {
        line.push_str(&format!(" ttl={}", fmt_secs(ttl)));
    }
    if let Some(expire) = row.expire {
        line.push_str(&format!(" expire={}", fmt_secs(expire)));
    }
    if let crate::watch::model::State::Unreachable(why) = &row.state {
        line.push_str(&format!(" ({why})"));
    }
    line
}

impl<W: Write> Renderer for PlainRenderer<W> {
    fn round(&mut self, view: &View, now: Instant) -> io::Result<()> {
        let header = header_lines(&self.title, view);
        // The header's second line holds ticking times; compare the stable parts.
        let header_key = format!(
            "{} {:?} {:?} {}",
            header.first().cloned().unwrap_or_default(),
            view.newest_serial,
            view.newest_answer,
            view.converged
        );
        if !self.started {
            self.started = true;
            for line in header.iter().chain(table_lines(view, 60).iter()) {
                writeln!(self.out, "{line}")?;
            }
            self.last_rows = view.rows.iter().map(row_key).collect();
            self.last_header = header_key;
            return self.out.flush();
        }
        let stamp = self.stamp(now);
        if header_key != self.last_header {
            for line in &header {
                writeln!(self.out, "{stamp} {line}")?;
            }
            self.last_header = header_key;
        }
        self.last_rows.resize(view.rows.len(), String::new());
        for (row, last) in view.rows.iter().zip(self.last_rows.iter_mut()) {
            let key = row_key(row);
            if key != *last {
                writeln!(self.out, "{stamp} {}", row_line(row))?;
                *last = key;
            }
        }
        self.out.flush()
    }

    fn finish(&mut self, view: &View, _model: &Model, now: Instant) -> io::Result<()> {
        // Stopped before the first round completed: still say where things stand.
        if !self.started {
            self.round(view, now)?;
        }
        Ok(())
    }

    fn converged(&mut self, _view: &View, model: &Model, now: Instant) -> io::Result<()> {
        // Agreement from the start is already said by the header; delays need a change.
        if !model.change_seen() {
            return Ok(());
        }
        let stamp = self.stamp(now);
        for line in delay_lines(model) {
            writeln!(self.out, "{stamp} {line}")?;
        }
        self.out.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::watch::model::{AnswerData, Observation, Outcome, Reply, Role, ServerSpec};
    use std::time::{Duration, SystemTime};

    #[test]
    fn prints_the_table_then_only_changes() {
        let t0 = Instant::now();
        let clock = Clock {
            start: t0,
            start_wall: SystemTime::UNIX_EPOCH,
        };
        let mut m = Model::new(vec![
            ServerSpec {
                name: "p".into(),
                role: Role::Primary,
                addr: "127.0.0.1:53".parse().unwrap(),
            },
            ServerSpec {
                name: "s".into(),
                role: Role::Secondary,
                addr: "127.0.0.2:53".parse().unwrap(),
            },
        ]);
        let reply = |ip: &str, serial| {
            Outcome::Reply(Reply::answer(
                AnswerData::Records(vec![format!("A {ip}")]),
                60,
                Some(serial),
            ))
        };
        let mut out = Vec::new();
        let mut r = PlainRenderer::new(&mut out, "x. A".into(), clock);
        let feed = |m: &mut Model, r: &mut PlainRenderer<_>, at, p, s| {
            m.ingest(Observation {
                server: 0,
                at,
                outcome: p,
            });
            m.ingest(Observation {
                server: 1,
                at,
                outcome: s,
            });
            m.end_round(at);
            r.round(&m.view(at), at).unwrap();
        };
        feed(
            &mut m,
            &mut r,
            t0,
            reply("192.0.2.1", 1),
            reply("192.0.2.1", 1),
        );
        let t1 = t0 + Duration::from_secs(1);
        feed(
            &mut m,
            &mut r,
            t1,
            reply("192.0.2.1", 1),
            reply("192.0.2.1", 1),
        );
        let t2 = t0 + Duration::from_secs(2);
        feed(
            &mut m,
            &mut r,
            t2,
            reply("192.0.2.2", 2),
            reply("192.0.2.1", 1),
        );
        drop(r);
        let text = String::from_utf8(out).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        // Header (3 lines: converged at start) + table (3 lines); nothing for the quiet
        // second round; then header (2 lines) and both rows for the change.
        assert_eq!(lines.len(), 3 + 3 + 2 + 2, "{text}");
        assert!(
            lines[6].starts_with("+2.0s zonecast watch x. A: servers DISAGREE"),
            "{text}"
        );
        assert!(
            lines[8].contains("p (primary, 127.0.0.1:53) current serial=2"),
            "{text}"
        );
        assert!(
            lines[9].contains("s (secondary, 127.0.0.2:53) behind serial=1"),
            "{text}"
        );
    }
}
