//! The AXFR of a version as the server streams it, for the transfer benches.

use std::sync::Arc;

use hickory_proto::op::Message;
use zonecast::xfr::acl::Acl;
use zonecast::xfr::client;
use zonecast::xfr::server::{self, Transport, XfrOptions};
use zonecast::zone::Zone;

/// Every message of an AXFR of `zone` (without TCP framing).
pub fn messages(zone: &Arc<Zone>) -> Vec<Vec<u8>> {
    let acl = Acl::parse(&["127.0.0.1"]).expect("acl");
    let src = "127.0.0.1".parse().expect("ip");
    let request = client::axfr_request(zone.origin(), 1)
        .to_vec()
        .expect("encode");
    let req = Message::from_vec(&request).expect("decode");
    server::respond(
        &req,
        src,
        &acl,
        Some(zone.clone()),
        Transport::Tcp,
        |_| None,
        XfrOptions::default(),
    )
    .map(|m| m.expect("message"))
    .collect()
}
