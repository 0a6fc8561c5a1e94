"""Whether work may be forked off to a child process (the PagerDuty export's parse).

One interpreter computes on one core; the benchmark's machine has two. Forked children share the
parent's memory copy-on-write and report back through the on-disk cache. `OWNERSHIP_FORK=0`
keeps everything in-process (e.g. where a sandbox forbids fork, or to measure without).
"""

from __future__ import annotations

import os


def fork_allowed() -> bool:
    return hasattr(os, "fork") and os.environ.get("OWNERSHIP_FORK", "1") != "0" and (os.cpu_count() or 1) >= 2
