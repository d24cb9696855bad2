#!/usr/bin/env bash
# Transfer faults, zonecast primary -> zonecast secondary:
#  (a) kill -9 of the secondary in the middle of an AXFR of a 200,000-record zone: the
#      store keeps the last committed version (never part of the new one), a restart
#      serves it at once and then completes the transfer;
#  (b) primary stopped: the secondary serves until the SOA expire (5 s), then answers
#      SERVFAIL with EDE 24, and recovers when the primary comes back;
#  (c) a primary whose IXFR stream breaks (integration/broken_ixfr_proxy.py in front of
#      a zonecast primary): the secondary falls back to AXFR;
#  (d) a zone file with a syntax error on the primary: the edit is refused with
#      file:line:column, the old version is still served and transferred.
# shellcheck disable=SC2015,SC2034 # `pass` never fails; q() reads SCN_ADDR/SCN_PORT
. "$(dirname "$0")/../scenario.sh"
# shellcheck source=integration/xfr_lib.sh
. "$(dirname "$0")/../xfr_lib.sh"

P=$(zc_free_port 127.0.0.51)

# primary DIR [ZONE-TABLE-LINES...]: a zonecast primary node config for inter.test.
primary_conf() {
    local dir=$1 line
    shift
    xfr_zc_node "$dir" "127.0.0.51:$P"
    {
        printf '\n[[zone]]\nname = "inter.test."\nfile = "inter.test.zone"\n'
        printf 'serial-policy = "keep"\nalso-notify = ["127.0.0.55:%s"]\n' "$P"
        for line in "$@"; do printf '%s\n' "$line"; done
    } >>"$dir/node.toml"
}
# secondary DIR PRIMARY: a zonecast secondary node config for inter.test.
secondary_conf() {
    xfr_zc_node "$1" "127.0.0.55:$P"
    printf '\n[[zone]]\nname = "inter.test."\nprimaries = ["%s"]\nallow-notify = ["127.0.0.51"]\n' \
        "$2" >>"$1/node.toml"
}
# The records an AXFR from ADDR gives ("XFR size: N records" of dig), or nothing.
axfr_count() {
    dig +tries=1 +time=5 -p "$P" "@$1" AXFR inter.test 2>/dev/null |
        sed -n 's/^;; XFR size: \([0-9]*\) records.*/\1/p'
}
stored() { # DIR FIELD: a field of the secondary's store, read with the node stopped
    "$ZC_BIN" zone status --db "$1/data/zonecast.db" --json inter.test 2>/dev/null |
        jq -r "$2" 2>/dev/null || true
}

# --- (a) kill -9 in the middle of an AXFR ---------------------------------------------
echo "== (a) kill -9 during a 200,000-record AXFR"
pri=$SCN_DIR/a-primary sec=$SCN_DIR/a-secondary
mkdir -p "$pri"
xfr_zone "$pri/inter.test.zone" 1 'www IN A 192.0.2.1'
primary_conf "$pri"
xfr_zc_serve "$pri" 127.0.0.51 "$P"
secondary_conf "$sec" "127.0.0.51:$P"
WAIT=0 xfr_zc_serve "$sec"
xfr_wait_serial 127.0.0.55 "$P" 1 20 && pass || fail "(a) secondary did not load serial 1"

# Serial 2: 200,000 more records, on a primary restarted with an empty store, so that it
# has no history from serial 1 and the secondary's IXFR request becomes an AXFR.
zc_stop_all
rm -rf "$pri/data"
xfr_zone "$SCN_DIR/big.zone" 2 'www IN A 192.0.2.1'
awk 'BEGIN { for (i = 0; i < 200000; i++)
    printf "h%d IN A 10.%d.%d.%d\n", i, int(i / 65536), int(i / 256) % 256, i % 256 }' \
    >>"$SCN_DIR/big.zone"
mv -f "$SCN_DIR/big.zone" "$pri/inter.test.zone"
ZC_READY_TIMEOUT=60 xfr_zc_serve "$pri" 127.0.0.51 "$P"
expect_eq "(a) primary serves the big serial 2" "$(xfr_soa_serial 127.0.0.51 "$P")" 2
full=$(axfr_count 127.0.0.51)
echo "AXFR of serial 2 from the primary: $full records"

