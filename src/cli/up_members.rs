//! The processes of `zonecast up`: one `zonecast serve --config DIR/node.toml` per
//! topology node, started, probed until it answers, and stopped.
//!
//! Children die with `up`: each is started with `prctl(PR_SET_PDEATHSIG, SIGTERM)`, so
//! the kernel sends it SIGTERM (a clean stop) when `up` dies, even by SIGKILL, without
//! any cooperation from the node. That signal follows the death of the *thread* that
//! forked, so every child is spawned by one supervisor thread that lives as long as
//! `up`; `zonecast node start` therefore asks `up` (over its control endpoint) to spawn,
//! rather than spawning itself. Children get their own process group, so a Ctrl-C in
//! the terminal reaches only `up`, which then stops them in order.

use std::fs::File;
use std::net::{SocketAddr, UdpSocket};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use hickory_proto::op::{Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::{Name, RecordType};
use tokio::sync::oneshot;

use crate::control::{ControlRequest, request_blocking};
use crate::node::control_addr_in;
use crate::topology::{NodeRole, TopoNode, Topology};

/// How long `node stop` waits for a node to exit before SIGTERM, and SIGTERM before
/// SIGKILL.
const STOP_GRACE: Duration = Duration::from_secs(5);
const TERM_GRACE: Duration = Duration::from_secs(3);
/// Pause between readiness probes and exit checks.
const POLL: Duration = Duration::from_millis(50);

pub type Reply = oneshot::Sender<Result<String, String>>;

enum Cmd {
    Start(String, Reply),
    Stop(String, Reply),
    StopAll(mpsc::Sender<()>),
}

struct Member {
    node: TopoNode,
    dir: PathBuf,
    addr: SocketAddr,
    child: Option<Child>,
}

/// The supervisor thread's handle.
pub struct Supervisor {
    tx: mpsc::Sender<Cmd>,
    thread: Option<JoinHandle<()>>,
}

/// A cloneable way to send the supervisor member commands (the control endpoint).
#[derive(Clone)]
pub struct Members(mpsc::Sender<Cmd>);

impl Members {
    pub async fn start(&self, name: String) -> Result<String, String> {
        let (tx, rx) = oneshot::channel();
        self.0
            .send(Cmd::Start(name, tx))
            .map_err(|_| "zonecast up is stopping".to_string())?;
        rx.await
            .map_err(|_| "zonecast up is stopping".to_string())?
    }

    pub async fn stop(&self, name: String) -> Result<String, String> {
        let (tx, rx) = oneshot::channel();
        self.0
            .send(Cmd::Stop(name, tx))
            .map_err(|_| "zonecast up is stopping".to_string())?;
        rx.await
            .map_err(|_| "zonecast up is stopping".to_string())?
    }
}

/// The directory of a node: config, log, store, control and pid files.
pub fn node_dir(data: &Path, name: &str) -> PathBuf {
    data.join(name)
}

impl Supervisor {
    pub fn spawn(topo: &Topology, data: &Path, ready_timeout: Duration) -> std::io::Result<Self> {
        let exe = std::env::current_exe()?;
        let members: Vec<Member> = topo
            .nodes
            .iter()
            .map(|n| Member {
                node: n.clone(),
                dir: node_dir(data, &n.name),
                addr: topo.addr(n),
                child: None,
            })
            .collect();
        let (tx, rx) = mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("up-supervisor".into())
            .spawn(move || supervise(exe, members, rx, ready_timeout))?;
        Ok(Supervisor {
            tx,
            thread: Some(thread),
        })
    }

    pub fn members(&self) -> Members {
        Members(self.tx.clone())
    }

    /// Starts one node and waits until it answers (blocking).
    pub fn start_blocking(&self, name: &str) -> Result<String, String> {
        let (tx, rx) = oneshot::channel();
        self.tx
            .send(Cmd::Start(name.to_string(), tx))
            .map_err(|_| "the supervisor stopped".to_string())?;
        rx.blocking_recv()
            .map_err(|_| "the supervisor stopped".to_string())?
    }

    /// Stops every node and ends the supervisor thread.
    pub fn stop_all(mut self) {
        self.finish();
    }

    fn finish(&mut self) {
        let (tx, rx) = mpsc::channel();
        if self.tx.send(Cmd::StopAll(tx)).is_ok() {
            let _ = rx.recv();
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Supervisor {
    fn drop(&mut self) {
        if self.thread.is_some() {
            self.finish();
        }
    }
}

fn supervise(exe: PathBuf, mut members: Vec<Member>, rx: mpsc::Receiver<Cmd>, ready: Duration) {
    while let Ok(cmd) = rx.recv() {
        match cmd {
            Cmd::Start(name, reply) => {
                let r = match members.iter_mut().find(|m| m.node.name == name) {
                    Some(m) => start(&exe, m, ready),
                    None => Err(unknown(&name, &members)),
                };
                let _ = reply.send(r);
            }
            Cmd::Stop(name, reply) => {
                let r = match members.iter_mut().find(|m| m.node.name == name) {
                    Some(m) => Ok(stop(std::slice::from_mut(m))),
                    None => Err(unknown(&name, &members)),
                };
                let _ = reply.send(r);
            }
            Cmd::StopAll(done) => {
                // Downstream first, so no secondary logs a failed refresh from a primary
                // that went away a moment earlier.
                members.reverse();
                stop(&mut members);
                let _ = done.send(());
                return;
            }
        }
    }
    // The handle was dropped without StopAll: still leave nothing behind.
    stop(&mut members);
}

fn unknown(name: &str, members: &[Member]) -> String {
    let names: Vec<&str> = members.iter().map(|m| m.node.name.as_str()).collect();
    format!("no node {name:?} (nodes: {})", names.join(", "))
}

fn running(m: &mut Member) -> bool {
    match &mut m.child {
        Some(c) => matches!(c.try_wait(), Ok(None)),
        None => false,
    }
}

fn start(exe: &Path, m: &mut Member, ready: Duration) -> Result<String, String> {
    if running(m) {
        return Ok(format!("{} is already running", m.node.name));
    }
    let config = m.dir.join("node.toml");
    let log_path = m.dir.join("node.log");
    let log = File::options()
        .create(true)
        .append(true)
        .open(&log_path)
        .map_err(|e| format!("{}: {e}", log_path.display()))?;
    let log2 = log
        .try_clone()
        .map_err(|e| format!("{}: {e}", log_path.display()))?;
    let parent = std::process::id();
    let mut cmd = Command::new(exe);
    cmd.arg("serve")
        .arg("--config")
        .arg(&config)
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(log2)
        .env("NO_COLOR", "1");
    // SAFETY: between fork and exec only async-signal-safe calls (setpgid, prctl,
    // getppid, _exit), touching no memory of the parent.
    unsafe {
        cmd.pre_exec(move || {
            libc::setpgid(0, 0);
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM);
            // `up` died before prctl took effect: no signal will come, so go now.
            if libc::getppid() as u32 != parent {
                libc::_exit(1);
            }
            Ok(())
        });
    }
    let child = cmd
        .spawn()
        .map_err(|e| format!("starting {}: {e}", m.node.name))?;
    let pid = child.id();
    let _ = std::fs::write(m.dir.join("pid"), format!("{pid}\n"));
    m.child = Some(child);
    let deadline = Instant::now() + ready;
    loop {
        if let Some(c) = &mut m.child
            && let Ok(Some(status)) = c.try_wait()
        {
            m.child = None;
            let _ = std::fs::remove_file(m.dir.join("pid"));
            return Err(format!(
                "{} exited ({status}) while starting:\n{}",
                m.node.name,
                log_tail(&log_path)
            ));
        }
        if answers(&m.node, m.addr) {
            return Ok(format!("{} is up on {} (pid {pid})", m.node.name, m.addr));
        }
        if Instant::now() >= deadline {
            return Err(format!(
                "{} does not answer on {} after {}s; its log ({}):\n{}",
                m.node.name,
                m.addr,
                ready.as_secs(),
                log_path.display(),
                log_tail(&log_path)
            ));
        }
        std::thread::sleep(POLL);
    }
}

/// Stops the running members: `node stop` on each control endpoint, then SIGTERM, then
/// SIGKILL, each after a bounded wait; every child is reaped.
fn stop(members: &mut [Member]) -> String {
    let mut lines = Vec::new();
    for m in members.iter_mut() {
        if !running(m) {
            m.child = None;
            continue;
        }
        let asked = control_addr_in(&m.dir).is_some_and(|a| {
            request_blocking(a, &ControlRequest::NodeStop, Duration::from_secs(2))
                .is_ok_and(|r| r.ok)
        });
        if !asked && let Some(c) = &m.child {
            signal(c, libc::SIGTERM);
        }
    }
    for (grace, sig) in [
        (STOP_GRACE, Some(libc::SIGTERM)),
        (TERM_GRACE, Some(libc::SIGKILL)),
        (TERM_GRACE, None),
    ] {
        let deadline = Instant::now() + grace;
        while members.iter_mut().any(running) && Instant::now() < deadline {
            std::thread::sleep(POLL);
        }
        for m in members.iter_mut() {
            if running(m)
                && let (Some(c), Some(sig)) = (&m.child, sig)
            {
                signal(c, sig);
            }
        }
    }
    for m in members.iter_mut() {
        if let Some(mut c) = m.child.take() {
            let status = c.wait().map_or_else(|e| e.to_string(), |s| s.to_string());
            lines.push(format!("{} stopped ({status})", m.node.name));
        }
        let _ = std::fs::remove_file(m.dir.join("pid"));
    }
    if lines.is_empty() {
        "not running".into()
    } else {
        lines.join("\n")
    }
}

fn signal(c: &Child, sig: libc::c_int) {
    if let Ok(pid) = libc::pid_t::try_from(c.id()) {
        // SAFETY: kill(2) on our own unreaped child: the pid cannot have been reused.
        unsafe { libc::kill(pid, sig) };
    }
}

fn log_tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(10)..].join("\n")
}

/// Whether the node answers: every zone of an authoritative node with its SOA (a
/// secondary only once it has transferred), a resolver with any reply at all. The
/// resolver is asked with RD=0, so the probe leaves nothing in its cache: the demo's
/// first `dig` should see a cold cache.
pub fn answers(node: &TopoNode, addr: SocketAddr) -> bool {
    if node.role == NodeRole::Resolver {
        return query(addr, &Name::root(), RecordType::NS, false).is_some();
    }
    node.zones.iter().all(|z| {
        query(addr, z, RecordType::SOA, false).is_some_and(|m| {
            m.metadata.response_code == ResponseCode::NoError
                && m.metadata.authoritative
                && m.answers.iter().any(|r| r.record_type() == RecordType::SOA)
        })
    })
}

/// One UDP query with a short timeout.
fn query(addr: SocketAddr, name: &Name, rtype: RecordType, rd: bool) -> Option<Message> {
    let sock = UdpSocket::bind(SocketAddr::new(std::net::Ipv4Addr::LOCALHOST.into(), 0)).ok()?;
    sock.set_read_timeout(Some(Duration::from_millis(300)))
        .ok()?;
    let id: u16 = rand::random();
    let mut m = Message::new(id, MessageType::Query, OpCode::Query);
    m.metadata.recursion_desired = rd;
    m.add_query(Query::query(name.clone(), rtype));
    let bytes = m.to_vec().ok()?;
    sock.send_to(&bytes, addr).ok()?;
    let mut buf = [0u8; 4096];
    let (n, _) = sock.recv_from(&mut buf).ok()?;
    let reply = Message::from_vec(buf.get(..n)?).ok()?;
    (reply.metadata.id == id).then_some(reply)
}
