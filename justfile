# dird — run `just --list` for the recipes.

set shell := ["bash", "-euo", "pipefail", "-c"]

# Everything: unit, snapshot and property tests, then the scenarios (VM when needed).
test: test-unit test-scenarios

# Unit, snapshot (insta) and property (proptest) tests, and applies in throwaway namespaces (root).
test-unit:
    cargo test --workspace

# Print the rules dird would install for an example two-load-balancer swarm.
plan *ARGS:
    cargo run -q -p dird -- plan --ingress-subnet 10.0.0.0/24 --node-ip 10.0.0.2 --ingress-gateway-ips 10.0.0.2,10.0.0.3 {{ARGS}}

# Install the packages the tests and the demo need (apt, pip, cargo).
deps:
    scripts/install-deps --docker

# ---- netsim (owned by the netsim crate; see netsim/README.md) ----------------------------

# Run scenario files: directly when root with IPVS, else in a throwaway VM (installs what is missing).
[positional-arguments]
scenario +FILES:
    bash netsim/scripts/scenarios.sh "$@"

# Every scenario in scenarios/, plus the runner self-test and the comparison with the Docker capture.
test-scenarios:
    bash netsim/scripts/scenarios.sh --expect-fail netsim/tests/fixtures/must-fail.toml --reference netsim/tests/reference/docker-20.10-swarm-1node scenarios/*.toml

# ---- benchmarks -------------------------------------------------------------------------

# Every benchmark (control plane, plan computation, data plane in the VM), printed as one table.
bench:
    scripts/bench
