"""`ownership serve`: the HTTP API and /metrics over the latest snapshot, collecting every `serve.interval`."""

from __future__ import annotations

import logging
import secrets
import sys
from datetime import UTC, datetime

import typer

from agent import cli
from agent.api.tokens import TOKENS_ENV, api_tokens
from agent.errors import ConfigError, StoreError

log = logging.getLogger("ownership.serve")


def serve_cmd(
    host: str | None = typer.Option(None, "--host", help="address to listen on (default serve.host, 127.0.0.1)"),
    port: int | None = typer.Option(None, "--port", min=1, max=65535, help="port (default serve.port, 8080)"),
) -> None:
    """Serve the API under /api/v1, /metrics, /healthz and /readyz; collect every serve.interval."""
    import uvicorn

    from agent.api import Scheduler, ServeState, create_app
    from agent.api.state import interval_of

    loaded = cli._loaded()
    settings = loaded.config.serve
    demo = cli.G.demo
    tokens = api_tokens(loaded, settings, demo)
    if not tokens:
        if not demo:
            raise ConfigError(f"serve: no API token configured (serve.tokens or ${TOKENS_ENV})")
        tokens = [secrets.token_urlsafe(32)]
        cli.out.print(f"API token (generated for this run, shown once): {tokens[0]}", markup=False)
    fixed = cli.G.now or loaded.config.now

    def now() -> datetime:
        return fixed or datetime.now(UTC)

    state = ServeState(settings, tokens, loaded, store_url=cli._store_url(loaded), now=now, demo=demo)
    if not demo:
        try:
            state.load_latest()  # serve the last stored snapshot while the first collection runs
        except StoreError as e:  # e.g. PostgreSQL starting beside the agent: /readyz says 503 meanwhile
            log.warning("%s; serving nothing until it can be reached (the scheduler tries again)", e)
    state.scheduler = Scheduler(state, interval_of(settings))
    bind_host, bind_port = host or settings.host, port or settings.port
    cli.out.print(f"serving on http://{bind_host}:{bind_port} (API docs at /docs)", markup=False)
    sys.stdout.flush()  # the token line must reach a pipe before the server blocks
    uvicorn.run(create_app(state), host=bind_host, port=bind_port, log_level="info")
