//! `zonecast reload` and `zonecast node stop`: commands for a running node, sent to its
//! control endpoint (found through the `control` file in its data directory).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, bail};

use crate::control::{ControlRequest, ControlResponse, request_blocking};
use crate::node::control_addr_in;

/// How long a command may take (a reload of a large zone is the slow one).
const TIMEOUT: Duration = Duration::from_secs(60);

/// Which node to talk to.
#[derive(Debug, Clone, clap::Args)]
pub struct NodeTarget {
    /// The node's data directory (its `control` file names the endpoint). Default: the
    /// only node with a control file under ./.zonecast.
    #[arg(long, value_name = "DIR", conflicts_with = "control")]
    pub data_dir: Option<PathBuf>,
    /// The control endpoint itself, ADDRESS:PORT.
    #[arg(long, value_name = "ADDR")]
    pub control: Option<SocketAddr>,
}

impl NodeTarget {
    /// The endpoint, or None when no node is running there. Without `--data-dir`, the
    /// one node under `./.zonecast/` is meant (there is one per config or listen address).
    pub fn addr(&self) -> Option<SocketAddr> {
        if let Some(a) = self.control {
            return Some(a);
        }
        match &self.data_dir {
            Some(dir) => control_addr_in(dir),
            None => {
                let found: Vec<SocketAddr> = std::fs::read_dir(".zonecast")
                    .ok()?
                    .filter_map(|e| e.ok())
                    .filter_map(|e| control_addr_in(&e.path()))
                    .collect();
                match found.as_slice() {
                    [one] => Some(*one),
                    _ => None,
                }
            }
        }
    }

    fn require(&self) -> anyhow::Result<SocketAddr> {
        match self.addr() {
            Some(a) => Ok(a),
            None => match &self.data_dir {
                Some(d) => bail!(
                    "no running node found (no control file in {}; give --control)",
                    d.display()
                ),
                None => bail!(
                    "give --data-dir DIR or --control ADDR (no single node found under ./.zonecast)"
                ),
            },
        }
    }

    /// Sends a request; an error response becomes an error.
    pub fn send(&self, req: &ControlRequest) -> anyhow::Result<ControlResponse> {
        let addr = self.require()?;
        let resp = request_blocking(addr, req, TIMEOUT)
            .with_context(|| format!("control endpoint {addr}"))?;
        if !resp.ok {
            bail!("{}", resp.message.unwrap_or_default());
        }
        Ok(resp)
    }
}

#[derive(Debug, clap::Args)]
pub struct ReloadArgs {
    #[command(flatten)]
    pub target: NodeTarget,
    /// Only this zone (every zone otherwise).
    pub zone: Option<String>,
}

#[derive(Debug, clap::Subcommand)]
pub enum NodeCommand {
    /// Stop a running node: NAME, a node of the `zonecast up` whose data directory is
    /// --data-dir (default .zonecast), or without NAME the node of --data-dir/--control.
    Stop(super::up::NodeStopArgs),
    /// Start NAME, a stopped node of a running `zonecast up`, with its recorded config.
    Start(super::up::MemberArgs),
}

pub fn reload(args: &ReloadArgs) -> anyhow::Result<()> {
    let resp = args.target.send(&ControlRequest::Reload {
        zone: args.zone.clone(),
    })?;
    if let Some(m) = resp.message {
        println!("{m}");
    }
    Ok(())
}

pub fn node(cmd: &NodeCommand) -> anyhow::Result<()> {
    match cmd {
        NodeCommand::Stop(a) => super::up::node_stop(a),
        NodeCommand::Start(a) => super::up::node_start(a),
    }
}
