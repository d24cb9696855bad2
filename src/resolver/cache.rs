//! The resolver's cache: RRsets, negative answers and short-lived failures, each with an
//! absolute expiry computed from an injected `Instant`, so every TTL handed to a client is
//! the time that is really left, counting down as Unbound's does.
//!
//! Trust follows RFC 2181 §5.4.1: data of a lower [`Rank`] never replaces live data of a
//! higher one, so glue cannot overwrite what the zone's own servers said. The delegation
//! cache is not a second store: a zone cut is an NS RRset plus whatever addresses the cache
//! holds for its targets, found by walking the query name's ancestors.
//!
//! Memory is bounded by an estimate of each entry's size; past the cap the least recently
//! used entries go first (an ordered map from use tick to key keeps that exact).

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::{DNSClass, LowerName, Name, RData, Record, RecordType};
use serde::{Deserialize, Serialize};

use super::stamps::{Stamp, Stamps};

/// How far a piece of data can be trusted (RFC 2181 §5.4.1), lowest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum Rank {
    /// Additional section (glue included) of any response.
    Additional,
    /// Authority section of a non-authoritative response, e.g. a referral's NS set.
    NonAuthAuthority,
    /// Answer section of a non-authoritative response (forwarders).
    NonAuthAnswer,
    /// Authority section of an authoritative response.
    AuthAuthority,
    /// Answer section of an authoritative response.
    AuthAnswer,
}

impl Rank {
    /// The lowest rank a client may be answered from: glue and referral data only steer
    /// the iterator, as in Unbound.
    pub const ANSWERABLE: Rank = Rank::NonAuthAnswer;
}

/// Limits and options, named and defaulted as in Unbound where it has an equivalent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "kebab-case")]
pub struct CacheConfig {
    pub cache_min_ttl: u32,
    pub cache_max_ttl: u32,
    pub cache_max_negative_ttl: u32,
    /// Estimated bytes of all entries together.
    pub max_bytes: usize,
    /// How long a failed resolution is remembered (RFC 9520 §3.2: at least 1 s, at most
    /// 5 minutes).
    pub failure_ttl: u32,
    pub serve_stale: bool,
    /// How long past expiry a stale entry may still be served (RFC 8767 suggests 1–3 days).
    pub stale_max_secs: u32,
    /// The TTL stale data carries in answers (RFC 8767 §4 recommends 30 s).
    pub stale_answer_ttl: u32,
    pub prefetch: bool,
}

impl Default for CacheConfig {
    fn default() -> Self {
        CacheConfig {
            cache_min_ttl: 0,
            cache_max_ttl: 86400,
            cache_max_negative_ttl: 3600,
            max_bytes: 64 << 20,
            failure_ttl: 5,
            serve_stale: false,
            stale_max_secs: 86400,
            stale_answer_ttl: 30,
            prefetch: false,
        }
    }
}

