//! `zonecast watch` as a user runs it: the binary against in-test responders on
//! 127.0.0.1, read through its JSON lines and plain output.

mod watch_support;

use std::process::{Command, Output, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::mpsc;
use std::time::Duration;

use hickory_proto::op::Message;
use hickory_proto::rr::RecordType;
use serde_json::Value;
use watch_support::*;

/// Runs `zonecast watch ARGS`; the watch bounds itself with --timeout, and this bounds
/// the wait again in case it does not.
fn run_watch(args: &[&str]) -> Output {
    let child = Command::new(env!("CARGO_BIN_EXE_zonecast"))
        .arg("watch")
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn zonecast");
    let pid = child.id();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(Duration::from_secs(60)) {
        Ok(out) => out.expect("wait for zonecast"),
        Err(_) => {
            // SAFETY: kill(2) on the pid of our own child, which has not been reaped.
            unsafe { libc::kill(pid as i32, libc::SIGKILL) };
            panic!("zonecast watch did not exit within 60s");
        }
    }
}

fn json_lines(out: &Output) -> Vec<Value> {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad JSON line {l:?}: {e}")))
        .collect()
}

fn events<'a>(lines: &'a [Value], kind: &str) -> Vec<&'a Value> {
    lines.iter().filter(|v| v["event"] == kind).collect()
}

/// An authoritative server for example. whose www A record is 192.0.2.1 at serial 1
/// until its `flip_at`-th A query, then 192.0.2.2 at serial 2.
fn flipping_auth(flip_at: u32) -> Responder {
    let a_queries = Arc::new(AtomicU32::new(0));
    Responder::udp(Arc::new(move |q: &Message, _| {
        let question = &q.queries[0];
        let mut m = reply_to(q);
        let flipped = if question.query_type() == RecordType::A {
            a_queries.fetch_add(1, Ordering::SeqCst) + 1 >= flip_at
        } else {
            a_queries.load(Ordering::SeqCst) >= flip_at
        };
        let serial = if flipped { 2 } else { 1 };
        let mut opts = vec![zoneversion(1, serial)];
        if question.query_type() == RecordType::SOA {
            if question.name() == &name("example.") {
                m.add_answer(soa("example.", serial));
            } else {
                m.add_authority(soa("example.", serial));
            }
            opts.push(expire(1000));
        } else {
            let ip = if flipped {
                [192, 0, 2, 2]
            } else {
                [192, 0, 2, 1]
            };
            m.add_answer(a("www.example.", ip, 300));
        }
        vec![wire(&with_options(m, &opts))]
    }))
}

/// A resolver that serves the old answer from cache, its TTL counting down one second
/// per query, until its `flip_at`-th query, then the new one.
fn flipping_resolver(flip_at: u32) -> Responder {
    let queries = Arc::new(AtomicU32::new(0));
    Responder::udp(Arc::new(move |q: &Message, _| {
        let n = queries.fetch_add(1, Ordering::SeqCst) + 1;
        let mut m = reply_to(q);
        m.metadata.authoritative = false;
        m.metadata.recursion_available = true;
        if n >= flip_at {
            m.add_answer(a("www.example.", [192, 0, 2, 2], 300));
        } else {
            m.add_answer(a("www.example.", [192, 0, 2, 1], 60 - n));
        }
        vec![wire(&m)]
    }))
}

