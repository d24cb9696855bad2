//! Drawing the watch view: a live table for terminals, plain change lines for pipes and
//! logs, JSON lines for scripts. All three read the same [`View`]; the text they share
//! (header, table, delay table) is built here as plain lines.

pub mod json;
pub mod live;
pub mod plain;

use std::io;
use std::time::{Duration, Instant, SystemTime};

use super::model::{Model, Observation, OldAnswersBound, Role, Row, View};

/// Maps the model's instants to wall-clock time for output, from one reading of both
/// clocks taken at start.
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    pub start: Instant,
    pub start_wall: SystemTime,
}

impl Clock {
    pub fn wall(&self, at: Instant) -> SystemTime {
        self.start_wall + at.saturating_duration_since(self.start)
    }
}

/// What a renderer is told, in order: each observation as the model took it, each
/// round's view, the moment of convergence, ticks between rounds (for countdowns), and
/// the end.
pub trait Renderer {
    fn observation(&mut self, _obs: &Observation, _model: &Model) -> io::Result<()> {
        Ok(())
    }
    fn round(&mut self, view: &View, now: Instant) -> io::Result<()>;
    fn tick(&mut self, _view: &View, _now: Instant) -> io::Result<()> {
        Ok(())
    }
    fn converged(&mut self, view: &View, model: &Model, now: Instant) -> io::Result<()>;
    fn finish(&mut self, _view: &View, _model: &Model, _now: Instant) -> io::Result<()> {
        Ok(())
    }
}

/// A short duration for humans: "850ms", "4.2s", "3m07s", "2h05m".
pub fn fmt_duration(d: Duration) -> String {
    let ms = d.as_millis();
    let s = d.as_secs();
    if ms < 1000 {
        format!("{ms}ms")
    } else if s < 60 {
        format!("{:.1}s", d.as_secs_f64())
    } else if s < 3600 {
        format!("{}m{:02}s", s / 60, s % 60)
    } else {
        format!("{}h{:02}m", s / 3600, (s % 3600) / 60)
    }
}

/// Seconds as a countdown: "42s", "1h02m".
pub fn fmt_secs(secs: u32) -> String {
    if secs < 60 {
        format!("{secs}s")
    } else {
        fmt_duration(Duration::from_secs(u64::from(secs)))
    }
}

fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(max.saturating_sub(1)).collect();
        t.push('…');
        t
    }
}

/// The header: what is watched, agreement, newest serial, time since the change, and
/// the bound on old answers.
pub fn header_lines(title: &str, view: &View) -> Vec<String> {
    let agree = if view.agree {
        "servers agree".to_string()
    } else if view.distinct_answers > 1 {
        format!(
            "servers DISAGREE ({} different answers)",
            view.distinct_answers
        )
    } else {
        "servers DISAGREE".to_string()
    };
    let serial = view
        .newest_serial
        .map_or("newest serial -".to_string(), |s| {
            format!("newest serial {s}")
        });
    let change = match view.since_change {
        Some(d) => format!("change first seen {} ago", fmt_duration(d)),
        None => "no change seen since start".to_string(),
    };
    let old = match &view.old_answers {
        OldAnswersBound::NoAnswer => "old answers: -".to_string(),
        OldAnswersBound::Gone => "old answers gone".to_string(),
        OldAnswersBound::Within(d) => format!("old answers gone in <= {}", fmt_duration(*d)),
        OldAnswersBound::Unknown { serving_old } => format!(
            "old answers: no bound yet, {serving_old} authoritative server(s) still serve them"
        ),
    };
    let mut lines = vec![
        format!("zonecast watch {title}: {agree}"),
        format!("{serial} | {change} | {old}"),
    ];
    if view.converged {
        lines.push("converged: every server shows the newest answer".to_string());
    }
    lines
}

const COLUMNS: [&str; 9] = [
    "SERVER",
    "ROLE",
    "ADDRESS",
    "SERIAL",
    "ANSWER",
    "TTL",
    "EXPIRE",
    "STATE",
    "NEWEST FOR",
];

fn cells(row: &Row, answer_width: usize) -> [String; 9] {
    let dash = || "-".to_string();
    [
        row.name.clone(),
        row.role.label().to_string(),
        row.addr.to_string(),
        row.serial.map_or_else(dash, |s| s.to_string()),
        row.answer
            .as_ref()
            .map_or_else(dash, |a| truncate(&a.summary(), answer_width)),
        row.ttl.map_or_else(dash, fmt_secs),
        row.expire.map_or_else(dash, fmt_secs),
        row.state.label(),
        row.current_for.map_or_else(dash, fmt_duration),
    ]
}