impl CacheConfig {
    fn clamp(&self, ttl: u32) -> u32 {
        ttl.max(self.cache_min_ttl).min(self.cache_max_ttl)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum Kind {
    /// Positive data or NODATA for one type.
    Type(RecordType),
    /// NXDOMAIN covers every type of the name.
    NxDomain,
    /// A resolution failure for one type.
    Failure(RecordType),
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Key {
    name: LowerName,
    class: DNSClass,
    kind: Kind,
}

impl PartialOrd for Key {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Key {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (&self.name, u16::from(self.class), &self.kind).cmp(&(
            &other.name,
            u16::from(other.class),
            &other.kind,
        ))
    }
}

#[derive(Debug, Clone)]
enum Stored {
    Records(Vec<Record>),
    NxDomain(Option<Record>),
    NoData(Option<Record>),
    Failure(ResponseCode),
}

#[derive(Debug, Clone)]
struct Entry {
    data: Stored,
    rank: Rank,
    ttl: u32,
    expires: Instant,
    tick: u64,
    hits: u32,
    prefetch_flagged: bool,
    bytes: usize,
}

/// What the cache holds for one name and type, TTLs already set to the time left.
#[derive(Debug, Clone, PartialEq)]
pub enum Hit {
    Records(Vec<Record>),
    NxDomain(Option<Record>),
    NoData(Option<Record>),
    Failure(ResponseCode),
}

/// A client answer assembled from the cache (CNAME chain included).
#[derive(Debug, Clone, PartialEq)]
pub struct CachedAnswer {
    pub rcode: ResponseCode,
    pub answers: Vec<Record>,
    pub authorities: Vec<Record>,
    /// Set when some entry used is popular and in the last tenth of its TTL: the driver
    /// should refresh it in the background.
    pub prefetch: bool,
    /// Set when expired data was served under serve-stale.
    pub stale: bool,
    /// Seconds this exact answer stays valid (before any TTL in it runs out or a
    /// prefetch is due): how long the driver may replay its encoding.
    pub fresh: u32,
    /// The change counters of the names it was built from.
    pub stamp: Stamp,
}

/// A zone cut known to the cache: its servers and any addresses known for them.
#[derive(Debug, Clone, PartialEq)]
pub struct Delegation {
    pub zone: Name,
    pub servers: Vec<(Name, Vec<IpAddr>)>,
}

/// One line of `zonecast cache dump`.
#[derive(Debug, Clone, Serialize)]
pub struct DumpEntry {
    pub name: String,
    pub class: String,
    pub kind: String,
    pub rank: Rank,
    /// Seconds left; negative when the entry is only kept for serve-stale.
    pub ttl: i64,
    pub original_ttl: u32,
    pub data: Vec<String>,
}

#[derive(Debug)]
pub struct Cache {
    config: CacheConfig,
    /// Seeded per process (keys are names clients choose), and much cheaper than SipHash
    /// on the hit path.
    entries: HashMap<Key, Entry, foldhash::quality::RandomState>,
    lru: BTreeMap<u64, Key>,
    tick: u64,
    bytes: usize,
    /// Change counters by owner name, so answers encoded from the cache can be replayed
    /// until something they were built from changes.
    stamps: Arc<Stamps>,
}

/// Per-entry overhead in the byte estimate: key, entry struct, map slots.
const ENTRY_OVERHEAD: usize = 160;

fn record_bytes(r: &Record) -> usize {
    let rdata = match &r.data {
        RData::A(_) => 4,
        RData::AAAA(_) => 16,
        RData::NS(n) => n.0.len(),
        RData::CNAME(n) => n.0.len(),
        RData::SOA(s) => s.mname.len() + s.rname.len() + 20,
        other => other.to_string().len(),
    };
    64 + r.name.len() + rdata
}

fn data_bytes(d: &Stored) -> usize {
    match d {
        Stored::Records(rs) => rs.iter().map(record_bytes).sum(),
        Stored::NxDomain(soa) | Stored::NoData(soa) => soa.as_ref().map_or(0, record_bytes),
        Stored::Failure(_) => 0,
    }
}

/// The negative TTL of RFC 2308 §5: the smaller of the SOA's own TTL and its MINIMUM.
pub fn negative_ttl(soa: &Record) -> u32 {
    match &soa.data {
        RData::SOA(s) => soa.ttl.min(s.minimum),
        _ => soa.ttl,
    }
}

fn with_ttl(records: &[Record], ttl: u32) -> Vec<Record> {
    records
        .iter()
        .map(|r| {
            let mut r = r.clone();
            r.ttl = ttl;
            r
        })
        .collect()
}

impl Cache {
    pub fn new(config: CacheConfig) -> Self {
        Cache {
            config,
            entries: HashMap::default(),
            lru: BTreeMap::new(),
            tick: 0,
            bytes: 0,
            stamps: Arc::new(Stamps::default()),
        }
    }

    pub fn config(&self) -> &CacheConfig {
        &self.config
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The current byte estimate that the cap is checked against.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    fn stale_limit(&self, e: &Entry) -> Instant {
        if self.config.serve_stale {
            e.expires + Duration::from_secs(u64::from(self.config.stale_max_secs))
        } else {
            e.expires
        }
    }

    /// The change counters, for checking replayed answers without the cache's lock.
    pub fn stamps(&self) -> Arc<Stamps> {
        self.stamps.clone()
    }

    fn remove(&mut self, key: &Key) -> Option<Entry> {
        let e = self.entries.remove(key)?;
        self.stamps.bump(&key.name);
        self.lru.remove(&e.tick);
        self.bytes = self.bytes.saturating_sub(e.bytes);
        Some(e)
    }

    fn store(&mut self, key: Key, data: Stored, rank: Rank, ttl: u32, now: Instant) -> bool {
        if let Some(old) = self.entries.get(&key)
            && old.rank > rank
            && now < old.expires
        {
            return false;
        }
        self.remove(&key);
        if ttl == 0 {
            return false;
        }
        self.tick += 1;
        let bytes = ENTRY_OVERHEAD + key.name.len() + data_bytes(&data);
        let entry = Entry {
            data,
            rank,
            ttl,
            expires: now + Duration::from_secs(u64::from(ttl)),
            tick: self.tick,
            hits: 0,
            prefetch_flagged: false,
            bytes,
        };
        self.lru.insert(self.tick, key.clone());
        self.stamps.bump(&key.name);
        self.entries.insert(key, entry);
        self.bytes += bytes;
        self.evict();
        true
    }

    fn evict(&mut self) {
        while self.bytes > self.config.max_bytes {
            let Some((_, key)) = self.lru.pop_first() else {
                break;
            };
            if let Some(e) = self.entries.remove(&key) {
                self.bytes = self.bytes.saturating_sub(e.bytes);
                self.stamps.bump(&key.name);
            }
        }
    }

    fn key(name: &Name, class: DNSClass, kind: Kind) -> Key {
        Key {
            name: LowerName::new(name),
            class,
            kind,
        }
    }

    /// Caches one RRset (all records share owner, type and class; the smallest TTL wins,
    /// RFC 2181 §5.2). Returns false when live data of a higher rank was kept instead.
    pub fn insert_rrset(&mut self, records: &[Record], rank: Rank, now: Instant) -> bool {
        let Some(first) = records.first() else {
            return false;
        };
        let ttl = self
            .config
            .clamp(records.iter().map(|r| r.ttl).min().unwrap_or(0));
        let key = Self::key(
            &first.name,
            first.dns_class,
            Kind::Type(first.record_type()),
        );
        let data = Stored::Records(records.to_vec());
        self.store(key, data, rank, ttl, now)
    }

    /// Caches a negative answer: NXDOMAIN for the whole name when `qtype` is `None`, else
    /// NODATA for that type. Without an SOA there is no TTL to use, so nothing is cached
    /// (RFC 2308 §5).
    pub fn insert_negative(
        &mut self,
        name: &Name,
        class: DNSClass,
        qtype: Option<RecordType>,
        soa: Option<Record>,
        rank: Rank,
        now: Instant,
    ) -> bool {
        let Some(soa_rec) = soa else {
            return false;
        };
        let ttl = negative_ttl(&soa_rec).min(self.config.cache_max_negative_ttl);
        let (kind, data) = match qtype {
            None => (Kind::NxDomain, Stored::NxDomain(Some(soa_rec))),
            Some(t) => (Kind::Type(t), Stored::NoData(Some(soa_rec))),
        };
        if kind == Kind::NxDomain {
            // A name that stopped existing takes its positive data with it.
            // Probing the common types keeps this O(1) rather than a scan of the cache.
            for t in COMMON_TYPES {
                let k = Self::key(name, class, Kind::Type(t));
                if self.entries.get(&k).is_some_and(|e| e.rank <= rank) {
                    self.remove(&k);
                }
            }
        }
        self.store(Self::key(name, class, kind), data, rank, ttl, now)
    }

    /// Remembers that resolving `name`/`qtype` failed, so a burst of clients does not
    /// hammer broken servers (RFC 9520).
    pub fn insert_failure(
        &mut self,
        name: &Name,
        qtype: RecordType,
        class: DNSClass,
        rcode: ResponseCode,
        now: Instant,
    ) {
        let ttl = self.config.failure_ttl.clamp(1, 300);
        self.store(
            Self::key(name, class, Kind::Failure(qtype)),
            Stored::Failure(rcode),
            Rank::AuthAnswer,
            ttl,
            now,
        );
    }

    /// Looks one key up. Expired entries are dropped unless serve-stale keeps them;
    /// `stale` asks for such a kept entry, served with the stale TTL. The flag is the
    /// prefetch signal.
    fn get(
        &mut self,
        key: &Key,
        min_rank: Rank,
        now: Instant,
        stale: bool,
    ) -> Option<(Hit, bool, u32)> {
        {
            let e = self.entries.get(key)?;
            if now >= e.expires {
                if now >= self.stale_limit(e) {
                    self.remove(key);
                    return None;
                }
                if !stale {
                    return None;
                }
            }
            if e.rank < min_rank {
                return None;
            }
        }
        self.tick += 1;
        let tick = self.tick;
        let stale_ttl = self.config.stale_answer_ttl;
        let prefetch_on = self.config.prefetch;
        let e = self.entries.get_mut(key)?;
        self.lru.remove(&e.tick);
        e.tick = tick;
        self.lru.insert(tick, key.clone());
        e.hits = e.hits.saturating_add(1);
        let left = if now >= e.expires {
            stale_ttl
        } else {
            u32::try_from(e.expires.duration_since(now).as_secs()).unwrap_or(u32::MAX)
        };
        let hit = match &e.data {
            Stored::Records(rs) => Hit::Records(with_ttl(rs, left)),
            Stored::NxDomain(soa) => Hit::NxDomain(soa.as_ref().map(|s| with_ttl_one(s, left))),
            Stored::NoData(soa) => Hit::NoData(soa.as_ref().map(|s| with_ttl_one(s, left))),
            Stored::Failure(rc) => Hit::Failure(*rc),
        };
        let mut prefetch = false;
        if prefetch_on
            && !e.prefetch_flagged
            && e.hits >= 2
            && now < e.expires
            && u64::from(left) * 10 < u64::from(e.ttl)
        {
            e.prefetch_flagged = true;
            prefetch = true;
        }
        let fresh = if now >= e.expires {
            0
        } else if prefetch_on {
            left.saturating_sub(e.ttl / 10)
        } else {
            left
        };
        Some((hit, prefetch, fresh))
    }

    /// What the cache knows about one name and type, from data of at least `min_rank`.
    /// NXDOMAIN for the name answers every type; a cached failure comes last.
    pub fn lookup(
        &mut self,
        name: &Name,
        qtype: RecordType,
        class: DNSClass,
        min_rank: Rank,
        now: Instant,
    ) -> Option<Hit> {
        self.lookup_inner(name, qtype, class, min_rank, now, false)
            .map(|(h, _, _)| h)
    }

    fn lookup_inner(
        &mut self,
        name: &Name,
        qtype: RecordType,
        class: DNSClass,
        min_rank: Rank,
        now: Instant,
        stale: bool,
    ) -> Option<(Hit, bool, u32)> {
        let lname = LowerName::new(name);
        let mut key = Key {
            name: lname,
            class,
            kind: Kind::Type(qtype),
        };
        if let Some(h) = self.get(&key, min_rank, now, stale) {
            return Some(h);
        }
        key.kind = Kind::NxDomain;
        if let Some(h) = self.get(&key, min_rank, now, stale) {
            return Some(h);
        }
        if qtype != RecordType::CNAME {
            // Only an actual CNAME redirects; a cached "no CNAME here" (NODATA for type
            // CNAME) says nothing about other types.
            key.kind = Kind::Type(RecordType::CNAME);
            if let Some(h @ (Hit::Records(_), _, _)) = self.get(&key, min_rank, now, stale) {
                return Some(h);
            }
        }
        if stale {
            return None;
        }
        key.kind = Kind::Failure(qtype);
        self.get(&key, Rank::Additional, now, false)
    }

    /// A client answer for `qname`/`qtype` when the cache can give one whole, following
    /// cached CNAMEs (at most `max_chain`). `stale` serves expired data (serve-stale, used
    /// by the driver only after a resolution failed).
    pub fn answer(
        &mut self,
        qname: &Name,
        qtype: RecordType,
        class: DNSClass,
        now: Instant,
        stale: bool,
    ) -> Option<CachedAnswer> {
        if stale && !self.config.serve_stale {
            return None;
        }
        let mut out = CachedAnswer {
            rcode: ResponseCode::NoError,
            answers: Vec::new(),
            authorities: Vec::new(),
            prefetch: false,
            stale,
            fresh: u32::MAX,
            stamp: self.stamps.start(),
        };
        let mut name = qname.clone();
        for _ in 0..=MAX_CACHED_CHAIN {
            let (hit, prefetch, fresh) =
                self.lookup_inner(&name, qtype, class, Rank::ANSWERABLE, now, stale)?;
            out.prefetch |= prefetch;
            out.fresh = out.fresh.min(fresh);
            self.stamps.add(&mut out.stamp, &LowerName::new(&name));
            match hit {
                Hit::Records(rs) => {
                    let target = match rs.first().map(|r| &r.data) {
                        Some(RData::CNAME(c)) if qtype != RecordType::CNAME => Some(c.0.clone()),
                        _ => None,
                    };
                    out.answers.extend(rs);
                    match target {
                        Some(t) => name = t,
                        None => return Some(out),
                    }
                }
                Hit::NxDomain(soa) => {
                    out.rcode = ResponseCode::NXDomain;
                    out.authorities.extend(soa);
                    return Some(out);
                }
                Hit::NoData(soa) => {
                    out.authorities.extend(soa);
                    return Some(out);
                }
                Hit::Failure(rc) => {
                    if !out.answers.is_empty() {
                        return None;
                    }
                    out.rcode = rc;
                    return Some(out);
                }
            }
        }
        None
    }

    /// The closest zone cut at or above `name` whose NS set is cached, with whatever
    /// addresses are cached for its servers (glue included).
    pub fn closest_delegation(&mut self, name: &Name, now: Instant) -> Option<Delegation> {
        let mut zone = name.clone();
        loop {
            if let Some(Hit::Records(ns)) =
                self.lookup(&zone, RecordType::NS, DNSClass::IN, Rank::Additional, now)
            {
                let mut servers = Vec::new();
                for r in &ns {
                    if let RData::NS(n) = &r.data {
                        let addrs = self.addresses(&n.0, now);
                        servers.push((n.0.clone(), addrs));
                    }
                }
                return Some(Delegation { zone, servers });
            }
            if zone.is_root() {
                return None;
            }
            zone = zone.base_name();
        }
    }

    /// Every cached address of a host, from data of any rank.
    pub fn addresses(&mut self, host: &Name, now: Instant) -> Vec<IpAddr> {
        let mut out = Vec::new();
        for t in [RecordType::A, RecordType::AAAA] {
            if let Some(Hit::Records(rs)) =
                self.lookup(host, t, DNSClass::IN, Rank::Additional, now)
            {
                out.extend(rs.iter().filter_map(|r| r.data.ip_addr()));
            }
        }
        out
    }

    /// Drops everything that can no longer be served (not even stale).
    pub fn purge_expired(&mut self, now: Instant) {
        let dead: Vec<Key> = self
            .entries
            .iter()
            .filter(|(_, e)| now >= self.stale_limit(e))
            .map(|(k, _)| k.clone())
            .collect();
        for k in dead {
            self.remove(&k);
        }
    }
}

const COMMON_TYPES: [RecordType; 12] = [
    RecordType::A,
    RecordType::AAAA,
    RecordType::CNAME,
    RecordType::NS,
    RecordType::MX,
    RecordType::TXT,
    RecordType::SOA,
    RecordType::PTR,
    RecordType::SRV,
    RecordType::CAA,
    RecordType::HTTPS,
    RecordType::DS,
];

/// Longest CNAME chain the cache follows on its own before handing over to the iterator.
const MAX_CACHED_CHAIN: usize = 8;

fn with_ttl_one(r: &Record, ttl: u32) -> Record {
    let mut r = r.clone();
    r.ttl = ttl;
    r
}

#[path = "cache_admin.rs"]
mod admin;

#[cfg(test)]
#[path = "cache_tests.rs"]
mod tests;
