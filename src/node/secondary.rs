//! A secondary zone's task: runs the sans-IO [`Secondary`] timer machine, performing the
//! SOA queries and transfers it asks for, one at a time.
//!
//! A transfer is validated (the consumer checks the stream, `apply`/`from_records` check
//! the result), committed in one transaction, and only then published and announced to
//! our own downstream secondaries. A failure leaves the served version untouched.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use hickory_proto::rr::{Name, RData};
use tokio::sync::mpsc;

use super::net::Received;
use super::{Shared, ZoneEvent, ZoneState, net, primary};
use crate::secondary::{
    Action, FractionJitter, PersistedTimers, Secondary, SoaResult, SoaTimers, TransferKind,
    TransferResult,
};
use crate::store::{self, Store, TimerState, TransferOutcome};
use crate::zone::Zone;
use crate::zone::diff::{apply, diff};

/// The SOA timers of a version.
pub(super) fn soa_timers(zone: &Zone) -> Option<SoaTimers> {
    zone.soa().rdata.first().and_then(|rd| match rd {
        RData::SOA(s) => Some(SoaTimers {
            serial: s.serial,
            refresh: u32::try_from(s.refresh).unwrap_or(0),
            retry: u32::try_from(s.retry).unwrap_or(0),
            expire: u32::try_from(s.expire).unwrap_or(0),
        }),
        _ => None,
    })
}

fn record(
    store: &mut Store,
    zone: &Name,
    kind: store::TransferKind,
    serial: Option<u32>,
    error: Option<String>,
) {
    let outcome = TransferOutcome {
        kind,
        at: SystemTime::now(),
        serial,
        error,
    };
    if let Err(e) = store.record_transfer(zone, &outcome) {
        tracing::warn!("zone {zone}: recording the transfer: {e}");
    }
}

/// Builds the new version from a transfer and commits it (blocking, store thread).
fn commit(
    store: &mut Store,
    name: &Name,
    current: Option<Arc<Zone>>,
    received: Received,
) -> Result<(Arc<Zone>, store::TransferKind), String> {
    match received {
        Received::UpToDate { serial } => Err(format!("already at serial {serial}")),
        Received::Full(build, prepared) => {
            let t0 = std::time::Instant::now();
            let zone = build.finish().map_err(|e| e.to_string())?;
            let built = t0.elapsed();
            // A full transfer onto an older version is committed as the difference, as
            // Knot does: only changed RRsets are rewritten, and the journal keeps a step
            // that our own secondaries can still fetch by IXFR.
            // A difference as large as the zone would never be served as IXFR and costs
            // more to write than the zone itself: then the journal restarts.
            let step = current
                .filter(|c| crate::serial::is_newer(zone.serial(), c.serial()))
                .map(|base| diff(&base, &zone))
                .filter(|cs| cs.len() < zone.record_count());
            match step {
                Some(cs) => store
                    .commit_changeset(&cs, &zone)
                    .map_err(|e| e.to_string())?,
                None => store
                    .commit_full_prepared(&zone, *prepared)
                    .map_err(|e| e.to_string())?,
            }
            tracing::debug!(
                "zone {name}: after the last message, built in {built:?}, committed in {:?}",
                t0.elapsed() - built
            );
            record(
                store,
                name,
                store::TransferKind::Axfr,
                Some(zone.serial()),
                None,
            );
            Ok((Arc::new(zone), store::TransferKind::Axfr))
        }
        Received::Incremental { changesets } => {
            let base = current.ok_or("an incremental transfer but no version to apply it to")?;
            let mut zone: Option<Zone> = None;
            for cs in &changesets {
                let next = apply(zone.as_ref().unwrap_or(&base), cs).map_err(|e| e.to_string())?;
                zone = Some(next);
            }
            let zone = zone.ok_or("an incremental transfer with no changeset")?;
            store
                .commit_changesets(&changesets, &zone)
                .map_err(|e| e.to_string())?;
            record(
                store,
                name,
                store::TransferKind::Ixfr,
                Some(zone.serial()),
                None,
            );
            Ok((Arc::new(zone), store::TransferKind::Ixfr))
        }
    }
}

async fn query_soa(shared: &Shared, state: &ZoneState, primary: usize) -> SoaResult {
    let zc = &state.config;
    let Some(&peer) = zc.primaries.get(primary) else {
        return SoaResult::Failed;
    };
    let key = shared.key(zc.tsig_key.as_ref());
    match net::query_soa(&zc.name, peer, shared.source_for(peer), key.as_ref()).await {
        Ok(a) => {
            tracing::debug!("zone {}: {peer} has serial {}", zc.name, a.serial);
            SoaResult::Serial {
                serial: a.serial,
                edns_expire: a.expire,
            }
        }
        Err(e) => {
            tracing::warn!("zone {}: {e}", zc.name);
            SoaResult::Failed
        }
    }
}

