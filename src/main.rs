use clap::Parser;
use zonecast::cli::{Cli, Command};

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    if let Some(Command::Check(args)) = &cli.command {
        std::process::exit(zonecast::cli::check::run(args)?);
    }
    Ok(())
}
