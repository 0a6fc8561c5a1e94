"""A store that cannot be reached (PostgreSQL down, a SQLite file that cannot be opened): `ownership collect` prints
one line naming the store, never its password, and exits 2 (was SQLAlchemy's 159-line traceback, exit 1)."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from conftest import edit_once, run_cli

from agent.store import Store, StoreError

SMALL_ORG = Path(__file__).parent.parent / "testdata" / "org-small"
SECRET = "hunter2-KNOWN-SECRET-7c1f"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_unreachable_store_is_one_line_without_password(org: Path) -> None:
    port = _free_port()  # nothing listens there any more
    (org / "store.password").write_text(SECRET + "\n")
    edit_once(
        org / "ownership.yaml",
        "sqlite:///.ownership/test.db",
        f"postgresql+psycopg://reader@127.0.0.1:{port}/db?connect_timeout=5\n  password: {{token_file: store.password}}",
    )
    proc = run_cli("collect", "--config", str(org / "ownership.yaml"))
    out = proc.stdout + proc.stderr
    assert proc.returncode == 2, out
    assert "Traceback" not in out and SECRET not in out
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, out
    assert lines[0].startswith(f"store: cannot connect to postgresql+psycopg://reader:***@127.0.0.1:{port}/db: "), out


def test_store_that_cannot_be_opened(tmp_path: Path) -> None:
    store = Store(f"postgresql+psycopg://reader:{SECRET}@127.0.0.1:{_free_port()}/db")
    with pytest.raises(StoreError) as got:
        store.migrate()
    assert SECRET not in str(got.value) and "reader:***@127.0.0.1" in str(got.value)
    assert got.value.exit_code == 2
    store = Store(f"sqlite:///{tmp_path}")  # a directory, not a database file
    with pytest.raises(StoreError, match=f"store: cannot connect to sqlite:///{tmp_path}: unable to open"):
        store.latest()
