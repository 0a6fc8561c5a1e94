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
  before the latest one already known, and the incidents open now (`statuses[]=triggered&
  statuses[]=acknowledged`) over the whole incidents window. The lists are authoritative (status,
  assignees, urgency, escalation policy); an incident known as open that neither list holds any
  more was resolved, and its resolve log entry says when. A later run costs a few requests.
- A 402 (the account lacks an ability) on a list the facts can do without (teams) leaves that list
  empty, with a warning and a note in the source's detail, instead of failing the source.
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

# A list is named by its endpoint (its path and the key of its records in the answer); a second list on
# the same endpoint by `endpoint#what`. This one: the incidents open now, read in an incremental run.
OPEN_INCIDENTS = "incidents#open"
OPEN_STATUSES = ["triggered", "acknowledged"]
# Lists the spec says answer 402 ("Account does not have the abilities to perform the action") and whose
# data the facts can do without (not in pagerduty_export.REQUIRED): a 402 leaves them empty. GET /incidents
# may answer 402 too, but only for parameters gated behind an ability (team_ids[]: `teams`; urgencies[] or
# sort_by urgency: `urgencies`), none of which is sent here; and incidents are what an incremental run
# merges on, so a 402 there is an error like any other.
OPTIONAL_WITHOUT_ABILITY = frozenset({"teams"})


def endpoint_of(key: str) -> str:
    """The endpoint of a list key: `incidents#open` -> `incidents`."""
    return key.partition("#")[0]


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
        sleep: Callable[[float], object] = time.sleep,
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


