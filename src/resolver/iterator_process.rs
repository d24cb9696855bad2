//! What the iterator does with an accepted reply: cache what the server may speak for
//! and move the resolution on (next label, next zone cut, CNAME target, or the end).

use std::net::IpAddr;
use std::time::Instant;

use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::{Name, RData, Record};

use super::super::cache::Rank;
use super::super::response::{AnswerEnd, Classified, classify};
use super::{Outcome, Pending, Resolution, Shared, group_rrsets};

impl Resolution {
    pub(super) fn process(&mut self, p: Pending, msg: Message, shared: &mut Shared, now: Instant) {
        let forward = !self.cfg.forward.is_empty();
        let Some(frame) = self.frames.last_mut() else {
            return;
        };
        if msg.metadata.truncation && !p.tcp {
            frame.tcp_retry = Some(p.addr);
            self.note(|| "  truncated, retrying over TCP".to_string());
            return;
        }
        let zone = frame.zone.clone().unwrap_or_else(Name::root);
        let asked = p.query.name().to_lowercase();
        let class = classify(&msg, &asked, p.query.query_type(), &zone);
        let answer_rank = if msg.metadata.authoritative {
            Rank::AuthAnswer
        } else {
            Rank::NonAuthAnswer
        };
        let cache = &mut shared.cache;
        let max_neg = cache.config().cache_max_negative_ttl;

        if p.minimised {
            match class {
                Classified::Referral { .. } | Classified::Lame(_) => {}
                Classified::NxDomain(_) => {
                    // Relaxed RFC 9156 §2.3: some servers answer NXDOMAIN for empty
                    // non-terminals, so ask the full name before believing it.
                    frame.minimise = false;
                    self.note(|| format!("  NXDOMAIN for minimised {asked}, asking full name"));
                    return;
                }
                _ => {
                    // No cut at this name: one label more, same servers.
                    frame.min_labels += 1;
                    frame.tries.clear();
                    self.note(|| format!("  no zone cut at {asked}"));
                    return;
                }
            }
        }

        match class {
            Classified::Lame(why) => {
                frame.tries.insert(p.addr, u8::MAX);
                self.note(|| format!("  lame {}: {why}", p.addr));
            }
            Classified::Referral {
                zone: cut,
                ns,
                glue,
            } => {
                cache.insert_rrset(&ns, Rank::NonAuthAuthority, now);
                for set in group_rrsets(&glue) {
                    cache.insert_rrset(&set, Rank::Additional, now);
                }
                let servers: Vec<(Name, Vec<IpAddr>)> = ns
                    .iter()
                    .filter_map(|r| match &r.data {
                        RData::NS(n) => Some(n.0.clone()),
                        _ => None,
                    })
                    .map(|n| {
                        let mut ips: Vec<IpAddr> = glue
                            .iter()
                            .filter(|g| g.name == n)
                            .filter_map(|g| g.data.ip_addr())
                            .collect();
                        if ips.is_empty() {
                            ips = cache.addresses(&n, now);
                        }
                        (n, ips)
                    })
                    .collect();
                let desc = servers
                    .iter()
                    .map(|(n, ips)| format!("{n} {ips:?}"))
                    .collect::<Vec<_>>()
                    .join(", ");
                frame.min_labels = cut.num_labels() + 1;
                frame.set_cut(cut.clone(), servers);
                self.note(|| format!("  referral to {cut}: {desc}"));
            }
            Classified::NxDomain(soa) => {
                let qn = frame.qname.clone();
                cache.insert_negative(&qn, self.class, None, soa.clone(), answer_rank, now);
                self.note(|| format!("  NXDOMAIN {qn}"));
                let out = self.negative(ResponseCode::NXDomain, soa, max_neg);
                self.complete(out);
            }
            Classified::NoData(soa) => {
                let (qn, qt) = (frame.qname.clone(), frame.qtype);
                cache.insert_negative(&qn, self.class, Some(qt), soa.clone(), answer_rank, now);
                self.note(|| format!("  NODATA {qn} {qt}"));
                let out = self.negative(ResponseCode::NoError, soa, max_neg);
                self.complete(out);
            }
            Classified::Answer { cnames, end } => {
                for c in &cnames {
                    cache.insert_rrset(std::slice::from_ref(c), answer_rank, now);
                }
                frame.cnames.extend(cnames);
                match end {
                    AnswerEnd::Complete(records) => {
                        cache.insert_rrset(&records, answer_rank, now);
                        let (qn, n) = (frame.chain_end(), records.len());
                        let cfg = cache.config().clone();
                        let mut answers = std::mem::take(&mut frame.cnames);
                        self.note(|| format!("  answer {qn}: {n} record(s)"));
                        answers.extend(records);
                        for r in &mut answers {
                            r.ttl = r.ttl.clamp(cfg.cache_min_ttl, cfg.cache_max_ttl);
                        }
                        let out = Outcome {
                            rcode: ResponseCode::NoError,
                            answers,
                            authorities: Vec::new(),
                        };
                        self.complete(out);
                    }
                    AnswerEnd::Chase(target) => {
                        frame.qname = target.clone();
                        frame.zone = None;
                        frame.minimise = self.cfg.qname_minimisation && !forward;
                        self.note(|| format!("  CNAME, chasing {target}"));
                    }
                    AnswerEnd::NxDomain(soa) => {
                        let target = frame.chain_end();
                        cache.insert_negative(
                            &target,
                            self.class,
                            None,
                            soa.clone(),
                            answer_rank,
                            now,
                        );
                        let out = self.negative(ResponseCode::NXDomain, soa, max_neg);
                        self.complete(out);
                    }
                    AnswerEnd::NoData(soa) => {
                        let target = frame.chain_end();
                        let qt = frame.qtype;
                        cache.insert_negative(
                            &target,
                            self.class,
                            Some(qt),
                            soa.clone(),
                            answer_rank,
                            now,
                        );
                        let out = self.negative(ResponseCode::NoError, soa, max_neg);
                        self.complete(out);
                    }
                }
            }
        }
    }

    /// A negative outcome of the top frame: the CNAMEs followed, then the SOA with the
    /// negative TTL as its TTL (as Unbound sends it).
    fn negative(&mut self, rcode: ResponseCode, soa: Option<Record>, max: u32) -> Outcome {
        let answers = self
            .frames
            .last_mut()
            .map(|f| std::mem::take(&mut f.cnames))
            .unwrap_or_default();
        let authorities = soa
            .map(|mut s| {
                s.ttl = crate::resolver::cache::negative_ttl(&s).min(max);
                s
            })
            .into_iter()
            .collect();
        Outcome {
            rcode,
            answers,
            authorities,
        }
    }
}
