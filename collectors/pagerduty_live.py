"""Live PagerDuty collection through the official `pagerduty` client (REST API v2).

Every request goes through `pagerduty.RestApiV2Client`, configured rather than bypassed:

- Lists use classic pagination in pages of 100. The first page of each list asks for `total`; the
  other pages are then requested at once on a thread pool (the client is synchronous).
- A time-windowed list (incidents, log entries, on-calls) whose total is more than
  offset + limit <= 10,000 can reach is split into sub-windows sized from that total. A list with
  no time window that large is refused with an error rather than silently cut short.
- One rate limiter paces every request under `rate_limit_per_minute`; a 429 pauses all of them for
  its Retry-After (or `ratelimit-reset`).
- Retries are the client's own (its `retry` table), bounded by the source's `retries`; the wait
  between attempts is what the answer asks for (Retry-After, `ratelimit-reset`), else exponential.
- Incremental: given the previous facts, incidents and log entries are read only from shortly
  before the latest one already known; older incidents are brought up to date from their new log
  entries (acknowledged, resolved, reassigned), so a later run costs a few requests.
"""

from __future__ import annotations

import json
import logging
import math
import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

import httpx2
import pagerduty

from agent.config import PagerDutySource
from agent.errors import ConfigError, SourceError
from collectors.durations import parse_duration
from collectors.facts import PagerDutyFacts, PDIncident, PDLogEntry
from collectors.pagerduty_export import ENDPOINTS, facts_from_bodies

log = logging.getLogger("ownership.collect.pagerduty")

PAGE_SIZE = 100  # the most PagerDuty's classic pagination returns per page
OFFSET_CAP = 10_000  # offset + limit may not exceed it (the client's ITERATION_LIMIT)
WINDOW_TARGET = 8_000  # records per sub-window when splitting: headroom for records uneven in time
OVERLAP = timedelta(minutes=10)  # incremental reads start this long before the latest known record
FIRST_BACKOFF_S = 0.5  # first wait after a 5xx or a network error, doubled each time
MAX_WAIT_S = 120.0  # the longest a single Retry-After is honoured

Window = tuple[datetime, datetime]


def default_transport() -> httpx2.BaseTransport | None:
    """The transport used when none is handed in: None means httpx2's own (a seam for the CLI's tests)."""
    return None


# --------------------------------------------------------------------------- pacing and retries


