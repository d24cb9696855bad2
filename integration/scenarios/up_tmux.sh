#!/usr/bin/env bash
# `zonecast up` in a real terminal: tmux (its own server socket, a 160x50 window) runs
# it through send-keys, so the watch view draws its live table; `zonecast zone set`
# edits a copy of the zones, and the captured screen (capture-pane) must show the
# table, the resolver's countdown ("old answers gone in <= ...") and the convergence
# line with the delays. Ctrl-C (send-keys C-c) must then stop every node: no process
# of the lab is left. The last screen is kept in $ZC_UP_SCREEN when that is set.
# zonecast only: with ZC_SUBJECT set to a peer there is nothing of zonecast's to check.
# shellcheck source=integration/scenario.sh
. "$(dirname "$0")/../scenario.sh"

if [[ $ZC_SUBJECT != zonecast ]]; then
    echo "up_tmux: zonecast's own command line; not applicable to $ZC_SUBJECT"
    exit 0
fi
if ! command -v tmux >/dev/null 2>&1; then
    echo "up_tmux: tmux is not installed"
    exit 1
fi

sock=$SCN_DIR/tmux.sock
data=$SCN_DIR/state
zones=$SCN_DIR/zones
mkdir -p "$zones"
cp "$ZC_ROOT"/zones/*.zone "$zones/"
# A 6 s TTL on the watched name: long enough to see the countdown, short for a test.
sed -i 's/^www  30 IN A /www  6 IN A /' "$zones/example.test.zone"
port=$(zc_free_port 127.0.0.11)

t() { tmux -S "$sock" "$@"; }
screen() { t capture-pane -p -t up 2>/dev/null || true; }

# Stops the lab however the scenario ends: Ctrl-C first, then the tmux server (its
# SIGHUP ends up, whose nodes then get their parent-death signal), then the node pids.
up_cleanup() {
    t send-keys -t up C-c 2>/dev/null || true
    local i
    for ((i = 0; i < 100; i++)); do
        [[ -e $data/control ]] || break
        sleep 0.1
    done
    t kill-server 2>/dev/null || true
    for f in "$data"/*/pid; do
        [[ -e $f ]] && ZC_PIDS+=("$(cat "$f")")
    done
    scn_cleanup
}
trap up_cleanup EXIT

# wait_screen NEEDLE SECONDS: polls the pane until it shows NEEDLE; prints the screen.
wait_screen() {
    local needle=$1 limit=$2 i s
    for ((i = 0; i < limit * 10; i++)); do
        s=$(screen)
        if [[ $s == *"$needle"* ]]; then
            printf '%s\n' "$s"
            return 0
        fi
        sleep 0.1
    done
    printf '%s\n' "$s"
    return 1
}

t new-session -d -s up -x 160 -y 50 "bash --norc --noprofile"
t send-keys -t up "cd '$SCN_DIR' && '$ZC_BIN' up --port $port --data-dir '$data' --zones-dir '$zones'; echo UP-EXIT=\$?" Enter
pane_pid=$(t display-message -p -t up '#{pane_pid}')
if [[ -n ${ZC_PIDLOG:-} ]]; then printf '%s tmux-shell\n' "$pane_pid" >>"$ZC_PIDLOG"; fi

# The live table, with every server current.
if s=$(wait_screen "resolver" 60) && [[ $s == *SERVER*STATE* ]]; then pass; else
    fail "up_tmux: no watch table" "$s"
fi
for f in "$data"/*/pid; do
    if [[ -n ${ZC_PIDLOG:-} ]]; then printf '%s up-node\n' "$(cat "$f")" >>"$ZC_PIDLOG"; fi
done
mapfile -t node_pids < <(cat "$data"/*/pid)
if ((${#node_pids[@]} == 6)); then pass; else fail "up_tmux: expected 6 node pids" "${node_pids[*]}"; fi
s=$(wait_screen "servers agree" 20) || true
expect_in "the table lists the two-tier secondary" "$s" "ns3"
out=$(dig +tries=1 +time=2 -p "$port" @127.0.0.16 www.example.test || true)
expect_in "the printed resolver answers" "$out" "192.0.2.10"

# The edit: every authoritative server flips at once; the resolver counts down.
"$ZC_BIN" zone set --ttl 6 --file "$zones/example.test.zone" example.test www A 192.0.2.99 >/dev/null
if s=$(wait_screen "old answers gone in <=" 10); then pass; else
    fail "up_tmux: no countdown after the edit" "$s"
fi
expect_in "the resolver row shows its stale cache" "$s" "stale-cache"
if s=$(wait_screen "converged: every server shows the newest answer" 30); then pass; else
    fail "up_tmux: no convergence line" "$s"
fi
s=$(wait_screen "propagation delays" 5) || true
expect_in "the delay table follows convergence" "$s" "propagation delays"
if [[ -n ${ZC_UP_SCREEN:-} ]]; then printf '%s\n' "$s" >"$ZC_UP_SCREEN"; fi

# Ctrl-C stops every node and up itself.
t send-keys -t up C-c
# (The typed command line holds "UP-EXIT=$?", so the needle is the printed status.)
if s=$(wait_screen "UP-EXIT=0" 30); then pass; else fail "up_tmux: up did not exit 0 on Ctrl-C" "$s"; fi
expect_in "up says every node stopped" "$s" "zonecast up: stopped"
left=()
for pid in "${node_pids[@]}"; do
    if [[ -r /proc/$pid/cmdline ]] && tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q "$data"; then
        left+=("$pid")
    fi
done
if ((${#left[@]} == 0)); then pass; else fail "up_tmux: nodes left running" "${left[*]}"; fi
scn_finish
