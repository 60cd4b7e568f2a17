# dird — run `just --list` for the recipes.

set shell := ["bash", "-euo", "pipefail", "-c"]

# Everything: unit, snapshot and property tests, then the scenarios (VM when needed).
test: test-unit

# Unit, snapshot (insta) and property (proptest) tests; no root needed.
test-unit:
    cargo test --workspace

# Print the rules dird would install for an example two-load-balancer swarm.
plan *ARGS:
    cargo run -q -p dird -- plan --ingress-subnet 10.0.0.0/24 --node-ip 10.0.0.2 --ingress-gateway-ips 10.0.0.2,10.0.0.3 {{ARGS}}

# Install the packages the tests and the demo need (apt, pip, cargo).
deps:
    scripts/install-deps --docker
