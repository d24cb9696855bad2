use clap::Parser;
use zonecast::cli::{Cli, Command, serve};

fn main() {
    let cli = Cli::parse();
    init_logging(cli.verbose);
    match run(cli) {
        Ok(code) => std::process::exit(code),
        Err(e) => {
            // `{:#}` prints the context chain on one line; no backtrace for user errors.
            eprintln!("zonecast: {e:#}");
            std::process::exit(1);
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<i32> {
    Ok(match cli.command {
        Some(Command::Check(args)) => zonecast::cli::check::run(&args)?,
        Some(Command::Watch(args)) => zonecast::cli::watch::run(args)?,
        Some(Command::Zone(cmd)) => zonecast::cli::zone::run(&cmd)?,
        Some(Command::Resolve(args)) => {
            zonecast::cli::resolve::run(&args)?;
            0
        }
        Some(Command::Serve(args)) => {
            serve::run(&args)?;
            0
        }
        None => {
            serve::run_default()?;
            0
        }
    })
}

/// Logs go to stderr; RUST_LOG wins over -v. Per-query logs are off unless asked for
/// (`--query-log`).
fn init_logging(verbose: u8) {
    use tracing_subscriber::EnvFilter;
    let default = match verbose {
        0 => "info",
        1 => "debug",
        _ => "trace",
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
}
