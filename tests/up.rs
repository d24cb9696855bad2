//! `zonecast up` as a user runs it: the binary starts the shipped topology (six
//! processes on 127.0.0.11-16) on a free port with a temporary data directory and a
//! copy of the zones; the test edits with `zonecast zone set`, watches with `zonecast
//! watch`, stops and restarts a secondary, and checks that no process is left behind.
//! Every wait is bounded.

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use hickory_proto::op::{Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::{Name, RData, RecordType};
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_zonecast");
const NODES: [u8; 6] = [11, 12, 13, 14, 15, 16];

fn ip(last: u8) -> std::net::IpAddr {
    std::net::IpAddr::from([127, 0, 0, last])
}

/// A port free for UDP and TCP on every node address, below the ephemeral range.
fn free_port() -> u16 {
    for _ in 0..200 {
        let port = 20000 + rand::random::<u16>() % 12000;
        let free = NODES.iter().all(|&n| {
            let a = SocketAddr::new(ip(n), port);
            UdpSocket::bind(a).is_ok() && TcpListener::bind(a).is_ok()
        });
        if free {
            return port;
        }
    }
    panic!("no free port on 127.0.0.11-16");
}

/// The shipped zones, with www.example.test's TTL cut to `ttl` so a resolver's cached
/// answer expires within the test.
fn zone_copy(dir: &Path, ttl: u32) -> PathBuf {
    let zones = dir.join("zones");
    std::fs::create_dir_all(&zones).unwrap();
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("zones");
    for e in std::fs::read_dir(&src).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "zone") {
            let mut text = std::fs::read_to_string(&p).unwrap();
            if p.ends_with("example.test.zone") {
                let before = text.clone();
                text = text.replace("www  30 IN A ", &format!("www  {ttl} IN A "));
                assert!(
                    ttl == 30 || before != text,
                    "the shipped www record changed shape"
                );
            }
            std::fs::write(zones.join(p.file_name().unwrap()), text).unwrap();
        }
    }
    zones
}

/// A running `zonecast up --no-watch`; killed (and so its nodes) if the test fails.
struct Up {
    child: Child,
    data: PathBuf,
    port: u16,
    lines: mpsc::Receiver<String>,
    /// Every node pid seen, for the final check.
    pids: BTreeSet<i32>,
}

impl Up {
    fn start(data: &Path, zones: &Path) -> Up {
        let port = free_port();
        let mut child = Command::new(BIN)
            .args(["up", "--no-watch", "--port", &port.to_string()])
            .arg("--data-dir")
            .arg(data)
            .arg("--zones-dir")
            .arg(zones)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn zonecast up");
        let out = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for l in BufReader::new(out).lines().map_while(Result::ok) {
                let _ = tx.send(l);
            }
        });
        let mut up = Up {
            child,
            data: data.to_path_buf(),
            port,
            lines,
            pids: BTreeSet::new(),
        };
        let banner = up.wait_line("every node answers", Duration::from_secs(90));
        assert!(
            banner.iter().any(|l| l.contains("dig @127.0.0.16 -p")),
            "{banner:?}"
        );
        assert!(banner.iter().any(|l| l.contains("+norec")), "{banner:?}");
        assert!(banner.iter().any(|l| l.contains("AXFR")), "{banner:?}");
        assert!(
            banner.iter().any(|l| l.contains("example.test.zone")),
            "{banner:?}"
        );
        up.record_pids();
        assert_eq!(up.pids.len(), 6, "one process per node");
        up
    }

    /// Lines up to and including the first containing `needle`.
    fn wait_line(&mut self, needle: &str, limit: Duration) -> Vec<String> {
        let deadline = Instant::now() + limit;
        let mut seen = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(l) => {
                    let hit = l.contains(needle);
                    seen.push(l);
                    if hit {
                        return seen;
                    }
                }
                Err(_) => panic!("no {needle:?} from zonecast up; got {seen:?}"),
            }
        }
    }

    fn addr(&self, last: u8) -> SocketAddr {
        SocketAddr::new(ip(last), self.port)
    }

    fn record_pids(&mut self) {
        for e in std::fs::read_dir(&self.data).unwrap() {
            let pid = e.unwrap().path().join("pid");
            if let Ok(t) = std::fs::read_to_string(pid) {
                self.pids.insert(t.trim().parse().unwrap());
            }
        }
    }

    fn zonecast(&self, args: &[&str]) -> Output {
        let mut cmd = Command::new(BIN);
        cmd.args(args).arg("--data-dir").arg(&self.data);
        bounded(cmd, Duration::from_secs(60))
    }
}

