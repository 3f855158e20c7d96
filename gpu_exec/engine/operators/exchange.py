"""The in-process exchange: repartition between operators (the distributed layer swaps only the
transport: map side = hash_partition per input batch, reduce side = the pieces of one target).

A hash exchange or a broadcast is where a stage ends: it drives its whole input (the partitions in
parallel) when the driver reaches it and holds the result, accounted in the memory pool, until its
consumers read it — which may be much later: the driver first runs the exchanges of the plan's
other branches (the other side of a join, a higher join's inputs), each holding its own result.
So what an exchange holds spills:

* A hash exchange keeps each output partition's pieces in memory while they fit its share of the
  limit (``grace.share``: a breaker partition's) and the pool has room; the pieces that do not
  fit go to a spill file of that partition, which its consumer then streams back batch by batch,
  after the pieces in memory. When a later operator needs memory the pool asks the pieces still held to
  spill too (their reservation is spillable). Files are deleted once read (and what is left in
  them, e.g. after a LIMIT stopped early, when the query ends).
* A broadcast must be whole for every partition of the join (or cross join) that reads it, but
  in process that join makes it whole itself: it collects the one broadcast partition once and
  shares the table among its partitions (``join._shareable``), accounted in its own reservation.
  So the broadcast is held here like a hash partition without a share — in memory while the pool
  has room, else in its one spill file — and handed over to that single reader batch by batch,
  the bytes in memory leaving this reservation as they go. A shared copy kept here as well would
  count the broadcast twice. The join's collection is where it must fit whole: growing, it asks
  the exchanges still holding pieces to spill first, and when the broadcast does not fit all the
  same it fails with the pool's ResourceError naming that join side, the bytes and
  ``memory_limit``, as every breaker does.
* A single exchange only merges its input partitions' streams and a round-robin one deals them
  out: neither holds anything.
"""

from __future__ import annotations

import itertools
import threading
import weakref
from collections import deque
from typing import TYPE_CHECKING, Callable, Iterator

import pyarrow as pa

from gpu_exec.engine.expressions import append_columns, evaluate_columns
from gpu_exec.engine.operators import grace
from gpu_exec.engine.streams import Batches
from planner.expr import ColumnRef
from planner.ir import ExchangeKind

if TYPE_CHECKING:
    from gpu_exec.engine.context import ExecutionContext
    from gpu_exec.engine.kernels import Table
    from gpu_exec.engine.spill import SpillFile
    from gpu_exec.engine.streams import Partition
    from planner.ir import Exchange

__all__ = ["exchange", "hash_pieces", "broadcast_of"]


def hash_pieces(node: Exchange, table: Table, ctx: ExecutionContext) -> list[Table]:
    """Map side of a hash exchange: ``table`` split into ``node.partitions`` pieces by its keys."""
    k = ctx.kernels
    schema = node.input.schema
    if all(isinstance(e, ColumnRef) for e in node.keys):
        return k.hash_partition(table, [e.index for e in node.keys], node.partitions)
    # Computed keys: partition on appended key columns, then drop them.
    extra = [pa.field(f"_key{i}", e.dtype) for i, e in enumerate(node.keys)]
    work = append_columns(table, evaluate_columns(node.keys, table, ctx), schema, extra, ctx)
    keys = list(range(len(schema), len(schema) + len(extra)))
    pieces = k.hash_partition(work, keys, node.partitions)
    width = range(len(schema))
    return [k.make_table([k.column(p, i) for i in width], schema, k.num_rows(p)) for p in pieces]


def exchange(node: Exchange, partitions: list[Partition], ctx: ExecutionContext) -> list[Partition]:
    if node.kind is ExchangeKind.SINGLE:
        # The input partitions, pulled in parallel, into one stream: nothing is held here.
        return [ctx.merge(partitions)]
    if node.kind is ExchangeKind.BROADCAST:
        # In process, a broadcast is one partition, which the join reading it collects once and
        # shares among its partitions (module doc).
        held = _Target(ctx, node.schema, len(partitions), "broadcast", share=False)
        _drive(partitions, lambda source, batch: held.add(source, batch, ctx.kernels.nbytes(batch), True), ctx)
        return [held]
    if node.kind is ExchangeKind.HASH:
        return _hash_exchange(node, partitions, ctx)
    # ROUND_ROBIN: rebalance whole partitions in order (streams chained: nothing held, nothing to spill).
    n = node.partitions
    return [itertools.chain.from_iterable(partitions[i::n]) for i in range(n)]


def broadcast_of(batches: list[Table], schema: pa.Schema, ctx: ExecutionContext) -> Batches:
    """``batches`` (read already, no longer accounted by the caller) as a broadcast partition,
    held as an exchange's broadcast is (module doc)."""
    k = ctx.kernels
    held = _Target(ctx, schema, 1, "broadcast", share=False)
    for batch in batches:
        held.add(0, batch, k.nbytes(batch), True)
    return held


def _drive(partitions: list[Partition], add: Callable[[int, Table], None], ctx: ExecutionContext) -> None:
    """Pull every input partition to its end (in parallel), handing each batch to ``add`` with
    the partition's number."""

    def one(item: tuple[int, Partition]) -> None:
        source, partition = item
        for batch in partition:
            with ctx.timed("Exchange", call=False):
                add(source, batch)

    ctx.map(one, list(enumerate(partitions)))


