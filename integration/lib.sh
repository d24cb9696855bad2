#!/usr/bin/env bash
# Helpers shared by integration/run, the scenarios and the benchmark: start zonecast and
# the peer servers (knotd, nsd, named, unbound) in a temporary directory, wait until they
# answer, and stop exactly the processes that were started.
#
# Sourced:   . integration/lib.sh; zc_start knot "$dir" 127.0.0.21 5301 example.test=f.zone
# Executed:  integration/lib.sh exec knot DIR ADDR PORT NAME=FILE...
#            writes the configuration and replaces itself with the server in the
#            foreground, so a caller (the differential test) owns the process directly.
#
# A zone is given as NAME=FILE (NAME "." for the root). For unbound the arguments are
# hints=FILE (root hints) instead of zones.
#
# Knobs (environment): ZC_BIN (zonecast binary), ZC_THREADS (worker count; 1 pins every
# server to one worker, empty keeps each server's default), ZC_PIDLOG (a file every
# started pid is appended to, so integration/run can check nothing was left running),
# ZC_WRAP (a command prefix for zc_start, e.g. "taskset -c 0").

ZC_ROOT=${ZC_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
ZC_BIN=${ZC_BIN:-$ZC_ROOT/target/release/zonecast}
ZC_THREADS=${ZC_THREADS-1}
ZC_PIDS=()

zc_log() { printf '%s\n' "$*" >&2; }

# An absolute path, without requiring the file to exist.
zc_abspath() {
    case $1 in
    /*) printf '%s\n' "$1" ;;
    *) printf '%s/%s\n' "$(pwd)" "$1" ;;
    esac
}

# A port free for both UDP and TCP on ADDR. It is taken below the kernel's ephemeral
# range, so a client socket (dig, dnsperf, a test) cannot grab it before the server
# binds; any socket on it, listening or not, rules it out.
zc_free_port() {
    local addr=$1 port i low
    read -r low _ </proc/sys/net/ipv4/ip_local_port_range || low=32768
    ((low > 12000)) || low=32768
    for ((i = 0; i < 200; i++)); do
        port=$((10000 + RANDOM % (low - 10000)))
        if [[ -z $(ss -Hantu "( sport = :$port )" 2>/dev/null) ]]; then
            printf '%s\n' "$port"
            return 0
        fi
    done
    zc_log "no free port found on $addr"
    return 1
}

zc_conf_knot() {
    local dir=$1 addr=$2 port=$3 z name file
    shift 3
    mkdir -p "$dir/knot-db"
    {
        printf 'server:\n    listen: %s@%s\n    rundir: "%s"\n' "$addr" "$port" "$dir"
        printf '    pidfile: "%s/knot.pid"\n    nsid: "knot"\n' "$dir"
        if [[ -n $ZC_THREADS ]]; then
            printf '    udp-workers: %s\n    tcp-workers: %s\n    background-workers: 1\n' \
                "$ZC_THREADS" "$ZC_THREADS"
        fi
        printf 'database:\n    storage: "%s/knot-db"\n' "$dir"
        printf 'control:\n    listen: "%s/knot.sock"\n' "$dir"
        printf 'log:\n  - target: stderr\n    any: warning\n'
        printf 'template:\n  - id: default\n    storage: "%s"\n' "$dir"
        printf '    zonefile-sync: -1\n    zonefile-load: whole\n    journal-content: none\n'
        printf '    semantic-checks: off\n'
        printf 'zone:\n'
        for z in "$@"; do
            name=${z%%=*} file=$(zc_abspath "${z#*=}")
            printf '  - domain: "%s"\n    file: "%s"\n' "$name" "$file"
        done
    } >"$dir/knot.conf"
}

zc_conf_nsd() {
    local dir=$1 addr=$2 port=$3 z name file
    shift 3
    {
        printf 'server:\n    ip-address: %s@%s\n    port: %s\n' "$addr" "$port" "$port"
        printf '    username: ""\n    chroot: ""\n    database: ""\n    zonesdir: "%s"\n' "$dir"
        printf '    pidfile: "%s/nsd.pid"\n    xfrdfile: "%s/xfrd.state"\n' "$dir" "$dir"
        printf '    zonelistfile: "%s/zone.list"\n    xfrdir: "%s"\n' "$dir" "$dir"
        printf '    logfile: "%s/nsd.log"\n    verbosity: 0\n' "$dir"
        printf '    rrl-ratelimit: 0\n    rrl-whitelist-ratelimit: 0\n'
        printf '    xfrd-reload-timeout: 0\n    nsid: "ascii_nsd"\n'
        if [[ -n $ZC_THREADS ]]; then
            printf '    server-count: %s\n' "$ZC_THREADS"
        fi
        printf 'remote-control:\n    control-enable: no\n'
        for z in "$@"; do
            name=${z%%=*} file=$(zc_abspath "${z#*=}")
            printf 'zone:\n    name: "%s"\n    zonefile: "%s"\n' "$name" "$file"
        done
    } >"$dir/nsd.conf"
}

zc_conf_named() {
    local dir=$1 addr=$2 port=$3 z name file
    shift 3
    {
        printf 'options {\n    directory "%s";\n' "$dir"
        printf '    listen-on port %s { %s; };\n    listen-on-v6 { none; };\n' "$port" "$addr"
        printf '    pid-file "%s/named.pid";\n    session-keyfile "%s/session.key";\n' "$dir" "$dir"
        printf '    managed-keys-directory "%s";\n' "$dir"
        printf '    recursion no;\n    dnssec-validation no;\n    server-id "bind";\n'
        printf '    notify no;\n};\ncontrols { };\n'
        for z in "$@"; do
            name=${z%%=*} file=$(zc_abspath "${z#*=}")
            printf 'zone "%s" { type primary; file "%s"; };\n' "$name" "$file"
        done
    } >"$dir/named.conf"
}

zc_conf_unbound() {
    local dir=$1 addr=$2 port=$3 a hints=""
    shift 3
    for a in "$@"; do
        case $a in
        hints=*) hints=$(zc_abspath "${a#hints=}") ;;
        esac
    done
    {
        printf 'server:\n    interface: %s@%s\n    port: %s\n' "$addr" "$port" "$port"
        printf '    username: ""\n    chroot: ""\n    directory: "%s"\n' "$dir"
        printf '    pidfile: "%s/unbound.pid"\n    use-syslog: no\n    logfile: ""\n' "$dir"
        printf '    do-not-query-localhost: no\n    access-control: 127.0.0.0/8 allow\n'
        printf '    local-zone: "test." nodefault\n    module-config: "iterator"\n'
        printf '    msg-cache-size: 64m\n    rrset-cache-size: 128m\n'
        printf '    num-threads: %s\n' "${ZC_THREADS:-1}"
        if [[ -n $hints ]]; then printf '    root-hints: "%s"\n' "$hints"; fi
        printf 'remote-control:\n    control-enable: no\n'
    } >"$dir/unbound.conf"
}

# Fills the array named by $1 with the foreground command line of KIND.
zc_command() {
    local -n out=$1
    local kind=$2 dir=$3 addr=$4 port=$5 z
    shift 5
    case $kind in
    knot) out=(knotd -c "$dir/knot.conf") ;;
    nsd) out=(nsd -d -c "$dir/nsd.conf") ;;
    named) out=(named -g -c "$dir/named.conf") ;;
    unbound) out=(unbound -d -c "$dir/unbound.conf") ;;
    zonecast)
        # NSID like the peers' configurations, so +nsid has something to return.
        out=("$ZC_BIN" serve --listen "$addr:$port" --nsid zonecast)
        for z in "$@"; do out+=(--zone "${z%%=*}=$(zc_abspath "${z#*=}")"); done
        if [[ -n $ZC_THREADS ]]; then out+=(--threads "$ZC_THREADS"); fi
        ;;
    *)
        zc_log "unknown server kind: $kind"
        return 1
        ;;
    esac
    if [[ $kind == named && -n $ZC_THREADS ]]; then out+=(-n "$ZC_THREADS"); fi
}

zc_configure() {
    local kind=$1
    case $kind in
    knot | nsd | named | unbound) "zc_conf_$kind" "${@:2}" ;;
    zonecast) ;;
    *)
        zc_log "unknown server kind: $kind"
        return 1
        ;;
    esac
}

# Polls ADDR:PORT with dig (each try bounded to 1 s) until it answers: authoritative
# servers must answer each zone's SOA with AA; unbound must answer at all.
zc_wait_ready() {
    local kind=$1 addr=$2 port=$3 pid=$4 deadline z name out ok
    shift 4
    deadline=$((SECONDS + ${ZC_READY_TIMEOUT:-20}))
    while ((SECONDS < deadline)); do
        if ! kill -0 "$pid" 2>/dev/null; then
            zc_log "$kind (pid $pid) exited before answering"
            return 1
        fi
        ok=1
        if [[ $kind == unbound ]]; then
            out=$(dig +tries=1 +time=1 -p "$port" "@$addr" CH TXT id.server 2>/dev/null) || true
            [[ $out == *"status: "* ]] || ok=0
        else
            for z in "$@"; do
                name=${z%%=*}
                out=$(dig +tries=1 +time=1 +norec -p "$port" "@$addr" SOA "$name" 2>/dev/null) || true
                if [[ $out != *"status: NOERROR"* || $out != *" aa"* ]]; then
                    ok=0
                    break
                fi
            done
        fi
        if ((ok)); then return 0; fi
        sleep 0.1
    done
    zc_log "$kind on $addr:$port did not answer within ${ZC_READY_TIMEOUT:-20}s"
    return 1
}

# zc_start KIND DIR ADDR PORT ARGS... starts a server in the background with its output in
# DIR/KIND.log, records its pid (ZC_PIDS, ZC_PIDLOG, DIR/KIND.started-pid), waits until it
# answers, and sets ZC_LAST_PID (not printed: a command substitution would run it in a
# subshell that loses the pid list and cannot reap the server).
zc_start() {
    local kind=$1 dir=$2 addr=$3 port=$4 pid
    local -a cmd
    mkdir -p "$dir"
    zc_configure "$kind" "$dir" "$addr" "$port" "${@:5}" || return 1
    zc_command cmd "$kind" "$dir" "$addr" "$port" "${@:5}" || return 1
    local -a wrap=()
    read -r -a wrap <<<"${ZC_WRAP:-}"
    "${wrap[@]}" "${cmd[@]}" >"$dir/$kind.log" 2>&1 </dev/null &
    pid=$!
    ZC_PIDS+=("$pid")
    printf '%s\n' "$pid" >"$dir/$kind.started-pid"
    if [[ -n ${ZC_PIDLOG:-} ]]; then printf '%s %s\n' "$pid" "$kind" >>"$ZC_PIDLOG"; fi
    if ! zc_wait_ready "$kind" "$addr" "$port" "$pid" "${@:5}"; then
        sed 's/^/    | /' "$dir/$kind.log" >&2 || true
        return 1
    fi
    # shellcheck disable=SC2034 # read by the callers
    ZC_LAST_PID=$pid
}

# Stops one pid we started: SIGTERM, up to 5 s grace, then SIGKILL; reaps it if it is our
# child.
zc_stop_pid() {
    local pid=$1 i
    kill -0 "$pid" 2>/dev/null || {
        wait "$pid" 2>/dev/null || true
        return 0
    }
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 50; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        # A zombie child counts as stopped once reaped.
        if [[ $(ps -o stat= -p "$pid" 2>/dev/null) == Z* ]]; then break; fi
        sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null && [[ $(ps -o stat= -p "$pid" 2>/dev/null) != Z* ]]; then
        zc_log "pid $pid ($(ps -o args= -p "$pid" 2>/dev/null | cut -c1-120)) ignored SIGTERM for 5 s; killing it"
        # Where it was stuck, for the log: its threads' kernel wait channels.
        ps -L -o tid=,stat=,wchan:32=,comm= -p "$pid" 2>/dev/null | head -20 >&2 || true
        kill -KILL "$pid" 2>/dev/null || true
    fi
    wait "$pid" 2>/dev/null || true
}

zc_stop_all() {
    local pid
    for pid in "${ZC_PIDS[@]}"; do zc_stop_pid "$pid"; done
    ZC_PIDS=()
}

# The canonical records of a zone file, one per line with absolute names, as BIND reads it.
zc_zone_records() {
    named-checkzone -q -D -o - "$1" "$2"
}

# The shipped zones as NAME=FILE arguments (root.zone is the root).
zc_shipped_zones() {
    local f name
    for f in "$ZC_ROOT"/zones/*.zone; do
        [[ -e $f ]] || continue
        name=$(basename "$f" .zone)
        if [[ $name == root ]]; then name=.; fi
        printf '%s=%s\n' "$name" "$f"
    done
}

if [[ ${BASH_SOURCE[0]} == "$0" ]]; then
    set -euo pipefail
    case ${1:-} in
    exec)
        shift
        zc_configure "$@"
        zc_command ZC_CMD "$@"
        if [[ -n ${ZC_PIDLOG:-} ]]; then printf '%s %s\n' "$$" "$1" >>"$ZC_PIDLOG"; fi
        exec "${ZC_CMD[@]}"
        ;;
    *)
        zc_log "usage: $0 exec KIND DIR ADDR PORT NAME=FILE..."
        exit 2
        ;;
    esac
fi
