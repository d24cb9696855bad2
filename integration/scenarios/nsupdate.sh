#!/usr/bin/env bash
# RFC 2136 with the real `nsupdate` against a zonecast primary, with a BIND secondary
# fed by NOTIFY + IXFR: additions, deletions, failed prerequisites (NXDOMAIN, YXDOMAIN,
# NXRRSET, YXRRSET), clients refused by address or key, a forged TSIG, TSIG-signed
# updates over TCP. Checks what the primary serves, what the secondary serves, the zone
# file written back, and that nothing changes when an update fails.
#
# zonecast listens on 127.0.0.57:NSU_PORT (default 5421); named on 127.0.0.1:NSU_NAMED_PORT
# (default 5422: named binds interface addresses only). Only ZC_SUBJECT=zonecast makes
# sense here (the update server is what is tested).
# shellcheck source=integration/scenario.sh
. "$(dirname "$0")/../scenario.sh"

if [[ $ZC_SUBJECT != zonecast ]]; then
    echo "nsupdate: only meaningful against zonecast; skipped for $ZC_SUBJECT"
    exit 0
fi

ZC=127.0.0.57
PORT=${NSU_PORT:-5421}
NAMED=127.0.0.1
NAMED_PORT=${NSU_NAMED_PORT:-5422}
ZONE=upd.test
SECRET=HBTIcN60WFRgfrtyKSz1IV6f4uewPe77pgSH/EQ3bRk=
OTHER_SECRET=c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0c2U=
# The one address unsigned updates are allowed from.
ALLOWED=127.0.0.59

zcdir=$SCN_DIR/zonecast
nameddir=$SCN_DIR/named
mkdir -p "$zcdir" "$nameddir"
file=$zcdir/$ZONE.zone
cat >"$file" <<EOF
\$TTL 60
; a comment the updates must keep
@    IN SOA ns1.$ZONE. hostmaster.$ZONE. 1 3600 600 86400 60
     IN NS  ns1
ns1  IN A   $ZC
www  IN A   192.0.2.1
mail IN A   192.0.2.25
EOF
# Filler, so that an IXFR is smaller than the zone and is served as one.
for i in $(seq 1 30); do printf 'h%s IN A 198.51.100.%s\n' "$i" "$i"; done >>"$file"
cat >"$zcdir/node.toml" <<EOF
listen = ["$ZC:$PORT"]
threads = 1
data-dir = "data"

[[key]]
name = "upd-key"
algorithm = "hmac-sha256"
secret = "$SECRET"

[[key]]
name = "other-key"
algorithm = "hmac-sha256"
secret = "$OTHER_SECRET"

[[zone]]
name = "$ZONE."
file = "$ZONE.zone"
also-notify = ["$NAMED:$NAMED_PORT"]
allow-update = ["$ALLOWED", "key upd-key"]
EOF
cat >"$nameddir/named.conf" <<EOF
options {
    directory "$nameddir";
    pid-file "$nameddir/named.pid";
    session-keyfile "$nameddir/session.key";
    managed-keys-directory "$nameddir";
    listen-on port $NAMED_PORT { $NAMED; };
    listen-on-v6 { none; };
    recursion no;
    dnssec-validation no;
    notify no;
};
controls { };
zone "$ZONE" {
    type secondary;
    primaries { $ZC port $PORT; };
    file "$ZONE.bk";
};
EOF

# start KIND DIR CMD...: in the background, pid recorded for zc_stop_all and run's check.
start() {
    local kind=$1 dir=$2
    shift 2
    "$@" >"$dir/$kind.log" 2>&1 </dev/null &
    ZC_PIDS+=("$!")
    if [[ -n ${ZC_PIDLOG:-} ]]; then printf '%s %s\n' "$!" "$kind" >>"$ZC_PIDLOG"; fi
}

serial_at() { # ADDR PORT
    dig +tries=1 +time=1 +norec +short -p "$2" "@$1" SOA "$ZONE" 2>/dev/null | awk '{ print $3 }' || true
}

