#!/usr/bin/env bash
# zonecast primary -> BIND named secondary and Knot secondary. Both load the zone by AXFR;
# an edit saved by rename reaches both by NOTIFY + IXFR (their logs say IXFR) and both
# answer the new record.
# shellcheck disable=SC2015,SC2034 # `pass` never fails; q() reads SCN_ADDR/SCN_PORT
. "$(dirname "$0")/../scenario.sh"
# shellcheck source=integration/xfr_lib.sh
. "$(dirname "$0")/../xfr_lib.sh"

P=$(zc_free_port 127.0.0.51)
NP=$(zc_free_port 127.0.0.1)
zc=$SCN_DIR/zc named_dir=$SCN_DIR/named knot=$SCN_DIR/knot
mkdir -p "$zc"
xfr_zone "$zc/inter.test.zone" 1 'www IN A 192.0.2.1'
xfr_zc_node "$zc" "127.0.0.51:$P"
cat >>"$zc/node.toml" <<EOF

[[zone]]
name = "$XFR_ZONE."
file = "inter.test.zone"
also-notify = ["127.0.0.53:$P", "127.0.0.1:$NP"]
notify-delay = "0s"
serial-policy = "keep"
EOF
xfr_zc_serve "$zc" 127.0.0.51 "$P"

xfr_named_head "$named_dir" "$NP"
cat >>"$named_dir/named.conf" <<EOF
zone "$XFR_ZONE" { type secondary; file "sec.db"; primaries { 127.0.0.51 port $P; }; };
EOF
xfr_named_start "$named_dir"

xfr_knot_head "$knot" 127.0.0.53 "$P"
cat >>"$knot/knot.conf" <<EOF
remote:
  - id: zc
    address: 127.0.0.51@$P
acl:
  - id: notify-from-zc
    address: 127.0.0.51
    action: notify
zone:
  - domain: $XFR_ZONE
    file: "$knot/sec.zone"
    master: zc
    acl: notify-from-zc
EOF
xfr_knot_start "$knot"

# Initial load (AXFR) by both.
xfr_wait_serial 127.0.0.1 "$NP" 1 20 && pass ||
    fail "named secondary did not load serial 1" "$(tail -20 "$named_dir/named.log")"
xfr_wait_serial 127.0.0.53 "$P" 1 20 && pass ||
    fail "knot secondary did not load serial 1" "$(tail -20 "$knot/knotd.log")"

start=$(date +%s%N)
xfr_zone "$zc/inter.test.zone" 2 'www IN A 192.0.2.1' 'new IN A 192.0.2.2'
xfr_wait_serial 127.0.0.1 "$NP" 2 15 && pass ||
    fail "named secondary did not get serial 2" "$(tail -20 "$named_dir/named.log")"
echo "named serves serial 2 $((($(date +%s%N) - start) / 1000000)) ms after the save (dig polling)"
xfr_wait_serial 127.0.0.53 "$P" 2 15 && pass ||
    fail "knot secondary did not get serial 2" "$(tail -20 "$knot/knotd.log")"
echo "knot serves serial 2 $((($(date +%s%N) - start) / 1000000)) ms after the save (polled after named)"

# The new record, answered by both.
SCN_PORT=$NP SCN_ADDR=127.0.0.1
expect_eq "named answers the new record" "$(q +short A new.inter.test)" 192.0.2.2
SCN_PORT=$P SCN_ADDR=127.0.0.53
expect_eq "knot answers the new record" "$(q +short A new.inter.test)" 192.0.2.2

# Both fetched serial 2 by IXFR, as their logs say.
nl=$(grep -i "inter.test" "$named_dir/named.log" || true)
expect_in "named took the edit by IXFR" "$nl" "requesting IXFR from 127.0.0.51#$P"
expect_not_in "named did not fall back to AXFR" "$(grep -A3 "notify from 127.0.0.51.*serial 2" <<<"$nl")" "AXFR"
kl=$(grep -i "inter.test" "$knot/knotd.log" || true)
expect_in "knot took the edit by IXFR" "$kl" "IXFR, incoming, remote 127.0.0.51@$P, finished"
grep -E "requesting|Transfer completed" "$named_dir/named.log" | tail -3 || true
grep -E "IXFR, incoming" "$knot/knotd.log" | tail -2 || true

scn_finish
