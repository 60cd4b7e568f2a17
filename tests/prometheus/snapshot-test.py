"""Turns one scrape of dird's /metrics (a file) into a `promtool test rules` file: every sample
held for 10 minutes under job="dird", instance="snapshot", and the expectation that
DirdTasksFailing fires with the snapshot's number of failing tasks. Exits non-zero when the
snapshot shows no failing task, so that a snapshot of a healthy node cannot pass."""
import json
import re
import sys

SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (\S+)$')
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def samples(text):
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = SAMPLE.match(line)
        if not m:
            sys.exit(f"not a sample line: {line!r}")
        name, labels, value = m.groups()
        pairs = dict(LABEL.findall(labels or ""))
        yield name, pairs, float(value)


def series(name, labels):
    labels = dict(labels, job="dird", instance="snapshot")
    inner = ",".join(f'{k}={json.dumps(v)}' for k, v in sorted(labels.items()))
    return f"{name}{{{inner}}}"


def main():
    text = open(sys.argv[1]).read()
    rules = sys.argv[2]
    found = list(samples(text))
    failing = [v for n, l, v in found if n == "dird_tasks" and l.get("state") == "failing"]
    if not failing or failing[0] < 1:
        sys.exit(f"{sys.argv[1]}: no failing task in the snapshot (dird_tasks{{state=\"failing\"}}: {failing})")
    print(f"rule_files: [{json.dumps(rules)}]")
    print("evaluation_interval: 1m")
    print("tests:")
    print("  - interval: 1m")
    print("    input_series:")
    for name, labels, value in found:
        if value != value or value in (float("inf"), float("-inf")):
            continue
        print(f"      - series: {json.dumps(series(name, labels))}")
        print(f"        values: '{value:g}x10'")
    print("    alert_rule_test:")
    print("      - eval_time: 3m")
    print("        alertname: DirdTasksFailing")
    print("      - eval_time: 6m")
    print("        alertname: DirdTasksFailing")
    print("        exp_alerts:")
    print("          - exp_labels: { severity: warning, job: dird, instance: snapshot, state: failing }")
    print("            exp_annotations:")
    print(f"              summary: \"{failing[0]:g} task(s) on snapshot have failed applies for 5 minutes\"")
    print("              description: \"`dird status` names them and the last error; `dird doctor` checks each namespace.\"")


main()