# wait_serial DESC ADDR PORT SERIAL: polls (bounded, 20 s) until the server serves SERIAL.
wait_serial() {
    local deadline=$((SECONDS + 20)) got=""
    while ((SECONDS < deadline)); do
        got=$(serial_at "$2" "$3")
        if [[ $got == "$4" ]]; then
            pass
            return 0
        fi
        sleep 0.05
    done
    fail "$1: serial $4 (got '${got}')"
    return 1
}

a_at() { # ADDR PORT NAME
    dig +tries=1 +time=2 +norec +short -p "$2" "@$1" A "$3" 2>/dev/null | sort | tr '\n' ' ' || true
}

# nsu [NSUPDATE-OPTIONS...] <<<COMMANDS: runs nsupdate against zonecast, output and status.
nsu() {
    local out rc=0
    out=$(timeout 20 nsupdate "$@" 2>&1) || rc=$?
    printf '%s\nexit %s\n' "$out" "$rc"
}

start zonecast "$zcdir" "$ZC_BIN" serve --config "$zcdir/node.toml"
wait_serial "zonecast serves the zone" "$ZC" "$PORT" 1
start named "$nameddir" named -g -n 1 -c "$nameddir/named.conf"
wait_serial "named transferred the zone" "$NAMED" "$NAMED_PORT" 1

header="server $ZC $PORT
zone $ZONE."

# 1. An unsigned add from the allowed address, over UDP.
out=$(nsu <<EOF
$header
local $ALLOWED
prereq nxdomain new.$ZONE.
update add new.$ZONE. 60 A 192.0.2.10
update add new.$ZONE. 60 TXT "added by nsupdate"
send
EOF
)
expect_in "add from $ALLOWED succeeds" "$out" "exit 0"
expect_eq "primary serial after the add" "$(serial_at "$ZC" "$PORT")" 2
expect_eq "primary serves the added A" "$(a_at "$ZC" "$PORT" "new.$ZONE")" "192.0.2.10 "
wait_serial "named follows to serial 2" "$NAMED" "$NAMED_PORT" 2
expect_eq "named serves the added A" "$(a_at "$NAMED" "$NAMED_PORT" "new.$ZONE")" "192.0.2.10 "
text=$(cat "$file")
expect_in "zone file has the added A" "$text" "192.0.2.10"
expect_in "zone file has the serial" "$text" " 2 3600 600 86400 60"
expect_in "zone file keeps its comment" "$text" "; a comment the updates must keep"

# 2. Failed prerequisites change nothing.
before=$(cat "$file")
check_prereq() { # DESC PREREQ RCODE
    local out
    out=$(nsu <<EOF
$header
local $ALLOWED
$2
update add fail.$ZONE. 60 A 192.0.2.66
send
EOF
)
    expect_in "$1: $3" "$out" "update failed: $3"
    expect_not_in "$1: nsupdate fails" "$out" "exit 0"
}
check_prereq "yxdomain on an absent name" "prereq yxdomain nx.$ZONE." NXDOMAIN
check_prereq "nxdomain on a present name" "prereq nxdomain www.$ZONE." YXDOMAIN
check_prereq "yxrrset on an absent RRset" "prereq yxrrset www.$ZONE. AAAA" NXRRSET
check_prereq "nxrrset on a present RRset" "prereq nxrrset www.$ZONE. A" YXRRSET
check_prereq "yxrrset with other data" "prereq yxrrset www.$ZONE. A 192.0.2.2" NXRRSET