#[test]
fn once_json_reports_each_server() {
    let auth = flipping_auth(u32::MAX);
    let resolver = flipping_resolver(u32::MAX);
    let (auth_addr, res_addr) = (auth.addr.to_string(), resolver.addr.to_string());
    let out = run_watch(&[
        "www.example",
        "A",
        "--server",
        &auth_addr,
        "--resolver",
        &res_addr,
        "--once",
        "--json",
        "--timeout",
        "20s",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines = json_lines(&out);
    let obs = events(&lines, "observation");
    assert_eq!(obs.len(), 2, "{lines:?}");
    let auth_obs = obs
        .iter()
        .find(|o| o["address"] == auth_addr.as_str())
        .unwrap();
    assert_eq!(auth_obs["role"], "auth");
    assert_eq!(auth_obs["serial"], 1);
    assert_eq!(auth_obs["serial_source"], "zoneversion");
    assert_eq!(auth_obs["expire"], 1000);
    assert_eq!(auth_obs["answer"][0], "A 192.0.2.1");
    assert_eq!(auth_obs["rcode"], "NOERROR");
    assert_eq!(auth_obs["aa"], true);
    let res_obs = obs
        .iter()
        .find(|o| o["address"] == res_addr.as_str())
        .unwrap();
    assert_eq!(res_obs["role"], "resolver");
    assert_eq!(res_obs["ttl"], 59);
    let rounds = events(&lines, "round");
    assert_eq!(rounds.len(), 1);
    assert_eq!(rounds[0]["agree"], true);
    assert_eq!(rounds[0]["converged"], true);
    assert_eq!(rounds[0]["newest_serial"], 1);
    let converged = events(&lines, "converged");
    assert_eq!(converged.len(), 1);
    assert_eq!(converged[0]["change_seen"], false);
}

#[test]
fn until_converged_reports_each_delay_and_the_resolver_countdown() {
    // By the number of queries each got: the primary changes at its 3rd, the secondary
    // at its 5th, the resolver's cache holds the old answer until its 8th.
    let primary = flipping_auth(3);
    let secondary = flipping_auth(5);
    let resolver = flipping_resolver(8);
    let topology = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(
        topology.path(),
        format!(
            "[[node]]\nname = \"primary\"\nrole = \"primary\"\naddress = \"127.0.0.1\"\nport = {}\n\
             [[node]]\nname = \"secondary\"\nrole = \"secondary\"\naddress = \"127.0.0.1\"\nport = {}\n\
             [[node]]\nname = \"resolver\"\nrole = \"resolver\"\naddress = \"127.0.0.1\"\nport = {}\n",
            primary.addr.port(),
            secondary.addr.port(),
            resolver.addr.port()
        ),
    )
    .unwrap();
    let out = run_watch(&[
        "www.example",
        "--topology",
        topology.path().to_str().unwrap(),
        "--interval",
        "50ms",
        "--json",
        "--until-converged",
        "--after-change",
        "--timeout",
        "30s",
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines = json_lines(&out);
    let rounds = events(&lines, "round");
    // Rounds are not asserted one by one: a reply late for its round (a loaded machine)
    // is taken in the next one. What each round says must hold whatever the timing.
    let state = |r: &Value, server: &str| {
        r["states"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["server"] == server)
            .map(|s| s["state"].as_str().unwrap_or("").to_string())
            .unwrap()
    };
    assert_eq!(rounds[0]["converged"], true, "all old at the start");
    assert_eq!(rounds[0]["newest_serial"], 1);
    let last = rounds.last().unwrap();
    assert_eq!(last["converged"], true);
    assert_eq!(last["newest_serial"], 2);
    let after_change: Vec<&&Value> = rounds.iter().filter(|r| r["newest_serial"] == 2).collect();
    assert!(
        after_change[..after_change.len() - 1]
            .iter()
            .all(|r| r["converged"] == false)
    );
    // While the secondary still serves the old answer, caches can refill: no bound.
    let secondary_behind: Vec<&&&Value> = after_change
        .iter()
        .filter(|r| state(r, "secondary") == "behind")
        .collect();
    assert!(!secondary_behind.is_empty());
    assert!(
        secondary_behind
            .iter()
            .all(|r| r["old_answers_gone_within_s"].is_null())
    );
    // Once every authoritative server is current, the resolver's stale answer bounds how
    // long old answers last, and the bound counts down.
    let bounds: Vec<u64> = after_change
        .iter()
        .filter(|r| state(r, "secondary") == "current" && state(r, "resolver") == "stale-cache")
        .map(|r| r["old_answers_gone_within_s"].as_u64().expect("a bound"))
        .collect();
    assert!(!bounds.is_empty());
    assert!(bounds.windows(2).all(|w| w[0] >= w[1]), "{bounds:?}");
    assert!(bounds[0] > 0 && bounds[0] < 60, "{bounds:?}");
    let stale = events(&lines, "observation")
        .into_iter()
        .filter(|o| o["server"] == "resolver" && o["state"] == "stale-cache")
        .count();
    assert!(
        stale >= 3,
        "stale from the change until its 8th query: {stale}"
    );

    let converged = events(&lines, "converged");
    assert_eq!(converged.len(), 1);
    assert_eq!(converged[0]["change_seen"], true);
    let delay = |server: &str| {
        converged[0]["delays"]
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["server"] == server)
            .unwrap()["delay_ms"]
            .as_f64()
            .unwrap()
    };
    assert_eq!(delay("primary"), 0.0);
    assert!(delay("secondary") > 0.0);
    assert!(delay("resolver") > delay("secondary"));
}

#[test]
fn until_converged_fails_when_a_server_never_catches_up() {
    let primary = flipping_auth(1);
    let secondary = flipping_auth(u32::MAX);
    let out = run_watch(&[
        "www.example",
        "--server",
        &primary.addr.to_string(),
        "--server",
        &secondary.addr.to_string(),
        "--interval",
        "100ms",
        "--until-converged",
        "--timeout",
        "700ms",
    ]);
    assert_eq!(out.status.code(), Some(1));
    // Not a terminal, so the plain renderer: the table first.
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("servers DISAGREE"), "{text}");
    assert!(text.contains("behind"), "{text}");
    assert!(text.contains("SERVER"), "{text}");
}

#[test]
fn bad_arguments_are_reported() {
    let out = run_watch(&[
        "www.example",
        "NOTATYPE",
        "--server",
        "127.0.0.1:1",
        "--once",
    ]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a record type"));
    let out = run_watch(&[
        "www.example",
        "--topology",
        "/nonexistent/topology.toml",
        "--once",
    ]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("reading topology"));
}

#[test]
fn sigterm_ends_the_watch_with_a_final_table() {
    let (queried_tx, queried) = mpsc::channel();
    let auth = Responder::udp(Arc::new(move |q: &Message, _| {
        let _ = queried_tx.send(());
        let mut m = reply_to(q);
        m.add_answer(a("www.example.", [192, 0, 2, 1], 300));
        vec![wire(&m)]
    }));
    let child = Command::new(env!("CARGO_BIN_EXE_zonecast"))
        .args(["watch", "www.example", "--server", &auth.addr.to_string()])
        .args(["--interval", "50ms", "--timeout", "30s"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn zonecast");
    let pid = child.id() as i32;
    queried
        .recv_timeout(Duration::from_secs(10))
        .expect("the watch never queried");
    // SAFETY: kill(2) on the pid of our own running child.
    unsafe { libc::kill(pid, libc::SIGTERM) };
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    let out = match rx.recv_timeout(Duration::from_secs(20)) {
        Ok(out) => out.unwrap(),
        Err(_) => {
            // SAFETY: as above; it did not exit on SIGTERM.
            unsafe { libc::kill(pid, libc::SIGKILL) };
            panic!("zonecast watch ignored SIGTERM");
        }
    };
    assert_eq!(
        out.status.code(),
        Some(0),
        "a clean exit, not death by signal"
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("SERVER"));
}
