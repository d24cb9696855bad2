#!/usr/bin/env bash
# The ways of running zonecast: `serve --config FILE` (TOML with listen addresses and
# zones) on two addresses at once, `zonecast` with no arguments (the shipped zones on a
# loopback port, with a dig line to try), and a clean stop on SIGTERM and SIGINT.
# zonecast only: with ZC_SUBJECT set to a peer there is nothing of zonecast's to check.
# shellcheck source=integration/scenario.sh
. "$(dirname "$0")/../scenario.sh"

if [[ $ZC_SUBJECT != zonecast ]]; then
    echo "serve: zonecast's own command line; not applicable to $ZC_SUBJECT"
    exit 0
fi
mapfile -t zones < <(zc_shipped_zones)
if ((${#zones[@]} == 0)); then
    echo "no shipped zones in zones/"
    exit 1
fi

# Starts zonecast with the given arguments in the background; sets srv_pid.
launch() {
    local log=$1
    shift
    "$ZC_BIN" "$@" >"$log" 2>&1 </dev/null &
    srv_pid=$!
    ZC_PIDS+=("$srv_pid")
    if [[ -n ${ZC_PIDLOG:-} ]]; then printf '%s zonecast\n' "$srv_pid" >>"$ZC_PIDLOG"; fi
}

# Sends SIG and expects zonecast to exit with status 0 (or 128+SIG) within 5 s.
expect_clean_stop() {
    local sig=$1 i rc
    kill "-$sig" "$srv_pid"
    for ((i = 0; i < 50; i++)); do
        kill -0 "$srv_pid" 2>/dev/null || break
        [[ $(ps -o stat= -p "$srv_pid" 2>/dev/null) == Z* ]] && break
        sleep 0.1
    done
    if kill -0 "$srv_pid" 2>/dev/null && [[ $(ps -o stat= -p "$srv_pid") != Z* ]]; then
        fail "zonecast still running 5 s after SIG$sig" \
            "$(for t in /proc/"$srv_pid"/task/*; do echo "$(cat "$t/comm") $(cat "$t/wchan" 2>/dev/null) $(awk '{print $3}' "$t/stat")"; done)"
        return
    fi
    rc=0
    wait "$srv_pid" || rc=$?
    if ((rc == 0)); then pass; else fail "zonecast exited with status $rc after SIG$sig"; fi
}

# --config with two listen addresses.
p1=$(zc_free_port 127.0.0.1)
p2=$(zc_free_port 127.0.0.1)
conf=$SCN_DIR/zonecast.toml
{
    printf 'listen = ["127.0.0.1:%s", "127.0.0.2:%s"]\n' "$p1" "$p2"
    for z in "${zones[@]}"; do
        printf '\n[[zone]]\nname = "%s"\nfile = "%s"\n' "${z%%=*}" "${z#*=}"
    done
} >"$conf"
launch "$SCN_DIR/config.log" serve --config "$conf"
if zc_wait_ready zonecast 127.0.0.1 "$p1" "$srv_pid" "${zones[@]}"; then pass; else
    fail "serve --config did not answer on 127.0.0.1:$p1" "$(cat "$SCN_DIR/config.log")"
fi
for ap in "127.0.0.1 $p1" "127.0.0.2 $p2"; do
    read -r addr port <<<"$ap"
    for z in "${zones[@]}"; do
        name=${z%%=*}
        for tr in +notcp +tcp; do
            out=$(dig +tries=1 +time=2 +norec "$tr" -p "$port" "@$addr" SOA "$name" || true)
            expect_in "--config: SOA $name on $addr:$port $tr" "$out" "status: NOERROR"
        done
    done
done
expect_clean_stop TERM

# No arguments: the shipped zones on a loopback port, and a dig line to try.
launch "$SCN_DIR/noargs.log"
line=
for ((i = 0; i < 100; i++)); do
    line=$(grep -m1 -o 'dig .*' "$SCN_DIR/noargs.log" || true)
    [[ -n $line ]] && break
    sleep 0.1
done
if [[ -z $line ]]; then
    fail "zonecast with no arguments printed no dig line" "$(cat "$SCN_DIR/noargs.log")"
else
    pass
    read -r -a words <<<"${line#dig }"
    # The reply's header is what is checked, so a +short in the suggestion is dropped.
    for i in "${!words[@]}"; do [[ ${words[i]} == +short ]] && unset 'words[i]'; done
    out=$(dig +tries=1 +time=2 "${words[@]}" || true)
    expect_in "the printed dig line ($line) gets an answer" "$out" "status: NOERROR"
    expect_in "the printed dig line gets an authoritative answer" "$(dig_flags "$out")" "aa"
fi
expect_clean_stop INT
scn_finish
