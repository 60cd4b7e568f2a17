#!/usr/bin/env bash
# Run netsim scenario files: directly when this host has IPVS and we are root, otherwise in a
# throwaway VM (virtme-ng, stock Debian kernel, TCG). Checks first that every program is there
# (scripts/install-deps installs them).
# Usage: netsim/scripts/scenarios.sh [--expect-fail FILE]... [--reference DIR]... FILE...
# Exit status: netsim's verdict (0 all hold, 1 some expectation failed, 2 error).
set -euo pipefail

source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

need_tools
cargo build -q -p netsim
bin="$target/debug/netsim"

if "$bin" check-host >&2; then
    exec "$bin" run "$@"
fi

mkdir -p "$root/.vm-results"
exec "$bin" vm --results "$root/.vm-results" -- run "$@"