class RateLimiter:
    """Spaces requests `60 / per_minute` seconds apart across threads; `pause` holds them all back."""

    def __init__(
        self,
        per_minute: float,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self.interval = 60.0 / per_minute
        self._clock = clock
        self._sleep = sleep
        self._next = 0.0
        self._lock = threading.Lock()

    def acquire(self) -> None:
        with self._lock:
            now = self._clock()
            slot = max(now, self._next)
            self._next = slot + self.interval
        if slot > now:
            self._sleep(slot - now)

    def pause(self, seconds: float) -> None:
        with self._lock:
            self._next = max(self._next, self._clock() + seconds)


def asked_wait(response: httpx2.Response) -> float | None:
    """Seconds the answer asks to wait: Retry-After (seconds or HTTP date), else PagerDuty's ratelimit-reset."""
    ra = response.headers.get("retry-after")
    if ra:
        try:
            return max(0.0, float(ra))
        except ValueError:
            try:
                return max(0.0, (parsedate_to_datetime(ra) - datetime.now(UTC)).total_seconds())
            except (TypeError, ValueError):
                pass
    reset = response.headers.get("ratelimit-reset")
    if reset:
        try:
            return max(0.0, float(reset))
        except ValueError:
            return None
    return None


class Cancelled(Exception):
    """Raised in a request thread once the source's deadline has passed (nobody reads it)."""


class PagerDutyClient(pagerduty.RestApiV2Client):
    """The official client with bounded retries that wait as long as the API asks, behind one rate limiter.

    The client's retry loop does the counting (`retry`, `max_http_attempts`, `max_network_attempts`)
    and the sleeping; it multiplies its wait by `cooldown_factor()` before each sleep, so that hook
    turns the wait into the one the last answer asked for (`postprocess` sees every answer first).
    """

    def __init__(
        self,
        token: str,
        *,
        base_url: str,
        retries: int,
        timeout_s: float,
        limiter: RateLimiter,
        transport: httpx2.BaseTransport | None = None,
        pool_size: int = 8,
        cancel: threading.Event | None = None,
    ):
        self.limiter = limiter
        # set when the source's deadline passes: no request leaves after it, no retry waits start
        self.cancel = cancel if cancel is not None else threading.Event()
        self.sent: Counter[str] = Counter()  # requests on the wire per path, retries included
        self._sent_lock = threading.Lock()
        self._retry_state = threading.local()
        super().__init__(
            token,
            base_url=base_url,
            transport=transport,
            limits=httpx2.Limits(max_connections=pool_size, max_keepalive_connections=pool_size),
            event_hooks={"request": [self._before_send]},
        )
        self.timeout = timeout_s  # type: ignore[assignment]  # the client declares an int; httpx2 takes a float
        # 0 in the table means the client's default, which retries 429 forever: 429 gets at least one retry
        self.retry = {429: max(1, retries), 500: retries, 502: retries, 503: retries, 504: retries}
        self.max_http_attempts = max(1, retries)
        self.max_network_attempts = retries
        self.sleep_timer = FIRST_BACKOFF_S / self.sleep_timer_base

    def _before_send(self, request: httpx2.Request) -> None:
        self.limiter.acquire()
        if self.cancel.is_set():
            raise Cancelled(request.url.path)
        with self._sent_lock:
            self.sent[request.url.path] += 1

    def request(self, method: str, url: str, **kwargs: Any) -> httpx2.Response:  # type: ignore[override]
        st = self._retry_state
        st.current = self.sleep_timer  # the client's own running wait starts here
        st.wanted = None
        return super().request(method, url, **kwargs)

    def postprocess(self, response: httpx2.Response) -> None:  # type: ignore[override]
        super().postprocess(response)
        status = response.status_code
        wanted = asked_wait(response) if status == 429 or status >= 500 else None
        if status == 429:
            if wanted is None:
                wanted = getattr(self._retry_state, "current", self.sleep_timer) * self.sleep_timer_base
            wanted = min(wanted, MAX_WAIT_S)
            self.limiter.pause(wanted)  # the limit is per key: every thread waits, not only this one
        self._retry_state.wanted = None if wanted is None else min(wanted, MAX_WAIT_S)

    def cooldown_factor(self) -> float:
        if self.cancel.is_set():  # called before each retry's wait: the collection has given up
            raise Cancelled("retry")
        st = self._retry_state
        factor = super().cooldown_factor()
        current = getattr(st, "current", self.sleep_timer)
        wanted = getattr(st, "wanted", None)
        if wanted is not None:
            factor = max(wanted, 0.001) / current
            st.wanted = None
        st.current = current * factor
        return factor


# --------------------------------------------------------------------------- fetching lists


@dataclass
class _Page:
    endpoint: str
    params: dict[str, Any]
    window: Window | None
    offset: int
    limit: int
    first: bool  # asks for `total` and plans the rest of its window
    sequential: bool = False  # no total known: follow `more` one page at a time


def _iso(t: datetime) -> str:
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def split_window(window: Window, parts: int) -> list[Window]:
    """`parts` consecutive windows of whole seconds covering `window` (fewer when it is shorter)."""
    start, end = window
    seconds = int((end - start).total_seconds())
    parts = max(1, min(parts, seconds))
    edges = [start + timedelta(seconds=round(i * seconds / parts)) for i in range(parts)] + [end]
    return [(edges[i], edges[i + 1]) for i in range(parts)]


def _identity(obj: dict) -> str:
    ident = obj.get("id")
    return str(ident) if ident is not None else json.dumps(obj, sort_keys=True)


def _ref(obj: dict, key: str) -> str:
    v = obj.get(key)
    return str(v.get("id", "")) if isinstance(v, dict) else ""


def sort_key(endpoint: str, obj: dict) -> tuple:
    """A stable order for every list (by id; on-calls by policy, level, start, user)."""
    if endpoint == "oncalls":
        return (
            _ref(obj, "escalation_policy"),
            int(obj.get("escalation_level") or 0),
            str(obj.get("start") or ""),
            _ref(obj, "user"),
            _ref(obj, "schedule"),
            str(obj.get("end") or ""),
        )
    return (str(obj.get("id", "")),)


class _Fetcher:
    """Runs page requests on a thread pool, planning each list from its first page."""

    def __init__(self, reader: LiveReader, client: PagerDutyClient, deadline: float):
        self.reader = reader
        self.client = client
        self.deadline = deadline
        self.pages: dict[str, dict[tuple, list[dict]]] = {}
        self.running: dict[Future, _Page] = {}

    def run(self, lists: dict[str, tuple[dict[str, Any], Window | None]]) -> dict[str, list[dict]]:
        self.pages = {ep: {} for ep in lists}
        pool = ThreadPoolExecutor(max_workers=self.reader.config.concurrency, thread_name_prefix="pagerduty")
        self.pool = pool
        try:
            for ep, (params, window) in lists.items():
                self._submit(_Page(ep, params, window, 0, min(PAGE_SIZE, OFFSET_CAP), first=True))
            while self.running:
                left = self.deadline - time.monotonic()
                if left <= 0:
                    raise SourceError(
                        f"timed out after {self.reader.config.timeout_s:g}s "
                        f"({sum(self.client.sent.values())} requests made)",
                        source=self.reader.name,
                    )
                done, _ = wait(list(self.running), timeout=left, return_when=FIRST_COMPLETED)
                for fut in done:
                    page = self.running.pop(fut)
                    self._handle(page, fut.result())
        except BaseException:
            # give up now: requests running may be waiting out a Retry-After (up to MAX_WAIT_S a retry);
            # they send nothing more and start no other wait, and nobody waits for them
            self.client.cancel.set()
            pool.shutdown(wait=False, cancel_futures=True)
            raise
        pool.shutdown(wait=True)
        out: dict[str, list[dict]] = {}
        for ep, by_key in self.pages.items():
            seen: dict[str, dict] = {}
            for key in sorted(by_key, key=lambda k: (k[0] or "", k[1])):
                for obj in by_key[key]:
                    seen.setdefault(_identity(obj), obj)
            out[ep] = sorted(seen.values(), key=lambda o, ep=ep: sort_key(ep, o))  # type: ignore[misc]
        return out

    def _submit(self, page: _Page) -> None:
        params = dict(page.params)
        params.update(offset=page.offset, limit=page.limit)
        if page.first:
            params["total"] = "true"
        if page.window:
            params.update(since=_iso(page.window[0]), until=_iso(page.window[1]))
        fut = self.pool.submit(self.reader.get, f"/{page.endpoint}", params)
        self.running[fut] = page

    def _handle(self, page: _Page, body: dict) -> None:
        ep = page.endpoint
        items = body.get(ep)
        if not isinstance(items, list):
            raise SourceError(f"GET /{ep}: the answer has no {ep!r} list", source=self.reader.name)
        window_key = _iso(page.window[0]) if page.window else None
        total = body.get("total")
        echoed = body.get("limit")
        step = min(echoed, page.limit) if isinstance(echoed, int) and echoed > 0 else page.limit  # the server's page
        if page.first and isinstance(total, int) and total > OFFSET_CAP:
            if page.window is None or (page.window[1] - page.window[0]).total_seconds() < 2:
                where = f" between {_iso(page.window[0])} and {_iso(page.window[1])}" if page.window else ""
                raise SourceError(
                    f"GET /{ep}: {total:,} records{where}, more than the {OFFSET_CAP:,} that classic "
                    "pagination can reach",
                    source=self.reader.name,
                )
            parts = split_window(page.window, math.ceil(total / WINDOW_TARGET))
            log.info(
                "%s: GET /%s: %d records from %s to %s, read in %d windows",
                self.reader.name,
                ep,
                total,
                _iso(page.window[0]),
                _iso(page.window[1]),
                len(parts),
            )
            for sub in parts:
                self._submit(_Page(ep, page.params, sub, 0, min(PAGE_SIZE, OFFSET_CAP), first=True))
            return
        self.pages[ep][(window_key, page.offset)] = items
        if page.first and isinstance(total, int):
            for off in range(page.offset + step, total, step):
                self._submit(_Page(ep, page.params, page.window, off, min(step, OFFSET_CAP - off), first=False))
        elif (page.first or page.sequential) and body.get("more") and items:
            nxt = page.offset + len(items)
            if nxt + step > OFFSET_CAP:
                raise SourceError(
                    f"GET /{ep}: more than {OFFSET_CAP:,} records and the API gave no total to split by",
                    source=self.reader.name,
                )
            self._submit(_Page(ep, page.params, page.window, nxt, step, first=False, sequential=True))


# --------------------------------------------------------------------------- the reader


class LiveReader:
    """Reads one PagerDuty account: every list the facts need, full or incremental."""

    def __init__(
        self,
        config: PagerDutySource,
        base: Path,
        now: datetime,
        transport: httpx2.BaseTransport | None = None,
    ):
        self.config = config
        self.name = config.name
        self.base = base
        self.now = now.astimezone(UTC).replace(microsecond=0)
        self.transport = transport if transport is not None else default_transport()
        self.client: PagerDutyClient | None = None
        self.sent: Counter[str] = Counter()  # requests on the wire per path, retries included
        self._token: str | None = None

    # -- requests ------------------------------------------------------------------------
    def _connect(self) -> PagerDutyClient:
        if self.client is None:
            if self.config.auth is None:
                raise ConfigError("a live PagerDuty source needs auth.token_env or auth.token_file", source=self.name)
            secret = self.config.auth.resolve(self.base, f"{self.name}.auth")
            if secret is None or not secret.get_secret_value():
                raise ConfigError("auth names no token (token_env or token_file)", source=self.name)
            self._token = secret.get_secret_value()
            cancel = threading.Event()  # the limiter's waits end when the collection gives up
            self.client = PagerDutyClient(
                self._token,
                base_url=self.config.base_url.rstrip("/"),
                retries=self.config.retries,
                timeout_s=self.config.request_timeout_s,
                limiter=RateLimiter(self.config.rate_limit_per_minute, sleep=cancel.wait),
                transport=self.transport,
                pool_size=self.config.concurrency,
                cancel=cancel,
            )
            self.client.sent = self.sent
        return self.client

    @property
    def requests_made(self) -> Counter[str]:
        """Requests on the wire per path, retries included."""
        return self.sent

    def get(self, path: str, params: dict[str, Any]) -> dict:
        """One GET through the client; every failure becomes a SourceError naming the request."""
        assert self.client is not None
        try:
            body = self.client.jget(path, params=params)
        except pagerduty.HttpError as e:
            msg = self._http_error(path, e.response) if e.response is not None else f"GET {path}: {e.msg}"
            raise SourceError(self._scrub(msg), source=self.name) from None
        except pagerduty.Error as e:
            cause = e.__cause__
            if isinstance(cause, httpx2.TimeoutException):
                msg = f"GET {path}: no answer within {self.config.request_timeout_s:g}s"
            else:
                msg = f"GET {path}: cannot reach {self.config.base_url}: {type(cause or e).__name__}"
            attempts = self.client.max_network_attempts + 1
            raise SourceError(f"{msg} ({attempts} attempt{'s' if attempts > 1 else ''})", source=self.name) from None
        except (httpx2.HTTPError, pagerduty.UrlError) as e:
            raise SourceError(self._scrub(f"GET {path}: {type(e).__name__}: {e}"), source=self.name) from None
        if not isinstance(body, dict):
            raise SourceError(f"GET {path}: expected a JSON object, got {type(body).__name__}", source=self.name)
        return body

    def _http_error(self, path: str, r: httpx2.Response) -> str:
        if r.is_success:  # the client raises ServerHttpError for a body it cannot decode
            return f"GET {path}: the answer is not valid JSON (HTTP {r.status_code})"
        detail = ""
        try:
            err = r.json().get("error")
            if isinstance(err, dict):
                parts = [str(err.get("message") or "")] + [str(x) for x in err.get("errors") or []]
                detail = "; ".join(p for p in parts if p)
                if err.get("code") is not None:
                    detail += f" (code {err['code']})"
        except (ValueError, AttributeError):
            pass
        status = f"HTTP {r.status_code} {r.reason_phrase}".rstrip()
        if r.status_code == 401:
            return f"GET {path}: {status}: the token was refused (check {self.name}.auth)"
        retried = self.client.retry.get(r.status_code, 0) if self.client else 0
        after = f" after {retried} retr{'ies' if retried != 1 else 'y'}" if retried > 0 else ""
        return f"GET {path}: {status}{after}{': ' + detail if detail else ''}"

    def _scrub(self, text: str) -> str:
        return text.replace(self._token, "<token>") if self._token else text

    # -- what to read ---------------------------------------------------------------------
    def incidents_start(self) -> datetime:
        return self.now - timedelta(seconds=parse_duration(self.config.incidents_window))

    def lists(self) -> dict[str, tuple[dict[str, Any], Window | None]]:
        """Per endpoint: the query parameters and the time window it is read over."""
        incidents: Window = (self.incidents_start(), self.now)
        past = timedelta(seconds=parse_duration(self.config.oncalls_past))
        future = timedelta(seconds=parse_duration(self.config.oncalls_future))
        return {
            "services": ({"include[]": ["integrations"]}, None),
            "escalation_policies": ({}, None),
            "schedules": ({"include[]": ["schedule_layers"]}, None),
            "oncalls": ({}, (self.now - past, self.now + future)),
            "users": ({}, None),
            "teams": ({}, None),
            "incidents": ({}, incidents),
            "log_entries": ({"is_overview": "true"}, incidents),
            "maintenance_windows": ({"filter": "open"}, None),
        }

    def fetch(self, lists: dict[str, tuple[dict[str, Any], Window | None]]) -> dict[str, list[dict]]:
        client = self._connect()
        deadline = time.monotonic() + self.config.timeout_s
        try:
            return _Fetcher(self, client, deadline).run(lists)
        except SourceError as e:
            e.message = self._scrub(e.message)
            raise
        finally:
            if self.transport is None:  # the client's own connection pool; a transport handed in is the caller's
                client.close()
                self.client = None

    def bodies(self) -> dict[str, list[dict]]:
        """A full read: every endpoint's records, pages merged, in a stable order."""
        got = self.fetch(self.lists())
        return {ep: got[ep] for ep in ENDPOINTS}

    def collect(self, previous: PagerDutyFacts | None = None) -> tuple[PagerDutyFacts, str]:
        """Facts and a one-line detail; incremental for incidents and log entries when `previous` allows."""
        lists = self.lists()
        start = self.incidents_start()
        mark = watermark(previous) if previous is not None else None
        since = None
        if mark is not None and start <= mark <= self.now:
            since = max(start, mark - OVERLAP)
            for ep in ("incidents", "log_entries"):
                lists[ep] = (lists[ep][0], (since, self.now))
        got = self.fetch(lists)
        facts = facts_from_bodies({ep: got[ep] for ep in ENDPOINTS}, self.name)
        n = sum(self.requests_made.values())
        if since is None or previous is None:
            detail = f"{len(facts.services)} services, {len(facts.incidents)} incidents; full read, {n} requests"
            return facts, detail
        merged, new, updated = merge_incremental(previous, facts, start)
        detail = (
            f"{len(merged.services)} services, {len(merged.incidents)} incidents; incremental since "
            f"{_iso(since)}: {new} new, {updated} updated, {n} requests"
        )
        return merged, detail


# --------------------------------------------------------------------------- incremental merge


def watermark(facts: PagerDutyFacts) -> datetime | None:
    """The latest incident or log entry already known."""
    times = [i.created_at for i in facts.incidents] + [e.created_at for e in facts.log_entries]
    return max(times) if times else None


def apply_log_entry(inc: PDIncident, e: PDLogEntry) -> bool:
    """Bring an incident up to date with one newer log entry; False when the entry changes nothing we keep."""
    if e.type == "resolve_log_entry":
        inc.status, inc.resolved_at, inc.last_status_change_at = "resolved", e.created_at, e.created_at
        inc.assignees = []  # the API empties assignments on resolve
        return True
    if inc.status == "resolved":
        return False
    if e.type == "acknowledge_log_entry":
        inc.status, inc.last_status_change_at = "acknowledged", e.created_at
        return True
    if e.type == "unacknowledge_log_entry":
        inc.status, inc.last_status_change_at = "triggered", e.created_at
        return True
    if e.type == "assign_log_entry":
        inc.assignees = list(e.assignees)
        return True
    return False


def merge_incremental(
    previous: PagerDutyFacts, fresh: PagerDutyFacts, start: datetime
) -> tuple[PagerDutyFacts, int, int]:
    """Previous incidents and log entries (those still in the window) updated with a later partial read."""
    incidents = {i.id: i.model_copy(deep=True) for i in previous.incidents if i.created_at >= start}
    new_ids = {i.id for i in fresh.incidents if i.id not in incidents}
    for inc in fresh.incidents:
        incidents[inc.id] = inc
    fresh_ids = {i.id for i in fresh.incidents}
    entries = {e.id: e for e in previous.log_entries if e.created_at >= start}
    unseen = sorted((e for e in fresh.log_entries if e.id not in entries), key=lambda e: (e.created_at, e.id))
    entries.update({e.id: e for e in fresh.log_entries})
    updated: set[str] = set()
    for e in unseen:
        old = incidents.get(e.incident_id or "")
        if old is not None and old.id not in fresh_ids and apply_log_entry(old, e):
            updated.add(old.id)
    first_ack: dict[str, datetime] = {}
    for e in entries.values():
        if e.type.startswith("acknowledge") and e.incident_id:
            if e.incident_id not in first_ack or e.created_at < first_ack[e.incident_id]:
                first_ack[e.incident_id] = e.created_at
    for inc in incidents.values():
        inc.acknowledged_at = first_ack.get(inc.id)
    merged = fresh.model_copy(
        update={
            "incidents": sorted(incidents.values(), key=lambda i: i.id),
            "log_entries": sorted(entries.values(), key=lambda e: e.id),
        }
    )
    return merged, len(new_ids), len(updated)


# --------------------------------------------------------------------------- export folder


def write_export_dir(folder: Path, bodies: dict[str, list[dict]]) -> list[Path]:
    """One file per endpoint, each the API's list body with every page merged (DESIGN.md's export folder)."""
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for ep in ENDPOINTS:
        items = bodies.get(ep, [])
        body = {ep: items, "limit": len(items), "offset": 0, "more": False, "total": len(items)}
        path = folder / f"{ep}.json"
        tmp = path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(body, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
        tmp.replace(path)
        written.append(path)
    return written