impl Drop for Up {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs a command with a bound on its run time.
fn bounded(mut cmd: Command, limit: Duration) -> Output {
    let child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn zonecast");
    let pid = child.id();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(limit) {
        Ok(out) => out.expect("wait for zonecast"),
        Err(_) => {
            // SAFETY: kill(2) on our own unreaped child.
            unsafe { libc::kill(pid as i32, libc::SIGKILL) };
            panic!("{cmd:?} did not exit within {limit:?}");
        }
    }
}

fn ok(out: Output) -> String {
    assert!(
        out.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The A addresses and TTL a server gives for `name` (None: no reply in time).
fn query_a(addr: SocketAddr, name: &str, rd: bool) -> Option<(ResponseCode, Vec<String>, u32)> {
    let sock = UdpSocket::bind("127.0.0.1:0").ok()?;
    sock.set_read_timeout(Some(Duration::from_millis(500)))
        .ok()?;
    let id: u16 = rand::random();
    let mut m = Message::new(id, MessageType::Query, OpCode::Query);
    m.metadata.recursion_desired = rd;
    m.add_query(Query::query(Name::from_ascii(name).unwrap(), RecordType::A));
    sock.send_to(&m.to_vec().unwrap(), addr).ok()?;
    let mut buf = [0u8; 4096];
    let (n, _) = sock.recv_from(&mut buf).ok()?;
    let r = Message::from_vec(&buf[..n]).ok()?;
    let mut ips = Vec::new();
    let mut ttl = 0;
    for rec in &r.answers {
        if let RData::A(a) = &rec.data {
            ips.push(a.0.to_string());
            ttl = rec.ttl;
        }
    }
    Some((r.metadata.response_code, ips, ttl))
}

/// Polls until `addr` answers `want` for www.example.test; returns when it did.
fn until_answer(addr: SocketAddr, rd: bool, want: &str, limit: Duration) -> Instant {
    let deadline = Instant::now() + limit;
    loop {
        let got = query_a(addr, "www.example.test.", rd);
        if got.as_ref().is_some_and(|(_, ips, _)| ips == &[want]) {
            return Instant::now();
        }
        assert!(
            Instant::now() < deadline,
            "{addr} still answers {got:?}, not {want}, after {limit:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn json_lines(text: &str) -> Vec<Value> {
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad JSON {l:?}: {e}")))
        .collect()
}

/// Whether a pid still names a process of this test's data directory.
fn alive(pid: i32, data: &Path) -> bool {
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .is_ok_and(|c| String::from_utf8_lossy(&c).contains(&*data.to_string_lossy()))
}

fn wait_gone(pids: &BTreeSet<i32>, data: &Path, limit: Duration) {
    let data = &std::fs::canonicalize(data).unwrap_or_else(|_| data.to_path_buf());
    let deadline = Instant::now() + limit;
    while pids.iter().any(|&p| alive(p, data)) {
        assert!(
            Instant::now() < deadline,
            "processes left behind: {:?}",
            pids.iter().filter(|&&p| alive(p, data)).collect::<Vec<_>>()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn up_propagates_an_edit_and_survives_a_stopped_secondary() {
    let tmp = tempfile::tempdir().unwrap();
    let zones = zone_copy(tmp.path(), 3);
    let data = tmp.path().join("state");
    let mut up = Up::start(&data, &zones);
    let (ns1, ns2, ns3, resolver) = (up.addr(13), up.addr(14), up.addr(15), up.addr(16));
    for a in [ns1, ns2, ns3] {
        until_answer(a, false, "192.0.2.10", Duration::from_secs(5));
    }
    until_answer(resolver, true, "192.0.2.10", Duration::from_secs(10));
    let topology = data.join("topology.toml");

    // The watch starts first, so it sees the change happen.
    let mut watch = Command::new(BIN)
        .args(["watch", "www.example.test", "--topology"])
        .arg(&topology)
        .args([
            "--json",
            "--until-converged",
            "--after-change",
            "--timeout",
            "20s",
        ])
        .args(["--interval", "300ms"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (wtx, wrx) = mpsc::channel();
    let wout = watch.stdout.take().unwrap();
    std::thread::spawn(move || {
        for l in BufReader::new(wout).lines().map_while(Result::ok) {
            let _ = wtx.send(l);
        }
    });
    let mut watch_lines = Vec::new();
    let first_round = Instant::now() + Duration::from_secs(20);
    while !watch_lines
        .iter()
        .any(|l: &String| l.contains("\"event\":\"round\""))
    {
        let left = first_round.saturating_duration_since(Instant::now());
        watch_lines.push(wrx.recv_timeout(left).expect("a first watch round"));
    }

    // A fresh cache entry: flushed through up's endpoint, then fetched.
    let flushed = ok(up.zonecast(&["cache", "flush", "www.example.test"]));
    assert!(flushed.starts_with("flushed"), "{flushed}");
    let cached_at = Instant::now();
    let (_, old, ttl) = query_a(resolver, "www.example.test.", true).unwrap();
    assert_eq!(old, ["192.0.2.10"]);
    assert!((1..=3).contains(&ttl), "ttl {ttl}");
    let dump = ok(up.zonecast(&["cache", "dump"]));
    assert!(dump.contains("www.example.test. IN A"), "{dump}");
    // The resolver node's own endpoint answers the same, without up in between.
    let mut c = Command::new(BIN);
    c.args(["cache", "dump", "--data-dir"])
        .arg(data.join("resolver"));
    let direct = ok(bounded(c, Duration::from_secs(30)));
    assert!(direct.contains("www.example.test. IN A"), "{direct}");

    let file = zones.join("example.test.zone");
    let set = bounded(
        {
            let mut c = Command::new(BIN);
            c.args(["zone", "set", "--ttl", "3", "--file"])
                .arg(&file)
                .args(["example.test", "www", "A", "192.0.2.99"]);
            c
        },
        Duration::from_secs(30),
    );
    ok(set);
    for a in [ns1, ns2, ns3] {
        until_answer(a, false, "192.0.2.99", Duration::from_secs(10));
    }
    // Every authoritative server has the new address; the resolver keeps the old one
    // for what is left of its TTL, and only then fetches the new one.
    let (_, still, left) = query_a(resolver, "www.example.test.", true).unwrap();
    assert_eq!(
        still,
        ["192.0.2.10"],
        "the cached answer stays until its TTL runs out"
    );
    assert!(left <= ttl);
    let flipped = until_answer(resolver, true, "192.0.2.99", Duration::from_secs(15));
    assert!(
        flipped + Duration::from_secs(1) >= cached_at + Duration::from_secs(u64::from(ttl)),
        "the resolver dropped its answer {:?} after caching it with TTL {ttl}",
        flipped - cached_at
    );

    // The watch saw every server converge, and says how long each took.
    let end = Instant::now() + Duration::from_secs(30);
    while let Ok(l) = wrx.recv_timeout(end.saturating_duration_since(Instant::now())) {
        watch_lines.push(l);
    }
    let status = watch.wait().unwrap();
    let lines = json_lines(&watch_lines.join("\n"));
    assert!(status.success(), "watch did not converge: {watch_lines:?}");
    let converged = lines
        .iter()
        .find(|v| v["event"] == "converged")
        .expect("a converged event");
    assert_eq!(converged["change_seen"], true);
    let delays = converged["delays"].as_array().unwrap();
    let names: Vec<&str> = delays
        .iter()
        .map(|d| d["server"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["ns1", "ns2", "ns3", "resolver"]);
    for d in delays {
        assert!(d["delay_ms"].as_f64().is_some(), "{d}");
    }
    let delay = |i: usize| delays[i]["delay_ms"].as_f64().unwrap();
    assert!(delay(3) >= delay(0), "the resolver is last: {delays:?}");

    // A stopped secondary is unreachable, misses an edit, and catches up on restart.
    let stopped = ok(up.zonecast(&["node", "stop", "ns3"]));
    assert!(stopped.contains("ns3 stopped"), "{stopped}");
    let once = bounded(
        {
            let mut c = Command::new(BIN);
            c.args([
                "watch",
                "www.example.test",
                "--once",
                "--json",
                "--topology",
            ])
            .arg(&topology);
            c
        },
        Duration::from_secs(30),
    );
    let once = json_lines(&ok(once));
    let ns3_obs = once
        .iter()
        .find(|v| v["event"] == "observation" && v["server"] == "ns3")
        .expect("an observation of ns3");
    assert_eq!(ns3_obs["state"], "unreachable", "{ns3_obs}");
    let mut c = Command::new(BIN);
    c.args(["zone", "set", "--ttl", "3", "--file"])
        .arg(&file)
        .args(["example.test", "www", "A", "192.0.2.100"]);
    ok(bounded(c, Duration::from_secs(30)));
    until_answer(ns2, false, "192.0.2.100", Duration::from_secs(10));
    assert!(query_a(ns3, "www.example.test.", false).is_none());
    let started = ok(up.zonecast(&["node", "start", "ns3"]));
    assert!(started.contains("ns3 is up"), "{started}");
    up.record_pids();
    assert_eq!(up.pids.len(), 7, "the restarted ns3 is a new process");
    until_answer(ns3, false, "192.0.2.100", Duration::from_secs(10));

    // SIGTERM (as Ctrl-C) stops every node; nothing is left.
    // SAFETY: kill(2) on our own unreaped child.
    unsafe { libc::kill(up.child.id() as i32, libc::SIGTERM) };
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(s) = up.child.try_wait().unwrap() {
            break s;
        }
        assert!(Instant::now() < deadline, "zonecast up did not exit");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "{status}");
    wait_gone(&up.pids, &data, Duration::from_secs(1));
    assert!(!data.join("control").exists());
}

#[test]
fn nodes_die_with_up_and_a_rerun_keeps_their_stores() {
    let tmp = tempfile::tempdir().unwrap();
    let zones = zone_copy(tmp.path(), 30);
    let data = tmp.path().join("state");
    let mut up = Up::start(&data, &zones);
    until_answer(up.addr(15), false, "192.0.2.10", Duration::from_secs(5));
    // SIGKILL leaves up no chance to clean up: the kernel's parent-death signal does.
    up.child.kill().unwrap();
    up.child.wait().unwrap();
    wait_gone(&up.pids, &data, Duration::from_secs(15));
    assert!(data.join("ns3").join("zonecast.db").is_file());

    // The second run reuses the data directory; the secondaries have their stores.
    let up2 = Up::start(&data, &zones);
    let log = std::fs::read_to_string(data.join("ns3").join("node.log")).unwrap();
    assert!(log.contains("serving stored serial 1"), "{log}");
    until_answer(up2.addr(15), false, "192.0.2.10", Duration::from_secs(5));
    let pids = up2.pids.clone();
    drop(up2);
    wait_gone(&pids, &data, Duration::from_secs(15));
}
