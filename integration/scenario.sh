#!/usr/bin/env bash
# Sourced by every integration/scenarios/*.sh: a temp dir, cleanup that stops exactly the
# servers the scenario started, the server under test (zonecast, or ZC_SUBJECT=knot|nsd to
# check the scenario itself), dig/kdig wrappers and checks that count failures.

# shellcheck source=integration/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
set -euo pipefail

ZC_SUBJECT=${ZC_SUBJECT:-zonecast}
SCN_NAME=$(basename "$0" .sh)
SCN_DIR=$(mktemp -d "${TMPDIR:-/tmp}/zc-$SCN_NAME.XXXXXX")
SCN_CHECKS=0
SCN_FAILS=0
SCN_ADDR=127.0.0.1
SCN_PORT=

scn_cleanup() {
    zc_stop_all
    # SCN_KEEP=1 keeps the scenario's files (configs, logs) for a look afterwards.
    if [[ -n ${SCN_KEEP:-} ]]; then echo "kept $SCN_DIR" >&2; else rm -rf "$SCN_DIR"; fi
}
trap scn_cleanup EXIT
trap 'exit 143' TERM INT

# The zones to serve: ZC_ZONES (NAME=FILE words) or the shipped zones/.
scn_zones() {
    if [[ -n ${ZC_ZONES:-} ]]; then
        # shellcheck disable=SC2086 # a list of words by design
        printf '%s\n' $ZC_ZONES
    else
        zc_shipped_zones
    fi
}

# scn_serve NAME=FILE...: starts the server under test; sets SCN_PORT.
scn_serve() {
    SCN_PORT=$(zc_free_port "$SCN_ADDR")
    zc_start "$ZC_SUBJECT" "$SCN_DIR/$ZC_SUBJECT-$SCN_PORT" "$SCN_ADDR" "$SCN_PORT" "$@" >/dev/null
}

# A failed dig shows up as a failed check, not as an aborted scenario.
q() { dig +tries=1 +time=2 +norec -p "$SCN_PORT" "@$SCN_ADDR" "$@" || true; }
kq() { kdig +retry=0 +time=2 +norec -p "$SCN_PORT" "@$SCN_ADDR" "$@" || true; }

pass() { SCN_CHECKS=$((SCN_CHECKS + 1)); }
fail() {
    SCN_CHECKS=$((SCN_CHECKS + 1))
    SCN_FAILS=$((SCN_FAILS + 1))
    printf 'FAIL: %s\n' "$1"
    if [[ -n ${2:-} ]]; then printf '%s\n' "$2" | sed 's/^/    | /' | head -40; fi
}

# expect_in DESC TEXT NEEDLE: TEXT must contain NEEDLE.
expect_in() {
    if [[ $2 == *"$3"* ]]; then pass; else fail "$1 (expected '$3')" "$2"; fi
}
# expect_not_in DESC TEXT NEEDLE
expect_not_in() {
    if [[ $2 != *"$3"* ]]; then pass; else fail "$1 (did not expect '$3')" "$2"; fi
}
# expect_eq DESC GOT WANT
expect_eq() {
    if [[ $2 == "$3" ]]; then pass; else fail "$1" "got:
$2
want:
$3"; fi
}

# The flags line of a dig reply, e.g. "qr aa rd".
dig_flags() { sed -n 's/^;; flags: \([^;]*\);.*/\1/p' <<<"$1"; }
# The answer records of `dig +noall +answer`, owner lowercased, one space between fields.
norm_records() { awk 'NF { $1 = tolower($1); print }' | sort; }
# The canonical records of a zone (named-checkzone -D), normalised like norm_records.
zone_records() { zc_zone_records "$1" "$2" | norm_records; }

scn_finish() {
    printf '%s: %d checks, %d failed\n' "$SCN_NAME" "$SCN_CHECKS" "$SCN_FAILS"
    if ((SCN_CHECKS == 0)); then
        echo "no checks ran"
        exit 1
    fi
    ((SCN_FAILS == 0))
}
