use clap::Parser;
use zonecast::cli::{Cli, Command};

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let code = match cli.command {
        Some(Command::Check(args)) => zonecast::cli::check::run(&args)?,
        Some(Command::Watch(args)) => zonecast::cli::watch::run(args)?,
        Some(Command::Serve(_)) | None => {
            anyhow::bail!("serve is not implemented yet")
        }
    };
    std::process::exit(code);
}
