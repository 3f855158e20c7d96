"""The errors gpu-exec raises to its users: each names the cause and, where there is one, the fix."""

from __future__ import annotations

__all__ = [
    "GpuExecError",
    "SQLError",
    "UnsupportedSQLError",
    "CatalogError",
    "ExecutionError",
    "QueryCancelled",
    "ResourceError",
    "one_line",
]


class GpuExecError(Exception):
    """Base class of every error gpu-exec raises on purpose."""


class SQLError(GpuExecError):
    """The SQL text could not be parsed or planned (syntax error, unknown column, type error)."""


class CatalogError(GpuExecError):
    """A table is unknown, or its files are missing or unreadable."""


class ExecutionError(GpuExecError):
    """A query failed while running; the message names the operator and the cause."""


class QueryCancelled(GpuExecError):
    """The query was cancelled (``DataFrame.cancel()`` or Ctrl-C); what it had started is dropped."""


class ResourceError(GpuExecError):
    """An operator needed more memory than the query's memory pool has left.

    ``consumer`` names the operator, ``requested`` the bytes it asked for, ``used`` what the pool
    held then and ``limit`` the pool's limit; the message names the setting to raise
    (``memory_limit``)."""

    def __init__(self, message: str, *, consumer: str = "", requested: int = 0, used: int = 0,
                 limit: int = 0) -> None:
        super().__init__(message)
        self.consumer = consumer
        self.requested = requested
        self.used = used
        self.limit = limit


class UnsupportedSQLError(GpuExecError):
    """The query uses SQL that gpu-exec cannot run; found at plan time, every reason listed at once.

    Parameters
    ----------
    reasons
        One human-readable line per unsupported construct.
    """

    def __init__(self, reasons: list[str]) -> None:
        self.reasons = list(dict.fromkeys(reasons))  # keep order, drop repeats
        lines = "\n".join(f"  - {r}" for r in self.reasons)
        super().__init__(f"unsupported SQL ({len(self.reasons)} reason(s)):\n{lines}")


def one_line(exc: BaseException) -> str:
    """``"ErrorClass: message"`` on one line, whitespace collapsed; an UnsupportedSQLError's
    reasons joined by "; "."""
    if isinstance(exc, UnsupportedSQLError):
        text = "; ".join(exc.reasons)
    else:
        text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
