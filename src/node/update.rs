//! Dynamic update (RFC 2136) on a primary: the wiring around the sans-IO `crate::update`.
//!
//! The extension checks TSIG and hands the request to the zone's task, so updates, file
//! reloads and `zonecast reload` of one zone run one at a time and each applies to the
//! version the previous one left. The task applies the update, commits the version and
//! its journal step in one store transaction, publishes, sends NOTIFY (the same path a
//! file reload takes), writes the touched RRsets back into the zone file, and only then
//! answers. The write-back gives the file the update's serial and content, so the reload
//! the file watcher triggers finds nothing new and neither bumps the serial nor undoes
//! the update. That reload reads only the lines the write-back changed, against the
//! version before the update (which the snapshot's text describes).

use std::net::IpAddr;
use std::sync::Arc;
use std::time::SystemTime;

use hickory_proto::op::{Edns, Message, ResponseCode};
use hickory_proto::rr::Name;
use tokio::sync::oneshot;

use super::net::unix_now;
use super::{Shared, ZoneState, primary};
use crate::store::TransferKind;
use crate::tsig::ResponseSigner;
use crate::update::{AppliedUpdate, handle_update, response, write_back_rrsets};
use crate::zone::Zone;

/// One UPDATE on its way to its zone's task.
pub(crate) struct UpdateJob {
    pub msg: Message,
    pub client: IpAddr,
    /// The TSIG key whose signature verified, for `allow-update` rules with a key.
    pub key: Option<Name>,
    pub signer: Option<ResponseSigner>,
    pub udp_payload: u16,
    pub reply: oneshot::Sender<Vec<u8>>,
}

impl std::fmt::Debug for UpdateJob {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UpdateJob")
            .field("id", &self.msg.metadata.id)
            .field("client", &self.client)
            .field("key", &self.key)
            .finish()
    }
}

/// The reply to an UPDATE: RCODE, EDNS when the request had it, TSIG when it was signed.
pub(crate) fn encode_reply(
    msg: &Message,
    rcode: ResponseCode,
    udp_payload: u16,
    signer: Option<ResponseSigner>,
) -> Option<Vec<u8>> {
    let mut resp = response(msg, rcode);
    if msg.edns.is_some() {
        let mut e = Edns::new();
        e.set_max_payload(udp_payload.max(512));
        resp.edns = Some(e);
    }
    let mut wire = resp.to_vec().ok()?;
    if let Some(mut s) = signer
        && let Err(e) = s.sign(&mut wire, unix_now())
    {
        tracing::warn!("UPDATE answer: cannot sign: {e}");
    }
    Some(wire)
}

/// Runs one update on the zone's task and answers it.
pub(super) async fn apply(shared: &Arc<Shared>, state: &Arc<ZoneState>, job: UpdateJob) {
    let zc = &state.config;
    let now = SystemTime::now();
    let current = state.handle.current();
    let result = handle_update(
        &job.msg,
        current.as_deref(),
        &zc.allow_update,
        job.client,
        job.key.as_ref(),
        zc.serial_policy,
        now,
    );
    let mut rcode = result.rcode;
    let who = match &job.key {
        Some(k) => format!("{} (key {k})", job.client),
        None => job.client.to_string(),
    };
    match result.applied {
        Some(applied) => {
            let (from, to) = (applied.from_serial, applied.to_serial);
            match install(shared, state, applied, current.clone(), now).await {
                Ok(()) => {
                    tracing::info!("zone {}: update from {who}: serial {from} -> {to}", zc.name)
                }
                Err(e) => {
                    tracing::error!("zone {}: update from {who}: {e}", zc.name);
                    rcode = ResponseCode::ServFail;
                }
            }
        }
        None => tracing::info!("zone {}: update from {who}: {rcode}", zc.name),
    }
    if let Some(wire) = encode_reply(&job.msg, rcode, job.udp_payload, job.signer) {
        let _ = job.reply.send(wire);
    }
}

/// Commit, publish and announce as a file reload does, then write the file back.
async fn install(
    shared: &Arc<Shared>,
    state: &Arc<ZoneState>,
    applied: AppliedUpdate,
    before: Option<Arc<Zone>>,
    now: SystemTime,
) -> Result<(), String> {
    // The served version is about to differ from the one the snapshot's text describes:
    // the snapshot remembers that one, so that the reload the write-back triggers still
    // reads only the changed lines (see `Snapshot::rebase`).
    {
        let mut snap = state.snapshot();
        match (snap.as_mut(), before) {
            (Some(s), Some(before)) => s.rebase(before),
            _ => *snap = None,
        }
    }
    let changeset = applied.changeset();
    let touched = applied.touched;
    let zone = Arc::new(applied.zone);
    let zc = state.config.clone();
    let committed = zone.clone();
    shared
        .with_store(move |store| {
            Ok(primary::commit_version(
                store,
                &zc,
                &changeset,
                &committed,
                TransferKind::Update,
                now,
            ))
        })
        .await
        .map_err(|e| e.to_string())??;
    primary::publish(shared, state, zone.clone());
    let Some(file) = state.config.file.clone() else {
        return Ok(());
    };
    let origin = state.config.name.clone();
    let written = tokio::task::spawn_blocking(move || {
        write_back_rrsets(&file, &origin, &zone, &touched).and_then(|plan| plan.commit())
    })
    .await;
    // The update is committed and served either way; a file that could not be written
    // would undo it at the next reload, so say so loudly.
    match written {
        Ok(Ok(())) => {}
        Ok(Err(e)) => tracing::error!(
            "zone {}: the update is served but not written to the zone file ({e}); \
             a reload of the file will undo it",
            state.config.name
        ),
        Err(e) => tracing::error!("zone {}: write-back task failed: {e}", state.config.name),
    }
    Ok(())
}
