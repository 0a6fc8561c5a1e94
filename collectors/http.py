"""A JSON HTTP client for live sources: one timeout budget, bounded retries, named errors, no leaked secrets.

Retries only on 429 and 5xx, with exponential backoff, honouring `Retry-After` (seconds or an
HTTP date) as long as the source's time budget allows; every failure becomes a `SourceError`
subclass whose message starts with a short name (`unreachable`, `timed out`, `invalid JSON`...)
and never carries the token, the Authorization header or a URL's userinfo.
"""

from __future__ import annotations

import json
import logging
import random
import time
from collections.abc import Callable
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx
from pydantic import SecretStr

from agent.errors import SourceError

log = logging.getLogger("ownership.collect.http")

Params = dict[str, Any] | list[tuple[str, Any]] | None
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
BACKOFF_BASE_S = 0.5
BACKOFF_MAX_S = 30.0


class SourceUnreachable(SourceError):
    """Connection refused, DNS failure, TLS failure: nothing answered."""


class SourceTimeout(SourceError):
    """The source did not answer within its time budget."""


class SourceAuthError(SourceError):
    """The source refused our credentials (HTTP 401/403, database authentication)."""


class SourceHTTPError(SourceError):
    """An HTTP error status that retrying did not cure."""

    def __init__(self, message: str, *, status: int, source: str | None = None):
        super().__init__(message, source=source)
        self.status = status


class SourceBadAnswer(SourceError):
    """The source answered, but not with what its API promises (invalid JSON, wrong shape)."""


def redact_url(url: str | httpx.URL) -> str:
    """The URL without userinfo (so `http://user:pw@host` never reaches a log or an error)."""
    parts = urlsplit(str(url))
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, parts.query, parts.fragment))


def retry_after_seconds(value: str | None, now: float | None = None) -> float | None:
    """`Retry-After` as seconds: delta-seconds or an HTTP date; None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def join_url(base: str, path: str) -> str:
    return base.rstrip("/") + "/" + path.lstrip("/")


class JsonApi:
    """GET JSON from one base URL within one time budget (the source's timeout)."""

    def __init__(
        self,
        base_url: str,
        *,
        source: str,
        timeout_s: float,
        retries: int = 3,
        token: SecretStr | None = None,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
        headers: dict[str, str] | None = None,
    ):
        self.base_url = base_url.rstrip("/")
        self.source = source
        self.timeout_s = timeout_s
        self.retries = retries
        self._sleep = sleep
        self._token = token
        self._deadline = time.monotonic() + timeout_s
        self.requests = 0
        h = {"Accept": "application/json", "User-Agent": "ownership-agent"}
        h.update(headers or {})
        if token is not None:
            h["Authorization"] = f"Bearer {token.get_secret_value()}"
        self._client = httpx.Client(
            headers=h, timeout=httpx.Timeout(timeout_s), transport=transport, follow_redirects=True
        )

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> JsonApi:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- helpers ---------------------------------------------------------------------
    def _scrub(self, text: str) -> str:
        if self._token is not None:
            secret = self._token.get_secret_value()
            if secret:
                text = text.replace(secret, "<secret>")
        return text

    def _left(self) -> float:
        return self._deadline - time.monotonic()

    def url(self, path: str) -> str:
        return path if path.startswith(("http://", "https://")) else join_url(self.base_url, path)

    # -- requests --------------------------------------------------------------------
    def get(self, path: str, params: Params = None) -> httpx.Response:
        """GET with retries on 429/5xx; raises a named SourceError on every failure."""
        url = self.url(path)
        shown = f"GET {redact_url(url)}"
        attempt = 0
        while True:
            left = self._left()
            if left <= 0:
                raise SourceTimeout(f"timed out after {self.timeout_s:g}s before {shown}", source=self.source)
            t0 = time.perf_counter()
            self.requests += 1
            try:
                resp = self._client.get(url, params=params, timeout=httpx.Timeout(min(left, self.timeout_s)))
            except httpx.TimeoutException:
                raise SourceTimeout(
                    f"timed out after {self.timeout_s:g}s waiting for {shown}", source=self.source
                ) from None
            except httpx.TransportError as e:
                reason = self._scrub(str(e) or type(e).__name__)
                raise SourceUnreachable(f"unreachable: {reason} ({shown})", source=self.source) from None
            log.debug(
                "http request source=%s method=GET url=%s status=%d duration_s=%.3f attempt=%d",
                self.source,
                redact_url(resp.url),
                resp.status_code,
                time.perf_counter() - t0,
                attempt,
            )
            if resp.status_code < 400:
                return resp
            if resp.status_code in RETRY_STATUSES and attempt < self.retries:
                wait = retry_after_seconds(resp.headers.get("Retry-After"))
                if wait is None:
                    wait = min(BACKOFF_MAX_S, BACKOFF_BASE_S * 2**attempt) * (0.75 + random.random() / 2)
                if wait < self._left():
                    log.info(
                        "http retry source=%s url=%s status=%d wait_s=%.2f attempt=%d",
                        self.source,
                        redact_url(resp.url),
                        resp.status_code,
                        wait,
                        attempt + 1,
                    )
                    self._sleep(wait)
                    attempt += 1
                    continue
                raise SourceHTTPError(
                    f"HTTP {resp.status_code} from {shown}; waiting {wait:.1f}s more would exceed the "
                    f"{self.timeout_s:g}s timeout",
                    status=resp.status_code,
                    source=self.source,
                )
            body = self._scrub(resp.text[:300].strip())
            if resp.status_code in (401, 403):
                raise SourceAuthError(
                    f"authentication failed: HTTP {resp.status_code} from {shown}", source=self.source
                )
            tried = f" after {attempt + 1} attempts" if attempt else ""
            raise SourceHTTPError(
                f"HTTP {resp.status_code} from {shown}{tried}{': ' + body if body else ''}",
                status=resp.status_code,
                source=self.source,
            )

    def get_json(self, path: str, params: Params = None) -> Any:
        """The parsed JSON body of a GET."""
        resp = self.get(path, params)
        return self.parse(resp)

    def parse(self, resp: httpx.Response) -> Any:
        try:
            return json.loads(resp.content)
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            what = e.msg if isinstance(e, json.JSONDecodeError) else str(e)
            raise SourceBadAnswer(f"invalid JSON from GET {redact_url(resp.url)}: {what}", source=self.source) from None

    def bad_answer(self, path: str, what: str) -> SourceBadAnswer:
        return SourceBadAnswer(f"unexpected answer from GET {redact_url(self.url(path))}: {what}", source=self.source)
