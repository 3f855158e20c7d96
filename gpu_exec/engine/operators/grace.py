"""Grace-hash spilling for the hash breakers (aggregate, join build side).

A breaker that holds rows keyed by something (group keys, join keys) collects them in a
:class:`Held`. While they fit, they stay in memory. When they do not — the memory pool asks the
reservation to spill (its ``spill=`` callback), or the rows pass the breaker's share of the limit —
everything held is split by a hash of the keys into ``FANOUT`` spill files
(:class:`HashFiles`), and every row that arrives after it goes to the same files. Rows with equal
keys land in the same file, so the breaker then finishes file by file, each alone, holding one
file's rows at a time. A file still too big is split again one level down with a different salt
(a constant column hashed after the keys, so the split is independent of this level's and of the
exchange that partitioned the input by the same keys); a file the split cannot shrink (one key)
is loaded all the same, and the memory pool raises ResourceError when it does not fit.

NULL keys hash to a fixed value (fallback_cpu.partition_hash), so equal keys, NULLs included,
always meet in one file, on either backend.

Locking: the pool may call ``spill`` from any thread that grows a reservation. The callback only
*tries* the holder's lock: a holder busy in its own thread (which may itself be inside a grow that
asks others to spill) answers 0 instead of waiting, so two holders never wait on each other.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Callable, Iterator, TypeVar

import pyarrow as pa

from planner.expr import Literal

if TYPE_CHECKING:
    from gpu_exec.engine.context import ExecutionContext
    from gpu_exec.engine.kernels import Column, Table
    from gpu_exec.engine.memory import MemoryPool, Reservation
    from gpu_exec.engine.spill import SpillFile

__all__ = ["FANOUT", "MAX_LEVEL", "HashFiles", "Held", "room", "share", "loadable", "load", "walk"]

# Files per split: enough that one split usually brings a partition under the budget, few enough
# that each file gets sizeable writes.
FANOUT = 8
# The deepest re-split (FANOUT ** (MAX_LEVEL + 1) files at most): past it a file is loaded as is.
MAX_LEVEL = 3

T = TypeVar("T")
KeyFn = Callable[["Table"], "list[Column]"]

_INT64 = pa.int64()
_SALT = 0x5A17_0000_0000_0001


def room(pool: MemoryPool) -> int | None:
    """Bytes ``pool`` (and each of its parents) can still grant; None when nothing limits it."""
    free: int | None = None
    while pool is not None:
        if pool.limit is not None:
            left = max(0, pool.limit - pool.current)
            free = left if free is None else min(free, left)
        pool = pool.parent
    return free


def share(ctx: ExecutionContext) -> int | None:
    """The most one partition's breaker holds before it spills on its own, whether or not the
    pool asks (None: no limit). A breaker's input often comes from an exchange that holds it and
    accounts for it already, so moving it into the breaker never pushes the pool over its limit and
    the pool would never ask; yet what the partitions hold together must leave room for the other
    side of a join, for the exchanges still holding the rest and for what the operators compute:
    each partition keeps at most a quarter of an even split of the limit."""
    limit = ctx.memory.effective_limit
    if limit is None:
        return None
    return max(1, limit // (4 * max(1, ctx.partitions)))


def loadable(ctx: ExecutionContext, nbytes: int) -> bool:
    """Whether a spilled partition of ``nbytes`` may be loaded whole (room for it, and for about as
    much again that the operator computes from it), or should be split once more."""
    free = room(ctx.memory)
    if free is not None and 2 * nbytes > free:
        return False
    cap = share(ctx)
    return cap is None or nbytes <= cap


class HashFiles:
    """``FANOUT`` spill files of one schema; ``add`` sends each row to the file its keys hash to
    (``keys(table)``: the key columns, of ``key_types``). ``level`` picks the salt: files of
    different levels split rows independently."""

    def __init__(self, ctx: ExecutionContext, schema: pa.Schema, keys: KeyFn, key_types: list[pa.DataType],
                 label: str, level: int = 0) -> None:
        k = ctx.kernels
        self.ctx = ctx
        self.schema = schema
        self.keys = keys
        self.key_types = list(key_types)
        self.label = label
        self.level = level
        self.files: list[SpillFile] = [ctx.spill.new_file(k, schema, f"{label}-{level}-{i}") for i in range(FANOUT)]

    @property
    def rows(self) -> int:
        return sum(f.rows for f in self.files)

    def split(self, table: Table) -> list[Table]:
        """``table``'s rows in ``FANOUT`` pieces by the hash of their keys and this level's salt."""
        k = self.ctx.kernels
        n = k.num_rows(table)
        width = len(self.schema)
        keys = self.keys(table)
        salt = k.literal_column(Literal((_SALT * (self.level + 1)) & 0x7FFF_FFFF_FFFF_FFFF, _INT64), n)
        fields = list(self.schema) + [pa.field(f"_key{i}", t) for i, t in enumerate(self.key_types)] \
            + [pa.field("_salt", _INT64)]
        own = [k.column(table, i) for i in range(width)]
        work = k.make_table(own + list(keys) + [salt], pa.schema(fields), n)
        pieces = k.hash_partition(work, list(range(width, width + len(keys) + 1)), FANOUT)
        return [k.make_table([k.column(p, i) for i in range(width)], self.schema, k.num_rows(p)) for p in pieces]

    def add(self, table: Table) -> None:
        k = self.ctx.kernels
        if not k.num_rows(table):
            return
        for file, piece in zip(self.files, self.split(table)):
            if k.num_rows(piece):
                file.write(piece)

    def below(self) -> HashFiles:
        """Empty files like these, one level down (another salt)."""
        return HashFiles(self.ctx, self.schema, self.keys, self.key_types, self.label, self.level + 1)

    def close(self) -> None:
        for f in self.files:
            f.close()


class Held:
    """Batches one breaker partition holds, accounted in a spillable reservation of ``consumer``,
    spilled to :class:`HashFiles` by ``keys`` when they do not fit (module doc). ``keys`` None:
    nothing to split by, never spills (the reservation is a plain one).

    ``add`` each batch; ``finish`` gives the batches held (None once spilled: then ``files``),
    after which the pool no longer asks this holder to spill."""

    def __init__(self, ctx: ExecutionContext, schema: pa.Schema, keys: KeyFn | None,
                 key_types: list[pa.DataType], consumer: str, detail: str) -> None:
        self.ctx = ctx
        self.schema = schema
        self.keys = keys
        self.key_types = key_types
        self.consumer = consumer
        self._lock = threading.RLock()
        self.batches: list[Table] = []
        self.files: HashFiles | None = None
        self._active = keys is not None
        self._share = share(ctx) if keys is not None else None
        self.rows = 0
        # ``compactor``: merges the batches held into one smaller (an aggregate's states), tried
        # before spilling; ``fresh_rows`` / ``fresh_bytes``: what was added since the last merge.
        self.compactor: Callable[[list[Table]], Table] | None = None
        self.fresh_rows = self.fresh_bytes = 0
        self.reservation: Reservation = ctx.memory.reservation(
            consumer, detail=detail, spill=self._spill if keys is not None else None)

    @property
    def spilled(self) -> bool:
        return self.files is not None

    def add(self, batch: Table) -> None:
        k = self.ctx.kernels
        n = k.num_rows(batch)
        if not n:
            return
        self.rows += n
        size = k.nbytes(batch)
        with self._lock:
            if self.files is None and self._share is not None and self.reservation.size + size > self._share:
                if self._mergeable():
                    self.compact()
                if self.reservation.size + size > self._share:
                    self._spill_held()
            if self.files is not None:
                self._write(batch, size)
                return
            if self._mergeable() and not self.reservation.try_grow(size):
                self.compact()  # merging what is held may make the room, without writing anything
                self.reservation.grow(size)
            elif not self._mergeable():
                # May ask this holder (re-entering the lock) or others to spill; the state is whole here.
                self.reservation.grow(size)
            if self.files is not None:  # spilled while growing: the batch follows the others
                self.reservation.shrink(size)
                self._write(batch, size)
                return
            self.batches.append(batch)
            self.fresh_rows += n
            self.fresh_bytes += size

    def _mergeable(self) -> bool:
        return self.compactor is not None and len(self.batches) > 1

    def compact(self) -> None:
        """Merge the batches held into one (``compactor``), accounting the result instead."""
        with self._lock:
            self.fresh_rows = self.fresh_bytes = 0
            if self.files is not None or not self._mergeable():
                return
            assert self.compactor is not None
            merged = self.compactor(self.batches)
            self.batches = [merged]
            self.reservation.resize(self.ctx.kernels.nbytes(merged))

    def _write(self, batch: Table, size: int) -> None:
        assert self.files is not None
        self.files.add(batch)
        self.reservation.record_spill(size)

    def _spill_held(self) -> int:
        """Write every held batch to the files (made now if need be); returns the bytes freed."""
        if self.files is None:
            assert self.keys is not None
            self.files = HashFiles(self.ctx, self.schema, self.keys, self.key_types, self.consumer)
        batches, self.batches = self.batches, []
        for batch in batches:
            self.files.add(batch)
        freed = self.reservation.size
        self.reservation.shrink(freed)
        if freed:
            self.reservation.record_spill(freed)
        return freed

    def _spill(self, nbytes: int) -> int:
        if not self._lock.acquire(blocking=False):
            return 0  # busy in its own thread: it may be the one waiting on the pool
        try:
            if not self._active or not self.batches:
                return 0
            return self._spill_held()
        finally:
            self._lock.release()

    def finish(self) -> list[Table] | None:
        """Stop spilling; the batches held, or None when they went to ``files``."""
        with self._lock:
            self._active = False
            if self.files is not None:
                return None
            return self.batches

    def free(self) -> None:
        with self._lock:
            self._active = False
            self.batches = []
        self.reservation.free()

    def close(self) -> None:
        self.free()
        if self.files is not None:
            self.files.close()


def load(file: SpillFile, reservation: Reservation, ctx: ExecutionContext) -> Table:
    """A spill file's rows as one table, accounted in ``reservation`` (ResourceError past the
    limit: the message names the reservation's operator)."""
    k = ctx.kernels
    batches = []
    for batch in file.read():
        reservation.grow(k.nbytes(batch))
        batches.append(batch)
    if not batches:
        return k.empty(file.schema)
    table = batches[0] if len(batches) == 1 else k.concat(batches, file.schema)
    del batches
    reservation.resize(k.nbytes(table))
    return table


def walk(sides: list[HashFiles], handle: Callable[[list[SpillFile]], Iterator[T]],
         ctx: ExecutionContext, *, can_split: bool = True) -> Iterator[T]:
    """``handle`` over the co-partitioned files of ``sides`` (the i-th file of each: a join's build
    and probe files, an aggregate's one), file by file; a group whose first side is too big to
    load (``loadable``) is split a level down first, unless that is past ``MAX_LEVEL`` or the last
    split did not spread its rows (one key: splitting again would never help). Every file is
    closed once handled or split."""
    try:
        for i in range(len(sides[0].files)):
            group = [side.files[i] for side in sides]
            ctx.check_cancelled()
            if can_split and sides[0].level < MAX_LEVEL and not loadable(ctx, group[0].nbytes):
                below = [side.below() for side in sides]
                for file, sub in zip(group, below):
                    for batch in file.read():
                        sub.add(batch)
                    file.close()
                spread = max(f.rows for f in below[0].files) < group[0].rows
                yield from walk(below, handle, ctx, can_split=spread)
            else:
                try:
                    yield from handle(group)
                finally:
                    for file in group:
                        file.close()
    finally:
        for side in sides:
            side.close()
