//! The generated zones of the differential test: a parent zone with a few thousand names
//! that exercise every branch of the answer engine (wildcards, empty non-terminals, CNAME
//! chains in and out of the zone, loops, DNAME, delegations with glue and DS, unknown
//! types, RRsets too big for 512 or 1232 bytes), and a child zone served by the same
//! servers so that the most specific zone must answer.

use std::fmt::Write as _;

/// The parent zone's apex.
pub const APEX: &str = "difftest.";
/// A child zone served alongside the parent (its cut is also in the parent).
pub const CHILD: &str = "sub.difftest.";

/// A tiny deterministic generator, so that every run builds the same zone.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u32 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) as u32
    }
}

/// Returns the parent zone's text with `names` generated owners.
pub fn parent_zone(names: usize) -> String {
    let mut z = String::new();
    let mut rng = Lcg(0x5eed);
    let w = &mut z;
    // Negative answers must take min(SOA TTL, MINIMUM): make them differ.
    let _ = writeln!(w, "$ORIGIN {APEX}\n$TTL 3600");
    let _ = writeln!(
        w,
        "@ 7200 IN SOA ns1 hostmaster 2024010101 3600 900 604800 300"
    );
    let _ = writeln!(w, "@ NS ns1\n@ NS ns2.outside.example.");
    let _ = writeln!(w, "@ MX 10 mail\n@ MX 20 mx.outside.example.");
    let _ = writeln!(w, "@ TXT \"v=apex\"\n@ AAAA 2001:db8::1");
    let _ = writeln!(w, "ns1 A 127.0.0.1\nns1 AAAA ::1\nmail A 192.0.2.25");
    // Names whose case in the file differs from how they are queried.
    let _ = writeln!(w, "MixedCase A 192.0.2.77\nmixedcase TXT \"case\"");
    let _ = writeln!(
        w,
        "_sip._tcp SRV 10 5 5060 mail\n_sip._tcp SRV 20 5 5060 sipx"
    );
    let _ = writeln!(w, "sipx AAAA 2001:db8::5060");
    // Sizes around the 512- and 1232-byte limits.
    for i in 0..12 {
        let _ = writeln!(w, "big TXT \"{}\"", format!("{i:02}").repeat(30));
    }
    for i in 0..90 {
        let _ = writeln!(w, "huge A 10.1.{}.{}", i / 250, i % 250 + 1);
    }
    for i in 0..25 {
        let _ = writeln!(w, "medium AAAA 2001:db8:1::{:x}", i + 1);
    }
    // CNAMEs: chains, loops, out of zone, into the child zone, to a missing name.
    let _ = writeln!(w, "c1 CNAME c2\nc2 CNAME c3\nc3 CNAME www1");
    let _ = writeln!(w, "loop1 CNAME loop2\nloop2 CNAME loop1\nself CNAME self");
    let _ = writeln!(w, "out CNAME www.outside.example.\nmissing CNAME nothere");
    let _ = writeln!(w, "tochild CNAME www.{CHILD}\ntowild CNAME x.w1");
    let _ = writeln!(w, "todeleg CNAME host.dlg1\ntobig CNAME big");
    // DNAME.
    let _ = writeln!(w, "dn DNAME {CHILD}\ndnout DNAME outside.example.");
    // Wildcards: plain, beside an explicit name, with CNAME, with MX, under an ENT.
    let _ = writeln!(w, "*.w1 A 192.0.2.101\n*.w1 TXT \"wild w1\"");
    let _ = writeln!(
        w,
        "explicit.w1 AAAA 2001:db8::e\nsub.explicit.w1 A 192.0.2.102"
    );
    let _ = writeln!(
        w,
        "*.w2 CNAME www2\n*.w3 MX 10 mail\n*.deep.ent.w4 A 192.0.2.104"
    );
    let _ = writeln!(w, "*.w5 CNAME nowhere.w5");
    // Delegations: in-zone glue, out-of-zone NS, DS at a cut, the child zone's cut.
    for i in 0..20 {
        let _ = writeln!(w, "dlg{i} NS ns.dlg{i}\ndlg{i} NS ns.outside.example.");
        let _ = writeln!(w, "ns.dlg{i} A 192.0.2.{}", 150 + i);
        if i % 2 == 0 {
            let _ = writeln!(w, "ns.dlg{i} AAAA 2001:db8:d::{i:x}");
        }
        if i % 3 == 0 {
            let _ = writeln!(
                w,
                "dlg{i} DS 12345 13 2 {}",
                format!("{:08X}", 0xabcdef00u32 + i).repeat(8)
            );
        }
    }
    let _ = writeln!(w, "dlgsib NS ns1.dlg1\ndlgsib NS mail");
    // Sibling glue (the NS host is glue of another cut): optional, RFC 9471 §3.2.
    let _ = writeln!(
        w,
        "dlgsib2 NS ns.dlg2\ndlgsib2 NS ns.dlg4\ndlgsib2 NS ns.dlgsib2"
    );
    let _ = writeln!(w, "ns.dlgsib2 A 192.0.2.149");
    // In-domain glue too big for 512 bytes: TC (RFC 9471 §3.1, Knot), not left out.
    let _ = writeln!(w, "fatglue NS a.fatglue\nfatglue NS b.fatglue");
    for i in 0..20 {
        let _ = writeln!(w, "a.fatglue A 192.0.2.{i}\nb.fatglue A 198.51.100.{i}");
    }
    let _ = writeln!(w, "sub NS ns1.sub\nns1.sub A 127.0.0.1");
    // Unknown and less common types.
    let _ = writeln!(w, "unk TYPE65280 \\# 4 0a000001\nunk A 192.0.2.9");
    let _ = writeln!(
        w,
        "misc HINFO \"PDP\" \"TOPS-20\"\nmisc CAA 0 issue \"ca.example\""
    );
    let _ = writeln!(w, "misc SSHFP 1 1 0123456789abcdef0123456789abcdef01234567");
    let _ = writeln!(w, "misc NAPTR 100 10 \"S\" \"SIP+D2U\" \"\" _sip._tcp");
    let _ = writeln!(w, "ptr PTR www1\nspf TXT \"v=spf1 -all\" \"second string\"");
    // The bulk: many names, mixed types, ENTs above deep names.
    for i in 0..names {
        let r = rng.next();
        match i % 10 {
            0..=2 => {
                let _ = writeln!(w, "www{i} A 198.51.{}.{}", (r >> 8) % 256, r % 254 + 1);
            }
            3 => {
                let _ = writeln!(w, "www{i} AAAA 2001:db8:{:x}::{:x}", r % 65536, i);
            }
            4 => {
                let _ = writeln!(w, "www{i} MX {} mail", r % 50);
            }
            5 => {
                let _ = writeln!(w, "www{i} TXT \"name {i}\" \"r={r}\"");
            }
            6 => {
                let t = (r as usize) % names.max(1);
                let _ = writeln!(w, "www{i} CNAME www{t}");
            }
            7 => {
                let _ = writeln!(w, "a.b.ent{i} A 203.0.113.{}", r % 254 + 1);
            }
            8 => {
                let _ = writeln!(w, "www{i} A 198.51.100.{}", r % 254 + 1);
                let _ = writeln!(w, "www{i} AAAA 2001:db8:ff::{:x}", i);
                let _ = writeln!(w, "www{i} TXT \"dual {i}\"");
            }
            _ => {
                let _ = writeln!(w, "*.wc{i} A 192.0.2.{}", r % 254 + 1);
                let _ = writeln!(w, "host.wc{i} AAAA 2001:db8:c::{:x}", i);
            }
        }
    }
    // www1 and www2 are CNAME targets above; make sure they exist with data.
    let _ = writeln!(w, "www1 A 198.51.100.1\nwww2 A 198.51.100.2");
    z
}

/// Returns the child zone's text.
pub fn child_zone() -> String {
    let mut z = String::new();
    let w = &mut z;
    let _ = writeln!(w, "$ORIGIN {CHILD}\n$TTL 600");
    let _ = writeln!(w, "@ SOA ns1 hostmaster 7 3600 900 604800 60");
    let _ = writeln!(w, "@ NS ns1\nns1 A 127.0.0.1\nwww A 192.0.2.200");
    let _ = writeln!(
        w,
        "www TXT \"child\"\n*.wild A 192.0.2.201\nback CNAME www1.{APEX}"
    );
    let _ = writeln!(
        w,
        "grand NS ns.grand\nns.grand A 192.0.2.202\nx.y.z A 192.0.2.203"
    );
    z
}
