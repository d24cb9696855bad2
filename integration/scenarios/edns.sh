#!/usr/bin/env bash
# EDNS and header handling with dig and kdig: BADVERS for version 1, NSID when asked, no
# OPT when the query had none, the query name's case echoed, RD copied and RA clear,
# NOTIMP for an unknown opcode, REFUSED outside every zone served.
# shellcheck source=integration/scenario.sh
. "$(dirname "$0")/../scenario.sh"

mapfile -t zones < <(scn_zones)
if ((${#zones[@]} == 0)); then
    echo "no zones to serve (zones/ is empty)"
    exit 1
fi
# The most specific zone (longest name) and its records.
zone=$(printf '%s\n' "${zones[@]}" | awk -F= '{ print length($1), $0 }' | sort -rn | head -1 | cut -d' ' -f2-)
apex=${zone%%=*}
apex=${apex%.}.
scn_serve "${zones[@]}"

out=$(q +edns=1 +noednsnegotiation "$apex" SOA)
expect_in "EDNS version 1: BADVERS" "$out" "status: BADVERS"
expect_in "BADVERS reply carries OPT version 0" "$out" "; EDNS: version: 0"
out=$(kq +edns=1 "$apex" SOA)
expect_in "kdig EDNS version 1: BADVERS" "$out" "BADVERS"

out=$(q +nsid "$apex" SOA)
expect_in "NSID returned when asked" "$out" "; NSID:"
out=$(q "$apex" SOA)
expect_not_in "no NSID unless asked" "$out" "; NSID:"
out=$(kq +nsid "$apex" SOA)
expect_in "kdig sees NSID" "$out" "NSID:"

out=$(q +noedns "$apex" SOA)
expect_not_in "no OPT in reply to a query without one" "$out" "OPT PSEUDOSECTION"
expect_in "no-EDNS query answered" "$out" "status: NOERROR"

mixed=$(awk '{ s = ""; for (i = 1; i <= length($0); i++) { c = substr($0, i, 1); s = s (i % 2 ? toupper(c) : c) } print s }' <<<"$apex")
out=$(q "$mixed" SOA)
expect_in "query name case echoed (dig)" "$out" ";$mixed"
expect_in "mixed-case query answered" "$out" "status: NOERROR"
out=$(q +tcp "$mixed" SOA)
expect_in "query name case echoed over TCP" "$out" ";$mixed"

out=$(q +rec "$apex" SOA)
flags=$(dig_flags "$out")
expect_in "RD copied into the reply" "$flags" "rd"
expect_not_in "RA clear on an authoritative-only server" "$flags" "ra"
expect_in "authoritative answer" "$flags" "aa"

out=$(q +opcode=15 "$apex" SOA)
expect_in "unknown opcode: NOTIMP" "$out" "status: NOTIMP"
# The opcode decides before the (absent) question, as Knot and NSD do it.
out=$(q +opcode=15 +header-only "$apex" SOA)
expect_in "unknown opcode without a question: NOTIMP" "$out" "status: NOTIMP"

if [[ " ${zones[*]} " != *" .="* ]]; then
    out=$(q zc-outside.invalid. A)
    expect_in "outside every zone: REFUSED" "$out" "status: REFUSED"
    expect_not_in "REFUSED is not authoritative" "$(dig_flags "$out")" "aa"
fi
scn_finish
