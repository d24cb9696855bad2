//! `zonecast watch NAME [TYPE]`: gathers the servers (named, from a topology file, or
//! discovered), then polls them every interval and feeds the model and a renderer.
//!
//! ```text
//! zonecast watch www.example.com                      # discover via /etc/resolv.conf
//! zonecast watch www.lab.test --resolver 127.0.0.44:5300 --port 5300   # a lab
//! zonecast watch www.lab.test AAAA --server 127.0.0.10:5300 --server 127.0.0.11:5300
//! zonecast watch www.lab.test --topology zones/topology.toml --json --until-converged \
//!     --after-change --timeout 30s                    # start, then edit: exit 0 or 1
//! ```
//!
//! Output: a live table on a terminal, change lines when piped, JSON lines with `--json`
//! (see `watch::render::json`). Exit codes: 0, or 1 when `--until-converged` did not
//! converge before `--timeout` or Ctrl-C; errors in the arguments or discovery exit 1
//! with a message.

use std::io::IsTerminal;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::str::FromStr;
use std::time::{Duration, SystemTime};

use anyhow::{Context, bail};
use hickory_proto::rr::{Name, RecordType};
use tokio::time::{Instant, MissedTickBehavior};

use crate::watch::discover::{self, DiscoverOptions};
use crate::watch::probe::{Prober, Target};
use crate::watch::render::json::JsonRenderer;
use crate::watch::render::live::LiveRenderer;
use crate::watch::render::plain::PlainRenderer;
use crate::watch::render::{Clock, Renderer};
use crate::watch::{Model, Role, ServerSpec, topology};

#[derive(Debug, clap::Args)]
pub struct WatchArgs {
    /// The name to watch.
    pub name: String,
    /// The record type to watch.
    #[arg(default_value = "A")]
    pub rtype: String,
    /// An authoritative server to query (RD=0), as `ADDR[:PORT]` or `HOST[:PORT]`; repeatable.
    #[arg(long = "server", value_name = "ADDR[:PORT]")]
    pub servers: Vec<String>,
    /// A caching resolver to query (RD=1); repeatable. Discovery asks these, in order,
    /// instead of the resolvers of /etc/resolv.conf.
    #[arg(long = "resolver", value_name = "ADDR[:PORT]")]
    pub resolvers: Vec<String>,
    /// A TOML file of `[[node]]` tables (name, role = primary|secondary|auth|resolver,
    /// address, port) to watch; root and tld nodes are skipped.
    #[arg(long)]
    pub topology: Option<PathBuf>,
    /// The port of discovered servers, and of --server addresses that give none.
    #[arg(long)]
    pub port: Option<u16>,
    /// Time between polling rounds.
    #[arg(long, default_value = "1s", value_parser = humantime::parse_duration)]
    pub interval: Duration,
    /// Timeout of each query; defaults to the interval, within 500ms..2s. A server
    /// slower than the interval is asked again only once it answered or timed out.
    #[arg(long, value_parser = humantime::parse_duration)]
    pub query_timeout: Option<Duration>,
    /// Poll once, print a snapshot and exit.
    #[arg(long)]
    pub once: bool,
    /// Print JSON lines (observations, rounds, convergence) instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Exit 0 as soon as every server shows the newest answer, 1 at --timeout.
    #[arg(long)]
    pub until_converged: bool,
    /// Count convergence only once a change was seen while watching: start the watch,
    /// then make the edit, and the delays are measured from the first sighting of it.
    #[arg(long)]
    pub after_change: bool,
    /// Stop watching after this long.
    #[arg(long, value_parser = humantime::parse_duration)]
    pub timeout: Option<Duration>,
    /// Also watch the IPv6 addresses of discovered servers.
    #[arg(long = "ipv6", short = '6')]
    pub ipv6: bool,
    /// Lines under the live table (set by `zonecast up`, not a flag).
    #[arg(skip)]
    pub footer: Vec<String>,
}

/// Runs the watch; returns the process exit code.
pub fn run(args: WatchArgs) -> anyhow::Result<i32> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    rt.block_on(watch(args))
}

fn parse_name(text: &str) -> anyhow::Result<Name> {
    let mut name =
        Name::from_utf8(text).with_context(|| format!("{text:?} is not a domain name"))?;
    name.set_fqdn(true);
    Ok(name)
}

/// ADDR, ADDR:PORT, [V6]:PORT, HOST or HOST:PORT. Host names go through the system
/// resolver: this is the CLI edge, where that is what a user expects.
async fn parse_addr(text: &str, default_port: u16) -> anyhow::Result<SocketAddr> {
    if let Ok(sa) = text.parse::<SocketAddr>() {
        return Ok(sa);
    }
    if let Ok(ip) = text.trim_matches(['[', ']']).parse::<IpAddr>() {
        return Ok(SocketAddr::new(ip, default_port));
    }
    let with_port = if text.contains(':') {
        text.to_string()
    } else {
        format!("{text}:{default_port}")
    };
    tokio::net::lookup_host(&with_port)
        .await
        .with_context(|| format!("cannot resolve server address {text:?}"))?
        .next()
        .with_context(|| format!("server address {text:?} has no IP address"))
}

