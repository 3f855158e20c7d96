"""The memory pool: the bytes that operators hold between batches, counted against one limit.

Streaming operators hold a batch at a time; what a pipeline breaker keeps (a join's build side, a
sort's or a final aggregate's input, an exchange's pieces, the partial aggregate's states) is
accounted here, by the operator that holds it, through a :class:`Reservation`:

    reservation = ctx.memory.reservation("Sort", detail="partition 2")
    reservation.grow(kernels.nbytes(batch))   # ResourceError past the limit
    ...
    reservation.free()

A pool has a limit in bytes (None: unlimited) and counts its current and peak bytes overall and per
consumer (the operator's name, as in ``DataFrame.metrics``). Pools nest: a session's pool (or an
executor's) is the parent of each query's (or task's) pool, so that concurrent queries share one
limit while each reports its own peak. Everything is thread safe: partitions of a stage grow and
shrink their reservations from their threads.

Spilling (``spill`` callbacks). A reservation made with ``spill=`` is *spillable*: when a ``grow``
would pass a limit, the pool first asks spillable reservations under that limit, largest first
(the one asking included), to write out what they hold: ``spill(nbytes)`` is called from the
growing thread, without the pool's lock, and returns the bytes it freed, having shrunk its own
reservation by them (and counted them with ``record_spill``). Only when spilling did not make
room does ``grow`` raise :class:`planner.errors.ResourceError`, naming the operator, the bytes it
needed, the limit and the setting to raise (``memory_limit``).
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field
from typing import Callable

from planner.errors import GpuExecError, ResourceError

__all__ = [
    "MemoryPool",
    "Reservation",
    "MemoryStats",
    "ConsumerStats",
    "SpillFn",
    "parse_bytes",
    "format_bytes",
    "default_memory_limit",
    "MEMORY_LIMIT_HINT",
]

SpillFn = Callable[[int], int]
"""``spill(nbytes) -> freed``: write out at least ``nbytes`` if possible; returns the bytes freed."""

MEMORY_LIMIT_HINT = ("raise memory_limit (gpu_exec.connect(memory_limit=...), the GPU_EXEC_MEMORY_LIMIT "
                     "environment variable, or gpu-exec executor --memory-limit)")

_UNITS = {"": 1, "b": 1, "k": 2**10, "kb": 10**3, "kib": 2**10, "m": 2**20, "mb": 10**6, "mib": 2**20,
          "g": 2**30, "gb": 10**9, "gib": 2**30, "t": 2**40, "tb": 10**12, "tib": 2**40}
_GIB = 2**30


def parse_bytes(value: str | int) -> int:
    """Bytes from an int or a size such as ``"2GB"``, ``"512MiB"``, ``"1.5g"`` or ``"1048576"``."""
    if isinstance(value, bool):
        raise GpuExecError(f"memory_limit must be a number of bytes or a size such as '2GB', not {value!r}")
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    raw = str(value).strip().lower().replace(" ", "").replace("_", "")
    digits = raw.rstrip("abcdefghijklmnopqrstuvwxyz")
    unit = raw[len(digits):]
    try:
        number = float(digits)
    except ValueError:
        number = -1.0
    if unit not in _UNITS or number < 0:
        raise GpuExecError(f"cannot read the size {value!r}: write e.g. '2GB', '512MiB' or a number of bytes")
    return int(number * _UNITS[unit])


def format_bytes(n: int | None) -> str:
    """``1536`` → ``"1.5 KiB"``; None → ``"unlimited"``."""
    if n is None:
        return "unlimited"
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(size) < 1024 or unit == "GiB":
            return f"{int(size)} B" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} GiB"  # pragma: no cover


def _cgroup_limit() -> int | None:
    """The cgroup's memory limit (v2 ``memory.max``, else v1), None when there is none."""
    for path in ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"):
        try:
            with open(path) as f:
                text = f.read().strip()
        except OSError:
            continue
        if text.isdigit():
            value = int(text)
            physical = _physical_memory()
            # cgroup v1 says "no limit" with a huge number.
            return value if physical is None or value < physical else None
    return None


def _physical_memory() -> int | None:
    try:
        return int(os.sysconf("SC_PAGE_SIZE")) * int(os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, AttributeError):
        return None