# Restart the secondary; kill -9 it once its transfer connection has carried ~100 kB.
WAIT=0 xfr_zc_serve "$sec"
victim=$XFR_PID
got=0 deadline=$((SECONDS + 20))
while ((SECONDS < deadline)); do
    got=$(ss -Htni state established src 127.0.0.55 dst "127.0.0.51:$P" 2>/dev/null |
        sed -n 's/.*bytes_received:\([0-9]*\).*/\1/p' | sort -n | tail -1)
    got=${got:-0}
    ((got > 100000)) && break
done
kill -KILL "$victim"
wait "$victim" 2>/dev/null || true
echo "killed the secondary after it had received $got bytes of the transfer"
((got > 100000)) && pass || fail "(a) did not see the transfer in progress" "$(tail -5 "$sec/zonecast.log")"
expect_not_in "(a) killed before the commit" "$(cat "$sec/zonecast.log")" "serial 2 ("
expect_eq "(a) store after kill -9: still serial 1" "$(stored "$sec" .serial)" 1
expect_eq "(a) store after kill -9: still the 4 records of serial 1" \
    "$(stored "$sec" .records)" 4

# Restart: it serves serial 1 from the store at once, then completes the transfer.
: >"$sec/zonecast.log"
WAIT=0 xfr_zc_serve "$sec"
xfr_wait_log "$sec/zonecast.log" "serving stored serial" 10 || true
expect_in "(a) restart serves the stored serial 1" "$(cat "$sec/zonecast.log")" \
    "serving stored serial 1 (4 records)"
xfr_wait_serial 127.0.0.55 "$P" 2 60 && pass || fail "(a) restart did not complete the transfer" "$(tail -5 "$sec/zonecast.log")"
SCN_ADDR=127.0.0.55 SCN_PORT=$P
expect_eq "(a) late name served after the transfer" "$(q +short A h199999.inter.test)" 10.3.13.63
expect_eq "(a) AXFR from the secondary is complete" "$(axfr_count 127.0.0.55)" "$full"
grep -iE "(axfr|ixfr) from" "$sec/zonecast.log" | tail -2 || true
zc_stop_all

# --- (b) primary stopped: serve until expire, SERVFAIL + EDE 24, recover -------------
echo "== (b) expire"
pri=$SCN_DIR/b-primary sec=$SCN_DIR/b-secondary
mkdir -p "$pri"
XFR_TIMERS="2 1 5" xfr_zone "$pri/inter.test.zone" 1 'www IN A 192.0.2.1'
primary_conf "$pri"
xfr_zc_serve "$pri" 127.0.0.51 "$P"
pri_pid=$ZC_LAST_PID
secondary_conf "$sec" "127.0.0.51:$P"
WAIT=0 xfr_zc_serve "$sec"
xfr_wait_serial 127.0.0.55 "$P" 1 20 && pass || fail "(b) secondary did not load serial 1"
zc_stop_pid "$pri_pid"
stopped=$SECONDS
SCN_ADDR=127.0.0.55 SCN_PORT=$P
expect_in "(b) serves while the primary is down" "$(q A www.inter.test)" "status: NOERROR"
out="" deadline=$((SECONDS + 15))
while ((SECONDS < deadline)); do
    out=$(q A www.inter.test)
    [[ $out == *"status: SERVFAIL"* ]] && break
    sleep 0.2
done
echo "expired about $((SECONDS - stopped)) s after the primary stopped (SOA expire 5 s)"
expect_in "(b) SERVFAIL after expire" "$out" "status: SERVFAIL"
expect_in "(b) EDE 24 after expire" "$out" "EDE: 24"
((SECONDS - stopped >= 3)) && pass || fail "(b) expired too early ($((SECONDS - stopped)) s)"
xfr_zc_serve "$pri" 127.0.0.51 "$P"
out="" deadline=$((SECONDS + 15))
while ((SECONDS < deadline)); do
    out=$(q A www.inter.test)
    [[ $out == *"status: NOERROR"* ]] && break
    sleep 0.2
