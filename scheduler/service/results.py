"""Query results waiting for their Flight SQL client to fetch them, cut into endpoints.

The query endpoint runs a statement when the client asks for its FlightInfo, keeps the result
here and answers with one endpoint per slice of about ``endpoint_bytes``, so that a big result
comes as several streams the client can fetch in parallel (and none is one giant message). A slice
is dropped once streamed; a client that goes away mid-stream drops its whole result; results
nobody fetches expire after ``ttl`` seconds.
"""

from __future__ import annotations

import secrets
import threading
import time
from dataclasses import dataclass, field

import pyarrow as pa

from planner.errors import GpuExecError

__all__ = ["ResultStore", "StoredResult", "ResultStoreFull"]


class ResultStoreFull(GpuExecError):
    """Keeping one more result would pass the store's limit on unfetched results."""


@dataclass
class StoredResult:
    schema: pa.Schema
    slices: dict[int, pa.Table]  # endpoint index → rows not yet streamed
    expires: float
    rows: int = 0
    streaming: set[int] = field(default_factory=set)


class ResultStore:
    """Results by handle (an unguessable token: a ticket is the only key to its rows)."""

    def __init__(self, *, endpoint_bytes: int, ttl: float, max_held_bytes: int | None = None) -> None:
        self.endpoint_bytes = max(1, endpoint_bytes)
        self.ttl = ttl
        self.max_held_bytes = max_held_bytes  # all results together; None: no limit
        self._results: dict[str, StoredResult] = {}
        self._lock = threading.Lock()

    def put(self, table: pa.Table) -> tuple[str, int]:
        """Keep ``table``; returns its handle and its number of endpoints (at least one).

        Raises
        ------
        ResultStoreFull
            When it would take the results kept to more than ``max_held_bytes``.
        """
        count = max(1, min(table.num_rows, -(-table.nbytes // self.endpoint_bytes)))
        step = -(-table.num_rows // count) if table.num_rows else 0
        count = -(-table.num_rows // step) if step else 1  # no empty trailing slice
        slices = {i: table.slice(i * step, step) if step else table for i in range(count)}
        handle = secrets.token_hex(16)
        with self._lock:
            self._expire()
            held = sum(t.nbytes for r in self._results.values() for t in r.slices.values())
            if self.max_held_bytes is not None and held + table.nbytes > self.max_held_bytes:
                raise ResultStoreFull(
                    f"the server already keeps {held:,} bytes of results clients have not fetched yet; "
                    f"this one ({table.nbytes:,} bytes) would pass its limit of {self.max_held_bytes:,}: "
                    "fetch results promptly, or write big ones with COPY")
            self._results[handle] = StoredResult(table.schema, slices, time.monotonic() + self.ttl, table.num_rows)
        return handle, count

    def take(self, handle: str, index: int) -> pa.Table | None:
        """The rows of endpoint ``index`` (None when unknown, already streamed or expired)."""
        with self._lock:
            self._expire()
            result = self._results.get(handle)
            if result is None or index not in result.slices or index in result.streaming:
                return None
            result.streaming.add(index)
            return result.slices[index]

    def streamed(self, handle: str, index: int, *, completely: bool) -> None:
        """Endpoint ``index`` was streamed to the end, or its client went away (then the whole
        result goes: nobody will read the rest)."""
        with self._lock:
            result = self._results.get(handle)
            if result is None:
                return
            if not completely:
                del self._results[handle]
                return
            result.slices.pop(index, None)
            result.streaming.discard(index)
            if not result.slices:
                del self._results[handle]

    def drop(self, handle: str) -> bool:
        with self._lock:
            return self._results.pop(handle, None) is not None

    def __len__(self) -> int:
        with self._lock:
            self._expire()
            return len(self._results)


    def _expire(self) -> None:
        now = time.monotonic()
        for handle in [h for h, r in self._results.items() if r.expires < now and not r.streaming]:
            del self._results[handle]