async fn transfer(
    shared: &Arc<Shared>,
    state: &Arc<ZoneState>,
    primary: usize,
    kind: TransferKind,
) -> TransferResult {
    let zc = &state.config;
    let failed = TransferResult::Failed {
        fallback_to_axfr: false,
    };
    let Some(&peer) = zc.primaries.get(primary) else {
        return failed;
    };
    let current = state.handle.current();
    let (our_soa, label) = match kind {
        TransferKind::Ixfr { .. } => (
            current.as_ref().and_then(|z| z.soa().records().next()),
            store::TransferKind::Ixfr,
        ),
        TransferKind::Axfr => (None, store::TransferKind::Axfr),
    };
    let key = shared.key(zc.tsig_key.as_ref());
    let started = std::time::Instant::now();
    let name = zc.name.clone();
    let hint = current.as_ref().map_or(0, |z| z.record_count());
    let res = net::transfer(
        &zc.name,
        peer,
        shared.source_for(peer),
        key.as_ref(),
        our_soa,
        hint,
    )
    .await;
    let (outcome, edns_expire) = match res {
        Ok(o) => o,
        Err(f) => {
            tracing::warn!(
                "zone {}: {} from {peer} failed: {}",
                zc.name,
                label.as_str(),
                f.message
            );
            let msg = f.message.clone();
            let n = name.clone();
            let _ = shared
                .with_store(move |s| {
                    record(s, &n, label, None, Some(msg));
                    Ok(())
                })
                .await;
            return TransferResult::Failed {
                fallback_to_axfr: f.fallback_to_axfr,
            };
        }
    };
    if let Received::UpToDate { serial } = outcome {
        tracing::debug!("zone {}: {peer} says serial {serial} is current", zc.name);
        return TransferResult::UpToDate { edns_expire };
    }
    let n = name.clone();
    let committed = shared
        .with_store(move |s| {
            let r = commit(s, &n, current, outcome);
            if let Err(e) = &r {
                record(s, &n, label, None, Some(e.clone()));
            }
            Ok(r)
        })
        .await
        .unwrap_or_else(|e| Err(e.to_string()));
    match committed {
        Ok((zone, how)) => {
            let timers = soa_timers(&zone);
            tracing::info!(
                "zone {}: {} from {peer}: serial {} ({} records) in {:?}",
                zc.name,
                how.as_str(),
                zone.serial(),
                zone.record_count(),
                started.elapsed()
            );
            state.handle.publish(zone);
            primary::announce(shared, state);
            match timers {
                Some(timers) => TransferResult::Applied {
                    timers,
                    edns_expire,
                },
                None => failed,
            }
        }
        Err(e) => {
            tracing::warn!(
                "zone {}: {} from {peer} rejected: {e}",
                zc.name,
                label.as_str()
            );
            TransferResult::Failed {
                fallback_to_axfr: matches!(kind, TransferKind::Ixfr { .. }),
            }
        }
    }
}

pub(super) async fn run(
    shared: Arc<Shared>,
    state: Arc<ZoneState>,
    mut rx: mpsc::UnboundedReceiver<ZoneEvent>,
) {
    let name = state.config.name.clone();
    let now = SystemTime::now();
    let n = name.clone();
    let stored = shared
        .with_store(move |s| s.timers(&n))
        .await
        .ok()
        .flatten();
    let persisted = stored.map(|t| PersistedTimers {
        last_refresh: t.last_refresh,
        next_refresh: now,
        expire_at: t.expire_at,
    });
    let current = state.handle.current().as_deref().and_then(soa_timers);
    let jitter = Box::new(FractionJitter {
        max_fraction: 0.1,
        uniform: rand::random::<f64>,
    });
    let mut sec = Secondary::new(
        state.config.primaries.len(),
        shared.limits.clone(),
        jitter,
        current,
        persisted,
        now,
    );
    let mut stop = shared.stop.subscribe();
    loop {
        while let Some(action) = sec.poll_action() {
            match action {
                Action::QuerySoa { primary } => {
                    let r = query_soa(&shared, &state, primary).await;
                    sec.on_soa(SystemTime::now(), primary, r);
                }
                Action::Transfer { primary, kind } => {
                    let r = transfer(&shared, &state, primary, kind).await;
                    sec.on_transfer(SystemTime::now(), primary, r);
                }
                Action::MarkExpired => {
                    tracing::warn!(
                        "zone {name}: expired, answering SERVFAIL until a primary answers"
                    );
                    state.handle.set_expired(true);
                }
                Action::MarkUnexpired => {
                    tracing::info!("zone {name}: refreshed, serving again");
                    state.handle.set_expired(false);
                }
                Action::Persist(p) => {
                    state.set_expire_at(p.expire_at);
                    let n = name.clone();
                    let t = TimerState {
                        last_refresh: p.last_refresh,
                        last_attempt: Some(SystemTime::now()),
                        expire_at: p.expire_at,
                    };
                    if let Err(e) = shared.with_store(move |s| s.set_timers(&n, &t)).await {
                        tracing::warn!("zone {name}: persisting timers: {e}");
                    }
                }
            }
        }
        let wait = sec.next_wakeup().map(|at| {
            at.duration_since(SystemTime::now())
                .unwrap_or(Duration::ZERO)
        });
        let sleep = async {
            match wait {
                Some(d) => tokio::time::sleep(d).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            ev = rx.recv() => match ev {
                None => return,
                Some(ZoneEvent::Notify { from, serial }) => {
                    let idx = state.config.primaries.iter().position(|p| p.ip() == from);
                    tracing::debug!("zone {name}: NOTIFY from {from} (serial {serial:?})");
                    sec.on_notify(SystemTime::now(), idx, serial);
                }
                Some(ZoneEvent::Reload { reply }) => {
                    sec.on_notify(SystemTime::now(), None, None);
                    if let Some(r) = reply {
                        let _ = r.send(Ok(format!("zone {name}: refresh from the primaries started")));
                    }
                }
                Some(ZoneEvent::FileChanged { .. }) => {}
                // Never sent: the extension refuses updates to a secondary.
                Some(ZoneEvent::Update(_)) => {}
            },
            _ = sleep => sec.handle_timeout(SystemTime::now()),
            _ = stop.wait_for(|s| *s) => return,
        }
    }
}
