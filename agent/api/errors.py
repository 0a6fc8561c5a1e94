"""One JSON error shape, `{"error": {"code", "message", "details"}}`, for every failure the API returns."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from agent.errors import InputError, NotFoundError, OwnershipError, SourceError

log = logging.getLogger("ownership.api")

HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    415: "unsupported_media_type",
    422: "invalid_request",
    429: "too_many_requests",
    500: "internal",
    501: "not_implemented",
    502: "source_unavailable",
    503: "not_ready",
}


class ErrorDetail(BaseModel):
    code: str = Field(description="stable machine-readable code, e.g. not_found, unauthorized, invalid_request")
    message: str = Field(description="what went wrong, for a person")
    details: list[dict[str, Any]] | None = Field(None, description="per-field problems of an invalid request")


class ErrorBody(BaseModel):
    """Every error response has this shape."""

    error: ErrorDetail


class APIError(Exception):
    """An error with an HTTP status, raised by routes and dependencies."""

    def __init__(self, status: int, message: str, code: str | None = None, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code or HTTP_CODES.get(status, "error")
        self.headers = headers


def error_response(
    status: int,
    code: str,
    message: str,
    details: list[dict[str, Any]] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    body = ErrorBody(error=ErrorDetail(code=code, message=message, details=details))
    return JSONResponse(body.model_dump(exclude_none=True), status_code=status, headers=headers)


def status_of(e: OwnershipError) -> int:
    """The agent.errors hierarchy mapped to HTTP statuses."""
    if isinstance(e, NotFoundError):
        return 404
    if isinstance(e, InputError):
        return 400
    if isinstance(e, SourceError):
        return 502
    return 400


def install(app: FastAPI) -> None:
    """Exception handlers that give every error the one shape."""

    @app.exception_handler(APIError)
    async def _api(_: Request, e: APIError) -> JSONResponse:
        return error_response(e.status, e.code, e.message, headers=e.headers)

    @app.exception_handler(OwnershipError)
    async def _own(_: Request, e: OwnershipError) -> JSONResponse:
        status = status_of(e)
        return error_response(status, HTTP_CODES[status], str(e))

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, e: RequestValidationError) -> JSONResponse:
        details = [
            {
                "loc": [str(x) for x in err.get("loc", ())],
                "msg": str(err.get("msg", "")),
                "type": str(err.get("type", "")),
            }
            for err in e.errors()
        ]
        first = details[0] if details else None
        msg = f"{'.'.join(first['loc'])}: {first['msg']}" if first else "invalid request"
        return error_response(422, "invalid_request", msg, jsonable_encoder(details))

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, e: StarletteHTTPException) -> JSONResponse:
        headers = dict(e.headers) if e.headers else None
        return error_response(e.status_code, HTTP_CODES.get(e.status_code, "error"), str(e.detail), headers=headers)

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, e: Exception) -> JSONResponse:
        log.exception("unhandled error")
        return error_response(500, "internal", f"internal error: {type(e).__name__}")


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorBody, "description": "no bearer token, or a wrong one"},
    422: {"model": ErrorBody, "description": "invalid parameters"},
    503: {"model": ErrorBody, "description": "no snapshot yet (the first collection is still running)"},
}
NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"model": ErrorBody, "description": "not in the latest snapshot"}}
