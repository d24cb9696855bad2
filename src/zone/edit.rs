//! A primary's edit: the freshly loaded zone file against the version being served.
//!
//! Diffing first tells a real edit from a file that was only touched, and the serial
//! policy then decides the new serial. The version returned is built by applying the
//! changeset to the served version, so the two share every untouched shard, and the
//! changeset is the exact journal entry and IXFR for the step.

use std::sync::Arc;
use std::time::SystemTime;

use thiserror::Error;

use super::Zone;
use super::diff::{Changeset, DiffError, apply, diff};
use crate::serial::{SerialError, SerialPolicy, next_serial};

#[derive(Debug)]
pub enum EditOutcome {
    /// Nothing to publish: same content, and no serial change the policy accepts.
    Unchanged,
    /// Commit `changeset` with `zone` (one transaction), then publish `zone`.
    /// The zone is in an `Arc` ready to publish.
    New {
        zone: Arc<Zone>,
        changeset: Changeset,
    },
}

#[derive(Debug, Error)]
pub enum EditError {
    /// The policy refuses the edit (e.g. `keep` with an unchanged serial); the served
    /// version stays.
    #[error(transparent)]
    Serial(#[from] SerialError),
    #[error(transparent)]
    Diff(#[from] DiffError),
}

/// Decides what a reload of a primary's zone file publishes. `loaded` is the zone as
/// the file has it; `now` feeds the `unixtime` and `dateserial` policies. The first load of
/// a zone (nothing served yet) needs no policy: it is committed as loaded.
pub fn prepare_edit(
    policy: SerialPolicy,
    current: &Zone,
    loaded: &Zone,
    now: SystemTime,
) -> Result<EditOutcome, EditError> {
    finish_edit(policy, current, diff(current, loaded), now)
}

/// The serial policy and the apply step of [`prepare_edit`], for a changeset found
/// another way (an incremental reload reads it off the edited lines). `changeset` goes
/// from `current` to the file's content: its new SOA, and `to_serial`, are the file's.
pub fn finish_edit(
    policy: SerialPolicy,
    current: &Zone,
    mut changeset: Changeset,
    now: SystemTime,
) -> Result<EditOutcome, EditError> {
    let serial = next_serial(
        policy,
        current.serial(),
        changeset.to_serial,
        changeset.content_changed(),
        now,
    )?;
    if serial == current.serial() {
        return Ok(EditOutcome::Unchanged);
    }
    changeset.set_to_serial(serial);
    let zone = Arc::new(apply(current, &changeset)?);
    Ok(EditOutcome::New { zone, changeset })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::zone::diff::tests::{a, n, soa};
    use hickory_proto::rr::RData;
    use std::time::{Duration, UNIX_EPOCH};

    fn zone(serial: u32, last: u8) -> Zone {
        Zone::from_records(
            n("example.test."),
            vec![soa(serial), a("www.example.test.", 60, last)],
        )
        .unwrap()
    }

    fn new_version(out: EditOutcome) -> (Arc<Zone>, Changeset) {
        match out {
            EditOutcome::New { zone, changeset } => (zone, changeset),
            EditOutcome::Unchanged => panic!("expected a new version"),
        }
    }

    #[test]
    fn an_edit_without_a_serial_bump_gets_one() {
        let now = UNIX_EPOCH + Duration::from_secs(1_795_240_800);
        let (z, cs) = new_version(
            prepare_edit(SerialPolicy::Increment, &zone(5, 1), &zone(5, 2), now).unwrap(),
        );
        assert_eq!(z.serial(), 6);
        assert!(matches!(&z.soa().rdata[0], RData::SOA(s) if s.serial == 6));
        assert_eq!((cs.from_serial, cs.to_serial), (5, 6));
        assert!(matches!(&cs.added[0].data, RData::SOA(s) if s.serial == 6));
        assert_eq!(cs.len(), 4);
        // The changeset replays to the published version.
        assert!(!diff(&apply(&zone(5, 1), &cs).unwrap(), &z).content_changed());

        let (z, _) = new_version(
            prepare_edit(SerialPolicy::Dateserial, &zone(5, 1), &zone(5, 2), now).unwrap(),
        );
        assert_eq!(z.serial(), 2026112100);
    }

    #[test]
    fn untouched_files_and_refused_edits_publish_nothing() {
        let now = UNIX_EPOCH;
        assert!(matches!(
            prepare_edit(SerialPolicy::Increment, &zone(5, 1), &zone(5, 1), now),
            Ok(EditOutcome::Unchanged)
        ));
        let e = prepare_edit(SerialPolicy::Keep, &zone(5, 1), &zone(5, 2), now).unwrap_err();
        assert_eq!(
            e.to_string(),
            "zone serial (5) unchanged. zone may fail to transfer to secondaries."
        );
        // A serial-only bump is published under keep and increment.
        let (z, cs) =
            new_version(prepare_edit(SerialPolicy::Keep, &zone(5, 1), &zone(6, 1), now).unwrap());
        assert_eq!((z.serial(), cs.len()), (6, 2));
    }
}
