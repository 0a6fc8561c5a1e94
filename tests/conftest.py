"""Shared pytest fixtures.

Other fixture sections may be added below; keep each in its own delimited block.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

# Make the plain helper modules in tests/ (e.g. ``servers``) importable without
# a tests/__init__.py:  ``from servers import PrometheusServer``.
TESTS_DIR = Path(__file__).resolve().parent
if str(TESTS_DIR) not in sys.path:
    sys.path.insert(0, str(TESTS_DIR))

REPO_ROOT = TESTS_DIR.parent


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
