"""Pausing Python's cyclic garbage collector while a large snapshot's objects are built.

A snapshot of a large organisation is millions of small objects (rules, incidents, answers) that live
as long as the snapshot. Each full pass of the cyclic collector walks all of them, and building them
triggers many passes: on 5,000 services that was a third of loading and answering. Acyclic garbage
is still freed at once by reference counting; what the pass would find is moved out of its sight
(`gc.freeze`), as CPython's documentation recommends for long-lived data.
"""

from __future__ import annotations

import ctypes
import gc
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


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


# pydantic-core parses a whole JSON text into a tree of its own (Rust, C malloc) before validating: ~330 MB
# for the large benchmark's incidents file, as much again when a stored snapshot is read back. Freed, that
# memory stays in the process: the objects made meanwhile sit between its chunks, so glibc cannot shrink its
# heap from the top (after the PagerDuty collector the resident size was 500 MiB above the start for 175 MiB
# of live facts). `malloc_trim` hands the free pages in the middle back to the system too (measured on L:
# +501 -> +175 MiB after the collector, 0.2 s, without the GIL). glibc only: elsewhere a no-op.
try:
    _malloc_trim: Any = ctypes.CDLL("libc.so.6").malloc_trim
except (OSError, AttributeError):
    _malloc_trim = None


def release_freed_heap() -> None:
    """Return freed C heap pages to the system (after a large JSON text was parsed and dropped)."""
    if _malloc_trim is not None:
        _malloc_trim(0)