class HttpStatusError(SourceError):
    """A request answered with an HTTP error status (after any retries)."""

    def __init__(self, message: str, *, status: int, source: str | None = None):
        super().__init__(message, source=source)
        self.status = status


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
    key: str  # the list: its endpoint, or `endpoint#what` for a second list on one endpoint
    params: dict[str, Any]
    window: Window | None
    offset: int
    limit: int
    first: bool  # asks for `total` and plans the rest of its window
    sequential: bool = False  # no total known: follow `more` one page at a time

    @property
    def endpoint(self) -> str:
        return endpoint_of(self.key)


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
        self.unavailable: dict[str, str] = {}  # list key -> why it is left empty (a 402)

    def run(self, lists: dict[str, tuple[dict[str, Any], Window | None]]) -> dict[str, list[dict]]:
        self.pages = {key: {} for key in lists}
        pool = ThreadPoolExecutor(max_workers=self.reader.config.concurrency, thread_name_prefix="pagerduty")
        self.pool = pool
        try:
            for list_key, (params, window) in lists.items():
                self._submit(_Page(list_key, params, window, 0, min(PAGE_SIZE, OFFSET_CAP), first=True))
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
                    try:
                        body = fut.result()
                    except HttpStatusError as e:
                        if e.status != 402 or page.endpoint not in OPTIONAL_WITHOUT_ABILITY:
                            raise
                        self._unavailable(page, e)
                        continue
                    if page.key not in self.unavailable:
                        self._handle(page, body)
        except BaseException:
            # give up now: requests running may be waiting out a Retry-After (up to MAX_WAIT_S a retry);
            # they send nothing more and start no other wait, and nobody waits for them
            self.client.cancel.set()
            pool.shutdown(wait=False, cancel_futures=True)
            raise
        pool.shutdown(wait=True)
        out: dict[str, list[dict]] = {}
        for list_key, by_key in self.pages.items():
            seen: dict[str, dict] = {}
            for key in sorted(by_key, key=lambda k: (k[0] or "", k[1])):
                for obj in by_key[key]:
                    seen.setdefault(_identity(obj), obj)
            ep = endpoint_of(list_key)
            out[list_key] = sorted(seen.values(), key=lambda o, ep=ep: sort_key(ep, o))  # type: ignore[misc]
        return out

    def _unavailable(self, page: _Page, e: HttpStatusError) -> None:
        """A 402 on an optional list: none of its records (pages already read are dropped too)."""
        if page.key in self.unavailable:
            return
        self.unavailable[page.key] = e.message
        self.pages[page.key] = {}
        log.warning("%s: %s: the account lacks the ability; read without %s", self.reader.name, e.message, page.key)

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
        ep, key = page.endpoint, page.key
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
                self._submit(_Page(key, page.params, sub, 0, min(PAGE_SIZE, OFFSET_CAP), first=True))
            return
        self.pages[key][(window_key, page.offset)] = items
        if page.first and isinstance(total, int):
            for off in range(page.offset + step, total, step):
                self._submit(_Page(key, page.params, page.window, off, min(step, OFFSET_CAP - off), first=False))
        elif (page.first or page.sequential) and body.get("more") and items:
            nxt = page.offset + len(items)
            if nxt + step > OFFSET_CAP:
                raise SourceError(
                    f"GET /{ep}: more than {OFFSET_CAP:,} records and the API gave no total to split by",
                    source=self.reader.name,
                )
            self._submit(_Page(key, page.params, page.window, nxt, step, first=False, sequential=True))


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
        self.unavailable: dict[str, str] = {}  # lists left empty by a 402 in the last fetch, and why
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
            if e.response is None:
                raise SourceError(self._scrub(f"GET {path}: {e.msg}"), source=self.name) from None
            msg = self._http_error(path, e.response)
            raise HttpStatusError(self._scrub(msg), status=e.response.status_code, source=self.name) from None
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

    def fetch(
        self, lists: dict[str, tuple[dict[str, Any], Window | None]], deadline: float | None = None
    ) -> dict[str, list[dict]]:
        client = self._connect()
        deadline = time.monotonic() + self.config.timeout_s if deadline is None else deadline
        fetcher = _Fetcher(self, client, deadline)
        try:
            got = fetcher.run(lists)
            self.unavailable.update(fetcher.unavailable)
            return got
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
        """Facts and a one-line detail; incremental for incidents and log entries when `previous` allows.

        Incremental: incidents created and log entries written since shortly before the watermark, and
        the incidents open now over the whole window (they may be older than the watermark and have
        been acknowledged, reassigned, escalated, delegated or had their urgency changed since)."""
        deadline = time.monotonic() + self.config.timeout_s
        self.unavailable = {}
        lists = self.lists()
        start = self.incidents_start()
        mark = watermark(previous) if previous is not None else None
        since = None
        if mark is not None and start <= mark <= self.now:
            since = max(start, mark - OVERLAP)
            for ep in ("incidents", "log_entries"):
                lists[ep] = (lists[ep][0], (since, self.now))
            lists[OPEN_INCIDENTS] = ({"statuses[]": OPEN_STATUSES}, (start, self.now))
        got = self.fetch(lists, deadline)
        facts = facts_from_bodies({ep: got[ep] for ep in ENDPOINTS}, self.name)
        if since is None or previous is None:
            n = sum(self.requests_made.values())
            detail = f"{len(facts.services)} services, {len(facts.incidents)} incidents; full read, {n} requests"
            return facts, detail + self._notes()
        listed = facts_from_bodies({"incidents": got[OPEN_INCIDENTS]}, self.name).incidents
        stale = reread_needed(previous, facts, listed, start)
        if stale:
            # open at the last run, resolved since, and delegated or with its urgency changed before: neither
            # list holds it and its log entries do not say the new policy or urgency. Read again, each from
            # the list of the incidents created in its second (few: usually none).
            windows: dict[str, tuple[dict[str, Any], Window | None]] = {
                f"incidents#{_iso(t)}": ({}, (t, t + timedelta(seconds=1))) for t in stale.values()
            }
            again = self.fetch(windows, deadline)
            found = facts_from_bodies({"incidents": [i for key in windows for i in again[key]]}, self.name)
            listed += [i for i in found.incidents if i.id in stale]
        n = sum(self.requests_made.values())
        merged, new, updated = merge_incremental(previous, facts, start, listed)
        detail = (
            f"{len(merged.services)} services, {len(merged.incidents)} incidents; incremental since "
            f"{_iso(since)}: {new} new, {updated} updated, {n} requests"
        )
        return merged, detail + self._notes()

    def _notes(self) -> str:
        return "".join(f"; {key} not read: {why}" for key, why in sorted(self.unavailable.items()))


# --------------------------------------------------------------------------- incremental merge