done
expect_in "(b) recovers once the primary is back" "$out" "status: NOERROR"
expect_in "(b) the record is back" "$out" "192.0.2.1"
zc_stop_all

# --- (c) broken IXFR stream: fall back to AXFR ----------------------------------------
echo "== (c) broken IXFR"
pri=$SCN_DIR/c-primary sec=$SCN_DIR/c-secondary proxy_log=$SCN_DIR/c-proxy.queries
mkdir -p "$pri"
: >"$proxy_log"
XFR_TIMERS="2 1 86400" xfr_zone "$pri/inter.test.zone" 1 'www IN A 192.0.2.1'
primary_conf "$pri"
xfr_zc_serve "$pri" 127.0.0.51 "$P"
xfr_spawn proxy "$SCN_DIR/c-proxy" python3 "$ZC_ROOT/integration/broken_ixfr_proxy.py" \
    127.0.0.57 "$P" 127.0.0.51 "$P" "$proxy_log"
zc_wait_ready proxy 127.0.0.57 "$P" "$XFR_PID" inter.test=
secondary_conf "$sec" "127.0.0.57:$P"
WAIT=0 xfr_zc_serve "$sec"
xfr_wait_serial 127.0.0.55 "$P" 1 20 && pass || fail "(c) secondary did not load serial 1" "$(tail -5 "$sec/zonecast.log")"
XFR_TIMERS="2 1 86400" xfr_zone "$pri/inter.test.zone" 2 'www IN A 192.0.2.1' 'new IN A 192.0.2.2'
# No NOTIFY reaches it through the proxy's address: the 2 s refresh finds serial 2.
xfr_wait_serial 127.0.0.55 "$P" 2 20 && pass || fail "(c) secondary did not get serial 2" "$(tail -5 "$sec/zonecast.log")"
SCN_ADDR=127.0.0.55 SCN_PORT=$P
expect_eq "(c) new record served" "$(q +short A new.inter.test)" 192.0.2.2
expect_in "(c) the secondary asked IXFR" "$(cat "$proxy_log")" IXFR
expect_eq "(c) then AXFR after the broken IXFR" "$(grep -A1 IXFR "$proxy_log" | tail -1)" AXFR
expect_in "(c) the IXFR failure is logged" "$(cat "$sec/zonecast.log")" "ixfr from 127.0.0.57:$P failed"
expect_eq "(c) last transfer kind" "$(xfr_last_kind "$sec")" axfr
zc_stop_all

# --- (d) syntax error: refused, old version served and transferred --------------------
echo "== (d) syntax error"
pri=$SCN_DIR/d-primary
mkdir -p "$pri"
xfr_zone "$pri/inter.test.zone" 1 'www IN A 192.0.2.1'
primary_conf "$pri"
xfr_zc_serve "$pri" 127.0.0.51 "$P"
xfr_zone "$pri/inter.test.zone" 2 'www IN A 192.0.2.1' 'bad IN A 192.0.2.300'
xfr_wait_log "$pri/zonecast.log" "inter.test.zone:7:10:" 10 || true
log=$(cat "$pri/zonecast.log")
expect_in "(d) the error names file:line:column" "$log" "inter.test.zone:7:10:"
expect_in "(d) the error shows the offending text" "$log" "192.0.2.300"
expect_eq "(d) old serial still served" "$(xfr_soa_serial 127.0.0.51 "$P")" 1
axfr=$(dig +tries=1 +time=5 -p "$P" @127.0.0.51 AXFR inter.test 2>&1 || true)
expect_in "(d) AXFR still gives serial 1" "$axfr" "hostmaster.inter.test. 1 "
expect_not_in "(d) AXFR has nothing of the bad edit" "$axfr" "bad.inter.test"
# A fixed file is taken again.
xfr_zone "$pri/inter.test.zone" 3 'www IN A 192.0.2.1' 'bad IN A 192.0.2.30'
xfr_wait_serial 127.0.0.51 "$P" 3 10 && pass || fail "(d) the fixed file was not loaded"

scn_finish
