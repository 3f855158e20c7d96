"""Window functions, per partition (rows of one PARTITION BY key are in the same partition).

A partition's batches are held in a reservation, spillable when every window call partitions by
some common key expressions. While everything fits, the partition's windows are computed in memory
at the end, as they always were. When the pool asks the window to spill, what it holds is
hash-partitioned by the common keys into *buckets*, one spill file each (a window partition lies in
one bucket, its rows in their input order); at the end each bucket is read back and its windows
computed, one bucket at a time. A bucket still too large is split again with another modulus; one
that does not split (a single window partition larger than the budget) is loaded anyway and fails
with ResourceError where it does not fit. Without common keys nothing can be split: the partition
is one window partition, held whole.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Iterable, Iterator

import pyarrow as pa

from gpu_exec.engine.expressions import append_columns, evaluate_column, evaluate_columns
from gpu_exec.engine.operators.sort import SpillableOutput
from gpu_exec.engine.streams import Batches, concat_batches
from planner.expr import WindowFunction

if TYPE_CHECKING:
    from gpu_exec.engine.context import ExecutionContext
    from gpu_exec.engine.kernels import Table
    from gpu_exec.engine.spill import SpillFile
    from gpu_exec.engine.streams import Partition
    from planner.expr import Expr
    from planner.ir import Window

__all__ = ["window"]

# Bucket counts, one per level of splitting. The hash exchange before a window sends rows by the
# same hash modulo the partition count, and a bucket of one level holds one residue of the level
# before: each level's modulus must be coprime with those, or a bucket would not split at all.
_MODULI = (7, 11, 13, 17, 19, 23, 29, 31)
# A bucket is split further when it would take more than this share of one partition's budget:
# computing its windows needs the input, the work columns and the output at once.
_BUCKET_SHARE = 4
_GROUP_BATCHES = 8


def _window_partition(node: Window, table: Table, ctx: ExecutionContext) -> Table:
    k = ctx.kernels
    n = k.num_rows(table)
    width = len(node.input.schema)
    own = [k.column(table, i) for i in range(width)]
    results = []
    for call in node.windows:
        # Lay out arguments, partition keys and order keys as columns of one work table.
        columns, fields = list(own), list(node.input.schema)

        def add(expr) -> int:
            columns.append(evaluate_column(expr, table, ctx))
            fields.append(pa.field(f"_w{len(fields)}", expr.dtype))
            return len(columns) - 1

        # ntile's n and the other constant parameters stay in the call (window_parameter).
        arg = add(call.args[0]) if call.args and call.func is not WindowFunction.NTILE else None
        default = add(call.args[2]) if len(call.args) > 2 else None  # lag/lead's default
        partition_by = [add(e) for e in call.partition_by]
        order_by = [(add(key.expr), key.ascending, key.nulls_first) for key in call.order_by]
        work = k.make_table(columns, pa.schema(fields), n)
        results.append(k.window(work, call, arg, partition_by, order_by, default=default))
    return k.make_table(own + results, node.schema, n)


def _common_keys(node: Window) -> list[Expr]:
    """The PARTITION BY expressions every window call has (rows equal on them share every call's
    window partition)."""
    first = node.windows[0].partition_by
    return [e for e in dict.fromkeys(first) if all(e in call.partition_by for call in node.windows[1:])]


class _SpillingWindow(SpillableOutput):
    """One partition's windows: the batches held, the buckets spilled, and the spill callback
    (``lock`` also guards ``held`` / ``held_bytes`` / ``collecting`` / ``buckets``)."""

    def __init__(self, node: Window, ctx: ExecutionContext) -> None:
        super().__init__(ctx, "Window")
        self.node = node
        self.schema = node.input.schema
        self.keys = _common_keys(node)
        self.moduli = [m for m in _MODULI if ctx.partitions % m]
        self.held: list[Table] = []
        self.held_bytes = 0
        self.held_rows = 0
        self.collecting = True
        self.buckets: list[SpillFile] | None = None
        # Bytes a row takes in memory, as held (sizes a bucket from its rows: on a GPU the pieces
        # a split writes report their parent's buffers, so a file's own byte count says little).
        self.row_bytes = 0
        self.files: list[SpillFile] = []  # every file made, closed at the end
        self.reservation = ctx.memory.reservation(
            "Window", detail="its partition", spill=self.spill)

    # ---- collecting and spilling ---------------------------------------------------------------
    def add(self, batch: Table) -> None:
        size = self.k.nbytes(batch)
        self.reservation.grow(size)  # may spill this window (or others) first
        with self.lock:
            self.held.append(batch)
            self.held_bytes += size
            self.held_rows += self.k.num_rows(batch)
            freed = self._flush() if self._over_share() else 0
        if freed:
            self.reservation.shrink(freed)
            self.reservation.record_spill(freed)

    def _share(self) -> int | None:
        """The bytes one partition's windows may take: the partitions of a stage compute at the
        same time (and a consumer holds its own share). None: no limit."""
        limit = self.ctx.memory.effective_limit
        return None if limit is None else limit // (max(1, self.ctx.partitions) + 1)

    def _over_share(self) -> bool:
        """Under the lock: whether computing what is held (its input and result columns at once)
        would pass this partition's share, so that it goes to the buckets before the pool is
        full (when nothing else would ask it to)."""
        share = self._share()
        if share is None or not self.keys or not self.held:
            return False
        return self.held_bytes + self.held_rows * 8 * len(self.node.windows) > share

    def spill(self, nbytes: int) -> int:
        """The pool's callback: the held batches into the buckets; the bytes freed."""
        with self.lock:
            if self.collecting and self.held and self.keys:
                freed = self._flush()
            else:
                freed = self.spill_output()  # the result being handed out, if any
        if not freed:
            return 0
        self.reservation.shrink(freed)
        self.reservation.record_spill(freed)
        return freed

    def _flush(self) -> int:
        """Under the lock: write the held batches to the buckets (made on first use)."""
        if self.buckets is None:
            self.buckets = [self._new_file() for _ in range(self.moduli[0])]
        batches, freed = self.held, self.held_bytes
        if self.held_rows:
            self.row_bytes = max(self.row_bytes, -(-self.held_bytes // self.held_rows))
        self.held, self.held_bytes, self.held_rows = [], 0, 0
        for group in self._groups(batches):
            self._split_into(group, self.buckets)
        return freed

    def _groups(self, batches: Iterable[Table]) -> Iterator[Table]:
        """``batches`` concatenated a few at a time (up to ``_GROUP_BATCHES`` batches' rows):
        one split per group rather than per batch, the pieces of a hash exchange being small."""
        k = self.k
        group: list[Table] = []
        rows, most = 0, _GROUP_BATCHES * self.ctx.rows_per_batch
        for batch in batches:
            group.append(batch)
            rows += k.num_rows(batch)
            if rows >= most:
                yield concat_batches(group, self.schema, k)
                group, rows = [], 0
        if group:
            yield concat_batches(group, self.schema, k)

    def _new_file(self) -> SpillFile:
        file = self.ctx.spill.new_file(self.k, self.schema, "Window")
        self.files.append(file)
        return file

    def _split_into(self, batch: Table, files: list[SpillFile]) -> None:
        """``batch``'s rows into ``files`` by the hash of the common keys (order kept in each)."""
        k = self.k
        width = len(self.schema)
        extra = [pa.field(f"_key{i}", e.dtype) for i, e in enumerate(self.keys)]
        work = append_columns(batch, evaluate_columns(self.keys, batch, self.ctx), self.schema, extra, self.ctx)
        pieces = k.hash_partition(work, list(range(width, width + len(extra))), len(files))
        for file, piece in zip(files, pieces):
            n = k.num_rows(piece)
            if n:
                file.write(k.make_table([k.column(piece, i) for i in range(width)], self.schema, n))

    # ---- the result --------------------------------------------------------------------------
    def result(self, partition: Partition) -> Iterator[Table]:
        k = self.k
        if isinstance(partition, Batches) and partition.shared:
            # A partition every consumer shares is accounted where it is held, whole.
            out = _window_partition(self.node, partition.table(self.schema), self.ctx)
            size = k.nbytes(out)
            self.reservation.resize(size)
            self.hand_out(out, self.node.schema, size)
            del out
            yield from self.emitted()
            return
        for batch in partition:
            self.add(batch)
        if self.buckets is None and self.held_rows:
            # Room for the result columns before computing them: past the limit this is where
            # the pool asks the window to spill.
            self.reservation.grow(self.held_rows * 8 * len(self.node.windows))
        with self.lock:
            self.collecting = False
            freed = self._flush() if self.buckets is not None or self._over_share() else 0
            batches = self.held
            self.held = []
        if self.buckets is None:
            table = concat_batches(batches, self.schema, k)
            del batches
            out = _window_partition(self.node, table, self.ctx)
            del table
            size = k.nbytes(out)
            self.reservation.resize(size)
            self.hand_out(out, self.node.schema, size)
            del out
            yield from self.emitted()
            return
        self.reservation.shrink(freed)
        self.reservation.record_spill(freed)
        self.reservation.resize(0)
        for bucket in self.buckets:
            yield from self._bucket(bucket, 1)

    def _too_big(self, file: SpillFile) -> bool:
        share = self._share()
        return share is not None and file.rows * self.row_bytes * _BUCKET_SHARE > share

    def _bucket(self, file: SpillFile, level: int) -> Iterator[Table]:
        """The windows of one bucket's rows (split further first when it is too big)."""
        if not file.rows:
            file.close()
            return
        if self._too_big(file) and level < len(self.moduli) and file.rows > 1:
            parts = [self._new_file() for _ in range(self.moduli[level])]
            for group in self._groups(file.read()):
                self.ctx.check_cancelled()
                self._split_into(group, parts)
            file.close()
            whole = [p for p in parts if p.rows == file.rows]
            if whole:
                # One key (or keys no modulus tells apart): splitting again cannot help.
                for p in parts:
                    if p is not whole[0]:
                        p.close()
                yield from self._compute(whole[0])
                return
            for p in parts:
                yield from self._bucket(p, level + 1)
            return
        yield from self._compute(file)

    def _compute(self, file: SpillFile) -> Iterator[Table]:
        k = self.k
        batches = []
        for batch in file.read():
            self.reservation.grow(k.nbytes(batch))  # ResourceError when one window partition does not fit
            batches.append(batch)
        file.close()
        table = concat_batches(batches, self.schema, k)
        del batches
        self.reservation.resize(k.nbytes(table))
        out = _window_partition(self.node, table, self.ctx)
        del table
        size = k.nbytes(out)
        self.reservation.resize(size)
        self.hand_out(out, self.node.schema, size)
        del out
        yield from self.emitted()
        self.reservation.resize(0)

    def close(self) -> None:
        self.close_output()
        with self.lock:
            self.collecting = False
            self.held = []
            files, self.files = self.files, []
        for file in files:
            file.close()
        self.reservation.free()


def _windowed(node: Window, partition: Partition, ctx: ExecutionContext) -> Iterator[Table]:
    state = _SpillingWindow(node, ctx)
    try:
        yield from state.result(partition)
    finally:
        state.close()


def window(node: Window, partitions: list[Partition], ctx: ExecutionContext) -> list[Partition]:
    return [_windowed(node, p, ctx) for p in partitions]