def watermark(facts: PagerDutyFacts) -> datetime | None:
    """The latest incident or log entry already known."""
    times = [i.created_at for i in facts.incidents] + [e.created_at for e in facts.log_entries]
    return max(times) if times else None


REASSIGNING = ("assign_log_entry", "escalate_log_entry", "delegate_log_entry")  # all carry `assignees`
UNSAID = ("delegate_log_entry", "urgency_change_log_entry")  # the new policy or urgency is not in the entry


def reread_needed(
    previous: PagerDutyFacts, fresh: PagerDutyFacts, listed: list[PDIncident], start: datetime
) -> dict[str, datetime]:
    """Incidents (id -> created_at) open at the last run that no list read now holds (resolved since) and
    that a new log entry delegated or changed the urgency of: what they changed to only a list says."""
    known = {e.id for e in previous.log_entries}
    held = {i.id for i in fresh.incidents} | {i.id for i in listed}
    was_open = {i.id: i.created_at for i in previous.incidents if i.created_at >= start and i.status != "resolved"}
    return {
        e.incident_id: was_open[e.incident_id]
        for e in fresh.log_entries
        if e.type in UNSAID and e.id not in known and e.incident_id in was_open and e.incident_id not in held
    }


def apply_log_entry(inc: PDIncident, e: PDLogEntry) -> bool:
    """Bring an incident up to date with one newer log entry; False when the entry changes nothing we keep.

    What a log entry can say: a resolve (always applied: resolved is terminal), an acknowledgement, an
    unacknowledgement, and the new assignees of an assign, escalate or delegate (which put an acknowledged
    incident back to triggered). A delegation's new escalation policy and an urgency change's new urgency
    are not in the entry: only an incident list has them."""
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
    if e.type in REASSIGNING:
        inc.assignees = list(e.assignees)
        if inc.status == "acknowledged":
            inc.status, inc.last_status_change_at = "triggered", e.created_at
        return True
    return False


def merge_incremental(
    previous: PagerDutyFacts,
    fresh: PagerDutyFacts,
    start: datetime,
    open_now: list[PDIncident] | None = None,
) -> tuple[PagerDutyFacts, int, int]:
    """Previous incidents and log entries (those still in the window) updated with a later partial read.

    `fresh` holds the incidents created since shortly before the watermark; `open_now` the incidents open
    now over the whole window (None: not read), and any read again (reread_needed). Both lists are
    authoritative for what they hold. An incident previously open that neither holds was resolved since:
    its resolve log entry says when. A resolve entry is applied even to an incident of the lists (it may
    have been resolved between the list read and the log entries read). Other log entries update only
    incidents the lists do not hold (once `open_now` is read, those were resolved since). Returns the
    facts, how many incidents are new and how many known ones changed."""
    before = {i.id: i for i in previous.incidents if i.created_at >= start}
    incidents = {ident: i.model_copy(deep=True) for ident, i in before.items()}
    listed = {i.id: i for i in fresh.incidents}
    for now_open in open_now or []:
        # in both lists (created since the watermark and open): resolved is terminal, else the open list's
        if now_open.id not in listed or listed[now_open.id].status != "resolved":
            listed[now_open.id] = now_open
    incidents.update(listed)
    entries = {e.id: e for e in previous.log_entries if e.created_at >= start}
    unseen = sorted((e for e in fresh.log_entries if e.id not in entries), key=lambda e: (e.created_at, e.id))
    entries.update({e.id: e for e in fresh.log_entries})
    for e in unseen:
        inc = incidents.get(e.incident_id or "")
        if inc is None:
            continue
        if inc.id not in listed:
            apply_log_entry(inc, e)
        elif e.type == "resolve_log_entry" and inc.status != "resolved":
            apply_log_entry(inc, e)
    if open_now is not None:
        for ident, old in before.items():
            inc = incidents[ident]
            if old.status != "resolved" and ident not in listed and inc.status != "resolved":
                # no longer open, yet no resolve entry read (written before the overlap?): resolved, time unknown
                log.debug("incident %s is no longer open and has no resolve log entry", ident)
                inc.status, inc.assignees = "resolved", []
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
    new = sum(1 for ident in incidents if ident not in before)
    updated = sum(1 for ident, old in before.items() if incidents[ident] != old)
    return merged, new, updated


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
