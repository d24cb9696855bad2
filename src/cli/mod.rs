//! The command line edge: argument types (clap derive) and the glue that runs each
//! subcommand. Errors here are `anyhow`; everything below is typed.

pub mod check;
pub mod resolve;
pub mod zone;

use clap::{Parser, Subcommand};

pub mod serve;
pub mod watch;
pub mod zone_edit;

#[derive(Debug, Parser)]
#[command(
    name = "zonecast",
    version,
    about = "DNS propagation made real and visible"
)]
pub struct Cli {
    /// More logging: -v for debug, -vv for trace (RUST_LOG overrides).
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check a zone file, like named-checkzone.
    Check(CheckArgs),
    /// Serve zones authoritatively.
    Serve(ServeArgs),
    /// Watch a name propagate across authoritative servers and resolvers.
    Watch(watch::WatchArgs),
    /// Edit zone files, and inspect the zones a node keeps in its database.
    #[command(subcommand)]
    Zone(zone::ZoneCommand),
    /// Resolve a name iteratively from the root hints, printing the walk.
    Resolve(resolve::ResolveArgs),
}

#[derive(Debug, clap::Args)]
pub struct CheckArgs {
    /// The zone file to check.
    pub file: std::path::PathBuf,
    /// The zone's origin; defaults to the file name without a trailing `.zone` or `.db`
    /// (`root.zone` is the root zone).
    #[arg(long)]
    pub origin: Option<String>,
    /// Print the zone in canonical form on stdout.
    #[arg(long)]
    pub print: bool,
}

#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// A TOML node configuration.
    #[arg(long)]
    pub config: Option<std::path::PathBuf>,
    /// An address to listen on (UDP and TCP); repeatable.
    #[arg(long)]
    pub listen: Vec<String>,
    /// A zone to serve, as NAME=FILE; repeatable.
    #[arg(long)]
    pub zone: Vec<String>,
    /// UDP worker threads per address (default: one per core).
    #[arg(long)]
    pub threads: Option<usize>,
    /// The NSID (RFC 5001) to send when asked.
    #[arg(long)]
    pub nsid: Option<String>,
    /// Log every query (target zonecast::query).
    #[arg(long)]
    pub query_log: bool,
}
