//! `zonecast resolve NAME [TYPE]`: one iterative resolution from the command line,
//! printing each step of the walk (`--trace`) and then what the cache holds, like
//! `dig +trace` seen from the resolver's side. With `--server` it asks a running
//! resolver instead.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use anyhow::{Context, bail};
use hickory_proto::op::{Edns, Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::{Name, Record, RecordType};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};

use crate::resolver::config::ResolverConfig;
use crate::resolver::driver::Resolver;

#[derive(Debug, Clone, clap::Args)]
pub struct ResolveArgs {
    /// The name to resolve.
    pub name: String,
    /// The record type.
    #[arg(default_value = "A")]
    pub rtype: String,
    /// Print every step of the walk and the cache afterwards.
    #[arg(long)]
    pub trace: bool,
    /// A named.root file to start from instead of the real root servers.
    #[arg(long)]
    pub root_hints: Option<PathBuf>,
    /// The port of every authoritative server.
    #[arg(long, default_value_t = 53)]
    pub upstream_port: u16,
    /// Ask this running resolver (ADDRESS or ADDRESS:PORT) instead of walking locally.
    #[arg(long)]
    pub server: Option<String>,
    /// Send full query names upstream (no RFC 9156 minimisation).
    #[arg(long)]
    pub no_qname_minimisation: bool,
}

const QUERY_WAIT: Duration = Duration::from_secs(5);

pub fn run(args: &ResolveArgs) -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the runtime")?;
    let text = rt.block_on(report(args))?;
    print!("{text}");
    Ok(())
}

fn record_line(out: &mut String, r: &Record) {
    let _ = writeln!(
        out,
        "{}\t{}\t{}\t{}\t{}",
        r.name,
        r.ttl,
        r.dns_class,
        r.record_type(),
        r.data
    );
}

/// The rcode as dig prints it.
fn rcode_name(rcode: ResponseCode) -> String {
    match rcode {
        ResponseCode::NoError => "NOERROR".into(),
        ResponseCode::FormErr => "FORMERR".into(),
        ResponseCode::ServFail => "SERVFAIL".into(),
        ResponseCode::NXDomain => "NXDOMAIN".into(),
        ResponseCode::NotImp => "NOTIMP".into(),
        ResponseCode::Refused => "REFUSED".into(),
        other => u16::from(other).to_string(),
    }
}

fn sections(out: &mut String, rcode: ResponseCode, answers: &[Record], authorities: &[Record]) {
    let _ = writeln!(
        out,
        ";; status: {}, answers: {}, authority: {}",
        rcode_name(rcode),
        answers.len(),
        authorities.len()
    );
    for r in answers {
        record_line(out, r);
    }
    if !authorities.is_empty() {
        let _ = writeln!(out, ";; AUTHORITY");
        for r in authorities {
            record_line(out, r);
        }
    }
}

/// The text `zonecast resolve` prints.
pub async fn report(args: &ResolveArgs) -> anyhow::Result<String> {
    let name = Name::from_str(&args.name)
        .with_context(|| format!("bad name {:?}", args.name))?
        .append_domain(&Name::root())
        .context("name too long")?;
    let rtype = RecordType::from_str(&args.rtype.to_ascii_uppercase())
        .with_context(|| format!("bad type {:?}", args.rtype))?;
    let mut out = String::new();
    if let Some(server) = &args.server {
        let addr = server
            .parse::<SocketAddr>()
            .or_else(|_| server.parse().map(|ip| SocketAddr::new(ip, 53)))
            .with_context(|| format!("bad server address {server:?}"))?;
        let m = ask(addr, &name, rtype).await?;
        let _ = writeln!(out, ";; from {addr}");
        sections(
            &mut out,
            m.metadata.response_code,
            &m.answers,
            &m.authorities,
        );
        return Ok(out);
    }
    let cfg = ResolverConfig {
        root_hints: args.root_hints.clone(),
        upstream_port: args.upstream_port,
        qname_minimisation: !args.no_qname_minimisation,
        ..ResolverConfig::default()
    };
    let resolver = Resolver::new(&cfg).context("setting up the resolver")?;
    let (outcome, trace) = resolver.resolve_traced(&name, rtype).await;
    if args.trace {
        for line in &trace {
            let _ = writeln!(out, ";; {line}");
        }
    }
    sections(
        &mut out,
        outcome.rcode,
        &outcome.answers,
        &outcome.authorities,
    );
    if args.trace {
        let _ = writeln!(out, ";; CACHE (remaining TTL / original, rank)");
        for e in resolver.dump() {
            let _ = writeln!(out, ";; {e}");
        }
    }
    Ok(out)
}

/// One RD=1 query to a resolver: UDP, then TCP if truncated.
async fn ask(addr: SocketAddr, name: &Name, rtype: RecordType) -> anyhow::Result<Message> {
    let mut q = Message::new(rand::random(), MessageType::Query, OpCode::Query);
    q.metadata.recursion_desired = true;
    q.add_query(Query::query(name.clone(), rtype));
    let mut e = Edns::new();
    e.set_max_payload(1232);
    q.set_edns(e);
    let bytes = q.to_vec()?;
    let local: SocketAddr = if addr.is_ipv4() {
        "0.0.0.0:0".parse()?
    } else {
        "[::]:0".parse()?
    };
    let sock = UdpSocket::bind(local).await?;
    sock.send_to(&bytes, addr).await?;
    let mut buf = vec![0u8; 65535];
    let deadline = tokio::time::Instant::now() + QUERY_WAIT;
    let m = loop {
        let (len, from) = tokio::time::timeout_at(deadline, sock.recv_from(&mut buf))
            .await
            .with_context(|| format!("no answer from {addr} within {QUERY_WAIT:?}"))??;
        let Some(data) = buf.get(..len) else { continue };
        match Message::from_vec(data) {
            Ok(m) if from == addr && m.metadata.id == q.metadata.id => break m,
            _ => continue,
        }
    };
    if !m.metadata.truncation {
        return Ok(m);
    }
    let mut s = tokio::time::timeout(QUERY_WAIT, TcpStream::connect(addr)).await??;
    let len = u16::try_from(bytes.len())?;
    s.write_all(&len.to_be_bytes()).await?;
    s.write_all(&bytes).await?;
    let mut l = [0u8; 2];
    tokio::time::timeout(QUERY_WAIT, s.read_exact(&mut l)).await??;
    let mut body = vec![0u8; usize::from(u16::from_be_bytes(l))];
    tokio::time::timeout(QUERY_WAIT, s.read_exact(&mut body)).await??;
    let m = Message::from_vec(&body)?;
    if m.metadata.id != q.metadata.id {
        bail!("{addr} answered over TCP with the wrong ID");
    }
    Ok(m)
}
