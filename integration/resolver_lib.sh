#!/usr/bin/env bash
# Helpers for the resolver's integration runs (integration/resolver_diff.sh and
# integration/bench-resolver), on top of integration/lib.sh: the shipped hierarchy served
# by zonecast on 127.0.0.11-15 (one `zonecast serve` per address, as the zones/ comments
# lay it out), Unbound and the zonecast resolver in front of it. Every process goes
# through lib.sh's bookkeeping (ZC_PIDS, ZC_PIDLOG), so zc_stop_all stops it and
# integration/run can check nothing was left running.
#
# Sourced:  . integration/resolver_lib.sh
#           rz_start_hierarchy DIR PORT      five `zonecast serve` on 127.0.0.11-15:PORT
#           rz_hints DIR                      writes DIR/lab.root (a.root-servers.test.)
#           rz_start_unbound DIR ADDR PORT HINTS
#           rz_start_zonecast DIR ADDR PORT HINTS UPSTREAM_PORT
#
# Unbound's root hints carry no port, so a hierarchy it can use listens on port 53
# (root may bind it). Knobs: those of lib.sh, and RZ_WRAP_HIER / RZ_WRAP_RESOLVER
# (command prefixes, e.g. "taskset -c 1") in place of ZC_WRAP.

# shellcheck source=integration/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
export PATH=$PATH:/usr/sbin:/sbin

# Which zones each lab address serves.
declare -A RZ_LAYOUT=(
    [11]="."
    [12]="test."
    [13]="example.test. sub.example.test. shop.test."
    [14]="example.test."
    [15]="example.test."
)

rz_zone_file() {
    if [[ $1 == . ]]; then
        printf '%s/zones/root.zone\n' "$ZC_ROOT"
    else
        printf '%s/zones/%szone\n' "$ZC_ROOT" "$1"
    fi
}

# True when nothing listens on ADDR:PORT or the wildcard address with PORT (UDP or TCP).
# zonecast binds with SO_REUSEPORT, so a second lab on the same port would bind too and
# share the queries: refuse instead.
rz_port_free() {
    [[ -z $(ss -Hlntu "( sport = :$2 )" 2>/dev/null |
        awk -v a="$1:$2" -v p=":$2" '$5 == a || $5 == "0.0.0.0" p || $5 == "*" p || $5 == "[::]" p') ]]
}

# A port free for both UDP and TCP on 127.0.0.1 and the wildcard.
rz_free_port() {
    local p i
    for ((i = 0; i < 200; i++)); do
        p=$((20000 + RANDOM % 40000))
        if rz_port_free 127.0.0.1 "$p"; then
            printf '%s\n' "$p"
            return 0
        fi
    done
    zc_log "no free port found"
    return 1
}

rz_start_hierarchy() {
    local dir=$1 port=$2 last apex
    local -a zones
    for last in 11 12 13 14 15; do
        if ! rz_port_free "127.0.0.$last" "$port"; then
            zc_log "127.0.0.$last:$port is in use (another lab running?)"
            return 1
        fi
    done
    for last in 11 12 13 14 15; do
        zones=()
        for apex in ${RZ_LAYOUT[$last]}; do zones+=("$apex=$(rz_zone_file "$apex")"); done
        ZC_WRAP=${RZ_WRAP_HIER:-} ZC_THREADS=1 \
            zc_start zonecast "$dir/auth-$last" "127.0.0.$last" "$port" "${zones[@]}" || return 1
    done
}

rz_hints() {
    printf '.  3600000 NS a.root-servers.test.\na.root-servers.test. 3600000 A 127.0.0.11\n' \
        >"$1/lab.root"
}

rz_start_unbound() {
    local dir=$1 addr=$2 port=$3 hints=$4
    if ! rz_port_free "$addr" "$port"; then
        zc_log "$addr:$port is in use"
        return 1
    fi
    ZC_WRAP=${RZ_WRAP_RESOLVER:-} ZC_THREADS=1 zc_start unbound "$dir" "$addr" "$port" "hints=$hints"
}

# The zonecast resolver (`zonecast resolve --listen`), with lib.sh's bookkeeping; ready
# once it answers a query without RD (REFUSED at once, so waiting warms nothing).
rz_start_zonecast() {
    local dir=$1 addr=$2 port=$3 hints=$4 upstream=$5 pid deadline out
    if ! rz_port_free "$addr" "$port"; then
        zc_log "$addr:$port is in use"
        return 1
    fi
    mkdir -p "$dir"
    local -a wrap=()
    read -r -a wrap <<<"${RZ_WRAP_RESOLVER:-}"
    "${wrap[@]}" "$ZC_BIN" resolve --listen "$addr:$port" --root-hints "$hints" \
        --upstream-port "$upstream" >"$dir/zonecast-resolver.log" 2>&1 </dev/null &
    pid=$!
    ZC_PIDS+=("$pid")
    if [[ -n ${ZC_PIDLOG:-} ]]; then printf '%s %s\n' "$pid" zonecast-resolver >>"$ZC_PIDLOG"; fi
    deadline=$((SECONDS + ${ZC_READY_TIMEOUT:-20}))
    while ((SECONDS < deadline)); do
        if ! kill -0 "$pid" 2>/dev/null; then
            zc_log "zonecast resolver (pid $pid) exited before answering:"
            sed 's/^/    | /' "$dir/zonecast-resolver.log" >&2 || true
            return 1
        fi
        out=$(dig +tries=1 +time=1 +norec -p "$port" "@$addr" a.root-servers.test 2>/dev/null) || true
        if [[ $out == *"status: "* ]]; then
            # shellcheck disable=SC2034 # read by the callers
            ZC_LAST_PID=$pid
            return 0
        fi
        sleep 0.1
    done
    zc_log "zonecast resolver on $addr:$port did not answer within ${ZC_READY_TIMEOUT:-20}s"
    return 1
}
