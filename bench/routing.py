"""Routing benchmark: `python -m bench.routing` prints label sets per second for `match_many` and amtool.

A generated 2,000-route tree shaped like a real organisation's (teams, services, severities,
environments, regex and negative matchers, `continue` fan-outs) and 200,000 label sets with the
repetition real alerts have (a few thousand alert identities, many instances/pods each).
"""

from __future__ import annotations

import argparse
import random
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

from collectors.alertmanager_config import load_alertmanager_config
from rules.routing import CompiledTree

SEVERITIES = ["critical", "warning", "info"]
ENVS = ["prod", "staging", "dev"]
CLUSTERS = ["eu-prod-1", "eu-prod-2", "us-prod-1", "eu-staging-1", "dev-1"]
AMTOOL = "/usr/bin/amtool"


def _team(i: int) -> str:
    return f"team{i:02d}"


def _service(team: int, j: int) -> str:
    return f"svc-{team:02d}-{j:02d}"


def generate_config(n_routes: int = 2000, seed: int = 1) -> dict[str, Any]:
    """An alertmanager.yml (as a dict) whose tree has exactly `n_routes` routes below the root."""
    rnd = random.Random(seed)
    receivers = {"default", "null", "audit", "platform-pager"}
    routes: list[dict[str, Any]] = [
        {"receiver": "null", "matchers": ['alertname=~"Watchdog|InfoInhibitor"']},
        {"receiver": "audit", "matchers": ['severity="critical"', 'env="prod"'], "continue": True},
        {
            "receiver": "platform-pager",
            "matchers": ['alertname=~"Node.*|Kube.*"', 'cluster!~"dev-.*"'],
            "group_wait": "10s",
            "continue": True,
        },
    ]
    count = len(routes)
    team = 0
    while count < n_routes:
        t = _team(team)
        receivers |= {f"{t}-slack", f"{t}-pager", f"{t}-ticket"}
        team_route: dict[str, Any] = {"receiver": f"{t}-slack", "matchers": [f'team="{t}"'], "routes": []}
        count += 1
        for j in range(rnd.randint(6, 10)):
            if count >= n_routes:
                break
            svc = _service(team, j)
            svc_matcher = f'service=~"{svc}|{svc}-canary"' if j % 3 == 0 else f'service="{svc}"'
            svc_route: dict[str, Any] = {"matchers": [svc_matcher], "routes": []}
            if j % 4 == 1:
                svc_route["group_by"] = ["alertname", "instance"]
            count += 1
            leaves: list[dict[str, Any]] = [
                {"receiver": f"{t}-pager", "matchers": ['severity="critical"', 'env="prod"'], "group_wait": "15s"},
                {"receiver": f"{t}-ticket", "matchers": ['severity=~"warning|info"', 'env="prod"']},
                {"receiver": "null", "matchers": ['env!="prod"', 'severity!="critical"']},
                {"receiver": f"{t}-pager", "matchers": ['alertname=~".*Down"'], "continue": True},
                {"receiver": f"{t}-ticket", "matchers": ['namespace!~"kube-.*"', 'severity="warning"']},
                {"receiver": f"{t}-slack", "matchers": ['cluster=~"eu-.*"', 'severity="info"']},
            ]
            for leaf in leaves[: rnd.randint(3, len(leaves))]:
                if count >= n_routes:
                    break
                svc_route["routes"].append(leaf)
                count += 1
            team_route["routes"].append(svc_route)
        routes.append(team_route)
        team += 1
    return {
        "route": {
            "receiver": "default",
            "group_by": ["alertname", "cluster"],
            "routes": routes,
        },
        "receivers": [{"name": r} for r in sorted(receivers)],
    }


def count_routes(route: dict[str, Any]) -> int:
    return sum(1 + count_routes(c) for c in route.get("routes") or [])


def write_config(path: Path, n_routes: int = 2000, seed: int = 1) -> Path:
    path.write_text(yaml.safe_dump(generate_config(n_routes, seed), sort_keys=False))
    return path


