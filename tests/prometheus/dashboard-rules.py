"""Prints every PromQL expression of a Grafana dashboard as a Prometheus recording rule, so
that `promtool check rules` parses them, or with --exprs one per line (the real-swarm test
asks a real Prometheus each). Grafana's variables get values first: the dashboard's own
($instance) and Grafana's ($__rate_interval, $__range, $__interval)."""
import json
import re
import sys

VALUES = {
    "__rate_interval": "1m",
    "__range": "1h",
    "__interval": "15s",
    "instance": ".*",
}


def exprs(panels):
    for p in panels:
        yield from exprs(p.get("panels", []))
        for t in p.get("targets", []):
            yield p["title"], t["expr"]


def substitute(expr):
    def value(m):
        name = m.group(1) or m.group(2)
        if name not in VALUES:
            sys.exit(f"unknown Grafana variable ${name} in: {expr}")
        return VALUES[name]
    return re.sub(r"\$\{(\w+)\}|\$(\w+)", value, expr)


def main():
    dash = json.load(open(sys.argv[-1]))
    found = list(exprs(dash["panels"]))
    if not found:
        sys.exit("no PromQL expression in the dashboard")
    if sys.argv[1] == "--exprs":
        for _, expr in found:
            print(substitute(expr))
        return
    print("groups:\n  - name: dashboard\n    rules:")
    for i, (title, expr) in enumerate(found):
        print(f"      - record: dashboard:panel_{i}")
        print(f"        expr: {json.dumps(substitute(expr))}")
        print(f"        labels: {{ panel: {json.dumps(title)} }}")


main()
