"""Two `ownership serve` processes against one real PostgreSQL: both answer the API, and exactly one
collection runs per interval between them (the collector lock is a PostgreSQL advisory lock)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import httpx
from servers import free_port
from sqlalchemy.engine import make_url

from agent.store import Store

SMALL_ORG = Path(__file__).parent.parent / "testdata" / "org-small"
TOKEN = "replica-test-token-0123456789abcdef"
INTERVAL_S = 10


def _start(cfg: Path, port: int, env: dict[str, str], log: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "agent", "serve", "--config", str(cfg), "--host", "127.0.0.1", "--port", str(port)],
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
        env=env,
        cwd=cfg.parent,
    )


def _wait_ready(port: int, deadline: float) -> None:
    while time.time() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"replica on {port} never became ready")


def test_two_replicas_share_one_collection_per_interval(postgres_server, tmp_path: Path) -> None:
    url = make_url(postgres_server.url)
    store = Store(postgres_server.url)
    store.migrate()
    store.downgrade("base")  # the session's server is shared: start from an empty store
    store.migrate()
    org = tmp_path / "org"
    shutil.copytree(SMALL_ORG, org, ignore=shutil.ignore_patterns(".ownership"))
    cfg = org / "ownership.yaml"
    text = cfg.read_text().replace(
        "store:\n  url: sqlite:///.ownership/test.db\n",
        f"store:\n  url: {url.drivername}://{url.username}@{url.host}:{url.port}/{url.database}\n"
        "  password: {token_env: OWNERSHIP_DB_PASSWORD}\n"
        f"serve:\n  interval: {INTERVAL_S}s\n",
    )
    text = text.replace('now: "2026-11-16T09:30:00+00:00"\n', "")
    cfg.write_text(text)
    env = dict(os.environ, OWNERSHIP_DB_PASSWORD=url.password or "", OWNERSHIP_API_TOKENS=TOKEN)
    ports = [free_port(), free_port()]
    procs = [_start(cfg, p, env, tmp_path / f"replica{i}.log") for i, p in enumerate(ports)]
    try:
        deadline = time.time() + 60
        for p in ports:
            _wait_ready(p, deadline)
        started = time.time()
        time.sleep(2.5 * INTERVAL_S)
        elapsed = time.time() - started
        snapshots = store.history(limit=100)
        # one collection per interval in all: the first one, then one per elapsed interval (plus slack
        # for the interval boundary), never one per replica per interval
        assert 1 <= len(snapshots) <= int(elapsed / INTERVAL_S) + 2, snapshots
        headers = {"Authorization": f"Bearer {TOKEN}"}
        latest = snapshots[0][0]
        for p in ports:
            r = httpx.get(f"http://127.0.0.1:{p}/api/v1/services", headers=headers, timeout=10)
            assert r.status_code == 200, r.text
            assert {s["name"] for s in r.json()["items"]} == {"checkout", "ledger"}
        seen = set()
        for p in ports:
            r = httpx.get(f"http://127.0.0.1:{p}/api/v1/snapshots", headers=headers, timeout=10)
            assert r.status_code == 200
            seen.update(item["id"] for item in r.json()["items"])
        assert latest in seen
        # the password reached neither the logs nor the API
        for i in range(2):
            assert (url.password or "x") not in (tmp_path / f"replica{i}.log").read_text()
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
        store.close()
