#!/usr/bin/env bash
# `zonecast watch` against servers that are not zonecast: a BIND primary and a Knot
# secondary fed by NOTIFY + IXFR/AXFR. Starts the watch, edits the primary's zone, and
# checks that the watch reports the change, its convergence, and a delay per server.
#
# Needs named (bind9), knotd (knot), jq, and a built zonecast (ZONECAST=path, default
# target/release/zonecast). Listens on 127.0.0.1 (BIND only binds interface addresses)
# and 127.0.0.46, on PORT (default 5396). Every process it starts is stopped on exit.
set -euo pipefail

ZONECAST=${ZONECAST:-${ZC_BIN:-$(cd "$(dirname "$0")/../.." && pwd)/target/release/zonecast}}
PORT=${PORT:-5396}
PRIMARY=127.0.0.1
SECONDARY=127.0.0.46
dir=$(mktemp -d)
pids=()

cleanup() {
    for pid in "${pids[@]}"; do
        kill "$pid" 2>/dev/null || true
    done
    for pid in "${pids[@]}"; do
        # Bounded: at most 5 s per process, then SIGKILL.
        for _ in $(seq 50); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -9 "$pid" 2>/dev/null || true
    done
    rm -rf "$dir"
}
trap cleanup EXIT

fail() {
    echo "FAIL: $*" >&2
    exit 1
}

zone() { # serial address
    cat <<EOF
\$ORIGIN example.test.
\$TTL 300
@   IN SOA ns1 hostmaster $1 3600 600 86400 10
    IN NS ns1
    IN NS ns2
ns1 IN A $PRIMARY
ns2 IN A $SECONDARY
www 20 IN A $2
EOF
}

mkdir -p "$dir/bind" "$dir/knot/db"
zone 1 192.0.2.1 >"$dir/bind/example.test.zone"
cat >"$dir/bind/named.conf" <<EOF
options {
    directory "$dir/bind";
    pid-file "$dir/bind/named.pid";
    listen-on port $PORT { $PRIMARY; };
    listen-on-v6 { none; };
    recursion no;
    dnssec-validation no;
    notify explicit;
    also-notify { $SECONDARY port $PORT; };
    notify-delay 0;
    notify-source $PRIMARY;
    allow-transfer { 127.0.0.0/8; };
    ixfr-from-differences yes;
};
controls { };
zone "example.test" { type primary; file "example.test.zone"; };
EOF
cat >"$dir/knot/knot.conf" <<EOF
server:
    listen: $SECONDARY@$PORT
    rundir: $dir/knot
control:
    listen: $dir/knot/knot.sock
database:
    storage: $dir/knot/db
remote:
  - id: bind
    address: $PRIMARY@$PORT
acl:
  - id: notify_from_bind
    address: $PRIMARY
    action: notify
template:
  - id: default
    storage: $dir/knot
zone:
  - domain: example.test
    master: bind
    acl: notify_from_bind
EOF

named -c "$dir/bind/named.conf" -g -n 1 >"$dir/bind/log" 2>&1 &
pids+=($!)
knotd -c "$dir/knot/knot.conf" >"$dir/knot/log" 2>&1 &
pids+=($!)

servers=(--server "$PRIMARY:$PORT" --server "$SECONDARY:$PORT")

# Wait (bounded by the watch's own timeout) until both serve serial 1.
if ! "$ZONECAST" watch www.example.test "${servers[@]}" --interval 100ms \
    --until-converged --timeout 15s >"$dir/start.log"; then
    cat "$dir/start.log" "$dir/bind/log" "$dir/knot/log" >&2
    fail "BIND and Knot did not agree within 15 s"
fi

"$ZONECAST" watch www.example.test "${servers[@]}" --interval 10ms --json \
    --until-converged --after-change --timeout 20s >"$dir/watch.jsonl" &
watch_pid=$!
pids+=("$watch_pid")

# Edit only once the watch has seen the old state (bounded: 10 s).
for _ in $(seq 100); do
    grep -q '"event":"round"' "$dir/watch.jsonl" 2>/dev/null && break
    sleep 0.1
done
grep -q '"event":"round"' "$dir/watch.jsonl" || fail "the watch never completed a round"

zone 2 192.0.2.2 >"$dir/bind/example.test.zone"
kill -HUP "${pids[0]}" # named reloads its zones on SIGHUP

rc=0
wait "$watch_pid" || rc=$?
[ "$rc" -eq 0 ] || { cat "$dir/watch.jsonl" >&2; fail "watch exited $rc, not 0"; }

converged=$(jq -c 'select(.event == "converged")' "$dir/watch.jsonl")
[ -n "$converged" ] || fail "no converged event"
[ "$(jq -r '.change_seen' <<<"$converged")" = true ] || fail "the change was not seen: $converged"
for addr in "$PRIMARY:$PORT" "$SECONDARY:$PORT"; do
    delay=$(jq -r --arg a "$addr" '.delays[] | select(.address == $a) | .delay_ms' <<<"$converged")
    [ -n "$delay" ] && [ "$delay" != null ] || fail "no delay for $addr: $converged"
    echo "delay $addr: ${delay} ms"
done
serials=$(jq -r 'select(.event == "observation") | .serial' "$dir/watch.jsonl" | sort -u | tr '\n' ' ')
[ "$serials" = "1 2 " ] || fail "expected serials 1 then 2, saw: $serials"
echo "1 passed, 0 failed"
