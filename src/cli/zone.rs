//! `zonecast zone ...`: inspect the zones a node keeps in its database.
//!
//! `status` opens the database read-only, so it runs beside a live node (WAL readers never
//! block the writer) and shows the last committed state.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::{Duration, SystemTime};

use anyhow::{Context, bail};
use hickory_proto::rr::Name;
use serde_json::{Value, json};

use crate::control::{ControlRequest, request_blocking};
use crate::store::{DB_FILE_NAME, Store, ZoneStatus};

#[derive(Debug, clap::Subcommand)]
pub enum ZoneCommand {
    /// Show a zone's serial, role, timers, journal and last transfer, from the node's
    /// database (safe while the node runs).
    Status(StatusArgs),
    /// Replace an RRset in the zone's file (comments and layout are kept).
    Set(super::zone_edit::ZoneSetArgs),
    /// Delete records, an RRset or a whole name from the zone's file.
    Del(super::zone_edit::ZoneDelArgs),
    /// Edit the zone's file in $VISUAL/$EDITOR, validated before it is written.
    Edit(super::zone_edit::ZoneEditArgs),
}

#[derive(Debug, clap::Args)]
pub struct StatusArgs {
    /// The node's data directory (the database is DIR/zonecast.db). Default: the only
    /// node under ./.zonecast (as `reload` and `node stop` find it), else the current
    /// directory.
    #[arg(long, value_name = "DIR", conflicts_with = "db")]
    pub data_dir: Option<PathBuf>,
    /// The database file itself (always read directly, never via a live node).
    #[arg(long, value_name = "FILE")]
    pub db: Option<PathBuf>,
    /// A live node's control endpoint (default: the one named in DIR/control).
    #[arg(long, value_name = "ADDR", conflicts_with = "db")]
    pub control: Option<std::net::SocketAddr>,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Only this zone (all zones otherwise).
    pub zone: Option<String>,
}

/// Runs a `zone` subcommand; returns the process exit code.
pub fn run(cmd: &ZoneCommand) -> anyhow::Result<i32> {
    match cmd {
        ZoneCommand::Status(args) => {
            print!("{}", status(args, SystemTime::now())?);
            Ok(0)
        }
        ZoneCommand::Set(args) => super::zone_edit::run_set(args),
        ZoneCommand::Del(args) => super::zone_edit::run_del(args),
        ZoneCommand::Edit(args) => super::zone_edit::run_edit(args),
    }
}

impl StatusArgs {
    fn db_path(&self) -> PathBuf {
        match (&self.db, &self.data_dir) {
            (Some(db), _) => db.clone(),
            (None, Some(dir)) => dir.join(DB_FILE_NAME),
            (None, None) => only_node_dir()
                .map(|d| d.join(DB_FILE_NAME))
                .unwrap_or_else(|| PathBuf::from(DB_FILE_NAME)),
        }
    }
}

/// The data directory of the only node under `./.zonecast`, the default that `reload`
/// and `node stop` use too.
fn only_node_dir() -> Option<PathBuf> {
    let dirs: Vec<PathBuf> = std::fs::read_dir(".zonecast")
        .ok()?
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.join(DB_FILE_NAME).is_file())
        .collect();
    match dirs.as_slice() {
        [one] => Some(one.clone()),
        _ => None,
    }
}

/// Asks the running node, if there is one, for its live status.
fn live(args: &StatusArgs) -> Option<Value> {
    if args.db.is_some() {
        return None;
    }
    let addr = args.control.or_else(|| match &args.data_dir {
        Some(dir) => crate::node::control_addr_in(dir),
        None => crate::node::control_addr_in(Path::new("."))
            .or_else(|| crate::node::control_addr_in(&only_node_dir()?)),
    })?;
    let req = ControlRequest::ZoneStatus {
        zone: args.zone.clone(),
    };
    match request_blocking(addr, &req, Duration::from_secs(10)) {
        Ok(r) if r.ok => Some(r.data),
        Ok(r) => Some(json!({ "error": r.message })),
        Err(e) => {
            tracing::debug!("no live node at {addr} ({e}); reading the database");
            None
        }
    }
}

