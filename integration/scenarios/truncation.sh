#!/usr/bin/env bash
# Truncation and the TCP retry: an RRset too big for 512 bytes (and one between 1232 and
# 4096) is served beside the shipped zones. Over UDP with a small buffer (or no EDNS) the
# reply must have TC and keep its OPT; dig then retries over TCP and gets every record;
# kdig over TCP gets them all at once. A 4096-byte buffer is capped at 1232.
# shellcheck source=integration/scenario.sh
. "$(dirname "$0")/../scenario.sh"

fixture=$SCN_DIR/zc-scenario.zone
{
    # shellcheck disable=SC2016 # zone-file directives, not expansions
    printf '$ORIGIN zc-scenario.\n$TTL 300\n'
    printf '@ SOA ns1 hostmaster 1 3600 900 604800 60\n@ NS ns1\nns1 A 127.0.0.1\n'
    for i in $(seq 1 40); do
        printf 'big TXT "record %02d %s"\n' "$i" "$(printf 'x%.0s' $(seq 1 40))"
    done
    for i in $(seq 1 60); do printf 'mid AAAA 2001:db8::%x\n' "$i"; done
    printf 'small A 192.0.2.1\n'
} >"$fixture"
mapfile -t zones < <(scn_zones)
scn_serve "${zones[@]}" "zc-scenario.=$fixture"

out=$(q +notcp +ignore +bufsize=512 big.zc-scenario. TXT)
expect_in "UDP bufsize=512: TC set" "$(dig_flags "$out")" "tc"
expect_in "UDP bufsize=512: OPT kept on the truncated reply" "$out" "; EDNS: version: 0"

out=$(q +notcp +ignore +noedns big.zc-scenario. TXT)
expect_in "UDP without EDNS: TC set" "$(dig_flags "$out")" "tc"
expect_not_in "UDP without EDNS: no OPT" "$out" "OPT PSEUDOSECTION"

out=$(q +notcp +bufsize=512 big.zc-scenario. TXT)
expect_in "dig retries over TCP after TC" "$out" "Truncated, retrying in TCP mode"
expect_in "the TCP retry gets all 40 records" "$out" "ANSWER: 40,"
expect_not_in "the TCP retry is not truncated" "$(dig_flags "$out")" "tc"

out=$(kq +tcp big.zc-scenario. TXT)
expect_in "kdig +tcp gets all 40 records" "$out" "ANSWER: 40;"
out=$(kq +notcp +bufsize=512 big.zc-scenario. TXT)
expect_in "kdig UDP bufsize=512: TC set" "$out" " tc"

# 60 AAAA records are about 1.7 kB: above the 1232 cap, below the 4096 asked for.
out=$(q +notcp +ignore +bufsize=4096 mid.zc-scenario. AAAA)
expect_in "UDP bufsize=4096 is capped at 1232: TC set" "$(dig_flags "$out")" "tc"
out=$(q +tcp mid.zc-scenario. AAAA)
expect_in "TCP gets all 60 AAAA" "$out" "ANSWER: 60,"

out=$(q +notcp +ignore +bufsize=512 small.zc-scenario. A)
expect_not_in "a small answer is not truncated" "$(dig_flags "$out")" "tc"
expect_in "a small answer arrives" "$out" "ANSWER: 1,"
scn_finish
