"""Shared pytest fixtures.

Other fixture sections may be added below; keep each in its own delimited block.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

# Make the plain helper modules in tests/ (e.g. ``servers``) importable without
# a tests/__init__.py:  ``from servers import PrometheusServer``.
TESTS_DIR = Path(__file__).resolve().parent
if str(TESTS_DIR) not in sys.path:
    sys.path.insert(0, str(TESTS_DIR))

# fixtures of the document tests (tests/reports); a second conftest.py would shadow this one
pytest_plugins = ["reports.reports_support"]

REPO_ROOT = TESTS_DIR.parent

# the on-disk caches (parsed rules, PagerDuty exports, file sources) in a folder of the test run's own, not
# the user's ~/.cache: a run starts cold and leaves nothing behind (a caller's own OWNERSHIP_CACHE_DIR wins)
if "OWNERSHIP_CACHE_DIR" not in os.environ:
    import atexit
    import shutil
    import tempfile

    _cache = tempfile.mkdtemp(prefix="ownership-test-cache-")
    os.environ["OWNERSHIP_CACHE_DIR"] = _cache
    atexit.register(shutil.rmtree, _cache, True)


# ===================================================================================
# BEGIN real-server fixtures (Prometheus, Alertmanager, PostgreSQL) - see servers.py
# ===================================================================================

import servers  # noqa: E402  (needs the sys.path tweak above)


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def require_binary(path: str | os.PathLike | None, what: str) -> None:
    """Skip the test if ``path`` is not an executable; fail instead when CI is set."""
    if path is not None and os.access(path, os.X_OK):
        return
    reason = f"{what} not installed ({path or 'not found'}); apt-get install it to run this test"
    if _in_ci():
        pytest.fail(f"CI is set but {reason}", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def prometheus_server():
    """Running ``servers.PrometheusServer`` (minimal config, evaluation_interval 1s).

    Shared by the whole session: tests that call ``write_config()``/``reload()``
    must restore the default afterwards (``write_config(servers.DEFAULT_PROMETHEUS_CONFIG, [])``).
    """
    require_binary(servers.PROMETHEUS_BIN, "prometheus")
    with servers.PrometheusServer() as srv:
        yield srv


@pytest.fixture(scope="session")
def alertmanager_server():
    """Running ``servers.AlertmanagerServer`` with a single ``default`` receiver."""
    require_binary(servers.ALERTMANAGER_BIN, "prometheus-alertmanager")
    with servers.AlertmanagerServer() as srv:
        yield srv


@pytest.fixture(scope="session")
def postgres_server():
    """Running ``servers.PostgresServer``: ``.url`` (SQLAlchemy), ``.dsn`` (psycopg)."""
    bindir = servers.find_pg_bindir()
    require_binary(bindir / "initdb" if bindir else None, "postgresql (initdb)")
    with servers.PostgresServer() as srv:
        yield srv


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """The ``shared`` directory next to the repository (``../shared``)."""
    path = (Path(__file__).parent.parent.parent / "shared").resolve()
    if not path.is_dir():
        pytest.skip(f"shared directory {path} not present")
    return path


# ===================================================================================
# END real-server fixtures
# ===================================================================================


def pytest_addoption(parser):
    parser.addoption("--update-golden", action="store_true", default=False, help="rewrite golden expected files")


# ===================================================================================
# BEGIN API fixtures (tests/api): the demo organisation collected once, served in-process
# ===================================================================================

API_TESTS_DIR = TESTS_DIR / "api"
if str(API_TESTS_DIR) not in sys.path:
    sys.path.insert(0, str(API_TESTS_DIR))  # api_support, bigorg


@pytest.fixture(scope="session")
def demo_loaded():
    from agent import demo
    from agent.config import load_config

    return load_config(demo.config_path())


@pytest.fixture(scope="session")
def demo_snapshot(demo_loaded):
    from agent.pipeline import collect

    snap = collect(demo_loaded, demo_loaded.config.now, None, progress=False)
    snap.id = 1
    return snap


@pytest.fixture(scope="session")
def demo_state(demo_snapshot, demo_loaded):
    """A ServeState serving the demo snapshot (no store, no scheduler), token api_support.TOKEN."""
    from api_support import TOKEN

    from agent.api import ServeState
    from agent.config import ServeConfig

    return ServeState.for_snapshot(demo_snapshot, ServeConfig(), [TOKEN], pack=demo_loaded.pack())


@pytest.fixture
def api_client(demo_state):
    from fastapi.testclient import TestClient

    from agent.api import create_app

    with TestClient(create_app(demo_state)) as c:
        yield c


# ===================================================================================
# END API fixtures
# ===================================================================================


@pytest.fixture
def org(tmp_path: Path) -> Path:
    """A copy of the small test organisation (without its store) to edit (a test module may have its own)."""
    dest = tmp_path / "org"
    shutil.copytree(Path(__file__).parent / "testdata" / "org-small", dest, ignore=shutil.ignore_patterns(".ownership"))
    return dest


def run_cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """`python -m agent ARGS` in a child process, its output captured."""
    return subprocess.run([sys.executable, "-m", "agent", *args], capture_output=True, text=True, cwd=cwd, timeout=120)


def edit_once(path: Path, old: str, new: str) -> None:
    """Replace the first `old` in a file (which must hold it)."""
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))