def _hash_exchange(node: Exchange, partitions: list[Partition], ctx: ExecutionContext) -> list[Partition]:
    """Every input partition's batches split by key as they are pulled (partitions in parallel);
    each output partition holds its pieces, accounted in its own reservation, until read.

    The pieces of one input batch share its buffers (both backends' hash_partition reorders the
    batch once and slices it), so a piece kept while its siblings are written would keep their
    bytes alive too: a batch's pieces are kept together when every target has room for its piece
    in its share, else written together."""
    k = ctx.kernels
    targets = [_Target(ctx, node.schema, len(partitions), f"hash partition {i}") for i in range(node.partitions)]

    def add(source: int, batch: Table) -> None:
        pieces = [(i, p, k.nbytes(p)) for i, p in enumerate(hash_pieces(node, batch, ctx)) if k.num_rows(p)]
        keep = all(targets[i].has_room(size) for i, _, size in pieces)
        for i, piece, size in pieces:
            targets[i].add(source, piece, size, keep)

    _drive(partitions, add, ctx)
    return list(targets)


def _spill_callback(holder: _Target) -> Callable[[int], int]:
    """The pool's ``spill`` for ``holder``, by weak reference: the pool keeps its spillable
    reservations until the query ends, and must not keep the batches alive with them."""
    ref = weakref.ref(holder)

    def spill(nbytes: int) -> int:
        alive = ref()
        return alive.spill(nbytes) if alive is not None else 0

    return spill


def _close_files(files: deque[SpillFile]) -> None:
    for file in files:
        file.close()


class _Target(Batches):
    """One output partition of an exchange, read once by its consumer.

    Its pieces are kept by input partition (``source``: without spilling they come out in input
    order, as they always did) in memory, accounted in a spillable reservation of "Exchange", and
    the pieces that did not fit go to spill files, written in turn (a file being read is not
    written to again: spills after it start another). Reading hands over the pieces in memory
    first, each forgotten and its bytes no longer accounted here, then the spilled ones, file by
    file, a batch at a time; each file is deleted once read. ``share``: whether what it keeps in
    memory is held to a share of the limit (``grace.share``); a broadcast's is not (module doc)."""

    def __init__(self, ctx: ExecutionContext, schema: pa.Schema, sources: int, detail: str, *,
                 share: bool = True) -> None:
        self.ctx = ctx
        self.schema = schema
        self.label = detail
        self._share = grace.share(ctx) if share else None
        self._lock = threading.RLock()
        self._held: list[deque[tuple[Table, int]]] = [deque() for _ in range(max(1, sources))]
        self._files: deque[SpillFile] = deque()
        self._open: SpillFile | None = None
        reservation = ctx.memory.reservation("Exchange", detail=detail, spill=_spill_callback(self))
        super().__init__([], ctx.kernels, reservation)
        # Files left unread when the consumer is gone (the query's end removes them anyway).
        weakref.finalize(self, _close_files, self._files)

    def has_room(self, size: int) -> bool:
        """Whether ``size`` more bytes stay within this partition's share."""
        return self._share is None or self.reservation.size + size <= self._share

    def add(self, source: int, piece: Table, size: int, keep: bool) -> None:
        """Hold ``piece`` when ``keep`` and the pool has room (nobody is asked to spill for it:
        writing the piece is as good as writing someone else's), else write it."""
        n = self.kernels.num_rows(piece)
        if not n:
            return
        with self._lock:
            self.rows += n
            if keep and self.reservation.try_grow(size):
                self._held[source].append((piece, size))
            else:
                self._write(piece, size)

    def _write(self, piece: Table, size: int) -> None:
        """``piece`` (``size`` bytes in memory, not accounted here) to the file being written."""
        if self._open is None:
            self._open = self.ctx.spill.new_file(self.kernels, self.schema, f"Exchange-{self.label}")
            self._files.append(self._open)
        self._open.write(piece)
        self.reservation.record_spill(size)

    def spill(self, nbytes: int) -> int:
        """The pool asks: write the pieces held, the last ones first, until ``nbytes`` are freed."""
        if not self._lock.acquire(blocking=False):
            return 0  # busy in another thread (adding or handing out): the pool asks others
        try:
            freed = 0
            for pieces in reversed(self._held):
                while pieces and freed < nbytes:
                    piece, size = pieces.pop()
                    self._write(piece, size)
                    freed += size
            self.reservation.shrink(freed)
            return freed
        finally:
            self._lock.release()

    def __len__(self) -> int:
        """The pieces held in memory (the spilled ones are counted in ``rows`` only)."""
        return sum(len(pieces) for pieces in self._held)

    def _next_held(self) -> tuple[Table, int] | None:
        for pieces in self._held:
            if pieces:
                return pieces.popleft()
        return None

    def _drain(self) -> Iterator[Table]:
        k = self.kernels
        try:
            while True:
                with self._lock:
                    item = self._next_held()
                    file = None
                    if item is None:
                        if not self._files:
                            return
                        file = self._files.popleft()
                        if file is self._open:
                            self._open = None  # spills from now on start another file
                if item is not None:
                    piece, size = item
                    self.rows -= k.num_rows(piece)
                    self.reservation.shrink(size)
                    yield piece
                    continue
                assert file is not None
                try:
                    for batch in file.read():
                        self.rows -= k.num_rows(batch)
                        yield batch
                finally:
                    file.close()
        finally:
            # Stopped early (a LIMIT above had enough), what is left stays, as in any held
            # partition, until the query ends; read to the end, it is no spill candidate any more.
            with self._lock:
                done = not self._files and not any(self._held)
            if done:
                self.reservation.free()
