"""Faults in live sources, through agent.pipeline.collect with a previous snapshot: nothing lost, nothing leaked.

Each fault yields a named error in the source status, keeps the previous facts (marked stale),
leaves the other sources complete, and no log line, error or stored fact carries the secret.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import servers
from conftest import require_binary

from agent.config import load_config
from agent.pipeline import collect
from collectors.facts import Snapshot, SourceResult

TOKEN = "prom-token-KNOWN-SECRET-5b1e"
PG_RIGHT = "pg-right-KNOWN-SECRET-91c2"
PG_WRONG = "pg-wrong-KNOWN-SECRET-4d7a"
RULES = """\
groups:
  - name: orders
    rules:
      - alert: OrdersDown
        expr: up{job="orders"} == 0
        for: 2m
        labels: {severity: page, service: orders}
      - record: job:up:sum
        expr: sum by (job) (up)
"""


@pytest.fixture(scope="module")
def rule_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    p = tmp_path_factory.mktemp("faults") / "orders.yml"
    p.write_text(RULES)
    return p


@pytest.fixture(scope="module")
def prom(rule_file: Path) -> Iterator[servers.PrometheusServer]:
    require_binary(servers.PROMETHEUS_BIN, "prometheus")
    with servers.PrometheusServer(rule_files=[rule_file]) as p:
        yield p


@pytest.fixture
def secrets_env(monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    monkeypatch.setenv("OWNERSHIP_TEST_PROM_TOKEN", TOKEN)
    caplog.set_level(logging.DEBUG)
    return caplog


def _config(path: Path, *sources: str) -> Path:
    path.write_text("apiVersion: ownership-agent/v1\nkind: Config\nsources:\n" + "".join(f"  - {s}\n" for s in sources))
    return path


def _prom(name: str, url: str, timeout_s: float = 10) -> str:
    return (
        f'{{name: {name}, kind: prometheus, url: "{url}", timeout_s: {timeout_s}, retries: 1, '
        "auth: {token_env: OWNERSHIP_TEST_PROM_TOKEN}}"
    )


def _by(snap: Snapshot, name: str) -> SourceResult:
    return next(s for s in snap.sources if s.status.name == name)


def _run(tmp_path: Path, *sources: str, previous: Snapshot | None = None) -> Snapshot:
    cfg = _config(tmp_path / f"ownership-{time.monotonic_ns()}.yaml", *sources)
    return collect(load_config(cfg), datetime.now(UTC), previous=previous, progress=False)


def _assert_kept(bad: SourceResult, good: SourceResult, error: str) -> None:
    assert not bad.status.ok and bad.status.stale
    assert bad.status.error is not None and error in bad.status.error, bad.status.error
    assert bad.facts == good.facts and bad.facts is not None  # never replaced by an empty answer
    assert bad.status.last_success_at == good.status.last_success_at
    assert bad.status.detail == "keeping the facts of the last good collection"


def _assert_no_secret(caplog: pytest.LogCaptureFixture, snap: Snapshot, *secrets: str) -> None:
    dumped = snap.model_dump_json()
    for secret in secrets:
        assert secret not in caplog.text
        for r in caplog.records:
            assert secret not in r.getMessage() and secret not in repr(r.__dict__)
        assert secret not in dumped


def _good_then(tmp_path: Path, prom_url: str, name: str, bad_url: str, timeout_s: float = 10) -> tuple:
    good = _run(tmp_path, _prom(name, prom_url), _prom("prom-ok", prom_url))
    assert _by(good, name).status.ok and len(_by(good, name).facts.rules) == 2
    bad = _run(tmp_path, _prom(name, bad_url, timeout_s), _prom("prom-ok", prom_url), previous=good)
    assert _by(bad, "prom-ok").status.ok and len(_by(bad, "prom-ok").facts.rules) == 2  # the others complete
    return _by(good, name), bad


def test_prometheus_down(rule_file: Path, prom, tmp_path: Path, secrets_env) -> None:
    with servers.PrometheusServer(rule_files=[rule_file]) as doomed:
        url = doomed.url
        good = _run(tmp_path, _prom("prom-eu", url), _prom("prom-ok", prom.url))
    assert _by(good, "prom-eu").status.ok
    bad = _run(tmp_path, _prom("prom-eu", url), _prom("prom-ok", prom.url), previous=good)
    _assert_kept(_by(bad, "prom-eu"), _by(good, "prom-eu"), "unreachable: ")
    assert "GET http://127.0.0.1:" in (_by(bad, "prom-eu").status.error or "")
    assert _by(bad, "prom-ok").status.ok
    assert any("source failed source=prom-eu" in r.getMessage() for r in secrets_env.records)
    _assert_no_secret(secrets_env, bad, TOKEN)


def test_timeout(prom, tmp_path: Path, secrets_env) -> None:
    silent = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    silent.bind(("127.0.0.1", 0))
    silent.listen(16)
    held: list[socket.socket] = []

    def accept_and_hold() -> None:
        while True:
            try:
                conn, _ = silent.accept()
            except OSError:
                return
            held.append(conn)  # never answers

    threading.Thread(target=accept_and_hold, daemon=True).start()
    try:
        t0 = time.monotonic()
        good, bad = _good_then(tmp_path, prom.url, "prom-eu", f"http://127.0.0.1:{silent.getsockname()[1]}", 1)
        elapsed = time.monotonic() - t0
    finally:
        silent.close()
        for c in held:
            c.close()
    _assert_kept(_by(bad, "prom-eu"), good, "timed out after 1s")
    assert held and elapsed < 8
    _assert_no_secret(secrets_env, bad, TOKEN)


class _Garbage(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        body = b'<html>{"status": "success", "data": oops'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


def test_invalid_json(prom, tmp_path: Path, secrets_env) -> None:
    srv = ThreadingHTTPServer(("127.0.0.1", 0), _Garbage)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        good, bad = _good_then(tmp_path, prom.url, "prom-eu", f"http://127.0.0.1:{srv.server_port}")
    finally:
        srv.shutdown()
        srv.server_close()
    _assert_kept(_by(bad, "prom-eu"), good, "invalid JSON from GET http://127.0.0.1:")
    assert "/api/v1/rules" in (_by(bad, "prom-eu").status.error or "")
    _assert_no_secret(secrets_env, bad, TOKEN)


def test_retry_after_is_honoured_then_complete(prom, tmp_path: Path, secrets_env) -> None:
    """503 then 429, each with Retry-After: 1, in front of the real Prometheus: waits honoured, data complete."""
    answers = [(503, "1"), (429, "1")]
    seen: list[float] = []

    class Flaky(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            seen.append(time.monotonic())
            if answers:
                status, after = answers.pop(0)
                self.send_response(status)
                self.send_header("Retry-After", after)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            with urllib.request.urlopen(prom.url + self.path, timeout=10) as up:
                body = up.read()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    srv = ThreadingHTTPServer(("127.0.0.1", 0), Flaky)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        src = _prom("prom-eu", f"http://127.0.0.1:{srv.server_port}").replace("retries: 1", "retries: 3")
        snap = _run(tmp_path, src)
    finally:
        srv.shutdown()
        srv.server_close()
    res = _by(snap, "prom-eu")
    assert res.status.ok, res.status.error
    assert len(res.facts.rules) == 2
    assert seen[1] - seen[0] >= 0.95 and seen[2] - seen[1] >= 0.95  # Retry-After honoured each time
    retries = [r.getMessage() for r in secrets_env.records if r.getMessage().startswith("http retry")]
    assert len(retries) == 2 and "status=503" in retries[0] and "status=429" in retries[1]
    _assert_no_secret(secrets_env, snap, TOKEN)


def test_postgres_authentication_failure(postgres_server, tmp_path: Path, monkeypatch, secrets_env) -> None:
    postgres_server.create_role("fault_reader", PG_RIGHT)
    url = f"postgresql://fault_reader@{postgres_server.host}:{postgres_server.port}/{postgres_server.dbname}"
    src = (
        f'{{name: orders-db, kind: postgres, url: "{url}", timeout_s: 10, password: {{token_env: OWNERSHIP_TEST_PG}}}}'
    )
    monkeypatch.setenv("OWNERSHIP_TEST_PG", PG_RIGHT)
    good = _run(tmp_path, src)
    assert _by(good, "orders-db").status.ok, _by(good, "orders-db").status.error
    assert _by(good, "orders-db").facts.statements  # the server has run statements by now
    monkeypatch.setenv("OWNERSHIP_TEST_PG", PG_WRONG)
    bad = _run(tmp_path, src, previous=good)
    res = _by(bad, "orders-db")
    _assert_kept(res, _by(good, "orders-db"), "authentication failed for fault_reader@127.0.0.1:")
    assert "password authentication failed" in (res.status.error or "")
    _assert_no_secret(secrets_env, bad, PG_WRONG, PG_RIGHT)
    _assert_no_secret(secrets_env, good, PG_RIGHT)
