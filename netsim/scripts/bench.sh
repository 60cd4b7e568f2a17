#!/usr/bin/env bash
# Data-plane benchmark (`just bench-dataplane`): Swarm's masquerade vs dird vs nginx on the LB
# node, and dird with 1/64/255 load balancers, on netsim's fake swarm. Directly when this host
# has IPVS and we are root, otherwise in one throwaway VM (virtme-ng, stock Debian kernel, TCG).
# Checks first that every program is there (nginx too: it only ever runs inside a netsim namespace).
# Usage: netsim/scripts/bench.sh [netsim bench options, e.g. --rounds 7 --seconds 5 --rows]
# Prints one table (figures, not verdicts); exit status 0 unless the bench could not run.
set -euo pipefail

source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

need_tools nginx
cargo build -q --release -p netsim
bin="$target/release/netsim"

if "$bin" check-host >&2; then
    exec "$bin" bench --machine "this host ($(hostname)), no VM" "$@"
fi

mkdir -p "$root/.vm-results/bench"
exec "$bin" vm --results "$root/.vm-results/bench" -- bench --machine "throwaway VM (virtme-ng, qemu TCG, no KVM), 3 GiB" "$@"
