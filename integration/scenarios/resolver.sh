#!/usr/bin/env bash
# The caching resolver against Unbound over the shipped hierarchy served by zonecast on
# port 53 of 127.0.0.11-15: integration/resolver_diff.sh says what it compares. It has no
# peer to stand in for zonecast, so with ZC_SUBJECT set to a peer it is skipped.
if [[ ${ZC_SUBJECT:-zonecast} != zonecast ]]; then
    echo "resolver: skipped for ZC_SUBJECT=$ZC_SUBJECT"
    exit 0
fi
exec bash "$(dirname "$0")/../resolver_diff.sh"
