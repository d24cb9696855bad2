use clap::Parser;
use zonecast::cli::Cli;

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let _ = cli;
    Ok(())
}
