use clap::Parser;
use zonecast::cli::{Cli, Command, serve};

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    init_logging(cli.verbose);
    match cli.command {
        Some(Command::Serve(args)) => serve::run(&args),
        None => serve::run_default(),
        Some(other) => anyhow::bail!("not available yet: {other:?}"),
    }
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
        .init();
}
