# dird — run `just --list` for the recipes.

set shell := ["bash", "-euo", "pipefail", "-c"]

# Everything: unit, snapshot and property tests, the Debian package, the scenarios (VM when needed), the real swarm.
test: test-unit test-prometheus test-stack test-deb test-scenarios test-docker

# Unit, snapshot (insta) and property (proptest) tests, and applies in throwaway namespaces (root).
test-unit:
    cargo test --workspace

# promtool on deploy/: the alert rules checked and unit-tested, the dashboard's PromQL parsed, and a scrape of a daemon whose task fails its applies (dird/tests/daemon_loop.rs) firing DirdTasksFailing.
test-prometheus:
    snapshot=$(mktemp); trap 'rm -f "$snapshot"' EXIT; \
    DIRD_FAILING_METRICS_OUT="$snapshot" cargo test -q -p dird --test daemon_loop; \
    FAILING_METRICS="$snapshot" tests/prometheus/check

# The Debian package target/deb/dird_<version>_amd64.deb from a release build (DIRD_BIN: another binary).
deb:
    scripts/build-deb

# The container image dird:<version> (release binary + both iptables backends) for `docker stack deploy -c deploy/dird-stack.yml`; --tar FILE without a Docker daemon.
[positional-arguments]
image *ARGS:
    cargo build --release -q -p dird
    scripts/build-image "$@"

# Builds the package from the debug binary, installs it with dpkg -i into a throwaway root and checks it.
test-deb:
    tests/deb/test-deb

# What deploy/dird-stack.yml grants: capabilities, read-only binds but the two dird writes through, a size-limited tmpfs, memory and CPU limits.
test-stack:
    tests/deploy/check-stack deploy/dird-stack.yml

# Print the rules dird would install for an example two-load-balancer swarm.
plan *ARGS:
    cargo run -q -p dird -- plan --ingress-subnet 10.0.0.0/24 --node-ip 10.0.0.2 --ingress-gateway-ips 10.0.0.2,10.0.0.3 {{ARGS}}

# Install the packages the tests and the demo need (apt, pip, cargo).
deps:
    scripts/install-deps

# The gap between our pins and crates.io: pins behind a newer release, lock entries `cargo update` would move, duplicate versions, the dependencies' highest rust-version (asks the registry: not part of `test`).
outdated:
    scripts/outdated

# ---- netsim (owned by the netsim crate; see netsim/README.md) ----------------------------

# Run scenario files: directly when root with IPVS, else in a throwaway VM (installs what is missing).
[positional-arguments]
scenario +FILES:
    bash netsim/scripts/scenarios.sh "$@"

# Every scenario in scenarios/, plus the runner self-test and the comparison with the Docker capture.
test-scenarios:
    bash netsim/scripts/scenarios.sh --expect-fail netsim/tests/fixtures/must-fail.toml --reference netsim/tests/reference/docker-20.10-swarm-1node --reference netsim/tests/reference/docker-26.1-swarm-1node --reference netsim/tests/reference/docker-28.5-swarm-1node scenarios/*.toml

# Data plane: masquerade vs dird vs nginx (conns/s, p50/p99, MB/s), dird at 1/64/255 LBs; VM when needed.
[positional-arguments]
bench-dataplane *ARGS:
    bash netsim/scripts/bench.sh "$@"

# ---- benchmarks -------------------------------------------------------------------------

# Every benchmark (control plane, plan computation, data plane in the VM), printed as one table.
bench:
    scripts/bench

# ---- real Docker swarm in the throwaway VM (tests/docker/; see tests/docker/README.md) -------
# Environment: DOCKER_ENGINE=20.10|26.1|28.5 (one engine; default: all three for test-docker,
# 20.10 for the others), DIRD_BIN (default: builds and uses target/debug/dird), DIRD_ARGS (extra dird
# flags), DIRD_PHASES=a (plumbing only: what a task sees before dird), DIRD_2NODE_AUTO=0 (skip
# auto), DIRD_BACKENDS=0 (skip the iptables-backend runs).

# Every real-swarm test on Docker 28.5, 26.1 and 20.10 (tests/docker/test-matrix says which runs on which engine).
test-docker:
    if [[ -z "${DIRD_BIN:-}" ]]; then cargo build -q -p dird; export DIRD_BIN=target/debug/dird; fi; \
    tests/docker/test-matrix

# One-node swarm: masquerade before dird, client IP with dird (running + later tasks), dockerd restart, uninstall.
test-docker-1node:
    if [[ -z "${DIRD_BIN:-}" ]]; then cargo build -q -p dird; export DIRD_BIN=target/debug/dird; fi; \
    tests/docker/test-1node

# One node, chaos (phases b, d, x) on the release build (as packaged) unless DIRD_BIN is set: churn under scale + rolling update, drift, hung iptables, bad reload, kill -9 dockerd, host untouched.
test-chaos:
    if [[ -z "${DIRD_BIN:-}" ]]; then cargo build --release -q -p dird; export DIRD_BIN=target/release/dird; fi; \
    tests/docker/test-chaos

# Two VMs (manager = load balancer + client, worker = tasks) joined by a qemu socket link.
test-docker-2node:
    if [[ -z "${DIRD_BIN:-}" ]]; then cargo build -q -p dird; export DIRD_BIN=target/debug/dird; fi; \
    tests/docker/test-2node

# Capture a real one-node swarm's rules (netsim's reference services) into target/docker-tests/.
capture:
    tests/docker/capture

# Installs what it needs, boots a real one-node swarm, shows what a task sees before and after dird.
demo:
    scripts/install-deps
    if [[ -z "${DIRD_BIN:-}" ]]; then cargo build -q -p dird; export DIRD_BIN=target/debug/dird; fi; \
    tests/docker/demo
