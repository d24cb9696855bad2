#!/usr/bin/env bash
# Knot primary -> zonecast secondary (zone k.test) and BIND primary -> zonecast secondary
# (zone b.test), one zonecast node. After the first AXFR, an edit on each primary reaches
# zonecast by NOTIFY (the SOA refresh is an hour, so nothing else can trigger it) and
# IXFR: `zonecast zone status --json` says ixfr, and zonecast serves the new serial and
# record.
# shellcheck disable=SC2015,SC2034 # `pass` never fails; q() reads SCN_ADDR/SCN_PORT
. "$(dirname "$0")/../scenario.sh"
# shellcheck source=integration/xfr_lib.sh
. "$(dirname "$0")/../xfr_lib.sh"

P=$(zc_free_port 127.0.0.55)
NP=$(zc_free_port 127.0.0.1)
zc=$SCN_DIR/zc named_dir=$SCN_DIR/named knot=$SCN_DIR/knot
mkdir -p "$zc" "$named_dir" "$knot"
XFR_ZONE=k.test xfr_zone "$knot/k.test.zone" 1 'www IN A 192.0.2.1'
XFR_ZONE=b.test xfr_zone "$named_dir/b.test.zone" 1 'www IN A 192.0.2.1'

xfr_knot_head "$knot" 127.0.0.54 "$P"
cat >>"$knot/knot.conf" <<EOF
remote:
  - id: zc
    address: 127.0.0.55@$P
    via: 127.0.0.54
acl:
  - id: xfr
    address: 127.0.0.0/8
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

xfr_named_head "$named_dir" "$NP"
cat >>"$named_dir/named.conf" <<EOF
zone "b.test" { type primary; file "b.test.zone"; also-notify { 127.0.0.55 port $P; }; };
EOF
xfr_named_start "$named_dir"
named_pid=$XFR_PID
zc_wait_ready named 127.0.0.1 "$NP" "$named_pid" b.test=

xfr_zc_node "$zc" "127.0.0.55:$P"
cat >>"$zc/node.toml" <<EOF

[[zone]]
name = "k.test."
primaries = ["127.0.0.54:$P"]

[[zone]]
name = "b.test."
primaries = ["127.0.0.1:$NP"]
EOF
WAIT=0 xfr_zc_serve "$zc"

for z in k.test b.test; do
    xfr_wait_serial 127.0.0.55 "$P" 1 20 "$z" && pass ||
        fail "zonecast did not load $z serial 1" "$(tail -20 "$zc/zonecast.log")"
    expect_eq "$z: first transfer is an AXFR" \
        "$(XFR_ZONE=$z xfr_last_kind "$zc")" axfr
done

# Knot: edit the file, zone-reload; Knot computes the difference and NOTIFYs.
start=$(date +%s%N)
XFR_ZONE=k.test xfr_zone "$knot/k.test.zone" 2 'www IN A 192.0.2.1' 'new IN A 192.0.2.2'
knotc -s "$knot/knot.sock" zone-reload k.test >/dev/null
xfr_wait_serial 127.0.0.55 "$P" 2 15 k.test && pass ||
    fail "zonecast did not get k.test serial 2" "$(tail -20 "$zc/zonecast.log"; tail -5 "$knot/knotd.log")"
echo "k.test: zonecast serves serial 2 $((($(date +%s%N) - start) / 1000000)) ms after the reload"

# BIND: edit the file, SIGHUP; ixfr-from-differences makes an IXFR of it.
start=$(date +%s%N)
XFR_ZONE=b.test xfr_zone "$named_dir/b.test.zone" 2 'www IN A 192.0.2.1' 'new IN A 192.0.2.3'
kill -HUP "$named_pid"
xfr_wait_serial 127.0.0.55 "$P" 2 15 b.test && pass ||
    fail "zonecast did not get b.test serial 2" "$(tail -20 "$zc/zonecast.log"; tail -5 "$named_dir/named.log")"
echo "b.test: zonecast serves serial 2 $((($(date +%s%N) - start) / 1000000)) ms after the SIGHUP"

SCN_ADDR=127.0.0.55 SCN_PORT=$P
expect_eq "k.test new record served" "$(q +short A new.k.test)" 192.0.2.2
expect_eq "b.test new record served" "$(q +short A new.b.test)" 192.0.2.3
for z in k.test b.test; do
    st=$(XFR_ZONE=$z xfr_status "$zc")
    expect_eq "$z: last transfer kind" "$(jq -r .last_transfer.kind <<<"$st")" ixfr
    expect_eq "$z: status serial" "$(jq -r .serial <<<"$st")" 2
    expect_eq "$z: transfer without error" "$(jq -r '.last_transfer.error // "none"' <<<"$st")" none
done
# NOTIFY moved it: Knot and BIND both log the NOTIFY they sent.
expect_in "knot sent NOTIFY" "$(cat "$knot/knotd.log")" "notify, outgoing, remote 127.0.0.55@$P, serial 2"
expect_in "knot served IXFR" "$(cat "$knot/knotd.log")" "IXFR, outgoing, remote 127.0.0.55@"
expect_in "named sent NOTIFY" "$(cat "$named_dir/named.log")" "sending notifies (serial 2)"
grep -iE "ixfr|axfr" "$zc/zonecast.log" | tail -4 || true

scn_finish
