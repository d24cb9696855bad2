#!/usr/bin/env bash
# TSIG (hmac-sha256) both ways: zonecast primary -> BIND named secondary, and Knot
# primary -> zonecast secondary, every transfer and NOTIFY signed with xfr-key. An
# unsigned AXFR and one signed with a wrong secret to the zonecast primary are refused
# with NOTAUTH; a signed one succeeds.
# shellcheck disable=SC2015,SC2034 # `pass` never fails; q() reads SCN_ADDR/SCN_PORT
. "$(dirname "$0")/../scenario.sh"
# shellcheck source=integration/xfr_lib.sh
. "$(dirname "$0")/../xfr_lib.sh"

P=$(zc_free_port 127.0.0.51)
NP=$(zc_free_port 127.0.0.1)
pri=$SCN_DIR/zc-primary sec=$SCN_DIR/zc-secondary named_dir=$SCN_DIR/named knot=$SCN_DIR/knot
mkdir -p "$pri" "$sec" "$knot"

# --- zonecast primary (inter.test) -> named secondary, signed ------------------------
xfr_zone "$pri/inter.test.zone" 1 'www IN A 192.0.2.1'
xfr_zc_node "$pri" "127.0.0.51:$P"
cat >>"$pri/node.toml" <<EOF

[[zone]]
name = "inter.test."
file = "inter.test.zone"
also-notify = ["127.0.0.1:$NP"]
serial-policy = "keep"
tsig-key = "xfr-key"
EOF
xfr_zc_serve "$pri" 127.0.0.51 "$P"

xfr_named_head "$named_dir" "$NP"
cat >>"$named_dir/named.conf" <<EOF
server 127.0.0.51 { keys { xfr-key; }; };
zone "inter.test" { type secondary; file "sec.db"; primaries { 127.0.0.51 port $P key xfr-key; }; };
EOF
xfr_named_start "$named_dir"
xfr_wait_serial 127.0.0.1 "$NP" 1 20 && pass ||
    fail "named did not load inter.test over TSIG" "$(tail -20 "$named_dir/named.log")"
xfr_zone "$pri/inter.test.zone" 2 'www IN A 192.0.2.1' 'new IN A 192.0.2.2'
xfr_wait_serial 127.0.0.1 "$NP" 2 15 && pass ||
    fail "named did not get serial 2 over TSIG" "$(tail -20 "$named_dir/named.log"; tail -5 "$pri/zonecast.log")"
nl=$(grep "inter.test" "$named_dir/named.log" || true)
expect_in "named: signed IXFR" "$nl" "TSIG xfr-key"
expect_in "named: the edit came by IXFR" "$nl" "IXFR"

# Unsigned and badly signed AXFR are refused with NOTAUTH; signed works.
out=$(kdig +retry=0 +time=2 -p "$P" @127.0.0.51 AXFR inter.test 2>&1 || true)
expect_in "unsigned AXFR refused" "$out" "NOTAUTH"
expect_not_in "unsigned AXFR gives no records" "$out" "192.0.2.2"
out=$(kdig +retry=0 +time=2 -p "$P" @127.0.0.51 \
    -y "hmac-sha256:xfr-key:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=" AXFR inter.test 2>&1 || true)
# NOTAUTH with TSIG error BADSIG, which kdig reports as the TSIG error.
expect_in "AXFR with a wrong secret refused" "$out" "BADSIG"
out=$(dig +tries=1 +time=2 -p "$P" @127.0.0.51 -y "hmac-sha256:xfr-key:$XFR_SECRET" \
    AXFR inter.test 2>&1 || true)
expect_in "signed AXFR has the new record" "$out" "192.0.2.2"
expect_not_in "signed AXFR verifies" "$out" "failed"

# --- Knot primary (k.test) -> zonecast secondary, signed -------------------------------
XFR_ZONE=k.test xfr_zone "$knot/k.test.zone" 1 'www IN A 192.0.2.1'
xfr_knot_head "$knot" 127.0.0.54 "$P"
cat >>"$knot/knot.conf" <<EOF
remote:
  - id: zc
    address: 127.0.0.55@$P
    via: 127.0.0.54
    key: xfr-key
acl:
  - id: xfr
    address: 127.0.0.0/8
    key: xfr-key
    action: transfer
zone:
  - domain: k.test
    file: "$knot/k.test.zone"
    notify: zc
    acl: xfr
    zonefile-sync: -1
    zonefile-load: difference
EOF
xfr_knot_start "$knot"
zc_wait_ready knot 127.0.0.54 "$P" "$XFR_PID" k.test=
xfr_zc_node "$sec" "127.0.0.55:$P"
cat >>"$sec/node.toml" <<EOF

[[zone]]
name = "k.test."
primaries = ["127.0.0.54:$P"]
tsig-key = "xfr-key"
EOF
WAIT=0 xfr_zc_serve "$sec"
xfr_wait_serial 127.0.0.55 "$P" 1 20 k.test && pass ||
    fail "zonecast did not load k.test over TSIG" "$(tail -20 "$sec/zonecast.log"; tail -5 "$knot/knotd.log")"
XFR_ZONE=k.test xfr_zone "$knot/k.test.zone" 2 'www IN A 192.0.2.1' 'new IN A 192.0.2.3'
knotc -s "$knot/knot.sock" zone-reload k.test >/dev/null
xfr_wait_serial 127.0.0.55 "$P" 2 15 k.test && pass ||
    fail "zonecast did not get k.test serial 2 over TSIG" "$(tail -20 "$sec/zonecast.log"; tail -5 "$knot/knotd.log")"
expect_eq "k.test: last transfer kind" "$(XFR_ZONE=k.test xfr_last_kind "$sec")" ixfr
kl=$(cat "$knot/knotd.log")
expect_in "knot: signed NOTIFY sent and answered" "$kl" "notify, outgoing, remote 127.0.0.55@$P, serial 2"
expect_in "knot: signed IXFR served" "$kl" "IXFR, outgoing, remote 127.0.0.55@"
expect_not_in "knot: no TSIG errors" "$kl" "BADSIG"
# Knot's ACL requires the key, so the transfers zonecast got were signed: unsigned fails.
out=$(kdig +retry=0 +time=2 -p "$P" @127.0.0.54 AXFR k.test 2>&1 || true)
expect_not_in "knot refuses an unsigned AXFR" "$out" "192.0.2.3"
SCN_ADDR=127.0.0.55 SCN_PORT=$P
expect_eq "zonecast secondary serves the new record" "$(q +short A new.k.test)" 192.0.2.3

scn_finish
