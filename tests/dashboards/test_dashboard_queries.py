"""Acceptance test of the Grafana dashboard against real data: a real Prometheus scrapes
a real `ownership serve --demo` process, then every query of every panel of
dashboards/ownership.json, its variables substituted with demo values, runs through
Prometheus's HTTP API and must return data and no error. The variables' own
label_values queries must offer those demo values."""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import require_binary
from servers import PROMETHEUS_BIN, PrometheusServer, ServerError, free_port

from dashboards import ownership

ROOT = Path(__file__).resolve().parent.parent.parent
JOB = "ownership"
START_TIMEOUT = 180.0  # `serve --demo` collects the demo organisation before /readyz says yes
SCRAPES = 3

# Demo values with data behind every panel: ledger (payments) has alerts that page, that
# only notify and that reach nobody (OWN003), findings, a queue (ledger.events) and slow
# statements on its database (OWN010); PK8PK3Y is Hannah Cohen, Storefront Primary on call
# at the demo's instant, with a paging surface and (off-hours) pages in the last 7 days.
DEMO_VALUES = {
    "service": "ledger",
    "engineer": "PK8PK3Y",
    "team": "payments",
    "datasource": "prometheus",  # irrelevant: the queries go straight to Prometheus
    "__rate_interval": "1m",
    "__range": "1h",
    "__interval": "15s",
}


def _get(url: str, token: str | None = None, timeout: float = 5.0) -> tuple[int, bytes]:
    req = urllib.request.Request(url)
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def _serve_exists() -> None:
    """Fail clearly (not with a timeout) while `ownership serve` is not built yet."""
    proc = subprocess.run(
        [sys.executable, "-m", "agent", "serve", "--help"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
        stdin=subprocess.DEVNULL,
    )
    if proc.returncode != 0 or "--port" not in proc.stdout:
        pytest.fail(
            "`ownership serve` does not exist (yet): `python -m agent serve --help` exited "
            f"{proc.returncode}\n{proc.stdout[-2000:]}{proc.stderr[-2000:]}",
            pytrace=False,
        )


class _Agent:
    """`ownership serve --demo` as a real subprocess on 127.0.0.1:<free port>."""

    def __init__(self, log_path: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        # A known API token, so that /metrics can be scraped should the demo require one there.
        self.token = secrets.token_hex(16)
        self.log_path = log_path
        self._log = open(log_path, "wb")  # noqa: SIM115 - closed in stop()
        env = dict(os.environ, OWNERSHIP_API_TOKENS=self.token, PYTHONUNBUFFERED="1")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "agent", "serve", "--demo", "--host", "127.0.0.1", "--port", str(self.port)],
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-6000:]

    def wait_ready(self, timeout: float = START_TIMEOUT) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                pytest.fail(
                    f"`ownership serve --demo` exited with {self.proc.returncode}:\n{self.log()}", pytrace=False
                )
            try:
                if _get(f"{self.url}/readyz", timeout=2.0)[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.2)
        pytest.fail(f"`ownership serve --demo` not ready (/readyz) after {timeout:.0f}s:\n{self.log()}", pytrace=False)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=15)
        self._log.close()


@pytest.fixture(scope="module")
def agent(tmp_path_factory: pytest.TempPathFactory) -> Iterator[_Agent]:
    _serve_exists()
    a = _Agent(tmp_path_factory.mktemp("serve") / "serve.log")
    try:
        a.wait_ready()
        yield a
    finally:
        a.stop()


def _scrape_config(agent: _Agent, with_token: bool) -> str:
    auth = f"    authorization:\n      type: Bearer\n      credentials: {agent.token}\n" if with_token else ""
    return (
        "global:\n"
        "  scrape_interval: 1s\n"
        "  scrape_timeout: 1s\n"
        "  evaluation_interval: 1s\n"
        "scrape_configs:\n"
        f"  - job_name: {JOB}\n"
        "    scrape_interval: 1s\n"
        "    scrape_timeout: 1s\n"
        "    metrics_path: /metrics\n"
        f"{auth}"
        "    static_configs:\n"
        f"      - targets: ['127.0.0.1:{agent.port}']\n"
    )


@pytest.fixture(scope="module")
def prometheus(agent: _Agent) -> Iterator[PrometheusServer]:
    require_binary(PROMETHEUS_BIN, "prometheus")
    status, body = _get(f"{agent.url}/metrics")
    with_token = status in (401, 403)
    if with_token:
        status, body = _get(f"{agent.url}/metrics", agent.token)
    if status != 200 or b"ownership_" not in body:
        pytest.fail(
            f"GET /metrics of `ownership serve --demo` answered {status} without ownership_* metrics:\n"
            f"{body[:2000].decode(errors='replace')}",
            pytrace=False,
        )
    with PrometheusServer(_scrape_config(agent, with_token)) as prom:
        _wait_for_scrapes(prom, agent)
        yield prom


