//! `zonecast serve` end to end: a TOML config through the library, and the no-argument
//! mode through the built binary. Every wait is bounded.

use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, UdpSocket};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use hickory_proto::op::{Message, Query, ResponseCode};
use hickory_proto::rr::{Name, RData, RecordType};
use zonecast::cli::serve;
use zonecast::config::NodeConfig;

const WAIT: Duration = Duration::from_secs(10);

fn ask(addr: SocketAddr, name: &str, qtype: RecordType) -> Message {
    let mut q = Message::query();
    q.metadata.id = 77;
    q.add_query(Query::query(Name::from_ascii(name).unwrap(), qtype));
    let s = UdpSocket::bind("127.0.0.1:0").unwrap();
    s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    s.send_to(&q.to_vec().unwrap(), addr).unwrap();
    let mut buf = [0u8; 4096];
    let (len, _) = s.recv_from(&mut buf).expect("a reply within the timeout");
    Message::from_vec(&buf[..len]).unwrap()
}

#[test]
fn serves_zones_from_a_config_file() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("cfg.test.zone"),
        "$TTL 300\n@ IN SOA ns1 host 5 7200 900 1209600 300\n@ NS ns1\nns1 A 192.0.2.53\nhost A 192.0.2.7\n",
    )
    .unwrap();
    let cfg_path = dir.path().join("node.toml");
    std::fs::write(
        &cfg_path,
        "listen = [\"127.0.0.1:0\"]\nthreads = 1\ntcp-idle-timeout = \"1s\"\n\n[[zone]]\nname = \"cfg.test\"\nfile = \"cfg.test.zone\"\n",
    )
    .unwrap();
    let mut cfg = NodeConfig::load(&cfg_path).unwrap();
    cfg.data_dir = Some(dir.path().join("data"));
    let server = serve::start(&cfg).unwrap();
    let m = ask(server.local_addrs()[0], "host.cfg.test.", RecordType::A);
    assert_eq!(m.metadata.response_code, ResponseCode::NoError);
    match &m.answers[0].data {
        RData::A(a) => assert_eq!(a.to_string(), "192.0.2.7"),
        other => panic!("unexpected {other:?}"),
    }
    server.shutdown();
}

#[test]
fn bad_zone_file_fails_start() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = NodeConfig::parse(
        "listen = [\"127.0.0.1:0\"]\n[[zone]]\nname = \"missing.test\"\nfile = \"nope.zone\"\n",
        "node.toml",
        dir.path(),
    )
    .unwrap();
    cfg.data_dir = Some(dir.path().join("data"));
    let err = serve::start(&cfg)
        .err()
        .expect("start must fail")
        .to_string();
    assert!(err.contains("missing.test"), "{err}");
}

#[test]
fn no_argument_mode_prints_a_dig_line_and_serves() {
    // From an empty directory, so the zones embedded in the binary are used.
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_zonecast"))
        .current_dir(dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let deadline = Instant::now() + WAIT;
    let port = loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let line = match rx.recv_timeout(left) {
            Ok(l) => l,
            Err(e) => {
                let _ = child.kill();
                panic!("no dig line within {WAIT:?}: {e}");
            }
        };
        if let Some(rest) = line.strip_prefix("try: dig @127.0.0.1 -p ") {
            let (port, name) = rest.split_once(' ').unwrap();
            assert_eq!(name, "www.example.test");
            break port.parse::<u16>().unwrap();
        }
    };
    let m = ask(
        SocketAddr::from(([127, 0, 0, 1], port)),
        "www.example.test.",
        RecordType::A,
    );
    assert_eq!(m.metadata.response_code, ResponseCode::NoError);
    assert!(m.metadata.authoritative);
    assert!(!m.answers.is_empty());

    // SIGTERM stops it cleanly, exit status 0.
    let pid = i32::try_from(child.id()).unwrap();
    // SAFETY: kill(2) on the pid of the child we spawned and have not reaped.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
    let status = wait_exit(&mut child, "SIGTERM");
    assert!(status.success(), "exit status {status}");
}

/// Waits for `child` to exit, killing it after `WAIT`.
fn wait_exit(child: &mut std::process::Child, what: &str) -> std::process::ExitStatus {
    let deadline = Instant::now() + WAIT;
    loop {
        if let Some(s) = child.try_wait().unwrap() {
            return s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("did not exit within {WAIT:?} of {what}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn node_stop_by_name_without_up_stops_that_node() {
    // The layout `up` uses (DATA/NAME), but each node started on its own with `serve`.
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join(".zonecast");
    let zone = dir.path().join("stop.test.zone");
    std::fs::write(
        &zone,
        "$TTL 300\n@ SOA ns1 h 1 7200 900 1209600 300\n@ NS ns1\nns1 A 192.0.2.1\n",
    )
    .unwrap();
    let zc = env!("CARGO_BIN_EXE_zonecast");
    let spawn = |name: &str| {
        Command::new(zc)
            .args(["serve", "--listen", "127.0.0.1:0", "--zone"])
            .arg(format!("stop.test={}", zone.display()))
            .arg("--data-dir")
            .arg(data.join(name))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap()
    };
    let mut a = spawn("a");
    let mut b = spawn("b");
    // Each node's endpoint is ready once its control file is there.
    let deadline = Instant::now() + WAIT;
    while !(data.join("a/control").exists() && data.join("b/control").exists()) {
        assert!(Instant::now() < deadline, "the nodes did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = Command::new(zc)
        .args(["node", "stop", "a", "--data-dir"])
        .arg(&data)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(wait_exit(&mut a, "node stop a").success());
    // Only the named node stopped.
    assert!(b.try_wait().unwrap().is_none(), "node b stopped too");
    let _ = b.kill();
    let _ = b.wait();
}
