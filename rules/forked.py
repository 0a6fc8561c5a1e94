"""The checks that read no paging answer, run in a forked process while the caller resolves every alert.

The analysis of a snapshot is pure Python in one interpreter: one core. On a large organisation (the
benchmark's L: 50,000 alerting rules) resolving every alert takes ~2.4 s, and the checks that need no
paging answer (OWN002's burn-rate windows, OWN009's queue selectors, ...) ~1.2 s more, one after the
other. A forked child shares the graph copy-on-write (nothing is serialised on the way in), runs those
checks beside the resolution on the second core, and sends back its findings (a few thousand: a pickle
of ~1 MB). Small organisations are checked in-process: a fork does not pay for itself there; so is every
organisation when OWNERSHIP_FORK=0 (agent.forks).

The child only computes: every module it needs is imported before the fork, it touches no file, socket
or lock of the parent, and it leaves by `os._exit`. Anything unexpected (the fork refused, the child
killed, an exception in a check) is not an error of its own: the parent runs those checks itself, so a
check's exception surfaces exactly as it does in-process.
"""

from __future__ import annotations

import logging
import os
import pickle
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from opentelemetry import trace

from agent.forks import fork_allowed
from rules.engine import CheckContext
from rules.findings import Finding
from rules.graph import OwnershipGraph

log = logging.getLogger("ownership.checks")
tracer = trace.get_tracer("ownership-agent.rules")

# below this many alerting rules the checks run in-process (measured on M, 10,000 rules: a fork, a child
# of the same size and the pickle back cost about what the checks do)
FORK_MIN_ALERTS = 20_000


def needs_alerts(check: Any) -> bool:
    """Whether a check reads the paging answers (`ctx.alerts`, `ctx.rules_by_service`); True unless it says not."""
    return bool(getattr(check, "needs_alerts", True))


@dataclass
class ForkedChecks:
    """A child running some checks; `results()` waits for it once."""

    pid: int
    fd: int
    ids: tuple[str, ...]
    _got: dict[str, list[Finding]] | None = None

    def results(self) -> dict[str, list[Finding]]:
        """Check id -> its findings (raw: before settings and snoozes), for the checks the child ran; {} when
        it failed (the caller runs them itself)."""
        if self._got is not None:
            return self._got
        chunks = []
        try:
            while True:
                b = os.read(self.fd, 1 << 20)
                if not b:
                    break
                chunks.append(b)
        finally:
            os.close(self.fd)
            _, status = os.waitpid(self.pid, 0)
        got: dict[str, list[Finding]] = {}
        try:
            kind, payload = pickle.loads(b"".join(chunks))  # noqa: S301 - our own child's output, from a pipe
        except Exception:  # noqa: BLE001 - a child killed mid-way: run the checks here
            kind, payload = "error", f"no answer (exit status {status})"
        if kind == "ok":
            for check_id, t0, t1, found in payload:
                # the child's spans are not exported (it leaves by os._exit): record each check's here
                span = tracer.start_span(f"check {check_id}", start_time=t0, attributes={"ownership.forked": True})
                span.end(end_time=t1)
                got[check_id] = found
        else:
            log.warning(
                "checks %s in a forked process failed (%s); running them in-process", ",".join(self.ids), payload
            )
        self._got = got
        return got


def fork_checks(
    graph: OwnershipGraph, now: datetime, pack: Any, resolver: Any, *, min_alerts: int | None = None
) -> ForkedChecks | None:
    """Start the checks that need no paging answer in a forked child; None when they should run in-process
    (a small organisation, no fork on this system, one core, or the fork failed)."""
    from rules.checks import CHECKS

    if not fork_allowed():
        return None
    if len(graph.alert_rules()) < (FORK_MIN_ALERTS if min_alerts is None else min_alerts):
        return None
    checks = [c for c in CHECKS if not needs_alerts(c)]
    if not checks:
        return None
    from rules.engine import load_pack

    ctx = _NoAlerts(graph=graph, now=now, pack=pack or load_pack(), resolver=resolver)
    r, w = os.pipe()
    try:
        pid = os.fork()
    except OSError as e:
        os.close(r)
        os.close(w)
        log.warning("no forked checks: %s", e)
        return None
    if pid == 0:  # the child
        try:
            os.close(r)
            out = []
            for c in checks:
                t0 = time.time_ns()
                found = list(c().run(ctx))
                out.append((c.id, t0, time.time_ns(), found))
            data = pickle.dumps(("ok", out), protocol=pickle.HIGHEST_PROTOCOL)
        except BaseException as e:  # noqa: BLE001 - reported to the parent, which runs the checks itself
            data = pickle.dumps(("error", f"{type(e).__name__}: {e}"))
        finally:
            try:
                with os.fdopen(w, "wb") as f:
                    f.write(data)
            finally:
                os._exit(0)
    os.close(w)
    return ForkedChecks(pid=pid, fd=r, ids=tuple(c.id for c in checks))


class _NoAlerts(CheckContext):
    """A context without paging answers: a check that reads them fails in the child (and is run in-process)."""

    @property  # type: ignore[override]
    def alerts(self) -> list[Any]:
        raise RuntimeError("a check marked needs_alerts = False read the paging answers")

    @property  # type: ignore[override]
    def rules_by_service(self) -> dict[str, list[Any]]:
        raise RuntimeError("a check marked needs_alerts = False read the paging answers")
