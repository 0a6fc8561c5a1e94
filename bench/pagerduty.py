"""PagerDuty collection benchmark: `python -m bench.pagerduty` prints requests made, wall time and their ratio.

A full live collection through the real `pagerduty` client from the FastAPI fake of the tests
(tests/fakes/pagerduty_fake.py), by default 5,000 services and 100,000 incidents over 90 days, 20 ms
added to every answer and the fake enforcing PagerDuty's 960 requests a minute. The target is a
wall time within 1.2x of requests / (960 per minute): PagerDuty's limit, not our code, sets the pace.
A full-size run takes about five minutes; `--services 500 --incidents 10000` takes about half a minute.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

TESTS = Path(__file__).resolve().parent.parent / "tests"
if str(TESTS) not in sys.path:
    sys.path.insert(0, str(TESTS))

from fakes.pagerduty_fake import FakeOrg, FakePagerDuty  # noqa: E402

from agent.config import PagerDutySource  # noqa: E402
from collectors.pagerduty_live import LiveReader  # noqa: E402

TOKEN = "bench-token"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.pagerduty", description=__doc__.splitlines()[0])
    ap.add_argument("--services", type=int, default=5_000)
    ap.add_argument("--incidents", type=int, default=100_000)
    ap.add_argument("--latency-ms", type=float, default=20.0, help="added to every answer of the fake")
    ap.add_argument("--rate", type=int, default=960, help="requests a minute: the fake's limit and the collector's")
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args(argv)

    now = datetime.now(UTC).replace(microsecond=0)
    t0 = time.perf_counter()
    org = FakeOrg.generate(seed=args.seed, now=now, services=args.services, incidents=args.incidents)
    print(
        f"generated {len(org.services):,} services, {len(org.incidents):,} incidents, "
        f"{len(org.overview_entries):,} overview log entries in {time.perf_counter() - t0:.1f}s",
        flush=True,
    )
    os.environ["PD_BENCH_TOKEN"] = TOKEN
    config = PagerDutySource(
        name="pagerduty",
        kind="pagerduty",
        auth={"token_env": "PD_BENCH_TOKEN"},  # type: ignore[arg-type]
        rate_limit_per_minute=args.rate,
        concurrency=args.concurrency,
        timeout_s=3600,
    )
    with FakePagerDuty(org, token=TOKEN, latency_s=args.latency_ms / 1000, rate_limit_per_minute=args.rate) as fake:
        reader = LiveReader(config, Path("."), now, transport=fake.transport())
        t0 = time.perf_counter()
        facts, detail = reader.collect()
        wall = time.perf_counter() - t0
        answered = fake.count()
        throttled = fake.count(status=429)
    requests = sum(reader.requests_made.values())
    ideal = requests / (args.rate / 60)
    print(f"collected: {detail}")
    print(
        f"facts: {len(facts.services):,} services, {len(facts.incidents):,} incidents, "
        f"{len(facts.log_entries):,} log entries, {len(facts.oncalls):,} on-calls"
    )
    per_endpoint = ", ".join(f"{p.strip('/')} {n}" for p, n in sorted(reader.requests_made.items()))
    print(f"requests made: {requests:,} ({per_endpoint}); the fake answered {answered:,}, {throttled} of them 429")
    print(f"wall time: {wall:.1f}s")
    print(f"requests / ({args.rate} per minute): {ideal:.1f}s")
    print(f"ratio wall / (requests / {args.rate} per minute): {wall / ideal:.3f} (target <= 1.2)")
    ok = (len(facts.services), len(facts.incidents)) == (len(org.services), len(org.incidents))
    if not ok:
        print("MISMATCH: the collection does not hold every service and incident", file=sys.stderr)
    return 0 if ok and wall / ideal <= 1.2 else 1


if __name__ == "__main__":
    sys.exit(main())
