"""One error hierarchy: every bad input becomes a clean message (CLI exit 2, API 4xx)."""

from __future__ import annotations


class OwnershipError(Exception):
    """Base of every error the agent raises on purpose."""

    exit_code = 2

    def __init__(self, message: str, *, source: str | None = None, file: str | None = None, line: int | None = None):
        super().__init__(message)
        self.message = message
        self.source = source
        self.file = file
        self.line = line

    def __str__(self) -> str:
        where = ""
        if self.file:
            where = f"{self.file}:{self.line}: " if self.line else f"{self.file}: "
        elif self.source:
            where = f"{self.source}: "
        return f"{where}{self.message}"


class InputError(OwnershipError):
    """A file or answer that cannot be read as what it claims to be."""


class NotFoundError(InputError):
    """A named thing (service, engineer, team, snapshot) that the snapshot does not have (API 404)."""


class ConfigError(InputError):
    """The agent's own config is wrong."""


class SourceError(OwnershipError):
    """A source could not be collected (unreachable, timed out, refused)."""


class StoreError(OwnershipError):
    """The store cannot be reached (a PostgreSQL server down or refusing, a SQLite file that cannot be opened): one
    line naming the store without its password (exit 2), where SQLAlchemy raised OperationalError with its
    traceback."""
