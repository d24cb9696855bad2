#!/usr/bin/env bash
# Sourced by the transfer scenarios (integration/scenarios/xfr_*.sh) after scenario.sh:
# configuration writers for zonecast nodes and for BIND/Knot primaries and secondaries,
# a spawner that records every pid like lib.sh's zc_start, and bounded SOA polling.
#
# Addresses: named only binds addresses configured on an interface, so it always
# listens on 127.0.0.1 with a port of its own; every other server gets a 127.0.0.x of
# its own and a free port.

XFR_ZONE=inter.test
# An hmac-sha256 secret in the form `tsig-keygen` prints (test material only).
XFR_SECRET="HBTIcN60WFRgfrtyKSz1IV6f4uewPe77pgSH/EQ3bRk="

# xfr_spawn NAME DIR COMMAND...: starts COMMAND in the background with its output in
# DIR/NAME.log and records its pid (ZC_PIDS for zc_stop_all, ZC_PIDLOG for the runner).
# Sets XFR_PID.
xfr_spawn() {
    local name=$1 dir=$2
    shift 2
    mkdir -p "$dir"
    "$@" >>"$dir/$name.log" 2>&1 </dev/null &
    XFR_PID=$!
    ZC_PIDS+=("$XFR_PID")
    if [[ -n ${ZC_PIDLOG:-} ]]; then printf '%s %s\n' "$XFR_PID" "$name" >>"$ZC_PIDLOG"; fi
}

# xfr_soa_serial ADDR PORT [ZONE]: the serial ADDR:PORT serves, or nothing.
xfr_soa_serial() {
    dig +tries=1 +time=1 +norec +short -p "$2" "@$1" SOA "${3:-$XFR_ZONE}" 2>/dev/null |
        awk 'NF >= 7 { print $3; exit }' || true
}

# xfr_wait_serial ADDR PORT SERIAL SECONDS [ZONE]: polls until ADDR:PORT serves SERIAL.
xfr_wait_serial() {
    local deadline=$((SECONDS + $4))
    while ((SECONDS <= deadline)); do
        [[ $(xfr_soa_serial "$1" "$2" "${5:-$XFR_ZONE}") == "$3" ]] && return 0
        sleep 0.1
    done
    return 1
}

# xfr_wait_log FILE PATTERN SECONDS: polls until FILE has a line matching the ERE.
xfr_wait_log() {
    local deadline=$((SECONDS + $3))
    while ((SECONDS <= deadline)); do
        grep -Eq -- "$2" "$1" 2>/dev/null && return 0
        sleep 0.1
    done
    return 1
}

# xfr_zone FILE SERIAL [RECORD-LINE...]: writes the test zone, saved by rename the way
# editors do, so a watcher never sees it half written. XFR_TIMERS is "REFRESH RETRY
# EXPIRE" (default: refresh 1 h so only NOTIFY moves a secondary, retry 1 s, expire 1 day).
xfr_zone() {
    local file=$1 serial=$2 line refresh retry expire
    shift 2
    read -r refresh retry expire <<<"${XFR_TIMERS:-3600 1 86400}"
    {
        # shellcheck disable=SC2016 # literal $ORIGIN and $TTL
        printf '$ORIGIN %s.\n$TTL 300\n' "$XFR_ZONE"
        printf '@ IN SOA ns1 hostmaster %s %s %s %s 60\n' "$serial" "$refresh" "$retry" "$expire"
        printf '  IN NS ns1\nns1 IN A 127.0.0.1\n'
        for line in "$@"; do printf '%s\n' "$line"; done
    } >"$file.tmp"
    mv -f "$file.tmp" "$file"
}

# xfr_zc_node DIR LISTEN: the head of a zonecast node config (DIR/node.toml), with the
# shared TSIG key; the caller appends its [[zone]] tables.
xfr_zc_node() {
    mkdir -p "$1"
    cat >"$1/node.toml" <<EOF
listen = ["$2"]
threads = 1
data-dir = "$1/data"
notify-port = ${XFR_NOTIFY_PORT:-53}

[[key]]
name = "xfr-key"
algorithm = "hmac-sha256"
secret = "$XFR_SECRET"
EOF
}

# xfr_zc_serve DIR LISTEN-ADDR PORT: starts the node of DIR/node.toml and waits until it
# answers the zone's SOA (a secondary that has nothing yet answers SERVFAIL: WAIT=0 skips).
xfr_zc_serve() {
    xfr_spawn zonecast "$1" "$ZC_BIN" serve --config "$1/node.toml"
    # shellcheck disable=SC2034 # read by the callers
    ZC_LAST_PID=$XFR_PID
    if [[ ${WAIT:-1} == 1 ]]; then
        zc_wait_ready zonecast "$2" "$3" "$XFR_PID" "$XFR_ZONE=" || return 1
    fi
}

# xfr_named_head DIR PORT: the options of a named on 127.0.0.1:PORT (DIR/named.conf); the
# caller appends zones (and `server` clauses).
xfr_named_head() {
    mkdir -p "$1"
    cat >"$1/named.conf" <<EOF
options {
    directory "$1";
    listen-on port $2 { 127.0.0.1; };
    listen-on-v6 { none; };
    pid-file "$1/named.pid";
    session-keyfile "$1/session.key";
    managed-keys-directory "$1";
    recursion no;
    dnssec-validation no;
    transfer-source 127.0.0.1;
    notify-source 127.0.0.1;
    allow-transfer { 127.0.0.0/8; };
    notify explicit;
    notify-delay 0;
    ixfr-from-differences yes;
};
controls { };
key "xfr-key" { algorithm hmac-sha256; secret "$XFR_SECRET"; };
EOF
}

xfr_named_start() {
    # Debug level 1 logs "requesting IXFR" / "requesting AXFR" for each transfer.
    xfr_spawn named "$1" named -g -d 1 -n 1 -c "$1/named.conf"
}

# xfr_knot_head DIR ADDR PORT: the server part of a knotd config (DIR/knot.conf), logging
# transfers at info; the caller appends remote/acl/zone sections.
xfr_knot_head() {
    mkdir -p "$1/db"
    cat >"$1/knot.conf" <<EOF
server:
    listen: $2@$3
    rundir: "$1"
    pidfile: "$1/knot.pid"
    udp-workers: 1
    tcp-workers: 1
    background-workers: 1
database:
    storage: "$1/db"
control:
    listen: "$1/knot.sock"
log:
  - target: stderr
    any: info
key:
  - id: xfr-key
    algorithm: hmac-sha256
    secret: $XFR_SECRET
EOF
}

xfr_knot_start() {
    xfr_spawn knotd "$1" knotd -c "$1/knot.conf"
}

# xfr_status DIR: `zonecast zone status --json` for the test zone of the node in DIR.
xfr_status() {
    "$ZC_BIN" zone status --data-dir "$1/data" --json "$XFR_ZONE" 2>&1 || true
}

# xfr_last_kind DIR: the kind (ixfr/axfr) of the node's last transfer.
xfr_last_kind() {
    xfr_status "$1" | jq -r '.last_transfer.kind // empty' 2>/dev/null || true
}
