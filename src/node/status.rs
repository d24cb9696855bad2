//! The node's answers on the control endpoint.

use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use hickory_proto::rr::{LowerName, Name};
use serde_json::{Value, json};
use tokio::sync::oneshot;

use super::{Shared, ZoneEvent};
use crate::cli::zone::to_json;
use crate::control::{BoxFuture, ControlHandler, ControlRequest, ControlResponse};

/// How long `reload` waits for the zone task to report.
const RELOAD_WAIT: Duration = Duration::from_secs(30);

pub(super) struct NodeControl {
    shared: Arc<Shared>,
}

impl NodeControl {
    pub fn new(shared: Arc<Shared>) -> Self {
        NodeControl { shared }
    }

    fn zones(&self, zone: Option<&str>) -> Result<Vec<Name>, String> {
        match zone {
            None => {
                let mut v: Vec<Name> = self
                    .shared
                    .zones
                    .values()
                    .map(|z| z.config.name.clone())
                    .collect();
                v.sort();
                Ok(v)
            }
            Some(z) => {
                let mut name =
                    Name::from_str(z).map_err(|e| format!("bad zone name {z:?}: {e}"))?;
                name.set_fqdn(true);
                if self.shared.zones.contains_key(&LowerName::new(&name)) {
                    Ok(vec![name])
                } else {
                    Err(format!("zone {name} is not served by this node"))
                }
            }
        }
    }

    async fn reload(&self, zone: Option<String>) -> ControlResponse {
        let names = match self.zones(zone.as_deref()) {
            Ok(n) => n,
            Err(e) => return ControlResponse::error(e),
        };
        let mut waits = Vec::new();
        for n in &names {
            let Some(z) = self.shared.zones.get(&LowerName::new(n)) else {
                continue;
            };
            let (tx, rx) = oneshot::channel();
            let _ = z.events.send(ZoneEvent::Reload { reply: Some(tx) });
            waits.push(rx);
        }
        let mut lines = Vec::new();
        let mut ok = true;
        for w in waits {
            match tokio::time::timeout(RELOAD_WAIT, w).await {
                Ok(Ok(Ok(m))) => lines.push(m),
                Ok(Ok(Err(e))) => {
                    ok = false;
                    lines.push(e);
                }
                _ => {
                    ok = false;
                    lines.push("no answer from the zone task".into());
                }
            }
        }
        let message = lines.join("\n");
        if ok {
            ControlResponse::ok(message)
        } else {
            ControlResponse::error(message)
        }
    }

    async fn status(&self, zone: Option<String>) -> ControlResponse {
        let names = match self.zones(zone.as_deref()) {
            Ok(n) => n,
            Err(e) => return ControlResponse::error(e),
        };
        match live_status(&self.shared, names).await {
            Ok(v) => ControlResponse::data(v),
            Err(e) => ControlResponse::error(e),
        }
    }
}

/// Each zone's stored status (as `zonecast zone status --json` prints it) plus what only
/// the live node knows: the serial actually served and whether it is expired.
pub(crate) async fn live_status(shared: &Arc<Shared>, names: Vec<Name>) -> Result<Value, String> {
    let now = SystemTime::now();
    let lookup = names.clone();
    let stored = shared
        .with_store(move |s| {
            lookup
                .iter()
                .map(|n| s.zone_status(n))
                .collect::<Result<Vec<_>, _>>()
        })
        .await
        .map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    for (name, st) in names.iter().zip(stored) {
        let mut v = match st {
            Some(s) => to_json(&s, now),
            None => json!({ "zone": name.to_string() }),
        };
        if let Some(z) = shared.zones.get(&LowerName::new(name)) {
            v["live"] = json!({
                "served_serial": z.handle.current().map(|z| z.serial()),
                "expired": z.handle.is_expired(),
                "role": match z.config.role {
                    crate::config::Role::Primary => "primary",
                    crate::config::Role::Secondary => "secondary",
                },
                // A secondary's time left before expiry (what it answers in EDNS EXPIRE).
                "expire_in_secs": match z.config.role {
                    crate::config::Role::Secondary => z.expire_value(now),
                    crate::config::Role::Primary => None,
                },
                // A primary's last reload of its file: what changed, which path it took
                // (incremental or full) and how long it took.
                "last_reload": z.last_reload().map(|(ok, message)| json!({
                    "ok": ok,
                    "message": message,
                })),
            });
        }
        out.push(v);
    }
    Ok(Value::Array(out))
}

impl ControlHandler for NodeControl {
    fn handle(&self, request: ControlRequest) -> BoxFuture<'_, ControlResponse> {
        Box::pin(async move {
            match request {
                ControlRequest::Reload { zone } => self.reload(zone).await,
                ControlRequest::ZoneStatus { zone } => self.status(zone).await,
                ControlRequest::NodeStop => {
                    tracing::info!("stop requested on the control endpoint");
                    let _ = self.shared.stop.send(true);
                    ControlResponse::ok("stopping")
                }
                ControlRequest::CacheDump | ControlRequest::CacheFlush { .. } => {
                    super::cache::control(self.shared.resolver.as_deref(), &request)
                }
                _ => ControlResponse::error("unsupported by a node"),
            }
        })
    }
}
