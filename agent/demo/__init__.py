"""The bundled demo organisation (package data), recorded at one fixed instant."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path


def org_dir() -> Path:
    """The demo organisation's folder (installed package data or the source tree)."""
    return Path(__file__).parent / "org"  # package data: a plain folder in any wheel install


def config_path() -> Path:
    return org_dir() / "ownership.yaml"


def state_dir() -> Path:
    """A writable folder for the demo's SQLite file."""
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    d = Path(base) / "ownership-agent"
    try:
        d.mkdir(parents=True, exist_ok=True)
        probe = d / ".probe"
        probe.touch()
        probe.unlink()
        return d
    except OSError:
        d = Path(tempfile.gettempdir()) / "ownership-agent"
        d.mkdir(parents=True, exist_ok=True)
        return d


def store_url() -> str:
    return f"sqlite:///{state_dir() / 'demo.db'}"


def export(dest: Path) -> list[Path]:
    """Write the demo organisation out as a starting point for a real config."""
    src = org_dir()
    dest.mkdir(parents=True, exist_ok=True)
    written = []
    for f in sorted(src.rglob("*")):
        if f.is_dir() or "__pycache__" in f.parts:
            continue
        target = dest / f.relative_to(src)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(f, target)
        written.append(target)
    return written
