"""ORDER BY with optional top-k (fetch), per partition; over the memory limit, an external sort.

A partition's batches are held in a spillable reservation. While everything fits, the partition is
sorted in memory at the end, as it always was (with ``fetch``, the best ``fetch`` rows so far are
kept and refreshed as batches arrive, so a top-k holds about ``fetch`` rows and rarely reaches
the limit). When the pool asks the sort to spill, what it holds is sorted into a *run* and
written to a spill file; at the end the runs (the rows still held become the last one) are
merged, ``fanout`` at a time, streaming the result in batches.

Stability: the runs are consecutive stretches of the input, so ordering ties first by run, then
by position within a run, is the input order the in-memory stable sort keeps. The merge tags
every row it reads with its run's number and sorts by the keys and then that tag.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Iterator

import pyarrow as pa

from gpu_exec.engine.expressions import append_columns, evaluate_columns
from gpu_exec.engine.streams import Batches, concat_batches, slices
from planner.expr import BinaryOperator, ColumnRef, Literal

if TYPE_CHECKING:
    from gpu_exec.engine.context import ExecutionContext
    from gpu_exec.engine.kernels import Column, Kernels, SortSpec, Table
    from gpu_exec.engine.spill import SpillFile
    from gpu_exec.engine.streams import Partition
    from planner.expr import SortKey
    from planner.ir import Sort

__all__ = ["sort", "sort_table", "SpillableOutput"]

# The most runs one merge reads at once. Each merge step sorts about one batch per run, so a
# wide merge costs CPU/GPU time in proportion to its width; past this, runs are merged in passes.
MAX_FANOUT = 16
# What a merge holds per run, in batches: the run's current batch, and its share of the copy that
# sorting the carried rows makes (and of the output taken from them).
_BATCHES_PER_RUN = 3

# The fewest rows a run's batches are cut to under a small limit (unless the input's batches are
# smaller): every merge step costs a few kernel calls and two reads back to the host, which must
# stay small next to the rows it moves. A limit too small for two such batches per run fails.
_MIN_RUN_BATCH_ROWS = 1024

_INDEX_SCHEMA = pa.schema([("i", pa.int64())])


def _work_layout(schema: pa.Schema, keys: tuple[SortKey, ...]) -> tuple[pa.Schema, list[SortSpec]]:
    """The schema of a table ready to sort (``schema`` plus one column per computed key) and the
    sort specs over it: plain-column keys sort in place, computed keys on their appended column."""
    extra = [pa.field(f"_sort{i}", key.expr.dtype)
             for i, key in enumerate(k for k in keys if not isinstance(k.expr, ColumnRef))]
    specs: list[SortSpec] = []
    next_extra = len(schema)
    for key in keys:
        if isinstance(key.expr, ColumnRef):
            index = key.expr.index
        else:
            index, next_extra = next_extra, next_extra + 1
        specs.append((index, key.ascending, key.nulls_first))
    return pa.schema(list(schema) + extra), specs


def _with_keys(table: Table, schema: pa.Schema, work_schema: pa.Schema, keys: tuple[SortKey, ...],
               ctx: ExecutionContext) -> Table:
    """``table`` with its computed sort keys appended (itself when every key is a column)."""
    computed = [key.expr for key in keys if not isinstance(key.expr, ColumnRef)]
    if not computed:
        return table
    return append_columns(table, evaluate_columns(computed, table, ctx), schema,
                          list(work_schema)[len(schema):], ctx)


def _first_rows(k: Kernels, order: Column, n: int, fetch: int | None) -> Column:
    if fetch is not None and fetch < n:
        return k.column(k.slice(k.make_table([order], _INDEX_SCHEMA, n), 0, fetch), 0)
    return order


def sort_table(table: Table, schema: pa.Schema, keys: tuple[SortKey, ...], fetch: int | None,
               ctx: ExecutionContext) -> Table:
    """``table`` ordered by ``keys`` (then cut to ``fetch`` rows)."""
    k = ctx.kernels
    work_schema, specs = _work_layout(schema, keys)
    work = _with_keys(table, schema, work_schema, keys, ctx)
    order = _first_rows(k, k.sort_indices(work, specs), k.num_rows(table), fetch)
    return k.gather(table, order)


def _iota(k: Kernels, n: int) -> Column:
    """0, 1, ..., n-1 as int64 (the identity permutation: a sort by no keys)."""
    return k.sort_indices(k.make_table([], pa.schema([]), n), [])


def _scalar(k: Kernels, table: Table) -> int:
    """The first value of a one-column int table, on the host."""
    return int(k.to_arrow(table, _INDEX_SCHEMA).column(0)[0].as_py())


class SpillableOutput:
    """What a breaker shares with its spill callback, and its result handed out in batches.

    A breaker that has computed its result (a sorted partition, a window bucket) holds it until
    the consumer has pulled every batch; when the pool asks it to spill meanwhile, the rows not
    handed out yet are written to a spill file and handed out from there. ``lock`` guards the
    state the callback reads (the pool may call it from another partition's thread); it is never
    held while growing the reservation, so a spill asked from another thread only waits for a
    batch to be taken or a file to be written, never for the pool."""

    def __init__(self, ctx: ExecutionContext, label: str) -> None:
        self.ctx = ctx
        self.k = ctx.kernels
        self.label = label
        self.lock = threading.RLock()
        self._out: Table | None = None
        self._out_schema: pa.Schema | None = None
        self._out_offset = 0
        self._out_bytes = 0
        self._out_reader: Iterator[Table] | None = None
        self._out_files: list[SpillFile] = []

    def hand_out(self, table: Table, schema: pa.Schema, nbytes: int) -> None:
        """Make ``table`` (of ``schema``, ``nbytes`` of it accounted by the caller) the result that
        ``emitted`` hands out; the caller drops its own reference, so a spill can free it."""
        with self.lock:
            self._out, self._out_schema, self._out_offset, self._out_bytes = table, schema, 0, nbytes
            self._out_reader = None

    def emitted(self) -> Iterator[Table]:
        """The result, in batches of at most ``ctx.rows_per_batch`` rows."""
        k = self.k
        step = self.ctx.rows_per_batch
        while True:
            with self.lock:
                if self._out is not None:
                    n = k.num_rows(self._out)
                    if self._out_offset >= n:
                        self._out = None
                        return
                    length = min(step, n - self._out_offset)
                    piece = self._out if length == n else k.slice(self._out, self._out_offset, length)
                    self._out_offset += length
                elif self._out_reader is not None:
                    piece = next(self._out_reader, None)
                    if piece is None:
                        self._out_reader = None
                        return
                else:
                    return
            yield piece
            del piece

    def spill_output(self) -> int:
        """Under ``lock``: write the rows not handed out yet; the bytes that frees (0: none)."""
        if self._out is None:
            return 0
        k = self.k
        n = k.num_rows(self._out)
        if self._out_offset >= n:
            return 0
        assert self._out_schema is not None
        rest = k.slice(self._out, self._out_offset, n - self._out_offset)
        file = self.ctx.spill.new_file(k, self._out_schema, self.label)
        self._out_files.append(file)
        for piece in slices(rest, self.ctx):
            file.write(piece)
        del rest
        self._out = None
        self._out_reader = file.read()
        freed, self._out_bytes = self._out_bytes, 0
        return freed

    def close_output(self) -> None:
        with self.lock:
            self._out, self._out_reader = None, None
            files, self._out_files = self._out_files, []
        for file in files:
            file.close()


class _ExternalSort(SpillableOutput):
    """One partition's sort: the batches held, the runs spilled, and the spill callback
    (``lock`` also guards ``held`` / ``held_bytes`` / ``collecting`` / ``runs``)."""

    def __init__(self, node: Sort, ctx: ExecutionContext) -> None:
        super().__init__(ctx, "Sort")
        self.node = node
        self.schema = node.input.schema
        self.work_schema, self.specs = _work_layout(self.schema, node.keys)
        self.held: list[Table] = []
        self.held_bytes = 0
        self.held_rows = 0
        self.collecting = True
        self.runs: list[SpillFile] = []
        self.run_batch_bytes = 0  # the largest batch of a run, in memory (sizes the merge)
        self.run_step = ctx.rows_per_batch  # the fewest rows a run's batches have
        self.reservation = ctx.memory.reservation(
            "Sort", detail="its partition" if node.fetch is None else "top-k rows", spill=self.spill)

    # ---- collecting ------------------------------------------------------------------------
    def add(self, batch: Table) -> None:
        k = self.k
        size = k.nbytes(batch)
        self.reservation.grow(size)  # may spill this sort (or others) first
        delta = 0
        with self.lock:
            self.held.append(batch)
            self.held_bytes += size
            self.held_rows += k.num_rows(batch)
            fetch = self.node.fetch
            if fetch is not None and self.held_rows >= max(fetch, self.ctx.rows_per_batch):
                # Top-k: a stable sort of the kept rows followed by the new ones keeps ties in order.
                best = sort_table(concat_batches(self.held, self.schema, k), self.schema, self.node.keys,
                                  fetch, self.ctx)
                new_bytes = k.nbytes(best)
                delta = new_bytes - self.held_bytes
                self.held, self.held_bytes, self.held_rows = [best], new_bytes, k.num_rows(best)
        if delta > 0:
            self.reservation.grow(delta)
        elif delta < 0:
            self.reservation.shrink(-delta)
        share = self._share()
        if share is not None and self.held_bytes > share:
            self.spill(self.held_bytes)

    def _share(self) -> int | None:
        """What one partition's sort may hold before it writes a run, None without a limit.

        The partitions of a stage (and the sort that merges their streams) fill up at the same
        time; if each waited for the pool to be full, concurrent spill requests could take each
        other's freed room. Half the limit over the partitions + 1 leaves the rest for the merges
        and for other operators."""
        limit = self.ctx.memory.effective_limit
        return None if limit is None else limit // (2 * (max(1, self.ctx.partitions) + 1))

    def spill(self, nbytes: int) -> int:
        """The pool's callback: write what is held as a sorted run; the bytes freed."""
        with self.lock:
            if self.collecting and self.held:
                batches, freed = self.held, self.held_bytes
                self.held, self.held_bytes, self.held_rows = [], 0, 0
                self._write_run(batches)
            else:
                # The sorted partition being handed out, if any (a merge's working set is bounded).
                freed = self.spill_output()
        if not freed:
            return 0
        self.reservation.shrink(freed)
        self.reservation.record_spill(freed)
        return freed

    def _write_run(self, batches: list[Table]) -> None:
        k = self.k
        table = concat_batches(batches, self.schema, k)
        del batches
        work = _with_keys(table, self.schema, self.work_schema, self.node.keys, self.ctx)
        n = k.num_rows(work)
        run = k.gather(work, _first_rows(k, k.sort_indices(work, self.specs), n, self.node.fetch))
        del table, work
        rows = k.num_rows(run)
        if not rows:
            return
        file = self.ctx.spill.new_file(k, self.work_schema, "Sort")
        self.runs.append(file)
        # A run is read back a batch at a time; under a small limit its batches are smaller than
        # the input's, so that a merge of two runs still fits this partition's share. (On a GPU a
        # slice reports its parent's buffers: sizes come from the whole run.)
        step = self.ctx.rows_per_batch
        share = self._share()
        if share is not None:
            row_bytes = max(1, -(-k.nbytes(run) // rows))
            step = max(min(step, _MIN_RUN_BATCH_ROWS), min(step, share // (2 * _BATCHES_PER_RUN * row_bytes)))
        for offset in range(0, rows, step):
            file.write(k.slice(run, offset, min(step, rows - offset)))
        per_batch = k.nbytes(run) * min(rows, step) // rows
        self.run_batch_bytes = max(self.run_batch_bytes, per_batch)
        self.run_step = min(self.run_step, step)

    # ---- the result --------------------------------------------------------------------------
    def result(self, partition: Partition) -> Iterator[Table]:
        k = self.k
        if isinstance(partition, Batches) and partition.shared:
            # A partition every consumer shares is accounted where it is held, whole.
            out = sort_table(partition.table(self.schema), self.schema, self.node.keys, self.node.fetch, self.ctx)
            self.reservation.resize(k.nbytes(out))
            yield from slices(out, self.ctx)
            return
        for batch in partition:
            self.add(batch)
        with self.lock:
            self.collecting = False
            batches, self.held = self.held, []
            held_bytes, self.held_bytes = self.held_bytes, 0
            if self.runs and batches:
                # Spilled before: the rest becomes the last run, so that the merge holds only
                # about a batch per run.
                self._write_run(batches)
                batches = []
                self.reservation.shrink(held_bytes)
                self.reservation.record_spill(held_bytes)
        if not self.runs:
            out = sort_table(concat_batches(batches, self.schema, k), self.schema, self.node.keys,
                             self.node.fetch, self.ctx)
            del batches
            size = k.nbytes(out)
            self.reservation.resize(size)
            self.hand_out(out, self.schema, size)
            del out
            yield from self.emitted()
            return
        width = len(self.schema)
        for piece in self._merge_runs():
            out = piece if width == len(self.work_schema) else k.make_table(
                [k.column(piece, i) for i in range(width)], self.schema, k.num_rows(piece))
            yield from slices(out, self.ctx)

    def _fanout(self) -> int:
        share = self._share()
        if share is None:
            return MAX_FANOUT
        per_run = max(1, _BATCHES_PER_RUN * self.run_batch_bytes)
        return max(2, min(MAX_FANOUT, share // per_run))

    def _merge_runs(self) -> Iterator[Table]:
        """Merge passes until ``fanout`` runs are left, then the final merge, streamed."""
        fanout = self._fanout()
        runs = self.runs
        while len(runs) > fanout:
            group = runs[:fanout]
            merged = self.ctx.spill.new_file(self.k, self.work_schema, "Sort-merge")
            runs[:fanout] = [merged]  # consecutive runs merge into one: the order of runs holds
            for piece in self._merge(group):
                n = self.k.num_rows(piece)
                for offset in range(0, n, self.run_step):  # batches as small as the runs'
                    merged.write(self.k.slice(piece, offset, min(self.run_step, n - offset)))
            for file in group:
                file.close()
        yield from self._merge(runs)

    def _merge(self, runs: list[SpillFile]) -> Iterator[Table]:
        """The rows of ``runs`` (each sorted; consecutive stretches of the input, in order) in
        order, as tables of the work schema, cut to ``fetch`` rows.

        The *carry* holds the rows read but not yet given out, sorted by the keys and then the
        run's number. A run's last row read bounds what that run can still bring; the least of
        those bounds (ties to the earlier run: the order the tag gives) bounds every run, so all
        carried rows up to it are final. They go out, the run that set the bound reads its next
        batch into the carry, and so on. The carry holds at most one batch per run: a run reads
        only once all it read before has gone out."""
        k = self.k
        tag = len(self.work_schema)
        schema = pa.schema(list(self.work_schema) + [pa.field("_run", pa.int32(), nullable=False)])
        specs = self.specs + [(tag, True, False)]
        readers = {j: iter(file.read()) for j, file in enumerate(runs)}
        bounds: dict[int, Table] = {}  # the last row read of each run not yet exhausted
        left = self.node.fetch

        def read(j: int) -> Table | None:
            for batch in readers[j]:
                n = k.num_rows(batch)
                if n:
                    tagged = k.make_table([k.column(batch, i) for i in range(tag)]
                                          + [k.literal_column(Literal(j, pa.int32()), n)], schema, n)
                    # A copy (a gather), not a slice: a slice would keep the whole batch alive.
                    last = k.column(k.slice(k.make_table([_iota(k, n)], _INDEX_SCHEMA, n), n - 1, 1), 0)
                    bounds[j] = k.gather(tagged, last)
                    return tagged
            del readers[j]
            bounds.pop(j, None)
            return None

        def ordered(table: Table) -> Table:
            return k.gather(table, k.sort_indices(table, specs))

        first = [t for t in (read(j) for j in range(len(runs))) if t is not None]
        carry = ordered(concat_batches(first, schema, k)) if first else k.empty(schema)
        del first
        try:
            while True:
                self.ctx.check_cancelled()
                self.reservation.resize(k.nbytes(carry))
                n = k.num_rows(carry)
                if not bounds:
                    ready = n
                    run = -1
                else:
                    active = sorted(bounds)
                    if len(active) == 1:
                        run = active[0]
                    else:
                        lasts = k.concat([bounds[j] for j in active], schema)
                        order = k.sort_indices(lasts, specs)
                        run = active[_scalar(k, k.slice(k.make_table([order], _INDEX_SCHEMA, len(active)), 0, 1))]
                    # That run's bound is its last row in the carry: everything up to it is final.
                    mine = k.binary(BinaryOperator.EQ, k.column(carry, tag), Literal(run, pa.int32()),
                                    pa.bool_(), n)
                    positions = k.filter(k.make_table([_iota(k, n)], _INDEX_SCHEMA, n), mine)
                    ready = _scalar(k, k.slice(positions, k.num_rows(positions) - 1, 1)) + 1
                if left is not None:
                    ready = min(ready, left)
                    left -= ready
                if ready:
                    done = carry if ready == n else k.slice(carry, 0, ready)
                    yield k.make_table([k.column(done, i) for i in range(tag)], self.work_schema, ready)
                    del done
                if run < 0 or left == 0:
                    return
                carry = k.slice(carry, ready, n - ready)
                more = read(run)
                if more is not None:
                    carry = ordered(k.concat([carry, more], schema))
                    del more
        finally:
            for reader in list(readers.values()):
                close = getattr(reader, "close", None)
                if close is not None:
                    close()

    def close(self) -> None:
        self.close_output()
        with self.lock:
            self.collecting = False
            self.held = []
            self.held_bytes = 0
            runs, self.runs = self.runs, []
        for file in runs:
            file.close()
        self.reservation.free()


def _sorted(node: Sort, partition: Partition, ctx: ExecutionContext) -> Iterator[Table]:
    """One partition in order (module doc)."""
    state = _ExternalSort(node, ctx)
    try:
        yield from state.result(partition)
    finally:
        state.close()


def sort(node: Sort, partitions: list[Partition], ctx: ExecutionContext) -> list[Partition]:
    return [_sorted(node, p, ctx) for p in partitions]
