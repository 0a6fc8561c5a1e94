"""A digest of everything the analysis of an organisation answers (`python -m bench.digest --dir ORG`).

For refactors that must not change an answer: run before and after, compare the digests (and, on a
difference, the per-part digests and `--dump FILE` outputs). Covers every alerting rule's paging
answer, every finding, the summary, the metrics, and a sample of `services/{name}/pages` bodies.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path


def parts(org: Path) -> dict[str, str]:
    from agent.api.state import View
    from agent.config import ServeConfig, load_config
    from agent.pipeline import collect

    loaded = load_config(org / "ownership.yaml")
    now = loaded.config.now
    assert now is not None
    snap = collect(loaded, now, None, progress=False)
    bad = [s.status.name for s in snap.sources if not s.status.ok]
    if bad:
        raise SystemExit(f"sources failed: {bad}")
    # what differs between two runs of the same input: wall-clock instants and durations
    snap.taken_at = now
    for s in snap.sources:
        s.status.collected_at = s.status.last_success_at = now
        s.status.duration_s = 0.0
    view = View(snap, loaded.pack())
    out: dict[str, str] = {}
    out["alerts"] = "\n".join(a.model_dump_json() for a in view.alerts)
    out["findings"] = "\n".join(f.model_dump_json() for f in view.findings)
    out["summary"] = view.summary.model_dump_json()
    lines = []
    for m in view.metrics(ServeConfig()):
        for s in m.samples:
            lines.append(f"{s.name} {sorted(s.labels.items())} {s.value}")
    out["metrics"] = "\n".join(sorted(lines))
    services = [s.name for s in view.graph.catalog.services]
    out["service_pages"] = "\n".join(
        view.service_pages_json(s).decode() for s in services[:: max(1, len(services) // 200)]
    )
    facts = []
    for s in snap.sources:
        facts.append(f"{s.status.name} {s.status.ok} {s.status.detail}")
        facts.append(json.dumps(s.facts.model_dump(mode="json") if s.facts else None, sort_keys=True))
    out["facts"] = "\n".join(facts)
    root = str(org.resolve())
    return {k: v.replace(root, "ORG") for k, v in out.items()}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.digest")
    ap.add_argument("--dir", required=True, type=Path)
    ap.add_argument("--dump", type=Path, default=None, help="write every part's text here (JSON)")
    a = ap.parse_args(argv)
    got = parts(a.dir)
    total = hashlib.sha256()
    for k, v in got.items():
        d = hashlib.sha256(v.encode()).hexdigest()[:16]
        total.update(d.encode())
        print(f"{k:14} {d}  ({len(v)} chars)")
    print(f"DIGEST {total.hexdigest()[:16]}")
    if a.dump:
        a.dump.write_text(json.dumps(got))
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
