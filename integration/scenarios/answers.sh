#!/usr/bin/env bash
# Serves the shipped zones and checks what dig and kdig get over UDP and TCP against the
# zone files themselves (as BIND's named-checkzone reads them): each queried RRset must
# come back whole and authoritative, a missing type is NODATA with the SOA, a missing
# name is NXDOMAIN with the SOA, and a name below a cut is a referral without AA.
# shellcheck source=integration/scenario.sh
. "$(dirname "$0")/../scenario.sh"

mapfile -t zones < <(scn_zones)
if ((${#zones[@]} == 0)); then
    echo "no zones to serve (zones/ is empty)"
    exit 1
fi
scn_serve "${zones[@]}"

for z in "${zones[@]}"; do
    apex=${z%%=*} file=${z#*=}
    [[ $apex == . ]] || apex=${apex%.}.
    records=$(zone_records "$apex" "$file")
    # Cuts below the apex (their data and everything under them is not authoritative).
    cuts=$(awk -v apex="$apex" '$4 == "NS" && $1 != apex { print $1 }' <<<"$records" | sort -u)
    below_cut() {
        local n=$1 c
        for c in $cuts; do
            if [[ $n == "$c" || $n == *".$c" ]]; then return 0; fi
        done
        return 1
    }
    # Up to 30 (owner, type) pairs of authoritative, non-wildcard, non-CNAME data.
    mapfile -t pairs < <(awk '$4 != "CNAME" && $4 != "RRSIG" && $1 !~ /^\*/ { print $1, $4 }' \
        <<<"$records" | sort -u)
    n=0
    for pair in "${pairs[@]}"; do
        owner=${pair% *} type=${pair#* }
        below_cut "$owner" && continue
        n=$((n + 1))
        ((n > 30)) && break
        want=$(awk -v o="$owner" -v t="$type" '$1 == o && $4 == t' <<<"$records")
        for tr in +notcp +tcp; do
            out=$(q "$tr" "$owner" "$type")
            expect_in "$owner $type $tr status" "$out" "status: NOERROR"
            expect_in "$owner $type $tr AA" "$(dig_flags "$out")" "aa"
            got=$(q "$tr" +noall +answer "$owner" "$type" | norm_records)
            expect_eq "$owner $type $tr answer equals the zone's RRset" "$got" "$want"
        done
        out=$(kq +tcp "$owner" "$type")
        expect_in "kdig +tcp $owner $type" "$out" "status: NOERROR"
        count=$(kq +noall +answer "$owner" "$type" | grep -c . || true)
        expect_eq "kdig $owner $type record count" "$count" "$(grep -c . <<<"$want")"
    done
    soa=$(awk -v a="$apex" '$1 == a && $4 == "SOA"' <<<"$records")

    # CNAMEs: the answer starts with the zone's CNAME record, whatever follows it.
    mapfile -t cnames < <(awk '$4 == "CNAME" && $1 !~ /^\*/' <<<"$records" | head -10)
    for rec in "${cnames[@]}"; do
        owner=${rec%% *}
        below_cut "$owner" && continue
        got=$(q +noall +answer "$owner" A | norm_records)
        expect_in "CNAME $owner is in the answer" "$got" "$rec"
    done

    # Wildcards: a name below one gets the wildcard's records under the queried name.
    mapfile -t wilds < <(awk '$1 ~ /^\*\./ && $4 != "CNAME" { print $1, $4 }' <<<"$records" | sort -u | head -10)
    for pair in "${wilds[@]}"; do
        owner=${pair% *} type=${pair#* }
        below_cut "$owner" && continue
        name=zc-wild.${owner#\*.}
        want=$(awk -v o="$owner" -v t="$type" -v n="$name" '$1 == o && $4 == t { $1 = n; print }' <<<"$records" | sort)
        for tr in +notcp +tcp; do
            got=$(q "$tr" +noall +answer "$name" "$type" | norm_records)
            expect_eq "wildcard $owner $type as $name $tr" "$got" "$want"
        done
    done

    # NODATA: a name with data but no NULL record.
    owner=$(awk -v apex="$apex" '$1 == apex { print $1; exit }' <<<"$records")
    out=$(q "$owner" NULL)
    expect_in "NODATA $owner status" "$out" "status: NOERROR"
    expect_in "NODATA $owner has no answer" "$out" "ANSWER: 0"
    got=$(q +noall +authority "$owner" NULL | norm_records | awk '$4 == "SOA" { print $1, $4, $5, $6, $7 }')
    expect_eq "NODATA $owner SOA in authority" "$got" "$(awk '{ print $1, $4, $5, $6, $7 }' <<<"$soa")"

    # NXDOMAIN, unless a wildcard at the apex covers every name.
    if ! grep -q "^\*\.$apex " <<<"$records" && [[ $apex != . ]]; then
        name=zc-nonexistent-$RANDOM.$apex
        out=$(q "$name" A)
        expect_in "NXDOMAIN $name" "$out" "status: NXDOMAIN"
        expect_in "NXDOMAIN $name AA" "$(dig_flags "$out")" "aa"
        out=$(kq "$name" A)
        expect_in "kdig NXDOMAIN $name" "$out" "status: NXDOMAIN"
    fi

    # A referral at each cut that is not itself a zone served here.
    for c in $cuts; do
        served=0
        for s in "${zones[@]}"; do
            sn=${s%%=*}
            [[ ${sn%.}. == "$c" ]] && served=1
        done
        ((served)) && continue
        out=$(q "host.$c" A)
        expect_in "referral below $c status" "$out" "status: NOERROR"
        expect_not_in "referral below $c has no AA" "$(dig_flags "$out")" "aa"
        got=$(q +noall +authority "host.$c" A | norm_records | awk '$4 == "NS" { print $1, $4, $5 }')
        want=$(awk -v c="$c" '$1 == c && $4 == "NS" { print $1, $4, $5 }' <<<"$records" | sort)
        expect_eq "referral below $c NS set" "$got" "$want"
    done
done
scn_finish
