"""The HTTP API of `ownership serve` (FastAPI): answers of the latest snapshot under /api/v1, /metrics."""

from agent.api.app import create_app
from agent.api.state import Scheduler, ServeState, View

__all__ = ["Scheduler", "ServeState", "View", "create_app"]
