//! Runs the lab hierarchy (root on 127.0.0.11, test. on .12, example.test. on .13-.15)
//! on one port until interrupted, and optionally a zonecast resolver walking it, for
//! trying things by hand:
//!
//!     cargo run --example lab -- 5300 5353
//!     cargo run --example lab -- 5300 5353 --no-lab    # resolver only
//!     dig @127.0.0.1 -p 5353 shopalias.example.test
//!     printf '. NS a.root-servers.test.\na.root-servers.test. A 127.0.0.11\n' > lab.root
//!     zonecast resolve shopalias.example.test --trace --root-hints lab.root --upstream-port 5300

use std::sync::Arc;

use zonecast::resolver::config::ResolverConfig;
use zonecast::resolver::driver::Resolver;
use zonecast::resolver::lab;
use zonecast::resolver::lab_net::Lab;

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    // `--no-lab`: only the resolver (the lab runs in another process, e.g. on another
    // CPU for a benchmark).
    let no_lab = std::env::args().any(|a| a == "--no-lab");
    let mut args = std::env::args().skip(1).filter(|a| a != "--no-lab");
    let port: u16 = args.next().map(|p| p.parse()).transpose()?.unwrap_or(5300);
    let resolver_port: Option<u16> = args.next().map(|p| p.parse()).transpose()?;
    let lab = if no_lab {
        None
    } else {
        let lab = Lab::start(port).await?;
        println!("lab hierarchy on 127.0.0.11-15 port {}", lab.port);
        Some(lab)
    };
    let port = lab.as_ref().map_or(port, |l| l.port);
    let _running = match resolver_port {
        Some(rp) => {
            let cfg = ResolverConfig {
                listen: vec![([127, 0, 0, 1], rp).into()],
                upstream_port: port,
                ..ResolverConfig::default()
            };
            let r = Arc::new(Resolver::with_hints(&cfg, lab::root_hints())?);
            let running = r.serve(&cfg.listen).await?;
            println!("resolver on {:?}", running.addrs);
            Some(running)
        }
        None => None,
    };
    tokio::signal::ctrl_c().await?;
    Ok(())
}
