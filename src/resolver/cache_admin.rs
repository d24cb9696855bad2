//! Operator access to the cache: the dump `zonecast cache dump` and `watch` show, and
//! the flushes by name, subtree or everything.

use std::time::Instant;

use hickory_proto::rr::{LowerName, Name};

use super::{Cache, DumpEntry, Key, Kind, Stored};

impl Cache {
    /// Every live entry with its remaining TTL, sorted by name.
    pub fn dump(&mut self, now: Instant) -> Vec<DumpEntry> {
        self.purge_expired(now);
        let mut keys: Vec<&Key> = self.entries.keys().collect();
        keys.sort();
        keys.into_iter()
            .filter_map(|k| {
                let e = self.entries.get(k)?;
                let ttl = if now >= e.expires {
                    -(i64::try_from(now.duration_since(e.expires).as_secs()).unwrap_or(i64::MAX))
                } else {
                    i64::try_from(e.expires.duration_since(now).as_secs()).unwrap_or(i64::MAX)
                };
                let (kind, data) = match (&k.kind, &e.data) {
                    (Kind::Type(t), Stored::Records(rs)) => (
                        t.to_string(),
                        rs.iter().map(|r| r.data.to_string()).collect(),
                    ),
                    (Kind::Type(t), Stored::NoData(soa)) => (
                        format!("{t} NODATA"),
                        soa.iter().map(|r| r.data.to_string()).collect(),
                    ),
                    (_, Stored::NxDomain(soa)) => (
                        "NXDOMAIN".to_string(),
                        soa.iter().map(|r| r.data.to_string()).collect(),
                    ),
                    (Kind::Failure(t), Stored::Failure(rc)) => {
                        (format!("{t} FAILURE"), vec![rc.to_string()])
                    }
                    (_, _) => ("?".to_string(), Vec::new()),
                };
                Some(DumpEntry {
                    name: Name::from(k.name.clone()).to_string(),
                    class: k.class.to_string(),
                    kind,
                    rank: e.rank,
                    ttl,
                    original_ttl: e.ttl,
                    data,
                })
            })
            .collect()
    }

    /// Removes every entry owned by `name` (all types, negative and failure entries too).
    /// Returns how many went.
    pub fn flush_name(&mut self, name: &Name) -> usize {
        let lname = LowerName::new(name);
        self.flush_where(|k| k.name == lname)
    }

    /// Removes every entry at or below `name`.
    pub fn flush_subtree(&mut self, name: &Name) -> usize {
        let lname = LowerName::new(name);
        self.flush_where(|k| lname.zone_of(&k.name))
    }

    pub fn flush_all(&mut self) -> usize {
        let n = self.entries.len();
        self.entries.clear();
        self.lru.clear();
        self.bytes = 0;
        self.stamps.bump_all();
        n
    }

    fn flush_where(&mut self, f: impl Fn(&Key) -> bool) -> usize {
        let dead: Vec<Key> = self.entries.keys().filter(|k| f(k)).cloned().collect();
        for k in &dead {
            self.remove(k);
        }
        dead.len()
    }
}

/// `NAME CLASS KIND TTL/ORIGINAL RANK DATA | DATA...`, the line format of the dump.
impl std::fmt::Display for DumpEntry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {} {} {}/{} {:?} {}",
            self.name,
            self.class,
            self.kind,
            self.ttl,
            self.original_ttl,
            self.rank,
            self.data.join(" | ")
        )
    }
}