/// The per-server table as aligned lines. `answer_width` caps the answer column.
pub fn table_lines(view: &View, answer_width: usize) -> Vec<String> {
    let mut grid: Vec<[String; 9]> = vec![COLUMNS.map(String::from)];
    grid.extend(view.rows.iter().map(|r| cells(r, answer_width)));
    aligned(&grid)
}

fn aligned<const N: usize>(grid: &[[String; N]]) -> Vec<String> {
    let mut widths = [0usize; N];
    for row in grid {
        for (w, cell) in widths.iter_mut().zip(row.iter()) {
            *w = (*w).max(cell.chars().count());
        }
    }
    grid.iter()
        .map(|row| {
            let mut line = String::new();
            for (i, (cell, w)) in row.iter().zip(widths.iter()).enumerate() {
                if i + 1 == N {
                    line.push_str(cell);
                } else {
                    line.push_str(&format!("{cell:<w$}  "));
                }
            }
            line.trim_end().to_string()
        })
        .collect()
}

/// The per-server propagation-delay table printed on convergence.
pub fn delay_lines(model: &Model) -> Vec<String> {
    let mut lines = Vec::new();
    if model.change_seen() {
        lines.push("propagation delays, from the first sighting of the newest data:".to_string());
    } else {
        lines.push(
            "propagation delays: none measured, the servers already agreed when the watch began"
                .to_string(),
        );
        return lines;
    }
    let mut grid: Vec<[String; 4]> = vec![["SERVER", "ROLE", "ADDRESS", "DELAY"].map(String::from)];
    for d in model.delays() {
        let role = model.server(d.server).map_or(Role::Auth, |s| s.role);
        grid.push([
            d.name.clone(),
            role.label().to_string(),
            d.addr.to_string(),
            d.delay.map_or("not yet".to_string(), fmt_duration),
        ]);
    }
    lines.extend(aligned(&grid));
    lines
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::watch::model::{AnswerData, Outcome, Reply, ServerSpec};

    #[test]
    fn durations_read_well() {
        assert_eq!(fmt_duration(Duration::from_millis(850)), "850ms");
        assert_eq!(fmt_duration(Duration::from_millis(4240)), "4.2s");
        assert_eq!(fmt_duration(Duration::from_secs(187)), "3m07s");
        assert_eq!(fmt_duration(Duration::from_secs(7500)), "2h05m");
        assert_eq!(fmt_secs(42), "42s");
        assert_eq!(truncate("abcdef", 4), "abc…");
    }

    #[test]
    fn table_and_header_show_each_server() {
        let t0 = Instant::now();
        let specs = vec![
            ServerSpec {
                name: "ns1".into(),
                role: Role::Primary,
                addr: "127.0.0.1:53".parse().unwrap(),
            },
            ServerSpec {
                name: "ns2".into(),
                role: Role::Secondary,
                addr: "127.0.0.2:53".parse().unwrap(),
            },
        ];
        let mut m = Model::new(specs);
        let ans = AnswerData::Records(vec!["A 192.0.2.1".into()]);
        m.ingest(Observation {
            server: 0,
            at: t0,
            outcome: Outcome::Reply(Reply::answer(ans, 300, Some(9))),
        });
        m.ingest(Observation {
            server: 1,
            at: t0,
            outcome: Outcome::Unreachable("timeout".into()),
        });
        let v = m.view(t0 + Duration::from_secs(2));
        let table = table_lines(&v, 40);
        assert_eq!(table.len(), 3);
        assert!(table[0].starts_with("SERVER"));
        assert!(
            table[1].contains("ns1") && table[1].contains("A 192.0.2.1"),
            "{}",
            table[1]
        );
        assert!(
            table[1].contains("current") && table[1].contains("2.0s"),
            "{}",
            table[1]
        );
        assert!(table[2].contains("unreachable"), "{}", table[2]);
        let header = header_lines("www.example. A", &v).join("\n");
        assert!(header.contains("DISAGREE"), "{header}");
        assert!(header.contains("newest serial 9"), "{header}");
    }
}