def default_memory_limit(executors: int = 1) -> int:
    """The default pool limit: the cgroup's memory limit, else the machine's memory, less a reserve
    for the interpreter, libraries and what is not accounted (10%, at least 1 GiB, at most half),
    divided among the ``executors`` of this node (1 in process)."""
    total = _cgroup_limit() or _physical_memory() or 8 * _GIB
    reserve = min(max(total // 10, _GIB), total // 2)
    return max(1, (total - reserve) // max(1, executors))


@dataclass
class ConsumerStats:
    """Bytes one consumer (an operator's name) holds now, at most so far, and has spilled."""

    current: int = 0
    peak: int = 0
    spilled: int = 0


@dataclass(frozen=True)
class MemoryStats:
    """A snapshot of a pool: its effective limit (its own or a parent's; None: unlimited), current
    and peak bytes, bytes spilled, and the same per consumer."""

    limit: int | None
    current: int
    peak: int
    spilled: int = 0
    consumers: dict[str, ConsumerStats] = field(default_factory=dict)


class Reservation:
    """Bytes one operator holds in a pool: ``grow`` before keeping more (raises ResourceError past
    the limit), ``shrink`` when letting go, ``free`` at the end (also on ``with`` exit)."""

    __slots__ = ("_pool", "consumer", "detail", "_spill", "_size", "__weakref__")

    def __init__(self, pool: MemoryPool, consumer: str, detail: str, spill: SpillFn | None) -> None:
        self._pool = pool
        self.consumer = consumer
        self.detail = detail
        self._spill = spill
        self._size = 0

    @property
    def size(self) -> int:
        return self._size

    @property
    def pool(self) -> MemoryPool:
        return self._pool

    @property
    def spillable(self) -> bool:
        return self._spill is not None

    @property
    def label(self) -> str:
        return f"{self.consumer} ({self.detail})" if self.detail else self.consumer

    def grow(self, nbytes: int) -> None:
        """Hold ``nbytes`` more; past a limit, spillable consumers are asked to spill first, then
        ResourceError."""
        self._pool._grow(self, int(nbytes), fail=True)

    def try_grow(self, nbytes: int) -> bool:
        """``grow`` that answers False instead of raising (nothing is asked to spill)."""
        return self._pool._grow(self, int(nbytes), fail=False)

    def shrink(self, nbytes: int) -> None:
        """Hold ``nbytes`` less (at most what is held)."""
        self._pool._shrink(self, int(nbytes))

    def resize(self, nbytes: int) -> None:
        """Hold exactly ``nbytes``."""
        delta = int(nbytes) - self._size
        if delta > 0:
            self.grow(delta)
        elif delta < 0:
            self.shrink(-delta)

    def free(self) -> int:
        """Release everything held; returns how much that was."""
        held = self._size
        self._pool._shrink(self, held, forget=True)
        return held

    def record_spill(self, nbytes: int) -> None:
        """Count ``nbytes`` written out by this consumer (its metrics' spilled bytes)."""
        self._pool._record_spill(self, int(nbytes))

    def __enter__(self) -> Reservation:
        return self

    def __exit__(self, *exc: object) -> None:
        self.free()

    def __repr__(self) -> str:
        return f"Reservation({self.label!r}, {format_bytes(self._size)})"


class MemoryPool:
    """A limit in bytes (None: unlimited) over the reservations made in it and in its children.

    ``reserve(consumer, nbytes)`` / ``release(consumer, nbytes)`` are the one-call form (one
    reservation per consumer name); operators use ``reservation()`` objects. ``child(name)`` makes
    a pool counted here too (a query's pool under the session's, a task's under the executor's);
    a child without a limit of its own is bounded by its parents'.
    """

    def __init__(self, limit: int | None = None, *, name: str = "memory", parent: MemoryPool | None = None) -> None:
        if limit is not None and limit <= 0:
            limit = None
        self._limit = limit
        self.name = name
        self._parent = parent
        self._root: MemoryPool = parent._root if parent is not None else self
        self._lock: threading.RLock = parent._lock if parent is not None else threading.RLock()
        self._current = 0
        self._peak = 0
        self._spilled = 0
        self._consumers: dict[str, ConsumerStats] = {}
        self._live: dict[int, Reservation] = {}  # this pool's reservations holding bytes or spillable
        self._named: dict[str, Reservation] = {}
        # At the root only: every reservation under it that holds bytes, and the spillable ones.
        self._holding: dict[int, Reservation] = {}
        self._spillable: dict[int, Reservation] = {}

    # ---- reading ----------------------------------------------------------------------------
    @property
    def limit(self) -> int | None:
        """This pool's own limit (None: none of its own; see ``effective_limit``)."""
        return self._limit

    @property
    def effective_limit(self) -> int | None:
        """The smallest limit of this pool and its parents (None: unlimited)."""
        limits = [p._limit for p in self._chain() if p._limit is not None]
        return min(limits) if limits else None

    @property
    def parent(self) -> MemoryPool | None:
        return self._parent

    @property
    def current(self) -> int:
        return self._current

    @property
    def peak(self) -> int:
        return self._peak

    @property
    def spilled(self) -> int:
        return self._spilled

    def stats(self) -> MemoryStats:
        with self._lock:
            consumers = {name: ConsumerStats(c.current, c.peak, c.spilled) for name, c in self._consumers.items()}
            return MemoryStats(self.effective_limit, self._current, self._peak, self._spilled, consumers)

    # ---- making reservations ------------------------------------------------------------------
    def reservation(self, consumer: str, *, detail: str = "", spill: SpillFn | None = None) -> Reservation:
        """A new, empty reservation of ``consumer`` (an operator's name); ``detail`` says which one
        in error messages (e.g. its partition); ``spill`` makes it spillable (module doc)."""
        r = Reservation(self, consumer, detail, spill)
        with self._lock:
            self._consumers.setdefault(consumer, ConsumerStats())
            if spill is not None:
                self._live[id(r)] = r
                self._root._spillable[id(r)] = r
        return r

    def reserve(self, consumer: str, nbytes: int) -> None:
        """Hold ``nbytes`` more for ``consumer`` (ResourceError past the limit)."""
        with self._lock:
            r = self._named.get(consumer)
            if r is None:
                r = self._named[consumer] = self.reservation(consumer)
        r.grow(nbytes)

    def release(self, consumer: str, nbytes: int) -> None:
        """Hold ``nbytes`` less for ``consumer``."""
        with self._lock:
            r = self._named.get(consumer)
        if r is not None:
            r.shrink(nbytes)

    def set_limit(self, limit: int | None) -> None:
        """A new limit (None or 0: unlimited); what is held stays, later reservations see it."""
        with self._lock:
            self._limit = limit if limit is not None and limit > 0 else None

    def child(self, name: str, limit: int | None = None) -> MemoryPool:
        """A pool counted in this one (and its parents); ``limit`` an extra limit of its own."""
        return MemoryPool(limit, name=name, parent=self)

    def close(self) -> int:
        """Free every reservation still holding bytes in this pool (the end of a query: a stream
        left unfinished gives back what it held); returns the bytes freed."""
        with self._lock:
            live = list(self._live.values())
        freed = 0
        for r in live:
            freed += r.free()
        with self._lock:
            for r in live:
                self._root._spillable.pop(id(r), None)
            self._named.clear()
        return freed

    # ---- accounting (Reservation calls these) --------------------------------------------------
    def _chain(self) -> list[MemoryPool]:
        chain, pool = [], self
        while pool is not None:
            chain.append(pool)
            pool = pool._parent
        return chain

    def _blocking(self, nbytes: int) -> MemoryPool | None:
        """The first pool from here up whose limit ``nbytes`` more would pass."""
        for pool in self._chain():
            if pool._limit is not None and pool._current + nbytes > pool._limit:
                return pool
        return None

    def _grow(self, r: Reservation, nbytes: int, *, fail: bool) -> bool:
        if nbytes <= 0:
            return True
        spilled_once = False
        while True:
            with self._lock:
                blocking = self._blocking(nbytes)
                if blocking is None:
                    r._size += nbytes
                    self._live[id(r)] = r
                    self._root._holding[id(r)] = r
                    for pool in self._chain():
                        pool._current += nbytes
                        pool._peak = max(pool._peak, pool._current)
                    stats = self._consumers[r.consumer]
                    stats.current += nbytes
                    stats.peak = max(stats.peak, stats.current)
                    return True
                if not fail:
                    return False
                needed = blocking._current + nbytes - (blocking._limit or 0)
                candidates = [] if spilled_once else sorted(
                    (c for c in self._root._spillable.values() if c._size > 0 and blocking in c._pool._chain()),
                    key=lambda c: c._size, reverse=True)
                used, limit = blocking._current, blocking._limit or 0
                holders = self._top_holders(blocking)
            if not candidates:
                where = "" if blocking._parent is None and blocking is self._root else f" ({blocking.name})"
                raise ResourceError(
                    f"{r.label} needs {format_bytes(nbytes)} more memory, but the memory pool{where} is at "
                    f"its limit: {format_bytes(used)} of {format_bytes(limit)} in use{holders}; "
                    f"{MEMORY_LIMIT_HINT}, or use fewer partitions",
                    consumer=r.consumer, requested=nbytes, used=used, limit=limit,
                )
            spilled_once = True
            for c in candidates:  # outside the lock: a spill writes files and shrinks reservations
                if needed <= 0:
                    break
                assert c._spill is not None
                needed -= max(0, int(c._spill(needed)))

    def _top_holders(self, pool: MemoryPool) -> str:
        """", most held by Join 40.0 MiB, Sort 8.0 MiB" for the reservations under ``pool``."""
        held: dict[str, int] = {}
        for r in self._root._holding.values():
            if pool in r._pool._chain():
                held[r.consumer] = held.get(r.consumer, 0) + r._size
        if not held:
            return ""
        top = sorted(held.items(), key=lambda item: item[1], reverse=True)[:3]
        return " (most held by " + ", ".join(f"{name} {format_bytes(n)}" for name, n in top) + ")"

    def _shrink(self, r: Reservation, nbytes: int, *, forget: bool = False) -> None:
        with self._lock:
            nbytes = max(0, min(nbytes, r._size))
            r._size -= nbytes
            for pool in self._chain():
                pool._current -= nbytes
            self._consumers[r.consumer].current -= nbytes
            if r._size == 0:
                self._root._holding.pop(id(r), None)
            if forget or (r._size == 0 and r._spill is None):
                self._live.pop(id(r), None)
            if forget:
                self._root._spillable.pop(id(r), None)

    def _record_spill(self, r: Reservation, nbytes: int) -> None:
        with self._lock:
            self._consumers[r.consumer].spilled += nbytes
            for pool in self._chain():
                pool._spilled += nbytes

    def __repr__(self) -> str:
        return (f"MemoryPool({self.name!r}, limit={format_bytes(self._limit)}, "
                f"current={format_bytes(self._current)}, peak={format_bytes(self._peak)})")

