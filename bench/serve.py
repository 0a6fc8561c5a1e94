"""The API over the latest stored snapshot of a generated organisation, without a scheduler (for the load test).

`python -m bench.serve --dir DIR --port PORT --token TOKEN`: publishes the latest snapshot (computing
what every request reads, as `ownership serve` does at start), then serves on 127.0.0.1.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.serve")
    ap.add_argument("--dir", required=True)
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--token", required=True)
    a = ap.parse_args(argv)
    import uvicorn

    from agent.api import ServeState, create_app
    from agent.config import load_config

    loaded = load_config(Path(a.dir) / "ownership.yaml")
    fixed = loaded.config.now
    state = ServeState(loaded.config.serve, [a.token], loaded, store_url=loaded.store_url(), now=lambda: fixed)
    if state.load_latest() is None:
        raise SystemExit("no stored snapshot: run the analysis first")
    state.wait_prefilled()  # the load test measures the steady state, once every answer is serialised
    sys.stdout.write("ready\n")
    sys.stdout.flush()
    uvicorn.run(create_app(state), host="127.0.0.1", port=a.port, log_level="warning", access_log=False)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
