//! `zonecast watch`: poll a set of DNS servers for one name and show, server by server,
//! who answers what, how far behind they are, and how long caches may keep old answers.
//!
//! It speaks only DNS, so it works against any server. `model` is the sans-IO core;
//! `probe` and `discover` move bytes; `render` draws.

pub mod discover;
pub mod model;
pub mod observation;
pub mod probe;
pub mod render;
pub mod topology;

pub use model::{
    AnswerData, Delay, Model, Observation, OldAnswersBound, Outcome, Reply, Role, Row,
    SerialSource, ServerSpec, State, View,
};
