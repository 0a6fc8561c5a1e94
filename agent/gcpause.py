"""Pausing Python's cyclic garbage collector while a large snapshot's objects are built.

A snapshot of a large organisation is millions of small objects (rules, incidents, answers) that live
as long as the snapshot. Each full pass of the cyclic collector walks all of them, and building them
triggers many passes: on 5,000 services that was a third of loading and answering. Acyclic garbage
is still freed at once by reference counting; what the pass would find is moved out of its sight
(`gc.freeze`), as CPython's documentation recommends for long-lived data.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def bulk_build() -> Iterator[None]:
    """No cyclic collection inside the block; the objects it built are frozen after it (nesting is fine)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.freeze()
            gc.enable()
