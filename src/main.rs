use clap::Parser;
use zonecast::cli::{Cli, Command};

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match &cli.command {
        Some(Command::Resolve(args)) => zonecast::cli::resolve::run(args),
        _ => Ok(()),
    }
}