/// Renders a live node's answer (the JSON of [`to_json`] plus a `live` object).
fn render_live(args: &StatusArgs, v: Value) -> anyhow::Result<String> {
    if let Some(e) = v.get("error") {
        bail!("{}", e.as_str().unwrap_or("the node refused"));
    }
    let zones = v.as_array().cloned().unwrap_or_default();
    if args.json {
        let v = match (&args.zone, zones.as_slice()) {
            (Some(_), [one]) => one.clone(),
            _ => Value::Array(zones),
        };
        return Ok(format!("{}\n", serde_json::to_string_pretty(&v)?));
    }
    let s = |v: &Value| match v {
        Value::Null => "-".to_string(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<24} {:<9} {:<11} {:<8} {:<10} LAST TRANSFER",
        "ZONE", "ROLE", "SERIAL", "EXPIRED", "JOURNAL"
    );
    for z in &zones {
        let lt = &z["last_transfer"];
        let last = if lt.is_null() {
            "-".to_string()
        } else {
            format!(
                "{} {} serial {} at {}",
                s(&lt["kind"]),
                if lt["ok"] == Value::Bool(true) {
                    "ok".to_string()
                } else {
                    format!("failed ({})", s(&lt["error"]))
                },
                s(&lt["serial"]),
                s(&lt["at"])
            )
        };
        let _ = writeln!(
            out,
            "{:<24} {:<9} {:<11} {:<8} {:<10} {last}",
            s(&z["zone"]),
            s(&z["live"]["role"]),
            s(&z["live"]["served_serial"]),
            s(&z["live"]["expired"]),
            s(&z["journal"]["depth"]),
        );
        // A primary's last reload of its file: what changed, incremental or full, and
        // how long it took (the first line of an error).
        let reload = &z["live"]["last_reload"];
        if let Some(msg) = reload["message"].as_str() {
            let ok = if reload["ok"] == Value::Bool(true) {
                ""
            } else {
                "failed: "
            };
            let first = msg.lines().next().unwrap_or_default();
            let _ = writeln!(out, "  last reload: {ok}{first}");
        }
    }
    Ok(out)
}

/// Renders `zonecast zone status` output; `now` is used for "expires in". A running
/// node is asked first (it knows what it serves right now); without one the database is
/// read directly.
pub fn status(args: &StatusArgs, now: SystemTime) -> anyhow::Result<String> {
    if let Some(v) = live(args) {
        return render_live(args, v);
    }
    let path = args.db_path();
    if !path.exists() {
        bail!(
            "{}: no such database (give --data-dir or --db)",
            path.display()
        );
    }
    let store =
        Store::open_read_only(&path).with_context(|| format!("opening {}", path.display()))?;
    let statuses = match &args.zone {
        Some(z) => {
            let name = Name::from_str(z).with_context(|| format!("bad zone name {z:?}"))?;
            match store.zone_status(&name)? {
                Some(s) => vec![s],
                None => bail!("zone {z} is not in {}", path.display()),
            }
        }
        None => store.all_zone_status()?,
    };
    if args.json {
        let v: Vec<Value> = statuses.iter().map(|s| to_json(s, now)).collect();
        let v = match (&args.zone, v.as_slice()) {
            (Some(_), [one]) => one.clone(),
            _ => Value::Array(v),
        };
        return Ok(format!("{}\n", serde_json::to_string_pretty(&v)?));
    }
    Ok(match (&args.zone, statuses.as_slice()) {
        (Some(_), [one]) => detail(one, now),
        _ => table(&statuses),
    })
}

fn time(t: Option<SystemTime>) -> String {
    t.map_or_else(
        || "-".to_string(),
        |t| humantime::format_rfc3339_seconds(t).to_string(),
    )
}

