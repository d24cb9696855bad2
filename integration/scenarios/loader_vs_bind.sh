#!/usr/bin/env bash
# The zone-file loader against BIND's: `zonecast check --print` and `named-checkzone -D`
# must dump the same records for the shipped zones and the loader's test zones.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
ZONECAST=${ZONECAST:-${ZC_BIN:-$here/../target/release/zonecast}} exec "$here/loader/compare-bind"
