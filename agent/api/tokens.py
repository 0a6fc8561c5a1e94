"""API tokens: from `serve.tokens` (env or file) and $OWNERSHIP_API_TOKENS; never inline."""

from __future__ import annotations

import os

from agent.config import PLACEHOLDER_SECRETS, LoadedConfig, ServeConfig
from agent.errors import ConfigError

TOKENS_ENV = "OWNERSHIP_API_TOKENS"
MIN_TOKEN_LENGTH = 16


def api_tokens(loaded: LoadedConfig, settings: ServeConfig, demo: bool) -> list[str]:
    """Tokens from `serve.tokens` and $OWNERSHIP_API_TOKENS; placeholders and short ones refused outside the demo."""
    tokens: list[str] = []
    for i, ref in enumerate(settings.tokens):
        secret = ref.resolve(loaded.base, f"serve.tokens[{i}]")
        if secret is not None:
            tokens.append(secret.get_secret_value())
    tokens += [t.strip() for t in os.environ.get(TOKENS_ENV, "").split(",") if t.strip()]
    if not demo:
        for t in tokens:
            if t.lower() in PLACEHOLDER_SECRETS:
                raise ConfigError("serve.tokens: a placeholder token is not accepted outside the demo")
            if len(t) < MIN_TOKEN_LENGTH:
                raise ConfigError(f"serve.tokens: tokens must have at least {MIN_TOKEN_LENGTH} characters")
    return tokens