fn time_json(t: Option<SystemTime>) -> Value {
    t.map_or(Value::Null, |t| {
        Value::String(humantime::format_rfc3339_seconds(t).to_string())
    })
}

/// "in 3h 2m" or "5m ago" (expired), to the second.
fn relative(t: SystemTime, now: SystemTime) -> String {
    let secs = |d: Duration| Duration::from_secs(d.as_secs());
    match t.duration_since(now) {
        Ok(d) => format!("in {}", humantime::format_duration(secs(d))),
        Err(e) => format!("{} ago", humantime::format_duration(secs(e.duration()))),
    }
}

fn opt<T: ToString>(v: Option<T>) -> String {
    v.map_or_else(|| "-".to_string(), |v| v.to_string())
}

fn last_transfer(s: &ZoneStatus) -> String {
    match &s.last_transfer {
        None => "-".to_string(),
        Some(t) => format!(
            "{} {} serial {} at {}",
            t.kind.as_str(),
            t.error
                .as_deref()
                .map_or("ok".to_string(), |e| format!("failed ({e})")),
            opt(t.serial),
            time(Some(t.at)),
        ),
    }
}

fn table(statuses: &[ZoneStatus]) -> String {
    let header = [
        "ZONE",
        "ROLE",
        "SERIAL",
        "RECORDS",
        "JOURNAL",
        "LAST TRANSFER",
    ];
    let rows: Vec<[String; 6]> = statuses
        .iter()
        .map(|s| {
            [
                s.name.clone(),
                opt(s.role),
                opt(s.serial),
                s.record_count.to_string(),
                format!("{} ({} B)", s.journal_depth, s.journal_bytes),
                last_transfer(s),
            ]
        })
        .collect();
    let mut widths = header.map(str::len);
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.len());
        }
    }
    let mut out = String::new();
    let mut line = |cells: &[&str]| {
        let mut l = String::new();
        for (i, (cell, w)) in cells.iter().zip(widths).enumerate() {
            if i + 1 == cells.len() {
                l.push_str(cell);
            } else {
                let _ = write!(l, "{cell:<w$}  ");
            }
        }
        out.push_str(l.trim_end());
        out.push('\n');
    };
    line(&header);
    for row in &rows {
        line(&row.each_ref().map(String::as_str));
    }
    out
}

fn detail(s: &ZoneStatus, now: SystemTime) -> String {
    let expires = match s.timers.expire_at {
        Some(t) => format!("{} ({})", time(Some(t)), relative(t, now)),
        None => "-".to_string(),
    };
    let journal = match s.journal_oldest_serial {
        Some(oldest) => format!(
            "{} changesets, {} bytes, IXFR possible from serial {oldest}",
            s.journal_depth, s.journal_bytes
        ),
        None => "empty".to_string(),
    };
    let fields = [
        ("zone", s.name.clone()),
        ("role", opt(s.role)),
        ("serial", opt(s.serial)),
        ("records", s.record_count.to_string()),
        ("stored size", format!("{} bytes", s.data_bytes)),
        ("journal", journal),
        ("last refresh", time(s.timers.last_refresh)),
        ("last attempt", time(s.timers.last_attempt)),
        ("expires", expires),
        ("last transfer", last_transfer(s)),
    ];
    let mut out = String::new();
    for (k, v) in fields {
        let _ = writeln!(out, "{:<14} {v}", format!("{k}:"));
    }
    out
}

