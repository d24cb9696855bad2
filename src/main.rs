use clap::Parser;
use zonecast::cli::{Cli, Command, ZoneCommand};

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let code = match cli.command {
        Some(Command::Check(args)) => zonecast::cli::check::run(&args)?,
        Some(Command::Watch(args)) => zonecast::cli::watch::run(args)?,
        Some(Command::Zone(args)) => match args.command {
            ZoneCommand::Set(a) => zonecast::cli::zone_edit::run_set(&a)?,
            ZoneCommand::Del(a) => zonecast::cli::zone_edit::run_del(&a)?,
            ZoneCommand::Edit(a) => zonecast::cli::zone_edit::run_edit(&a)?,
        },
        Some(Command::Serve(_)) | None => {
            anyhow::bail!("serve is not implemented yet")
        }
    };
    std::process::exit(code);
}
