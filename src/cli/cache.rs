//! `zonecast cache dump|flush`: a running resolver's cache, through the control endpoint
//! of its node, or of a `zonecast up`, which passes the command to its resolver.

use std::path::{Path, PathBuf};

use super::control::NodeTarget;
use crate::control::ControlRequest;

#[derive(Debug, clap::Subcommand)]
pub enum CacheCommand {
    /// Print every entry: NAME CLASS KIND TTL/ORIGINAL RANK DATA (TTL below zero: kept
    /// only to serve stale).
    Dump(CacheTarget),
    /// Drop the entries of NAME, of everything under --subtree NAME, or --all.
    Flush(FlushArgs),
}

#[derive(Debug, Clone, clap::Args)]
pub struct CacheTarget {
    /// The resolver node's data directory, or that of `zonecast up`. Default:
    /// .zonecast (a running `up`), else .zonecast/node.
    #[arg(long, value_name = "DIR", conflicts_with = "control")]
    pub data_dir: Option<PathBuf>,
    /// The control endpoint itself, ADDRESS:PORT.
    #[arg(long, value_name = "ADDR")]
    pub control: Option<std::net::SocketAddr>,
}

#[derive(Debug, clap::Args)]
pub struct FlushArgs {
    /// The name whose entries to drop (every type).
    #[arg(required_unless_present_any = ["subtree", "all"])]
    pub name: Option<String>,
    /// Drop this name and everything below it.
    #[arg(long, value_name = "NAME", conflicts_with_all = ["name", "all"])]
    pub subtree: Option<String>,
    /// Drop everything.
    #[arg(long, conflicts_with = "name")]
    pub all: bool,
    #[command(flatten)]
    pub target: CacheTarget,
}

impl CacheTarget {
    fn node(&self) -> NodeTarget {
        let up = Path::new(".zonecast");
        let data_dir = self.data_dir.clone().or_else(|| {
            (self.control.is_none() && up.join(crate::node::CONTROL_FILE).is_file())
                .then(|| up.to_path_buf())
        });
        NodeTarget {
            data_dir,
            control: self.control,
        }
    }
}

pub fn run(cmd: &CacheCommand) -> anyhow::Result<()> {
    let (target, req) = match cmd {
        CacheCommand::Dump(t) => (t, ControlRequest::CacheDump),
        CacheCommand::Flush(f) => (
            &f.target,
            ControlRequest::CacheFlush {
                name: f.subtree.clone().or_else(|| f.name.clone()),
                subtree: f.subtree.is_some(),
            },
        ),
    };
    let resp = target.node().send(&req)?;
    if let Some(m) = resp.message.filter(|m| !m.is_empty()) {
        println!("{m}");
    }
    Ok(())
}
