"""Secrets are stored only as fingerprints: enough to join, never enough to use."""

from __future__ import annotations

import hashlib


def fingerprint(secret: str) -> str:
    """A stable, non-reversible fingerprint of a routing or integration key."""
    return "sha256:" + hashlib.sha256(secret.strip().encode()).hexdigest()[:16]