# 3. Refused: the wrong address, a key no rule names; a forged signature.
out=$(nsu <<EOF
$header
local $NAMED
update add fail.$ZONE. 60 A 192.0.2.66
send
EOF
)
expect_in "unsigned from $NAMED: REFUSED" "$out" "update failed: REFUSED"
out=$(nsu -y "hmac-sha256:other-key:$OTHER_SECRET" <<EOF
$header
update add fail.$ZONE. 60 A 192.0.2.66
send
EOF
)
expect_in "signed by other-key: REFUSED" "$out" "update failed: REFUSED"
out=$(nsu -y "hmac-sha256:upd-key:$OTHER_SECRET" <<EOF
$header
update add fail.$ZONE. 60 A 192.0.2.66
send
EOF
)
expect_not_in "forged upd-key signature fails" "$out" "exit 0"
expect_in "forged upd-key signature: BADSIG" "$out" "BADSIG"
# BIND's answer for a secondary without update forwarding, which zonecast's secondaries
# give too (tests/update.rs).
out=$(nsu <<EOF
server $NAMED $NAMED_PORT
zone $ZONE.
update add fail.$ZONE. 60 A 192.0.2.66
send
EOF
)
expect_in "named secondary: REFUSED" "$out" "update failed: REFUSED"
expect_eq "nothing changed: serial" "$(serial_at "$ZC" "$PORT")" 2
expect_eq "nothing changed: fail.$ZONE" "$(a_at "$ZC" "$PORT" "fail.$ZONE")" ""
expect_eq "nothing changed: zone file" "$(cat "$file")" "$before"

# 4. Signed with upd-key over TCP: delete an RRset and one record, replace another.
out=$(nsu -v -y "hmac-sha256:upd-key:$SECRET" <<EOF
$header
prereq yxrrset www.$ZONE. A 192.0.2.1
update delete www.$ZONE. A
update delete new.$ZONE. TXT "added by nsupdate"
update delete mail.$ZONE. A
update add mail.$ZONE. 60 A 192.0.2.26
send
EOF
)
expect_in "signed delete over TCP succeeds" "$out" "exit 0"
expect_eq "primary serial after the delete" "$(serial_at "$ZC" "$PORT")" 3
wait_serial "named follows to serial 3" "$NAMED" "$NAMED_PORT" 3
for at in "$ZC $PORT zonecast" "$NAMED $NAMED_PORT named"; do
    read -r addr port who <<<"$at"
    out=$(dig +tries=1 +time=2 +norec -p "$port" "@$addr" A "www.$ZONE" 2>&1 || true)
    expect_in "$who: www deleted" "$out" "status: NXDOMAIN"
    expect_eq "$who: mail replaced" "$(a_at "$addr" "$port" "mail.$ZONE")" "192.0.2.26 "
    out=$(dig +tries=1 +time=2 +norec +short -p "$port" "@$addr" TXT "new.$ZONE" 2>&1 || true)
    expect_eq "$who: TXT deleted" "$out" ""
done
text=$(cat "$file")
expect_not_in "zone file: www gone" "$text" "192.0.2.1
"
expect_in "zone file: mail replaced" "$text" "192.0.2.26"
expect_in "zone file: serial 3" "$text" " 3 3600 600 86400 60"
# BIND journals what it receives by IXFR (an AXFR replaces the zone and leaves no journal).
jnl=$(named-journalprint "$nameddir/$ZONE.bk.jnl" 2>&1 | tr -s "\t" " " || true)
expect_in "named applied serial 2 by IXFR" "$jnl" "add new.$ZONE. 60 IN A 192.0.2.10"
expect_in "named applied serial 3 by IXFR" "$jnl" "del www.$ZONE. 60 IN A 192.0.2.1"

# 5. The reload the file watcher made of our own write-back changed nothing: a reload
# now reports the zone unchanged at serial 3.
out=$("$ZC_BIN" reload --data-dir "$zcdir/data" 2>&1 || true)
expect_in "reload after the updates: unchanged" "$out" "unchanged (serial 3)"
expect_eq "still serial 3" "$(serial_at "$ZC" "$PORT")" 3
zclog=$(cat "$zcdir/zonecast.log")
expect_not_in "no serial bump by a reload" "$zclog" "serial 3 -> 4"

scn_finish
