//! The caching resolver: a sans-IO cache and iterator, and the tokio driver that moves
//! their packets.

pub mod cache;
pub mod config;
pub mod control;
pub mod driver;
pub mod hints;
pub mod iterator;
pub mod lab;
pub mod lab_net;
pub mod memo;
pub mod response;
pub mod stamps;
pub mod upstream;
pub mod wire;
