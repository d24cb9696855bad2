#!/usr/bin/env bash
# One zone served alone: names above it and beside it are REFUSED (no AA, no data), its
# own names are answered, and the most specific zone wins when a parent is added.
# shellcheck source=integration/scenario.sh
. "$(dirname "$0")/../scenario.sh"

mapfile -t zones < <(scn_zones)
# The most specific zone and (if served) its parent.
leaf=$(printf '%s\n' "${zones[@]}" | awk -F= '{ s = $1; print gsub(/\./, "", s), $0 }' | sort -rn | head -1 | cut -d' ' -f2-)
if [[ -z $leaf || $leaf == .=* ]]; then
    echo "need a zone below the root"
    exit 1
fi
apex=${leaf%%=*}
apex=${apex%.}.
scn_serve "$leaf"

out=$(q "$apex" SOA)
expect_in "$apex served" "$out" "status: NOERROR"
for name in "${apex#*.}" zc-outside.invalid. "zc-sibling-$RANDOM.${apex#*.}"; do
    [[ $name == . || -z $name ]] && continue
    out=$(q "$name" A)
    expect_in "$name outside the only zone: REFUSED" "$out" "status: REFUSED"
    expect_not_in "$name REFUSED without AA" "$(dig_flags "$out")" "aa"
    expect_in "$name REFUSED without answers" "$out" "ANSWER: 0,"
    out=$(q +tcp "$name" A)
    expect_in "$name over TCP: REFUSED" "$out" "status: REFUSED"
done
scn_finish
