//! The node's caching resolver (`[resolver]`): started on the node's runtime beside the
//! authoritative roles, and answering `cache dump|flush` on the control endpoint.

use std::sync::Arc;

use super::{NodeError, Shared, io};
use crate::config::NodeConfig;
use crate::control::{ControlRequest, ControlResponse};
use crate::resolver::control;
use crate::resolver::driver::{Resolver, Running};

pub(super) fn new_resolver(cfg: &NodeConfig) -> Result<Option<Arc<Resolver>>, NodeError> {
    cfg.resolver
        .as_ref()
        .map(|rc| {
            Resolver::new(rc)
                .map(Arc::new)
                .map_err(|e| NodeError::Zone(format!("resolver: {e}")))
        })
        .transpose()
}

/// Binds the resolver's sockets on the node's runtime.
pub(super) fn serve(
    rt: &tokio::runtime::Runtime,
    shared: &Shared,
    cfg: &NodeConfig,
) -> Result<Option<Running>, NodeError> {
    let (Some(r), Some(rc)) = (&shared.resolver, &cfg.resolver) else {
        return Ok(None);
    };
    let running = rt.block_on(r.serve(&rc.listen)).map_err(|e| {
        io(format!("resolver on {:?}", rc.listen))(std::io::Error::other(e.to_string()))
    })?;
    Ok(Some(running))
}

/// Answers `cache-dump` and `cache-flush` through the resolver's text commands.
pub(super) fn control(resolver: Option<&Resolver>, req: &ControlRequest) -> ControlResponse {
    let Some(r) = resolver else {
        return ControlResponse::error("this node runs no resolver (no [resolver] in its config)");
    };
    let line = match req {
        ControlRequest::CacheDump => "dump".to_string(),
        ControlRequest::CacheFlush { name: None, .. } => "flush-all".to_string(),
        ControlRequest::CacheFlush {
            name: Some(n),
            subtree: true,
        } => format!("flush-subtree {n}"),
        ControlRequest::CacheFlush {
            name: Some(n),
            subtree: false,
        } => format!("flush {n}"),
        _ => return ControlResponse::error("not a cache command"),
    };
    match control::run(r, &line) {
        Ok(text) => ControlResponse::ok(text.trim_end().to_string()),
        Err(e) => ControlResponse::error(e.to_string()),
    }
}
