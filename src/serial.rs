//! SOA serial numbers: RFC 1982 arithmetic and the serial policies of a primary.
//!
//! Serials are compared in sequence space, never as plain integers: `4294967295 < 0`, and two
//! serials exactly 2^31 apart are not ordered at all. Every serial comparison in zonecast
//! goes through [`compare`] (or [`is_newer`]) so that wrap-around behaves the same in the
//! primary's policies, the journal, IXFR and the secondary's refresh logic.
//!
//! The policies follow Knot's `serial-policy` (`keep` is BIND's behaviour for a file whose
//! serial was not bumped). [`next_serial`] is pure: the current time is an argument.

use std::cmp::Ordering;
use std::fmt;
use std::str::FromStr;
use std::time::{SystemTime, UNIX_EPOCH};

use hickory_proto::rr::SerialNumber;
use serde::Deserialize;
use thiserror::Error;

/// Compares two serials per RFC 1982 §3.2. `None` is the undefined case: the serials are
/// exactly 2^31 apart, so neither is newer. (Delegates to hickory-proto's `SerialNumber`.)
pub fn compare(a: u32, b: u32) -> Option<Ordering> {
    SerialNumber::new(a).partial_cmp(&SerialNumber::new(b))
}

/// True when `candidate` is strictly newer than `current` in sequence space.
pub fn is_newer(candidate: u32, current: u32) -> bool {
    compare(candidate, current) == Some(Ordering::Greater)
}

/// Adds `n` per RFC 1982 §3.1. Only increments below 2^31 are defined.
pub fn add(serial: u32, n: u32) -> u32 {
    debug_assert!(n < 1 << 31, "RFC 1982 addition is defined for n < 2^31");
    serial.wrapping_add(n)
}

/// The serial after `serial` when the policy bumps it by one. Zero is skipped, as BIND does,
/// because some tools treat a zero serial as "unset".
fn increment(serial: u32) -> u32 {
    match add(serial, 1) {
        0 => 1,
        s => s,
    }
}

/// How a primary picks the serial of a new version of a zone loaded from a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SerialPolicy {
    /// The file's serial is authoritative; an edit that does not raise it is refused.
    Keep,
    /// The file's serial is used when it went up; otherwise a changed zone gets old+1.
    #[default]
    Increment,
    /// Seconds since the Unix epoch, or old+1 if that is not newer.
    Unixtime,
    /// YYYYMMDDnn (UTC), or old+1 if that is not newer.
    Dateserial,
}

impl fmt::Display for SerialPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SerialPolicy::Keep => "keep",
            SerialPolicy::Increment => "increment",
            SerialPolicy::Unixtime => "unixtime",
            SerialPolicy::Dateserial => "dateserial",
        })
    }
}

impl FromStr for SerialPolicy {
    type Err = SerialError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "keep" => Ok(SerialPolicy::Keep),
            "increment" => Ok(SerialPolicy::Increment),
            "unixtime" => Ok(SerialPolicy::Unixtime),
            "dateserial" => Ok(SerialPolicy::Dateserial),
            _ => Err(SerialError::UnknownPolicy(s.to_string())),
        }
    }
}

/// Why a new version's serial could not be chosen. The texts follow BIND's log messages so
/// that operators recognise them.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SerialError {
    #[error("zone serial ({0}) unchanged. zone may fail to transfer to secondaries.")]
    Unchanged(u32),
    #[error("zone serial ({new}/{old}) has gone backwards")]
    Backwards { old: u32, new: u32 },
    #[error("unknown serial policy {0:?} (expected keep, increment, unixtime or dateserial)")]
    UnknownPolicy(String),
}

/// Chooses the serial of the next version of a zone.
///
/// `old` is the serial being served, `file` the serial written in the newly loaded file, and
/// `content_changed` whether anything other than the SOA serial differs between the two.
/// Returns `old` itself when there is nothing to publish. `now` is only read by the
/// `unixtime` and `dateserial` policies.
pub fn next_serial(
    policy: SerialPolicy,
    old: u32,
    file: u32,
    content_changed: bool,
    now: SystemTime,
) -> Result<u32, SerialError> {
    if !content_changed && file == old {
        return Ok(old);
    }
    match policy {
        SerialPolicy::Keep => match compare(file, old) {
            Some(Ordering::Greater) => Ok(file),
            Some(Ordering::Equal) => Err(SerialError::Unchanged(old)),
            _ => Err(SerialError::Backwards { old, new: file }),
        },
        SerialPolicy::Increment => {
            if is_newer(file, old) {
                Ok(file)
            } else if content_changed {
                Ok(increment(old))
            } else {
                // Only the serial moved, and not forward: nothing worth publishing.
                Ok(old)
            }
        }
        SerialPolicy::Unixtime | SerialPolicy::Dateserial => {
            if !content_changed {
                // These policies own the serial; a serial-only edit in the file is ignored.
                return Ok(old);
            }
            let candidate = match policy {
                SerialPolicy::Unixtime => unix_seconds(now) as u32,
                _ => date_serial(now),
            };
            Ok(if is_newer(candidate, old) {
                candidate
            } else {
                increment(old)
            })
        }
    }
}

