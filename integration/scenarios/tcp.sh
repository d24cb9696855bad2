#!/usr/bin/env bash
# TCP per RFC 7766 as dig and kdig use it: several queries over one kept-open connection
# (kdig +keepopen, dig +keepopen), each answered with its own question.
# shellcheck source=integration/scenario.sh
. "$(dirname "$0")/../scenario.sh"

mapfile -t zones < <(scn_zones)
if ((${#zones[@]} == 0)); then
    echo "no zones to serve (zones/ is empty)"
    exit 1
fi
scn_serve "${zones[@]}"
mapfile -t apexes < <(printf '%s\n' "${zones[@]}" | cut -d= -f1 | sed 's/\.*$/./')

args=()
for a in "${apexes[@]}"; do args+=("$a" SOA "$a" NS); done
out=$(kq +tcp +keepopen "${args[@]}")
got=$(grep -c "status: NOERROR" <<<"$out" || true)
expect_eq "kdig +keepopen: every query answered NOERROR" "$got" "$((${#apexes[@]} * 2))"
for a in "${apexes[@]}"; do
    expect_in "kdig +keepopen: SOA of $a" "$out" "SOA"
done

out=$(q +tcp +keepopen "${args[@]}")
got=$(grep -c "status: NOERROR" <<<"$out" || true)
expect_eq "dig +keepopen: every query answered NOERROR" "$got" "$((${#apexes[@]} * 2))"
got=$(grep -c "(TCP)" <<<"$out" || true)
expect_eq "dig +keepopen: all over TCP" "$got" "$((${#apexes[@]} * 2))"
scn_finish
