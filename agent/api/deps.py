"""Typed dependencies: the serve state, the current view, bearer-token auth, pagination."""

from __future__ import annotations

import hmac
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, TypeVar

from fastapi import Depends, Query, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from fastapi.security.utils import get_authorization_scheme_param
from pydantic import BeforeValidator

from agent.api.errors import APIError
from agent.api.models import Page
from agent.api.state import ServeState, View
from agent.instants import instant_problem, iso_only

T = TypeVar("T")
API_PREFIX = "/api/v1"

bearer = HTTPBearer(auto_error=False, description="an API token (serve.tokens or $OWNERSHIP_API_TOKENS)")


# The dependencies are `async def` although they never await: FastAPI runs a plain `def` dependency in
# its thread pool, a thread hop per dependency per request; measured under 50 concurrent clients that
# hop cost more than the request itself.


async def get_state(request: Request) -> ServeState:
    state: ServeState = request.app.state.serve
    return state


StateDep = Annotated[ServeState, Depends(get_state)]


async def get_view(state: StateDep) -> View:
    view = state.view
    if view is None:
        raise APIError(503, "no snapshot yet: the first collection is still running", "not_ready")
    return view


ViewDep = Annotated[View, Depends(get_view)]


def token_ok(state: ServeState, presented: str | None) -> bool:
    """Constant-time comparison against every configured token (no early exit on a match)."""
    if not presented or not state.tokens:
        return False
    got = presented.encode()
    ok = False
    for t in state.tokens:
        ok |= hmac.compare_digest(got, t)
    return ok


def bearer_token(authorization: str | None) -> str | None:
    """The token of an `Authorization: Bearer <token>` header value, as `HTTPBearer` reads it; else None."""
    scheme, token = get_authorization_scheme_param(authorization)
    if not (authorization and scheme and token) or scheme.lower() != "bearer":
        return None
    return token


def check_token(state: ServeState, creds: HTTPAuthorizationCredentials | None) -> None:
    if creds is None:
        raise APIError(401, "a bearer token is required", headers={"WWW-Authenticate": "Bearer"})
    if not token_ok(state, creds.credentials):
        raise APIError(
            401, "the bearer token is not valid", headers={"WWW-Authenticate": 'Bearer error="invalid_token"'}
        )


async def require_token(
    state: StateDep, creds: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]
) -> None:
    check_token(state, creds)


@dataclass
class PageParams:
    offset: int
    limit: int


async def page_params(
    cursor: Annotated[
        str | None, Query(pattern=r"^[0-9]{1,9}$", description="`next` of the previous page; omit for the first")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=500, description="items per page")] = 50,
) -> PageParams:
    return PageParams(int(cursor) if cursor else 0, limit)


PageDep = Annotated[PageParams, Depends(page_params)]


def paginate(items: Sequence[T], p: PageParams) -> Page[T]:
    chunk = list(items[p.offset : p.offset + p.limit])
    end = p.offset + p.limit
    return Page[T](items=chunk, next=str(end) if end < len(items) else None)


def instant(at: datetime | None, name: str = "at") -> datetime | None:
    """A query instant: with a UTC offset, between 1970 and 9000 (so windows around it cannot overflow)."""
    if at is None:
        return None
    problem = instant_problem(at)
    if problem is not None:
        raise APIError(422, f"{name}: {problem}")
    return at


# a query parameter holding an instant: ISO 8601 only (see `iso_only`)
Instant = Annotated[datetime, BeforeValidator(iso_only)]
