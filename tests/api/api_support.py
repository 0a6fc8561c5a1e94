"""Constants of the API tests (the fixtures are in tests/conftest.py, "API fixtures" block)."""

from __future__ import annotations

TOKEN = "test-token-4d1c9a7e0b2f"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
