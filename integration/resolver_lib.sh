#!/usr/bin/env bash
# Helpers for the resolver's integration runs (integration/resolver_diff.sh and
# integration/bench-resolver), in the style of integration/lib.sh: the shipped hierarchy
# served by zonecast on 127.0.0.11-15, Unbound and the zonecast resolver in front of it,
# every process started recorded and stopped by its pid, every wait bounded.
#
# Sourced:  . integration/resolver_lib.sh
#           rz_start_hierarchy DIR PORT      five `zonecast serve` on 127.0.0.11-15:PORT
#           rz_hints DIR                      writes DIR/lab.root (a.root-servers.test.)
#           rz_start_unbound DIR ADDR PORT HINTS
#           rz_start_zonecast DIR ADDR PORT HINTS UPSTREAM_PORT
#           rz_stop_all
#
# Unbound's root hints carry no port, so a hierarchy it can use listens on port 53
# (root may bind it). Knobs: ZC_BIN (zonecast binary), RZ_PIDLOG (a file every started
# pid is appended to), RZ_WRAP_HIER / RZ_WRAP_RESOLVER (command prefixes, e.g.
# "taskset -c 1"), RZ_READY_TIMEOUT (seconds, default 20).

RZ_ROOT=${RZ_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
ZC_BIN=${ZC_BIN:-$RZ_ROOT/target/release/zonecast}
RZ_PIDS=()
export PATH=$PATH:/usr/sbin:/sbin

rz_log() { printf '%s\n' "$*" >&2; }

# Which zones each lab address serves.
declare -A RZ_LAYOUT=(
    [11]=". "
    [12]="test. "
    [13]="example.test. sub.example.test. shop.test. "
    [14]="example.test. "
    [15]="example.test. "
)

rz_zone_file() {
    if [[ $1 == . ]]; then
        printf '%s/zones/root.zone\n' "$RZ_ROOT"
    else
        printf '%s/zones/%szone\n' "$RZ_ROOT" "$1"
    fi
}

# True when nothing listens on ADDR:PORT or the wildcard address with PORT (UDP or TCP).
rz_port_free() {
    [[ -z $(ss -Hlntu "( sport = :$2 )" 2>/dev/null |
        awk -v a="$1:$2" -v p=":$2" '$5 == a || $5 == "0.0.0.0" p || $5 == "*" p || $5 == "[::]" p') ]]
}

# rz_spawn NAME DIR WRAP CMD...: starts CMD in the background, output in DIR/NAME.log;
# sets RZ_LAST_PID.
rz_spawn() {
    local name=$1 dir=$2 wrap=$3 pid
    shift 3
    local -a w=()
    read -r -a w <<<"$wrap"
    "${w[@]}" "$@" >"$dir/$name.log" 2>&1 </dev/null &
    pid=$!
    RZ_PIDS+=("$pid")
    if [[ -n ${RZ_PIDLOG:-} ]]; then printf '%s %s\n' "$pid" "$name" >>"$RZ_PIDLOG"; fi
    RZ_LAST_PID=$pid
}

# rz_wait NAME PID ADDR PORT MODE DIG_ARGS...: polls with dig (1 s per try) until the
# answer is NOERROR with AA (MODE --aa) or has any status (MODE --any), or the process
# died, or the bound passed.
rz_wait() {
    local name=$1 pid=$2 addr=$3 port=$4 mode=$5 out deadline
    shift 5
    deadline=$((SECONDS + ${RZ_READY_TIMEOUT:-20}))
    while ((SECONDS < deadline)); do
        if ! kill -0 "$pid" 2>/dev/null; then
            rz_log "$name (pid $pid) exited before answering:"
            sed 's/^/    | /' "$RZ_DIR/$name.log" >&2 || true
            return 1
        fi
        out=$(dig +tries=1 +time=1 -p "$port" "@$addr" "$@" 2>/dev/null) || true
        case $mode in
        --aa) [[ $out == *"status: NOERROR"* && $out == *" aa"* ]] && return 0 ;;
        *) [[ $out == *"status: "* ]] && return 0 ;;
        esac
        sleep 0.1
    done
    rz_log "$name on $addr:$port did not answer within ${RZ_READY_TIMEOUT:-20}s"
    return 1
}