fn unix_seconds(now: SystemTime) -> u64 {
    now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// YYYYMMDD00 for the UTC date of `now`.
fn date_serial(now: SystemTime) -> u32 {
    let days = (unix_seconds(now) / 86_400) as i64;
    let (y, m, d) = civil_from_days(days);
    let value = (y as u64) * 1_000_000 + (m as u64) * 10_000 + (d as u64) * 100;
    // Dates after 4294 overflow the field; wrap like any other serial.
    value as u32
}

/// Days since 1970-01-01 to a proleptic Gregorian (year, month, day), after Howard
/// Hinnant's `civil_from_days`; avoids a date crate for one conversion.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn at(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs)
    }

    #[test]
    fn rfc1982_comparison_with_wrap_around() {
        assert_eq!(compare(1, 2), Some(Ordering::Less));
        assert_eq!(compare(2, 1), Some(Ordering::Greater));
        assert_eq!(compare(7, 7), Some(Ordering::Equal));
        assert!(is_newer(0, u32::MAX), "0 follows 2^32-1");
        assert!(is_newer(5, 0xFFFF_FFF0));
        assert!(!is_newer(0xFFFF_FFF0, 5));
        // Just under half the space ahead is still newer.
        assert!(is_newer(0x7FFF_FFFF, 0));
        assert!(!is_newer(0, 0x7FFF_FFFF));
        // Exactly 2^31 apart: undefined, neither is newer.
        assert_eq!(compare(0, 0x8000_0000), None);
        assert_eq!(compare(0x8000_0000, 0), None);
        assert_eq!(compare(10, 10 + 0x8000_0000), None);
        assert!(!is_newer(0x8000_0000, 0) && !is_newer(0, 0x8000_0000));
        // Just over half the space ahead wraps to "older".
        assert!(!is_newer(0x8000_0001, 0));
        assert!(is_newer(0, 0x8000_0001));
        assert_eq!(add(u32::MAX, 2), 1);
    }

    #[test]
    fn unchanged_content_and_serial_is_a_no_op_for_every_policy() {
        for p in [
            SerialPolicy::Keep,
            SerialPolicy::Increment,
            SerialPolicy::Unixtime,
            SerialPolicy::Dateserial,
        ] {
            assert_eq!(next_serial(p, 42, 42, false, at(1_700_000_000)), Ok(42));
        }
    }

    #[test]
    fn keep_requires_an_increase() {
        let p = SerialPolicy::Keep;
        let now = at(0);
        assert_eq!(next_serial(p, 10, 11, true, now), Ok(11));
        assert_eq!(next_serial(p, 10, 11, false, now), Ok(11));
        assert_eq!(next_serial(p, u32::MAX, 3, true, now), Ok(3), "wraps");
        let e = next_serial(p, 10, 10, true, now).unwrap_err();
        assert_eq!(e, SerialError::Unchanged(10));
        assert_eq!(
            e.to_string(),
            "zone serial (10) unchanged. zone may fail to transfer to secondaries."
        );
        assert_eq!(
            next_serial(p, 10, 9, true, now),
            Err(SerialError::Backwards { old: 10, new: 9 })
        );
        assert!(matches!(
            next_serial(p, 0, 0x8000_0000, true, now),
            Err(SerialError::Backwards { .. })
        ));
    }

    #[test]
    fn increment_bumps_only_when_needed() {
        let p = SerialPolicy::Increment;
        let now = at(0);
        assert_eq!(next_serial(p, 10, 10, true, now), Ok(11));
        assert_eq!(
            next_serial(p, 10, 3, true, now),
            Ok(11),
            "lower file serial"
        );
        assert_eq!(
            next_serial(p, 10, 50, true, now),
            Ok(50),
            "operator bumped it"
        );
        assert_eq!(next_serial(p, 10, 50, false, now), Ok(50));
        assert_eq!(
            next_serial(p, 10, 3, false, now),
            Ok(10),
            "nothing to publish"
        );
        assert_eq!(
            next_serial(p, u32::MAX, u32::MAX, true, now),
            Ok(1),
            "skips 0"
        );
        assert_eq!(SerialPolicy::default(), SerialPolicy::Increment);
    }

    #[test]
    fn unixtime_uses_the_clock_unless_it_is_behind() {
        let p = SerialPolicy::Unixtime;
        assert_eq!(
            next_serial(p, 10, 10, true, at(1_700_000_000)),
            Ok(1_700_000_000)
        );
        // Two edits in the same second still get distinct, increasing serials.
        assert_eq!(
            next_serial(p, 1_700_000_000, 1, true, at(1_700_000_000)),
            Ok(1_700_000_001)
        );
        assert_eq!(
            next_serial(p, 1_800_000_000, 1, true, at(1_700_000_000)),
            Ok(1_800_000_001)
        );
        assert_eq!(next_serial(p, 10, 99, false, at(1_700_000_000)), Ok(10));
    }

    #[test]
    fn dateserial_is_yyyymmddnn() {
        let p = SerialPolicy::Dateserial;
        // 2026-11-21T06:00:00Z
        let now = at(1_795_240_800);
        assert_eq!(next_serial(p, 1, 1, true, now), Ok(2026112100));
        assert_eq!(next_serial(p, 2026112100, 1, true, now), Ok(2026112101));
        assert_eq!(next_serial(p, 2026112199, 1, true, now), Ok(2026112200));
        // A serial already in the future (e.g. a unixtime one) is only incremented.
        assert_eq!(
            next_serial(p, 3_000_000_000, 1, true, now),
            Ok(3_000_000_001)
        );
        // Leap day and the epoch.
        assert_eq!(date_serial(at(951_782_400)), 2000022900);
        assert_eq!(date_serial(at(0)), 1970010100);
    }

    #[test]
    fn policies_parse() {
        assert_eq!("Keep".parse(), Ok(SerialPolicy::Keep));
        assert_eq!("dateserial".parse(), Ok(SerialPolicy::Dateserial));
        assert!("bump".parse::<SerialPolicy>().is_err());
        assert_eq!(SerialPolicy::Unixtime.to_string(), "unixtime");
    }
}