def generate_label_sets(n: int, n_teams: int = 40, seed: int = 2, identities: int = 3000) -> list[dict[str, str]]:
    """`n` alert label sets drawn (Zipf-like) from `identities` alert identities, with per-alert instance/pod."""
    rnd = random.Random(seed)
    alertnames = [
        "HighErrorRate",
        "HighLatency",
        "TargetDown",
        "PodCrashLooping",
        "KubePodNotReady",
        "NodeDiskFull",
        "QueueLagHigh",
        "CertificateExpiry",
        "Watchdog",
        "SLOBurnRate",
    ]
    pool: list[dict[str, str]] = []
    for _ in range(identities):
        team = rnd.randrange(n_teams + 2)  # a few teams the tree does not know
        ls = {
            "alertname": rnd.choice(alertnames),
            "team": _team(team),
            "service": _service(team, rnd.randrange(11)) + rnd.choice(["", "", "", "-canary"]),
            "severity": rnd.choice(SEVERITIES),
            "env": rnd.choice(ENVS),
            "cluster": rnd.choice(CLUSTERS),
            "namespace": rnd.choice(["kube-system", "default", f"team{team:02d}"]),
            "job": rnd.choice(["api", "worker", "node-exporter", "blackbox"]),
        }
        if rnd.random() < 0.1:
            del ls["env"]
        pool.append(ls)
    weights = [1.0 / (i + 1) for i in range(len(pool))]
    picks = rnd.choices(pool, weights=weights, k=n)
    out = []
    for i, base in enumerate(picks):
        ls = dict(base)
        ls["instance"] = f"10.0.{i % 250}.{(i * 7) % 250}:9100"
        ls["pod"] = f"{ls['service']}-{i % 97:x}"
        out.append(ls)
    return out


def _amtool_call(config: Path, labels: dict[str, str]) -> float:
    argv = [AMTOOL, "config", "routes", "test", f"--config.file={config}"]
    argv += [f'{k}="{v}"' for k, v in labels.items()]
    t0 = time.perf_counter()
    subprocess.run(argv, capture_output=True, check=True, stdin=subprocess.DEVNULL)
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--routes", type=int, default=2000)
    ap.add_argument("--label-sets", type=int, default=200_000)
    ap.add_argument("--amtool-calls", type=int, default=10)
    args = ap.parse_args()

    with tempfile.TemporaryDirectory() as d:
        config = write_config(Path(d) / "alertmanager.yml", args.routes)
        t0 = time.perf_counter()
        facts = load_alertmanager_config(config)
        t_load = time.perf_counter() - t0
        t0 = time.perf_counter()
        tree = CompiledTree(facts)
        t_compile = time.perf_counter() - t0
        label_sets = generate_label_sets(args.label_sets)
        distinct = len({tuple(ls.get(n) for n in tree.label_names) for ls in label_sets})
        n_routes = count_routes(yaml.safe_load(config.read_text())["route"])

        t0 = time.perf_counter()
        results = tree.match_many(label_sets)
        t_many = time.perf_counter() - t0
        matched = sum(len(r) for r in results)

        sample = label_sets[: min(20_000, len(label_sets))]
        t0 = time.perf_counter()
        for ls in sample:
            tree.match_uncached(ls)
        t_uncached = time.perf_counter() - t0

        per_set = t_many / len(label_sets)
        print(f"routes: {n_routes} (+ root), label names read by the tree: {len(tree.label_names)}")
        print(f"load alertmanager.yml: {t_load * 1000:.0f} ms, compile: {t_compile * 1000:.0f} ms")
        print(f"label sets: {len(label_sets)} ({distinct} distinct on the tree's labels), routes matched: {matched}")
        print(
            f"match_many: {t_many:.3f} s = {len(label_sets) / t_many:,.0f} label sets/s ({per_set * 1e6:.2f} us each)"
        )
        print(f"match_uncached (no result cache): {len(sample) / t_uncached:,.0f} label sets/s")

        if shutil.which(AMTOOL) or Path(AMTOOL).exists():
            calls = [_amtool_call(config, ls) for ls in label_sets[: args.amtool_calls]]
            am = sum(calls) / len(calls)
            print(f"amtool: {am * 1000:.1f} ms per label set ({len(calls)} calls) = {1 / am:,.0f} label sets/s")
            print(f"ratio: match_many is {am / per_set:,.0f}x faster per label set than amtool")
        else:
            print(f"amtool: not installed ({AMTOOL})")


if __name__ == "__main__":
    main()
