"""`python -m bench --size S|M|L`: the large-organisation benchmark.

Generates the organisation (cached under `$TMPDIR/ownership-bench/<size>`), then runs every phase in
a fresh process so that "nothing cached" means it:

- cold: collection from files with empty parse caches, the snapshot stored, then what `ownership serve`
  publishes (graph, the paging answer of every alert, checks, summary, metrics);
- warm: the same after 1 % of the rule files changed (unchanged files come from the on-disk parse cache);
- snapshot: the same analysis from the stored snapshot, then memos and handoffs;
- api: `services/{name}/pages` under 50 concurrent clients against the API serving that snapshot.

Prints a table, then `RESULT size=... cold_s=... warm_s=... snapshot_s=... rss_mib=... api_p99_ms=...`;
`--repeat N` runs the three phases N times and shows each phase's median round (and lists every round).
Timings are wall-clock seconds of the phase's process from its start (interpreter and imports
included) to its answer; rss_mib is the largest peak resident set of the analysis processes (a forked
child's included; `--pss` also samples the summed PSS of a phase's processes while it has a child, which
counts the child's private pages once and shared pages once, at the cost of slower timings).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from bench.generate import SIZES, generate

ROOT = Path(__file__).resolve().parent.parent


def _tree(pid: int) -> list[int]:
    """A process and its descendants (Linux /proc)."""
    out = [pid]
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children") as f:
                for child in f.read().split():
                    out += _tree(int(child))
    except OSError:
        pass
    return out


def _pss_kib(pid: int) -> int:
    """The proportional set size of a process: its private pages plus its share of the pages it shares."""
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


def _worker(args: list[str], env: dict[str, str], pss: bool = False) -> dict[str, Any]:
    """Run one phase. `pss`: also sample the summed PSS of its processes every 0.1 s while it has children
    (`tree_pss_mib`): a forked child shares the parent's pages, so the largest resident set alone misses the
    child's private pages, and resident sets added up would count shared pages twice. Reading a process's
    PSS walks its page tables under its memory lock (~18 ms for 900 MB): the timings of such a run are slower
    (measured: cold 4.7 s), so it is an option of its own."""
    t0 = time.perf_counter()
    p = subprocess.Popen(
        [sys.executable, "-m", "bench.worker", *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    peak = [0]
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.1):
            pids = _tree(p.pid)
            if len(pids) > 1:
                peak[0] = max(peak[0], sum(_pss_kib(q) for q in pids))

    sampler = threading.Thread(target=sample, daemon=True)
    if pss:
        sampler.start()
    try:
        stdout, stderr = p.communicate(timeout=1800)
    except subprocess.TimeoutExpired:
        p.kill()
        p.communicate()
        raise
    finally:
        done.set()
        if pss:
            sampler.join()
    wall = time.perf_counter() - t0
    if p.returncode != 0:
        sys.stderr.write(stderr)
        raise SystemExit(f"bench.worker {' '.join(args)} failed with exit code {p.returncode}")
    out: dict[str, Any] = json.loads(stdout.strip().splitlines()[-1])
    out["wall_s"] = wall
    out["tree_pss_mib"] = peak[0] / 1024.0
    return out


def _touch_rule_files(org: Path, fraction: float, round_: int) -> int:
    """Change `fraction` of the rule files (an annotation's text), as an edit to a few teams' rules would."""
    files = sorted((org / "prometheus" / "rules").rglob("*.yml"))
    n = max(1, round(len(files) * fraction))
    rnd = random.Random(round_)
    for f in rnd.sample(files, n):
        text = f.read_text(encoding="utf-8")
        f.write_text(text.replace('summary: "', f'summary: "[edit {round_}] ', 1), encoding="utf-8")
    return n


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _load_test(
    org: Path, env: dict[str, str], services: list[str], clients: int, requests: int, limit_s: float
) -> dict[str, Any]:
    import httpx

    port = _free_port()
    token = "bench-token-" + os.urandom(8).hex()
    srv = subprocess.Popen(
        [sys.executable, "-m", "bench.serve", "--dir", str(org), "--port", str(port), "--token", token],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        t0 = time.perf_counter()
        base = f"http://127.0.0.1:{port}"
        while True:
            if srv.poll() is not None:
                raise SystemExit(f"bench.serve exited: {srv.stderr.read() if srv.stderr else ''}")
            try:
                if httpx.get(f"{base}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.perf_counter() - t0 > 600:
                raise SystemExit("bench.serve did not become ready in 600 s")
            time.sleep(0.2)
        startup = time.perf_counter() - t0
        from bench.load import run

        rnd = random.Random(7)
        plan = [f"/api/v1/services/{rnd.choice(services)}/pages" for _ in range(requests)]
        got = run("127.0.0.1", port, token, plan, clients, limit_s)
        return {
            "startup_s": startup,
            "requests": len(got.latencies_s),
            "errors": got.errors,
            "rps": len(got.latencies_s) / got.elapsed_s if got.elapsed_s else 0.0,
            "p50_ms": got.pct_ms(0.50),
            "p99_ms": got.pct_ms(0.99),
            "max_ms": got.pct_ms(1.0),
        }
    finally:
        srv.terminate()
        try:
            srv.wait(timeout=10)
        except subprocess.TimeoutExpired:
            srv.kill()


def machine() -> dict[str, str]:
    cpu = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "nproc": str(os.cpu_count()),
        "cpu": cpu,
        "python": sys.version.split()[0],
        "load": " ".join(f"{x:.2f}" for x in os.getloadavg()),
        "date": time.strftime("%Y-%m-%d"),
    }


def _phase_s(x: dict[str, Any]) -> float:
    """A phase's figure: its process's wall time, without the memos and handoffs (the snapshot phase's)."""
    return float(x["wall_s"] - x["documents_s"])


def _median_round(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The run of the median figure (the lower middle one of an even number)."""
    return sorted(runs, key=_phase_s)[(len(runs) - 1) // 2]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m bench", description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    ap.add_argument("--size", choices=sorted(SIZES), default="S")
    ap.add_argument("--out", type=Path, default=None, help="where the organisation is generated (default: cache)")
    ap.add_argument("--clients", type=int, default=50)
    ap.add_argument("--requests", type=int, default=5000, help="requests of the load test (at most)")
    ap.add_argument("--limit", type=float, default=60.0, help="seconds of the load test (at most)")
    ap.add_argument("--documents", type=int, default=20, help="memos and handoffs built (timed per document)")
    ap.add_argument("--skip-api", action="store_true")
    ap.add_argument("--pss", action="store_true", help="sample the summed PSS of each phase's processes (slows them)")
    ap.add_argument(
        "--repeat",
        type=int,
        default=1,
        help="rounds of the cold, warm and snapshot phases (each cold from empty caches and store); the\n"
        "table and RESULT show the median round of each phase, a line lists every round",
    )
    a = ap.parse_args(argv)
    if a.repeat < 1:
        ap.error("--repeat must be at least 1")

    m = machine()
    print(f"machine: {m['nproc']} cores, {m['cpu']}, Python {m['python']}, load {m['load']}, {m['date']}")
    t0 = time.perf_counter()
    org = generate(a.size, a.out)
    info = json.loads((org / "org.json").read_text())
    print(
        f"organisation {a.size} in {org} ({time.perf_counter() - t0:.1f}s): "
        + ", ".join(f"{k}={v}" for k, v in info.items() if k != "size")
    )

    env = {**os.environ, "PYTHONHASHSEED": "0"}
    # the project's bytecode compiled once (into its __pycache__ folders, git-ignored), as `pip install` does
    # for an installed agent and its dependencies; a shell that sets PYTHONDONTWRITEBYTECODE would otherwise
    # have every phase compile ~50 modules from source (~0.08 s of CPU each)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    subprocess.run(
        [sys.executable, "-m", "compileall", "-q", "agent", "collectors", "rules", "bench"],
        cwd=ROOT,
        env=env,
        check=True,
    )
    cache = Path(tempfile.mkdtemp(prefix="ownership-bench-cache-"))
    env["OWNERSHIP_CACHE_DIR"] = str(cache)
    rounds: list[tuple[dict[str, Any], dict[str, Any], dict[str, Any]]] = []
    try:
        for _ in range(a.repeat):
            for folder in (org / "store", cache):  # nothing cached, nothing stored
                shutil.rmtree(folder, ignore_errors=True)
                folder.mkdir()
            cold = _worker(["analysis", "--dir", str(org)], env, a.pss)
            changed = _touch_rule_files(org, 0.01, 1)
            warm = _worker(["analysis", "--dir", str(org)], env, a.pss)
            snap = _worker(["snapshot", "--dir", str(org), "--documents", str(a.documents)], env, a.pss)
            rounds.append((cold, warm, snap))
        cold, warm, snap = (_median_round([r[i] for r in rounds]) for i in range(3))
        api: dict[str, Any] = {}
        if not a.skip_api:
            services = [f"svc-{i:05d}" for i in range(info["services"])]
            api = _load_test(org, env, services, a.clients, a.requests, a.limit)
    finally:
        shutil.rmtree(cache, ignore_errors=True)

    rows = [
        ("phase", "cold", "warm", "snapshot"),
        ("process wall s (no documents)", *(f"{_phase_s(x):.2f}" for x in (cold, warm, snap))),
        ("  imports s", *(f"{x['import_s']:.2f}" for x in (cold, warm, snap))),
        ("  collect (files) s", f"{cold['collect_s']:.2f}", f"{warm['collect_s']:.2f}", "-"),
        (
            "  store: waiting for the save / load s",
            f"{cold['save_wait_s']:.2f}",
            f"{warm['save_wait_s']:.2f}",
            f"{snap['load_snapshot_s']:.2f}",
        ),
        ("  graph s", *(f"{x['graph_s']:.2f}" for x in (cold, warm, snap))),
        ("  resolution (all alerts) s", *(f"{x['resolve_s']:.2f}" for x in (cold, warm, snap))),
        ("  checks s", *(f"{x['checks_s']:.2f}" for x in (cold, warm, snap))),
        ("  summary + metrics s", *(f"{x['summary_metrics_s']:.2f}" for x in (cold, warm, snap))),
        ("  save expression facts s", *(f"{x['save_exprs_s']:.2f}" for x in (cold, warm, snap))),
        ("CPU s: the process (no documents)", *(f"{x['cpu_s']:.2f}" for x in (cold, warm, snap))),
        ("CPU s: its forked children", *(f"{x['children_cpu_s']:.2f}" for x in (cold, warm, snap))),
        ("peak RSS MiB (largest process)", *(f"{x['rss_mib']:.0f}" for x in (cold, warm, snap))),
    ]
    w = [max(len(r[i]) for r in rows) for i in range(4)]
    for r in rows:
        print("  ".join(c.ljust(w[i]) if i == 0 else c.rjust(w[i]) for i, c in enumerate(r)))
    print("collectors (cold, concurrent threads): " + ", ".join(f"{k} {v:.2f}s" for k, v in cold["sources"].items()))
    print(
        f"warm: {changed} rule files changed; collectors: "
        + ", ".join(f"{k} {v:.2f}s" for k, v in warm["sources"].items())
    )
    print(
        f"answers: {snap['alerts']} alerting rules, {snap['paging_alerts']} page someone; {snap['findings']} findings; "
        f"memo {snap['memo_s'] * 1000:.0f} ms, handoff {snap['handoff_s'] * 1000:.0f} ms per document "
        f"({snap['documents']} each)"
    )
    if api:
        print(
            f"API services/{{name}}/pages, {a.clients} clients: {api['requests']} requests, {api['errors']} errors, "
            f"{api['rps']:.0f} req/s, p50 {api['p50_ms']:.1f} ms, p99 {api['p99_ms']:.1f} ms, max {api['max_ms']:.0f} ms "
            f"(server ready in {api['startup_s']:.1f}s)"
        )
    if len(rounds) > 1:
        print(
            "rounds (process wall s; the table shows each phase's median round): "
            + "; ".join(
                f"{name} " + " ".join(f"{_phase_s(r[i]):.2f}" for r in rounds)
                for i, name in enumerate(("cold", "warm", "snapshot"))
            )
        )
    rss = max(x["rss_mib"] for r in rounds for x in r)
    if a.pss:
        print(
            "peak summed PSS of a phase's processes while it had a child, MiB (--pss): "
            + ", ".join(f"{n} {x['tree_pss_mib']:.0f}" for n, x in (("cold", cold), ("warm", warm), ("snapshot", snap)))
        )
    print(f"load after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    p99 = f"{api['p99_ms']:.1f}" if api else "-"
    print(
        f"RESULT size={a.size} cold_s={_phase_s(cold):.2f} warm_s={_phase_s(warm):.2f} "
        f"snapshot_s={_phase_s(snap):.2f} rss_mib={rss:.0f} api_p99_ms={p99}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
