//! Lookup keys in uncompressed, lower-cased wire form.
//!
//! hickory's `Name` hashes byte by byte and builds a new name for every ancestor
//! (`trim_to`), which made finding the zone and walking down to the query name the
//! largest share of the query path. In wire form every ancestor of a name is a suffix of
//! its bytes starting at a label boundary, so a walk hashes and compares plain slices and
//! builds nothing. Zone and catalog maps hash their keys through [`hash`] over these
//! bytes, so a `LowerName` key and a wire slice of the same name meet in the same bucket.

use std::hash::BuildHasher;
use std::sync::LazyLock;

use hickory_proto::rr::Name;

type Hasher = foldhash::fast::RandomState;

/// One random seed per process: every version of every zone puts a name in the same
/// shard (which lets a diff compare shards pairwise), while hashes stay unpredictable
/// from outside.
static STATE: LazyLock<Hasher> = LazyLock::new(Hasher::default);

/// The hash of a name given as lower-cased wire bytes.
pub fn hash(wire: &[u8]) -> u64 {
    STATE.hash_one(wire)
}

/// A name as lower-cased wire bytes on the stack, with where each label starts.
pub struct WireKey {
    buf: [u8; 256],
    len: u8,
    /// Offsets of the labels, leftmost first; the root has none.
    starts: [u8; 128],
    labels: u8,
}

impl WireKey {
    /// Lower-cases `name` into wire form. A `Name` is at most 255 octets in wire form, so
    /// this only fails for a name hickory itself would not encode.
    pub fn new(name: &Name) -> Option<WireKey> {
        let mut k = WireKey::empty();
        let mut at = 0usize;
        for label in name.iter() {
            let end = k.start_label(at, label.len())?;
            for (d, s) in k.buf.get_mut(at + 1..end)?.iter_mut().zip(label) {
                *d = s.to_ascii_lowercase();
            }
            at = end;
        }
        k.end(at)
    }

    /// The name at the start of `wire`, uncompressed wire form already lower-cased (as
    /// [`WireKey::bytes`] gives it); `None` if `wire` does not start with a whole name.
    pub fn from_wire(wire: &[u8]) -> Option<WireKey> {
        let mut k = WireKey::empty();
        let mut at = 0usize;
        loop {
            let len = usize::from(*wire.get(at)?);
            if len == 0 {
                break;
            }
            let end = k.start_label(at, len)?;
            k.buf
                .get_mut(at + 1..end)?
                .copy_from_slice(wire.get(at + 1..end)?);
            at = end;
        }
        k.end(at)
    }

    fn empty() -> WireKey {
        WireKey {
            buf: [0; 256],
            len: 0,
            starts: [0; 128],
            labels: 0,
        }
    }

    /// Records a label of `len` octets at `at`; returns where it ends.
    fn start_label(&mut self, at: usize, len: usize) -> Option<usize> {
        let end = at + 1 + len;
        if end >= 255 || usize::from(self.labels) >= 127 || len > 63 {
            return None;
        }
        *self.starts.get_mut(usize::from(self.labels))? = at as u8;
        self.labels += 1;
        *self.buf.get_mut(at)? = len as u8;
        Some(end)
    }

    /// Writes the root label at `at`.
    fn end(mut self, at: usize) -> Option<WireKey> {
        *self.buf.get_mut(at)? = 0;
        self.len = (at + 1) as u8;
        Some(self)
    }

    /// The whole name.
    pub fn bytes(&self) -> &[u8] {
        &self.buf[..usize::from(self.len)]
    }

    /// Labels, not counting the root.
    pub fn labels(&self) -> usize {
        usize::from(self.labels)
    }

    /// The name's last `k` labels (its ancestor with `k` labels); the whole name when `k`
    /// is at least the label count, the root for 0.
    pub fn suffix(&self, k: usize) -> &[u8] {
        let n = self.labels();
        if k >= n {
            return self.bytes();
        }
        let end = usize::from(self.len);
        let from = match k {
            // The root label, the last byte.
            0 => end - 1,
            _ => usize::from(self.starts[n - k]),
        };
        &self.buf[from..end]
    }
}

/// Whether `name` equals the lower-cased wire bytes `wire`, ignoring ASCII case.
pub fn eq_name(name: &Name, wire: &[u8]) -> bool {
    let mut at = 0usize;
    for label in name.iter() {
        let Some(&len) = wire.get(at) else {
            return false;
        };
        if usize::from(len) != label.len() {
            return false;
        }
        match wire.get(at + 1..at + 1 + label.len()) {
            Some(w) if w.eq_ignore_ascii_case(label) => at += 1 + label.len(),
            _ => return false,
        }
    }
    wire.len() == at + 1 && wire.get(at) == Some(&0)
}

/// The hash of `name` as [`hash`] computes it for its lower-cased wire bytes.
pub fn hash_name(name: &Name) -> u64 {
    match WireKey::new(name) {
        Some(k) => hash(k.bytes()),
        // Unreachable for names hickory builds; any fixed value keeps maps consistent.
        None => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    #[test]
    fn suffixes_equal_ancestors() {
        let n = Name::from_str("WwW.Example.TEST.").unwrap();
        let k = WireKey::new(&n).unwrap();
        assert_eq!(k.labels(), 3);
        assert_eq!(k.bytes(), b"\x03www\x07example\x04test\x00");
        assert_eq!(k.suffix(2), b"\x07example\x04test\x00");
        assert_eq!(k.suffix(0), b"\x00");
        assert_eq!(k.suffix(9), k.bytes());
        for i in 0..=3 {
            let anc = n.trim_to(i);
            assert!(eq_name(&anc, k.suffix(i)), "{anc}");
            assert_eq!(hash_name(&anc), hash(k.suffix(i)));
        }
        assert!(!eq_name(&n, k.suffix(2)));
        assert!(!eq_name(&n.trim_to(2), k.bytes()));
        let root = WireKey::new(&Name::root()).unwrap();
        assert_eq!((root.bytes(), root.labels()), (&b"\x00"[..], 0));
        assert!(eq_name(&Name::root(), root.bytes()));
    }

    #[test]
    fn from_wire_reads_one_name() {
        let n = Name::from_str("a.Bc.d.").unwrap();
        let k = WireKey::new(&n).unwrap();
        let mut two = k.bytes().to_vec();
        two.extend_from_slice(b"\x01x\x00");
        let back = WireKey::from_wire(&two).unwrap();
        assert_eq!(back.bytes(), k.bytes());
        assert_eq!(back.labels(), 3);
        assert_eq!(back.suffix(1), b"\x01d\x00");
        assert!(WireKey::from_wire(&two[..3]).is_none());
        assert!(WireKey::from_wire(&[]).is_none());
        assert_eq!(WireKey::from_wire(&[0]).unwrap().labels(), 0);
    }

    #[test]
    fn longest_names_fit() {
        let label = "a".repeat(63);
        let s = format!("{label}.{label}.{label}.{}.", "b".repeat(61));
        let n = Name::from_str(&s).unwrap();
        let k = WireKey::new(&n).unwrap();
        assert_eq!(k.bytes().len(), 255);
        assert!(eq_name(&n, k.bytes()));
    }
}
