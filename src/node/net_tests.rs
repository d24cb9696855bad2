//! A whole-zone transfer taken apart as it arrives: built on a thread and encoded for the
//! store batch by batch, it must give exactly the version and the stored rows a batch
//! build gives.

use std::collections::BTreeSet;

use hickory_proto::op::{Message, MessageType, OpCode, Query};
use hickory_proto::rr::rdata::{A, NS, TXT};
use hickory_proto::rr::{RData, Record, RecordType};

use super::*;
use crate::store::Store;
use crate::zone::Zone;
use crate::zone::diff::tests::{n, soa};

fn rec(name: &str, ttl: u32, data: RData) -> Record {
    Record::from_rdata(n(name), ttl, data)
}

fn contents(z: &Zone) -> BTreeSet<String> {
    let mut v: BTreeSet<String> = z
        .records_canonical()
        .iter()
        .map(Record::to_string)
        .collect();
    v.extend(
        z.nodes()
            .map(|(k, node)| format!("node {k} {}", node.rrsets().len())),
    );
    v
}

/// An AXFR stream in messages of three records, with an RRset split across messages and
/// interleaved with others, differing TTLs within it, a repeated record and mixed case.
fn stream() -> (Vec<Record>, Vec<Vec<u8>>) {
    let mut body = vec![rec(
        "example.test.",
        60,
        RData::NS(NS(n("ns1.example.test."))),
    )];
    for i in 0..40u8 {
        body.push(rec(
            &format!("h{i}.Sub.example.test."),
            300,
            RData::A(A::new(10, 0, 0, i)),
        ));
    }
    body.insert(
        5,
        rec("split.example.test.", 60, RData::A(A::new(192, 0, 2, 1))),
    );
    body.insert(
        9,
        rec("SPLIT.example.test.", 99, RData::A(A::new(192, 0, 2, 2))),
    );
    body.insert(
        20,
        rec("split.example.test.", 60, RData::A(A::new(192, 0, 2, 1))),
    );
    body.push(rec(
        "t.example.test.",
        5,
        RData::TXT(TXT::new(vec!["x".into()])),
    ));
    let mut all = vec![soa(7)];
    all.extend(body);
    all.push(soa(7));
    let msgs = all
        .chunks(3)
        .map(|part| {
            let mut m = Message::new(9, MessageType::Response, OpCode::Query);
            m.add_query(Query::query(n("example.test."), RecordType::AXFR));
            m.add_answers(part.to_vec());
            m.to_vec().unwrap()
        })
        .collect();
    all.pop();
    (all, msgs)
}

#[test]
fn a_streamed_transfer_builds_and_stores_what_a_batch_build_does() {
    let (records, msgs) = stream();
    let batch = Zone::from_records(n("example.test."), records.clone()).unwrap();

    let mut consumer = XfrConsumer::axfr(n("example.test."), 9);
    let mut full = None;
    let mut batches = 0;
    for m in &msgs {
        match consumer.feed(m).unwrap() {
            Progress::More => {
                drain(&mut consumer, &mut full, &n("example.test."), 0, Vec::new()).unwrap();
                batches += 1;
            }
            Progress::Done(XfrOutcome::Full { records, .. }) => {
                drain(&mut consumer, &mut full, &n("example.test."), 0, records).unwrap();
            }
            Progress::Done(other) => panic!("{other:?}"),
        }
    }
    assert!(batches > 10);
    let FullZone { build, prepared } = full.unwrap();
    let streamed = build.finish().unwrap();
    assert_eq!(contents(&streamed), contents(&batch));
    assert_eq!(streamed.record_count(), batch.record_count());

    // The chunks encoded on the way load back as the same version, and agree with what a
    // commit of the finished version writes.
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path().join("a.db")).unwrap();
    store.commit_full_prepared(&streamed, prepared).unwrap();
    let back = store.load_zone(&n("example.test.")).unwrap().unwrap();
    assert_eq!(contents(&back), contents(&batch));
    let mut other = Store::open(dir.path().join("b.db")).unwrap();
    other.commit_full(&batch).unwrap();
    let back2 = other.load_zone(&n("example.test.")).unwrap().unwrap();
    assert_eq!(contents(&back2), contents(&back));
    let status = store.zone_status(&n("example.test.")).unwrap().unwrap();
    assert_eq!(status.record_count, batch.record_count() as u64);
}
