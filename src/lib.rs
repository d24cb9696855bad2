//! zonecast: authoritative primaries and secondaries, and a caching resolver, built so
//! that record propagation can be watched as it happens.
//!
//! Protocol logic is sans-IO: the modules below take inputs and the current time and
//! return what to send and when to wake. Only `server` (and later the role drivers) move
//! bytes with tokio.

pub mod catalog;
pub mod cli;
pub mod config;
pub mod control;
pub mod engine;
pub mod node;
pub mod notify;
pub mod reap;
pub mod resolver;
pub mod secondary;
pub mod serial;
pub mod server;
pub mod store;
pub mod topology;
pub mod tsig;
pub mod update;
pub mod watch;
pub mod xfr;
pub mod zone;