def _wait_for_scrapes(prom: PrometheusServer, agent: _Agent, timeout: float = 60.0) -> None:
    """Until the target is up and has been scraped a few times (ranges and counts need >1 sample)."""
    query = f'count_over_time(up{{job="{JOB}"}}[5m]) >= {SCRAPES} and up{{job="{JOB}"}} == 1'
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if prom.query(query)["result"]:
            return
        time.sleep(0.5)
    targets = prom.api("targets")
    pytest.fail(
        f"Prometheus did not scrape {agent.url}/metrics {SCRAPES} times in {timeout:.0f}s; targets: "
        f"{json.dumps(targets)[:3000]}\nagent log:\n{agent.log()}",
        pytrace=False,
    )


def _has_data(data: dict[str, Any]) -> bool:
    if data["resultType"] in ("vector", "matrix"):
        return bool(data["result"])
    return data["result"] is not None  # scalar / string: [time, value]


def test_every_panel_query_returns_data(prometheus: PrometheusServer) -> None:
    dashboard = json.loads(ownership.JSON_PATH.read_text())
    checked, problems = 0, []
    for title, ref, expr in ownership.queries(dashboard):
        promql = ownership.interpolate(expr, DEMO_VALUES)
        assert "$" not in promql, f"panel {title!r}: variable left in {promql!r}"
        try:
            data = prometheus.query(promql)
        except ServerError as exc:
            problems.append(f"panel {title!r} ({ref}): error: {exc}\n    {promql}")
            continue
        if not _has_data(data):
            problems.append(f"panel {title!r} ({ref}): no data\n    {promql}")
        checked += 1
    assert checked >= 30, f"only {checked} queries ran"
    assert not problems, f"{len(problems)} panel queries failed:\n" + "\n".join(problems)


def test_range_panels_have_samples_over_time(prometheus: PrometheusServer) -> None:
    """Time series panels are range queries in Grafana: check them as such too."""
    dashboard = json.loads(ownership.JSON_PATH.read_text())
    end = time.time()
    for panel in ownership.panels(dashboard):
        if panel["type"] != "timeseries":
            continue
        for target in panel["targets"]:
            promql = ownership.interpolate(target["expr"], DEMO_VALUES)
            data = prometheus.api("query_range", query=promql, start=end - 300, end=end, step="1s")
            assert data["result"], f"panel {panel['title']!r}: no data over the last 5 minutes"
            assert max(len(s["values"]) for s in data["result"]) >= 2, panel["title"]


def _label_values(prom: PrometheusServer, query: str) -> list[str]:
    """Grafana's label_values(selector, label) as the Prometheus data source runs it."""
    inner = query.removeprefix("label_values(").removesuffix(")")
    selector, _, label = inner.rpartition(",")
    selector = ownership.interpolate(selector.strip(), DEMO_VALUES | {"team": ".*"})
    return prom.api(f"label/{label.strip()}/values", **{"match[]": selector})


def test_variables_offer_the_demo_values(prometheus: PrometheusServer) -> None:
    dashboard = json.loads(ownership.JSON_PATH.read_text())
    for var in dashboard["templating"]["list"]:
        if var["type"] != "query":
            continue
        values = _label_values(prometheus, var["query"]["query"])
        assert DEMO_VALUES[var["name"]] in values, f"${var['name']} offers {values}"


def test_panels_count_each_series_once_with_two_replicas(prometheus: PrometheusServer, agent: _Agent) -> None:
    """Two replicas export the same series of the same snapshot (here one agent scraped as two targets, as a
    ServiceMonitor scrapes two pods): every instant panel shows what it shows for one (sums counted each
    finding, service and page once per replica)."""
    one = _scrape_config(agent, agent.token is not None and _get(f"{agent.url}/metrics")[0] in (401, 403))
    two = one.replace(f"['127.0.0.1:{agent.port}']", f"['127.0.0.1:{agent.port}', 'localhost:{agent.port}']")
    assert two != one
    with PrometheusServer(two) as prom2:
        query = f'count_over_time(up{{job="{JOB}"}}[5m]) >= {SCRAPES}'
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and len(prom2.query(query)["result"]) < 2:
            time.sleep(0.5)
        assert len(prom2.query(query)["result"]) == 2
        dashboard = json.loads(ownership.JSON_PATH.read_text())
        compared = 0
        for title, _ref, expr in ownership.queries(dashboard):
            if "time()" in expr or "increase(" in expr:
                continue  # instants and per-process counters: not the same number twice
            promql = ownership.interpolate(expr, DEMO_VALUES)

            def values(p: PrometheusServer, q: str = promql) -> list[tuple[str, str]]:
                return sorted(
                    (json.dumps({k: v for k, v in r["metric"].items() if k not in ("instance", "pod")}), r["value"][1])
                    for r in p.query(q)["result"]
                )

            assert values(prom2) == values(prometheus), title
            compared += 1
    assert compared >= 20
