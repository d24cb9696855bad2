use clap::Parser;
use zonecast::cli::{Cli, Command};

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Some(Command::Zone(cmd)) => zonecast::cli::zone::run(&cmd),
        _ => Ok(()),
    }
}
