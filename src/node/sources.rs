//! What a primary's stored version was loaded from: its files, each with the digest of
//! the text parsed. At start, files that still have those digests say nothing the stored
//! version does not, so it is served without parsing them (a 1,000,000-record file takes
//! seconds to parse, its stored version a fraction of that to load); any difference, or
//! no record, takes the full path, where an edit made while the node was down becomes one
//! journal step.

use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use crate::zone::load::Source;

/// The blob's format, and the loader it describes: a build that parses differently must
/// not trust another build's record (`zonecast reload` always parses in full).
const FORMAT: u8 = 1;
const LOADER: &str = concat!(env!("CARGO_PKG_NAME"), " ", env!("CARGO_PKG_VERSION"));

pub(super) fn encode(sources: &[Source]) -> Vec<u8> {
    let mut out = vec![FORMAT];
    out.push(LOADER.len() as u8);
    out.extend_from_slice(LOADER.as_bytes());
    for s in sources {
        let path = s.path.as_os_str().as_bytes();
        out.extend_from_slice(&s.sha256);
        out.extend_from_slice(&(path.len() as u32).to_be_bytes());
        out.extend_from_slice(path);
    }
    out
}

fn take<'a>(blob: &mut &'a [u8], n: usize) -> Option<&'a [u8]> {
    if blob.len() < n {
        return None;
    }
    let (head, tail) = blob.split_at(n);
    *blob = tail;
    Some(head)
}

/// The sources recorded by this build, or `None` (another format or loader, or damage).
pub(super) fn decode(blob: &[u8]) -> Option<Vec<Source>> {
    let mut rest = blob;
    if take(&mut rest, 1)? != [FORMAT] {
        return None;
    }
    let n = usize::from(*take(&mut rest, 1)?.first()?);
    if take(&mut rest, n)? != LOADER.as_bytes() {
        return None;
    }
    let mut out = Vec::new();
    while !rest.is_empty() {
        let mut sha256 = [0u8; 32];
        sha256.copy_from_slice(take(&mut rest, 32)?);
        let len = u32::from_be_bytes(take(&mut rest, 4)?.try_into().ok()?) as usize;
        let path = PathBuf::from(std::ffi::OsStr::from_bytes(take(&mut rest, len)?));
        out.push(Source { path, sha256 });
    }
    Some(out)
}

/// Whether `main` and every other recorded file still hold the text they were loaded
/// from.
pub(super) fn unchanged(sources: &[Source], main: &Path) -> bool {
    if sources.first().map(|s| s.path.as_path()) != Some(main) {
        return false;
    }
    sources.iter().all(|s| {
        std::fs::read(&s.path).is_ok_and(|bytes| {
            ring::digest::digest(&ring::digest::SHA256, &bytes).as_ref() == s.sha256
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_notices_any_change() {
        let dir = tempfile::tempdir().unwrap();
        let main = dir.path().join("z.zone");
        let inc = dir.path().join("inc");
        std::fs::write(&main, "main text").unwrap();
        std::fs::write(&inc, "included").unwrap();
        let sources = vec![Source::of(&main, "main text"), Source::of(&inc, "included")];
        let blob = encode(&sources);
        assert_eq!(decode(&blob), Some(sources.clone()));
        assert!(unchanged(&sources, &main));
        assert!(!unchanged(&sources, &inc), "another main file");
        std::fs::write(&inc, "included!").unwrap();
        assert!(!unchanged(&sources, &main));
        std::fs::remove_file(&inc).unwrap();
        assert!(!unchanged(&sources, &main));
        assert_eq!(decode(&blob[..blob.len() - 1]), None);
        let mut other = blob.clone();
        other[3] ^= 1;
        assert_eq!(decode(&other), None, "another loader");
    }
}
