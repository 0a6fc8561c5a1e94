"""The facts' JSON texts of a snapshot, written by a forked child while the parent goes on.

Saving a large snapshot beside its analysis (Store.save_in_background) used to serialise every source's
facts in the save thread: pydantic-core holds the GIL while it writes (L: ~0.9 s, 93 MB of PagerDuty
facts alone), so that time was taken from the analysis in the main thread. A forked child has the
snapshot copy-on-write and the second core: it writes each source's text to a pipe, and the save thread
reads them (os.read, without the GIL) in source order. A child that fails leaves the rest to the save
thread, which serialises them itself: the same texts either way.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Iterator

from agent.forks import fork_allowed
from collectors.facts import Snapshot

# below this many facts (list items at the top of every source's facts) a snapshot is serialised in the
# save thread: a fork does not pay for itself (L: ~370,000; M: ~40,000)
FORK_MIN_ITEMS = 100_000
_HEADER = struct.Struct("!q")  # the length of the next text, -1: that source has no facts


def size(snap: Snapshot) -> int:
    """The number of list items at the top of every source's facts: rules, incidents, services..."""
    n = 0
    for s in snap.sources:
        if s.facts is not None:
            n += sum(len(v) for v in vars(s.facts).values() if isinstance(v, list))
    return n


def text(facts: object) -> str | None:
    """What the store keeps of a source's facts (None: no facts)."""
    return None if facts is None else facts.model_dump_json(by_alias=True)  # type: ignore[attr-defined]


class ForkedTexts:
    """The facts' texts of a snapshot's sources from a child forked at construction (a large snapshot), in
    order; `next_text(facts)` is the next one (serialised here when there is no child or it failed)."""

    def __init__(self, snap: Snapshot, min_items: int | None = None):
        self.pid = 0
        self.fd = -1
        if not fork_allowed() or size(snap) < (FORK_MIN_ITEMS if min_items is None else min_items):
            return
        r, w = os.pipe()
        try:
            pid = os.fork()
        except OSError:
            os.close(r)
            os.close(w)
            return
        if pid == 0:  # the child: each source's text, length first; leave without the parent's exit handlers
            try:
                os.close(r)
                with os.fdopen(w, "wb", buffering=1 << 20) as out:
                    for s in snap.sources:
                        t = text(s.facts)
                        if t is None:
                            out.write(_HEADER.pack(-1))
                        else:
                            b = t.encode()
                            out.write(_HEADER.pack(len(b)))
                            out.write(b)
            finally:
                os._exit(0)
        os.close(w)
        self.pid, self.fd = pid, r

    def _read(self, n: int) -> bytes | None:
        chunks = []
        while n > 0:
            b = os.read(self.fd, min(n, 1 << 24))
            if not b:
                return None
            chunks.append(b)
            n -= len(b)
        return b"".join(chunks)

    def next_text(self, facts: object) -> str | None:
        if self.fd >= 0:
            head = self._read(_HEADER.size)
            if head is not None:
                n = _HEADER.unpack(head)[0]
                if n < 0:
                    return None
                body = self._read(n)
                if body is not None:
                    return body.decode()
            self.close()  # the child is gone: the rest is serialised here
        return text(facts)

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1
        if self.pid:
            os.waitpid(self.pid, 0)
            self.pid = 0

    def texts(self, snap: Snapshot) -> Iterator[str | None]:
        """Every source's text, in order (then `close` the child: also when not all were read)."""
        for s in snap.sources:
            yield self.next_text(s.facts)