async fn gather_servers(
    args: &WatchArgs,
    qname: &Name,
    timeout: Duration,
) -> anyhow::Result<Vec<ServerSpec>> {
    let mut servers = Vec::new();
    if let Some(path) = &args.topology {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading topology {}", path.display()))?;
        servers.extend(
            topology::parse(&text).with_context(|| format!("topology {}", path.display()))?,
        );
    }
    for text in &args.servers {
        let addr = parse_addr(text, args.port.unwrap_or(53)).await?;
        servers.push(ServerSpec {
            name: text.clone(),
            role: Role::Auth,
            addr,
        });
    }
    let mut resolvers = Vec::new();
    for text in &args.resolvers {
        let addr = parse_addr(text, 53).await?;
        resolvers.push(ServerSpec {
            name: text.clone(),
            role: Role::Resolver,
            addr,
        });
    }
    if servers.is_empty() {
        let discovery_resolvers: Vec<SocketAddr> = if resolvers.is_empty() {
            let conf = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
            discover::parse_resolv_conf(&conf)
        } else {
            resolvers.iter().map(|r| r.addr).collect()
        };
        let opts = DiscoverOptions {
            resolvers: discovery_resolvers,
            port: args.port.unwrap_or(53),
            ipv6: args.ipv6,
            timeout,
        };
        let found = discover::discover(qname, &opts).await.with_context(|| {
            format!("discovering the servers of {qname} (or name them with --server)")
        })?;
        servers.extend(found.servers);
    }
    servers.extend(resolvers);
    if servers.is_empty() {
        bail!("no servers to watch");
    }
    Ok(servers)
}

async fn watch(args: WatchArgs) -> anyhow::Result<i32> {
    let qname = parse_name(&args.name)?;
    let rtype = RecordType::from_str(&args.rtype.to_ascii_uppercase())
        .map_err(|_| anyhow::anyhow!("{:?} is not a record type", args.rtype))?;
    if args.interval.is_zero() {
        bail!("--interval must be more than zero");
    }
    let timeout = args.query_timeout.unwrap_or_else(|| {
        args.interval
            .clamp(Duration::from_millis(500), Duration::from_secs(2))
    });
    let servers = gather_servers(&args, &qname, timeout).await?;
    let title = format!("{qname} {rtype}");
    let start = Instant::now();
    let clock = Clock {
        start: start.into_std(),
        start_wall: SystemTime::now(),
    };
    let mut renderer: Box<dyn Renderer> = if args.json {
        Box::new(JsonRenderer::new(std::io::stdout(), clock))
    } else if !args.once && std::io::stdout().is_terminal() {
        Box::new(LiveRenderer::new(title)?.with_footer(args.footer.clone()))
    } else {
        Box::new(PlainRenderer::new(std::io::stdout(), title, clock))
    };
    let mut model = Model::new(servers.clone());
    let mut prober = Prober::new();
    let target = Target {
        name: qname,
        rtype,
        timeout,
    };
    let unconverged_code = if args.until_converged { 1 } else { 0 };
    let deadline = async {
        match args.timeout {
            Some(d) => tokio::time::sleep_until(start + d).await,
            None => std::future::pending().await,
        }
    };
    tokio::pin!(deadline);
    // Ctrl-C and SIGTERM end the loop normally, so the terminal is restored and the
    // last table printed.
    let mut sigterm = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .context("installing the SIGTERM handler")?;
    let ctrl_c = async {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = sigterm.recv() => {}
        }
    };
    tokio::pin!(ctrl_c);
    let mut next_round = start;
    let mut interval = args.interval;
    let mut redraw = tokio::time::interval(Duration::from_millis(500));
    redraw.set_missed_tick_behavior(MissedTickBehavior::Skip);
    let mut was_converged = false;
    let code = loop {
        tokio::select! {
            _ = &mut ctrl_c => break unconverged_code,
            _ = &mut deadline => break unconverged_code,
            _ = redraw.tick() => {
                let now = Instant::now().into_std();
                renderer.tick(&model.view(now), now)?;
                continue;
            }
            _ = tokio::time::sleep_until(next_round) => {}
        }
        let round_start = Instant::now();
        // A round waits for every server, except that a watch that goes on does not let
        // one slow server hold back the next round: its reply is taken when it comes.
        prober.start_round(&servers, &target);
        let wait = if args.once {
            None
        } else {
            Some(round_start + interval)
        };
        let observations = tokio::select! {
            obs = prober.collect(wait) => obs,
            _ = &mut ctrl_c => break unconverged_code,
            _ = &mut deadline => break unconverged_code,
        };
        for obs in observations {
            model.ingest(obs.clone());
            renderer.observation(&obs, &model)?;
        }
        let now = Instant::now().into_std();
        model.end_round(now);
        interval = model.poll_interval(now, args.interval);
        next_round = round_start + interval;
        let view = model.view(now);
        renderer.round(&view, now)?;
        let converged = view.converged && (!args.after_change || model.change_seen());
        if converged && !was_converged {
            renderer.converged(&view, &model, now)?;
        }
        was_converged = converged;
        if args.until_converged && converged {
            break 0;
        }
        if args.once {
            break 0;
        }
    };
    let now = Instant::now().into_std();
    renderer.finish(&model.view(now), &model, now)?;
    Ok(code)
}
