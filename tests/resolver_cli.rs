//! `zonecast resolve --listen`: the binary as a serving resolver (the mode the
//! differential test and the benchmark run), over the shipped hierarchy served by
//! zonecast, stopped by SIGTERM.

mod resolver_support;

use std::net::{SocketAddr, UdpSocket};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use hickory_proto::op::{Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::{Name, RecordType};
use resolver_support::{Hierarchy, ROOT_HINTS_FILE};

const WAIT: Duration = Duration::from_secs(10);

fn zonecast() -> Command {
    Command::new(env!("CARGO_BIN_EXE_zonecast"))
}

/// Asks `server` once per 200 ms until it answers or `WAIT` passes.
fn ask_until_answered(server: SocketAddr, name: &str, child: &mut Child) -> Message {
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let mut q = Message::new(rand::random(), MessageType::Query, OpCode::Query);
    q.metadata.recursion_desired = true;
    q.add_query(Query::query(Name::from_ascii(name).unwrap(), RecordType::A));
    let bytes = q.to_vec().unwrap();
    let deadline = Instant::now() + WAIT;
    let mut buf = [0u8; 4096];
    while Instant::now() < deadline {
        assert!(
            child.try_wait().unwrap().is_none(),
            "the resolver exited early"
        );
        sock.send_to(&bytes, server).unwrap();
        if let Ok((n, _)) = sock.recv_from(&mut buf) {
            let m = Message::from_vec(&buf[..n]).unwrap();
            if m.metadata.id == q.metadata.id {
                return m;
            }
        }
    }
    panic!("no answer from {server} within {WAIT:?}");
}

fn stop(child: &mut Child) -> std::process::ExitStatus {
    let pid = libc::pid_t::try_from(child.id()).unwrap();
    // SAFETY: signalling the child we spawned, by its pid.
    unsafe { libc::kill(pid, libc::SIGTERM) };
    let deadline = Instant::now() + WAIT;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("the resolver ignored SIGTERM for {WAIT:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn listen_mode_resolves_for_clients_and_stops_on_sigterm() {
    let lab = Hierarchy::start();
    let dir = tempfile::tempdir().unwrap();
    let hints = dir.path().join("lab.root");
    std::fs::write(&hints, ROOT_HINTS_FILE).unwrap();
    // A port free right now; the child's bind fails (and it exits) if it was taken since.
    let addr = UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let mut child = zonecast()
        .args(["resolve", "--listen", &addr.to_string(), "--root-hints"])
        .arg(&hints)
        .args(["--upstream-port", &lab.port.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let m = ask_until_answered(addr, "shopalias.example.test.", &mut child);
    let status = stop(&mut child);
    assert_eq!(m.metadata.response_code, ResponseCode::NoError);
    let data: Vec<String> = m.answers.iter().map(|r| r.data.to_string()).collect();
    assert_eq!(data, vec!["www.shop.test.", "192.0.2.40"]);
    assert!(m.metadata.recursion_available);
    assert!(status.success(), "{status:?}");
}

#[test]
fn a_name_is_required_without_listen() {
    let out = zonecast().arg("resolve").output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--listen") || err.contains("<NAME>"), "{err}");
}