/// The JSON form of a zone's status, shared with the live node's control endpoint.
pub fn to_json(s: &ZoneStatus, now: SystemTime) -> Value {
    json!({
        "zone": s.name,
        "role": s.role,
        "serial": s.serial,
        "records": s.record_count,
        "stored_bytes": s.data_bytes,
        "journal": {
            "depth": s.journal_depth,
            "bytes": s.journal_bytes,
            "oldest_serial": s.journal_oldest_serial,
        },
        "timers": {
            "last_refresh": time_json(s.timers.last_refresh),
            "last_attempt": time_json(s.timers.last_attempt),
            "expire_at": time_json(s.timers.expire_at),
            "expired": s.timers.expire_at.map(|t| t <= now),
        },
        "last_transfer": s.last_transfer.as_ref().map(|t| json!({
            "kind": t.kind,
            "at": time_json(Some(t.at)),
            "serial": t.serial,
            "ok": t.error.is_none(),
            "error": t.error,
        })),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{TimerState, TransferKind, TransferOutcome, ZoneRole};
    use crate::zone::Zone;
    use crate::zone::diff::tests::{a, n, soa};
    use std::time::UNIX_EPOCH;

    fn args(db: PathBuf, zone: Option<&str>, json: bool) -> StatusArgs {
        StatusArgs {
            data_dir: None,
            db: Some(db),
            control: None,
            json,
            zone: zone.map(str::to_string),
        }
    }

    #[test]
    fn status_reads_a_live_database() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(DB_FILE_NAME);
        let mut store = Store::open(&path).unwrap();
        let z = Zone::from_records(
            n("example.test."),
            vec![soa(2026112101), a("www.example.test.", 60, 1)],
        )
        .unwrap();
        store.commit_full(&z).unwrap();
        store
            .set_role(&n("example.test."), ZoneRole::Secondary)
            .unwrap();
        let t0 = UNIX_EPOCH + Duration::from_secs(1_795_240_800);
        store
            .set_timers(
                &n("example.test."),
                &TimerState {
                    last_refresh: Some(t0),
                    last_attempt: Some(t0),
                    expire_at: Some(t0 + Duration::from_secs(3600)),
                },
            )
            .unwrap();
        store
            .record_transfer(
                &n("example.test."),
                &TransferOutcome {
                    kind: TransferKind::Axfr,
                    at: t0,
                    serial: Some(2026112101),
                    error: None,
                },
            )
            .unwrap();
        let now = t0 + Duration::from_secs(600);

        // The writer stays open, as in a running node.
        let out = status(&args(path.clone(), Some("Example.TEST"), false), now).unwrap();
        assert!(out.contains("role:          secondary"), "{out}");
        assert!(out.contains("serial:        2026112101"), "{out}");
        assert!(
            out.contains("expires:       2026-11-21T07:00:00Z (in 50m)"),
            "{out}"
        );
        assert!(
            out.contains("axfr ok serial 2026112101 at 2026-11-21T06:00:00Z"),
            "{out}"
        );

        let out = status(&args(path.clone(), None, false), now).unwrap();
        let lines: Vec<&str> = out.lines().collect();
        assert!(lines[0].starts_with("ZONE"), "{out}");
        assert!(
            lines[1].starts_with("example.test.  secondary  2026112101  2"),
            "{out}"
        );

        let v: Value = serde_json::from_str(
            &status(&args(path.clone(), Some("example.test"), true), now).unwrap(),
        )
        .unwrap();
        assert_eq!(v["serial"], 2026112101);
        assert_eq!(v["role"], "secondary");
        assert_eq!(v["timers"]["expired"], false);
        assert_eq!(v["last_transfer"]["kind"], "axfr");
        assert_eq!(v["journal"]["depth"], 0);
        let all: Value =
            serde_json::from_str(&status(&args(path.clone(), None, true), now).unwrap()).unwrap();
        assert_eq!(all.as_array().map(Vec::len), Some(1));

        let e = status(&args(path.clone(), Some("nope.test"), false), now).unwrap_err();
        assert!(e.to_string().contains("not in"), "{e}");
        let e = status(&args(dir.path().join("missing.db"), None, false), now).unwrap_err();
        assert!(e.to_string().contains("no such database"), "{e}");
        drop(store);
    }
}
