"""The HTTP API of `ownership serve` (FastAPI): answers of the latest snapshot under /api/v1, /metrics.

The names are imported on first use (PEP 562): a process that only analyses (`agent.api.state`, the
benchmark's workers, `ownership findings`) does not pay for importing FastAPI and building its models."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from agent.api.app import create_app
    from agent.api.state import Scheduler, ServeState, View

__all__ = ["Scheduler", "ServeState", "View", "create_app"]


def __getattr__(name: str) -> Any:
    if name == "create_app":
        from agent.api.app import create_app

        return create_app
    if name in ("Scheduler", "ServeState", "View"):
        from agent.api import state

        return getattr(state, name)
    raise AttributeError(f"module 'agent.api' has no attribute {name!r}")