rz_start_hierarchy() {
    local dir=$1 port=$2 last apex
    RZ_DIR=$dir
    mkdir -p "$dir"
    for last in 11 12 13 14 15; do
        if ! rz_port_free "127.0.0.$last" "$port"; then
            rz_log "127.0.0.$last:$port is in use (another lab running?)"
            return 1
        fi
    done
    for last in 11 12 13 14 15; do
        local -a cmd=("$ZC_BIN" serve --listen "127.0.0.$last:$port" --threads 1)
        for apex in ${RZ_LAYOUT[$last]}; do cmd+=(--zone "$apex=$(rz_zone_file "$apex")"); done
        rz_spawn "auth-$last" "$dir" "${RZ_WRAP_HIER:-}" "${cmd[@]}"
        for apex in ${RZ_LAYOUT[$last]}; do
            rz_wait "auth-$last" "$RZ_LAST_PID" "127.0.0.$last" "$port" --aa +norec SOA "$apex" ||
                return 1
        done
    done
}

rz_hints() {
    printf '.  3600000 NS a.root-servers.test.\na.root-servers.test. 3600000 A 127.0.0.11\n' \
        >"$1/lab.root"
}

rz_start_unbound() {
    local dir=$1 addr=$2 port=$3 hints=$4
    if ! rz_port_free "$addr" "$port"; then
        rz_log "$addr:$port is in use"
        return 1
    fi
    RZ_DIR=$dir
    {
        printf 'server:\n    interface: %s@%s\n    port: %s\n' "$addr" "$port" "$port"
        printf '    username: ""\n    chroot: ""\n    directory: "%s"\n' "$dir"
        printf '    pidfile: "%s/unbound.pid"\n    use-syslog: no\n    logfile: ""\n' "$dir"
        printf '    do-not-query-localhost: no\n    access-control: 127.0.0.0/8 allow\n'
        printf '    local-zone: "test." nodefault\n    module-config: "iterator"\n'
        printf '    msg-cache-size: 64m\n    rrset-cache-size: 128m\n    num-threads: 1\n'
        printf '    root-hints: "%s"\n' "$hints"
        printf 'remote-control:\n    control-enable: no\n'
    } >"$dir/unbound.conf"
    rz_spawn unbound "$dir" "${RZ_WRAP_RESOLVER:-}" unbound -d -c "$dir/unbound.conf"
    rz_wait unbound "$RZ_LAST_PID" "$addr" "$port" --any +norec CH TXT id.server
}

rz_start_zonecast() {
    local dir=$1 addr=$2 port=$3 hints=$4 upstream=$5
    if ! rz_port_free "$addr" "$port"; then
        rz_log "$addr:$port is in use"
        return 1
    fi
    RZ_DIR=$dir
    rz_spawn zonecast-resolver "$dir" "${RZ_WRAP_RESOLVER:-}" "$ZC_BIN" resolve \
        --listen "$addr:$port" --root-hints "$hints" --upstream-port "$upstream"
    # Without RD it answers REFUSED at once, so waiting warms nothing.
    rz_wait zonecast-resolver "$RZ_LAST_PID" "$addr" "$port" --any +norec a.root-servers.test
}

# Stops one pid we started: SIGTERM, up to 5 s grace, then SIGKILL; reaps it.
rz_stop_pid() {
    local pid=$1 i
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 50; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        if [[ $(ps -o stat= -p "$pid" 2>/dev/null) == Z* ]]; then break; fi
        sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null && [[ $(ps -o stat= -p "$pid" 2>/dev/null) != Z* ]]; then
        rz_log "pid $pid ignored SIGTERM for 5 s; killing it"
        kill -KILL "$pid" 2>/dev/null || true
    fi
    wait "$pid" 2>/dev/null || true
}

rz_stop_all() {
    local pid
    for pid in "${RZ_PIDS[@]}"; do rz_stop_pid "$pid"; done
    RZ_PIDS=()
}
