//! The resolver's runtime commands, as text in and text out, for the node's loopback
//! control endpoint to expose (`zonecast cache dump|flush NAME|flush-subtree NAME|
//! flush-all`). The endpoint itself belongs to the node, which does not exist yet.

use std::str::FromStr;

use hickory_proto::rr::Name;
use thiserror::Error;

use super::driver::Resolver;

#[derive(Debug, Error, PartialEq, Eq)]
pub enum ControlError {
    #[error("unknown cache command {0:?} (dump, flush NAME, flush-subtree NAME, flush-all)")]
    Unknown(String),
    #[error("{0}: bad name {1:?}")]
    BadName(String, String),
}

fn name_arg(cmd: &str, arg: Option<&str>) -> Result<Name, ControlError> {
    let raw = arg.unwrap_or("");
    Name::from_str(raw)
        .ok()
        .filter(|_| !raw.is_empty())
        .map(|mut n| {
            n.set_fqdn(true);
            n
        })
        .ok_or_else(|| ControlError::BadName(cmd.to_string(), raw.to_string()))
}

/// Runs one cache command. `dump` gives one line per entry:
/// `NAME CLASS KIND TTL/ORIGINAL RANK DATA...` (TTL negative when kept only as stale).
pub fn run(resolver: &Resolver, line: &str) -> Result<String, ControlError> {
    let mut words = line.split_whitespace();
    let cmd = words.next().unwrap_or("");
    let arg = words.next();
    match cmd {
        "dump" => Ok(resolver
            .dump()
            .into_iter()
            .map(|e| format!("{e}\n"))
            .collect()),
        "flush" => Ok(format!(
            "flushed {}\n",
            resolver.flush_name(&name_arg(cmd, arg)?)
        )),
        "flush-subtree" => Ok(format!(
            "flushed {}\n",
            resolver.flush_subtree(&name_arg(cmd, arg)?)
        )),
        "flush-all" => Ok(format!("flushed {}\n", resolver.flush_all())),
        other => Err(ControlError::Unknown(other.to_string())),
    }
}
