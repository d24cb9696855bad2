use clap::Parser;
use zonecast::cli::{Cli, Command};

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    if let Some(Command::Watch(args)) = cli.command {
        std::process::exit(zonecast::cli::watch::run(args)?);
    }
    let _ = cli;
    Ok(())
}
