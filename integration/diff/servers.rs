//! Running the servers under test and talking to them: each server is started through
//! `integration/lib.sh exec` (one place knows every server's configuration), owned by a
//! guard that stops it on drop, and queried over UDP or TCP with bounded waits.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use hickory_proto::op::{Edns, Message, Query, ResponseCode};
use hickory_proto::rr::{Name, RecordType};

/// One running server; stopping it (SIGTERM, then SIGKILL after a grace period) happens
/// on drop so a failing test leaves nothing behind.
pub struct Server {
    pub kind: String,
    pub addr: SocketAddr,
    child: Child,
    log: PathBuf,
}

impl Server {
    /// Starts `kind` serving `zones` (name, file) on 127.0.0.1 and waits until it
    /// answers every zone's SOA authoritatively.
    pub fn start(kind: &str, dir: &Path, zones: &[(String, PathBuf)]) -> Result<Server, String> {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let port = free_port()?;
        let addr: SocketAddr = format!("127.0.0.1:{port}")
            .parse()
            .map_err(|e| format!("{e}"))?;
        let sdir = dir.join(kind);
        std::fs::create_dir_all(&sdir).map_err(|e| format!("{}: {e}", sdir.display()))?;
        let log = sdir.join("server.log");
        let logf = std::fs::File::create(&log).map_err(|e| format!("{}: {e}", log.display()))?;
        let logf2 = logf.try_clone().map_err(|e| e.to_string())?;
        let mut cmd = Command::new("bash");
        cmd.arg(root.join("integration/lib.sh"))
            .arg("exec")
            .arg(kind)
            .arg(&sdir)
            .arg("127.0.0.1")
            .arg(port.to_string());
        for (name, file) in zones {
            cmd.arg(format!("{name}={}", file.display()));
        }
        cmd.env("ZC_BIN", env!("CARGO_BIN_EXE_zonecast"))
            .env("ZC_THREADS", "1")
            .stdin(Stdio::null())
            .stdout(logf)
            .stderr(logf2);
        let child = cmd.spawn().map_err(|e| format!("starting {kind}: {e}"))?;
        let mut server = Server {
            kind: kind.to_string(),
            addr,
            child,
            log,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        for (name, _) in zones {
            server.wait_ready(name, deadline)?;
        }
        Ok(server)
    }

    fn wait_ready(&mut self, zone: &str, deadline: Instant) -> Result<(), String> {
        let q = Probe::new(zone, RecordType::SOA, Transport::Udp, Some(1232));
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(format!(
                    "{} exited ({status}) before serving {zone}:\n{}",
                    self.kind,
                    self.log_tail()
                ));
            }
            if let Ok(bytes) = exchange(self.addr, &q, Duration::from_millis(300))
                && let Ok(m) = Message::from_vec(&bytes)
                && m.metadata.response_code == ResponseCode::NoError
                && m.metadata.authoritative
            {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "{} did not serve {zone} in time:\n{}",
                    self.kind,
                    self.log_tail()
                ));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let pid = self.child.id() as libc::pid_t;
        // SAFETY: kill(2) on the pid of a child we spawned and have not reaped.
        unsafe {
            libc::kill(pid, libc::SIGTERM);
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A port free for both UDP and TCP on 127.0.0.1 right now, taken below the kernel's
/// ephemeral range (32768 and up by default) so that no client socket grabs it before
/// the server binds it.
fn free_port() -> Result<u16, String> {
    for _ in 0..200 {
        let port = 10000 + rand::random::<u16>() % 22000;
        let udp = UdpSocket::bind(("127.0.0.1", port));
        let tcp = std::net::TcpListener::bind(("127.0.0.1", port));
        if udp.is_ok() && tcp.is_ok() {
            return Ok(port);
        }
    }
    Err("no free port on 127.0.0.1".into())
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transport {
    Udp,
    Tcp,
}

/// One query as sent: the question plus the header bits and EDNS settings that vary.
#[derive(Clone, Debug)]
pub struct Probe {
    pub qname: String,
    pub qtype: RecordType,
    pub transport: Transport,
    /// None: no OPT record; Some(size): EDNS with that UDP payload size.
    pub edns: Option<u16>,
    pub edns_version: u8,
    pub dnssec_ok: bool,
    pub rd: bool,
    pub cd: bool,
    /// The branch of the engine this query is meant to reach, for the report.
    pub purpose: &'static str,
}

impl Probe {
    pub fn new(qname: &str, qtype: RecordType, transport: Transport, edns: Option<u16>) -> Self {
        Probe {
            qname: qname.to_string(),
            qtype,
            transport,
            edns,
            edns_version: 0,
            dnssec_ok: false,
            rd: false,
            cd: false,
            purpose: "",
        }
    }

    pub fn describe(&self) -> String {
        let mut s = format!(
            "{} {} {:?}",
            self.qname,
            type_name(self.qtype),
            self.transport
        );
        match self.edns {
            None => s.push_str(" noedns"),
            Some(n) => s.push_str(&format!(" edns={n}")),
        }
        if self.edns_version != 0 {
            s.push_str(&format!(" ednsver={}", self.edns_version));
        }
        for (on, tag) in [(self.dnssec_ok, " do"), (self.rd, " rd"), (self.cd, " cd")] {
            if on {
                s.push_str(tag);
            }
        }
        s
    }

    fn to_wire(&self, id: u16) -> Result<Vec<u8>, String> {
        let name = Name::from_ascii(&self.qname).map_err(|e| format!("{}: {e}", self.qname))?;
        let mut m = Message::query();
        m.metadata.id = id;
        m.metadata.recursion_desired = self.rd;
        m.metadata.checking_disabled = self.cd;
        m.add_query(Query::query(name, self.qtype));
        if let Some(size) = self.edns {
            let mut e = Edns::new();
            e.set_max_payload(size);
            e.set_version(self.edns_version);
            e.set_dnssec_ok(self.dnssec_ok);
            m.set_edns(e);
        }
        m.to_vec().map_err(|e| e.to_string())
    }
}

/// The text name of a type, `TYPEnnn` for ones hickory does not name.
pub fn type_name(t: RecordType) -> String {
    match t {
        RecordType::Unknown(n) => format!("TYPE{n}"),
        other => other.to_string(),
    }
}

/// Sends one probe and returns the raw reply (UDP: two tries; every wait bounded).
pub fn exchange(addr: SocketAddr, probe: &Probe, timeout: Duration) -> Result<Vec<u8>, String> {
    let id: u16 = rand::random();
    let wire = probe.to_wire(id)?;
    match probe.transport {
        Transport::Udp => {
            let sock = UdpSocket::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
            sock.set_read_timeout(Some(timeout))
                .map_err(|e| e.to_string())?;
            sock.connect(addr).map_err(|e| e.to_string())?;
            let mut buf = vec![0u8; 65535];
            for _ in 0..2 {
                sock.send(&wire).map_err(|e| e.to_string())?;
                let deadline = Instant::now() + timeout;
                while Instant::now() < deadline {
                    match sock.recv(&mut buf) {
                        Ok(n) if n >= 2 && buf[..2] == id.to_be_bytes() => {
                            return Ok(buf[..n].to_vec());
                        }
                        Ok(_) => continue,
                        Err(_) => break,
                    }
                }
            }
            Err(format!("no UDP reply from {addr}"))
        }
        Transport::Tcp => {
            let mut s = TcpStream::connect_timeout(&addr, timeout).map_err(|e| e.to_string())?;
            s.set_read_timeout(Some(timeout))
                .map_err(|e| e.to_string())?;
            s.set_write_timeout(Some(timeout))
                .map_err(|e| e.to_string())?;
            let len = u16::try_from(wire.len()).map_err(|e| e.to_string())?;
            let mut framed = len.to_be_bytes().to_vec();
            framed.extend_from_slice(&wire);
            s.write_all(&framed).map_err(|e| e.to_string())?;
            let mut lenb = [0u8; 2];
            s.read_exact(&mut lenb)
                .map_err(|e| format!("TCP read: {e}"))?;
            let mut reply = vec![0u8; u16::from_be_bytes(lenb) as usize];
            s.read_exact(&mut reply)
                .map_err(|e| format!("TCP read: {e}"))?;
            Ok(reply)
        }
    }
}
