"""Joins: equi joins through gather maps, residual filters, semi/anti/mark, null-aware NOT IN.

One scheme serves every join type: find candidate row pairs (equi keys, or every pair when there
are none), keep the pairs the residual filter accepts, then shape the output by join type (unmatched
rows of the preserved side padded with NULLs; semi/anti/mark from which left rows matched).

Per partition, the right side (the build side) is collected and held; the left side (the probe
side) streams through, in chunks of at least twice the build side's rows (fewer rebuilds of the
kernel's hash table). RIGHT joins are run mirrored, so the probe side is always the left of the
join that runs; an inner join builds from its left side instead when that is the broadcast one or,
both sides being held by exchanges, the smaller. A FULL join remembers which build rows matched
and emits the others at the end.

A build side that does not fit in memory is spilled (grace hash join, see ``_join_stream``): both
sides go to spill files by the hash of their keys, and the files are joined pair by pair.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Callable, Iterator

import numpy as np
import pyarrow as pa

from gpu_exec.engine.expressions import evaluate_column, evaluate_columns
from gpu_exec.engine.operators import grace
from gpu_exec.engine.pruning import publish_build_keys
from gpu_exec.engine.streams import Batches, collect, collect_table, concat_batches
from planner.expr import BinaryOperator, ColumnRef, Expr, Literal, UnaryOperator, column_refs, transform
from planner.ir import JoinType

if TYPE_CHECKING:
    from gpu_exec.engine.context import ExecutionContext
    from gpu_exec.engine.kernels import Column, Table
    from gpu_exec.engine.memory import Reservation
    from gpu_exec.engine.streams import Partition
    from planner.ir import CrossJoin, Join

__all__ = ["join", "cross_join"]

_BOOL = pa.bool_()
_INT64 = pa.int64()
_COUNT_SCHEMA = pa.schema([("n", _INT64)])
_MAPS_SCHEMA = pa.schema([("l", pa.int64()), ("r", pa.int64())])

# Join types computed by swapping the sides and running the mirrored left-hand type.
_MIRRORED = {
    JoinType.RIGHT: JoinType.LEFT,
    JoinType.RIGHT_SEMI: JoinType.LEFT_SEMI,
    JoinType.RIGHT_ANTI: JoinType.LEFT_ANTI,
}


def _keys_table(exprs, table: Table, ctx: ExecutionContext, types) -> Table:
    k = ctx.kernels
    columns = evaluate_columns(exprs, table, ctx)
    columns = [
        c if e.dtype == t else k.cast(c, t, False) for c, e, t in zip(columns, exprs, types)
    ]
    schema = pa.schema([pa.field(f"k{i}", t) for i, t in enumerate(types)])
    return k.make_table(columns, schema, k.num_rows(table))


def _hstack(left: Table, right: Table, left_schema: pa.Schema, right_schema: pa.Schema,
            ctx: ExecutionContext) -> Table:
    k = ctx.kernels
    columns = [k.column(left, i) for i in range(len(left_schema))]
    columns += [k.column(right, i) for i in range(len(right_schema))]
    return k.make_table(columns, pa.schema(list(left_schema) + list(right_schema)), k.num_rows(left))


def _iota(n: int, ctx: ExecutionContext) -> Table:
    return ctx.kernels.from_arrow(pa.table({"i": pa.array(np.arange(n, dtype=np.int64))}))


def _candidate_pairs(node: Join, left: Table, right: Table, ctx: ExecutionContext) -> tuple[Column, Column]:
    """(left_map, right_map) of the row pairs whose keys match (every pair without keys)."""
    k = ctx.kernels
    if node.left_keys:
        types = [e.dtype for e in node.left_keys]
        lk = _keys_table(node.left_keys, left, ctx, types)
        rk = _keys_table(node.right_keys, right, ctx, types)
        lmap, rmap = k.join(lk, rk, "inner", node.nulls_equal)
        return lmap, rmap
    pairs = k.cross_join(_iota(k.num_rows(left), ctx), _iota(k.num_rows(right), ctx),
                         _MAPS_SCHEMA)
    return k.column(pairs, 0), k.column(pairs, 1)


def _matched_pairs(node: Join, left: Table, right: Table, ctx: ExecutionContext) -> tuple[Column, Column]:
    """Gather maps of the key-matching pairs that pass the residual filter."""
    k = ctx.kernels
    lmap, rmap = _candidate_pairs(node, left, right, ctx)
    if node.filter is None:
        return lmap, rmap
    # Evaluate the filter over just the columns it reads: the candidate pairs can be many times
    # the input rows (TPC-H q21), and most columns are not needed to decide which pairs match.
    nl = len(node.left.schema)
    fields = list(node.left.schema) + list(node.right.schema)
    used = sorted(column_refs(node.filter))
    position = {index: i for i, index in enumerate(used)}
    compact_filter = transform(
        node.filter, lambda e: dataclasses.replace(e, index=position[e.index]) if isinstance(e, ColumnRef) else e
    )
    n = k.length(lmap)
    columns = [_gather_column(left, i, lmap, fields[i], ctx) if i < nl
               else _gather_column(right, i - nl, rmap, fields[i], ctx) for i in used]
    pairs = k.make_table(columns, pa.schema([fields[i] for i in used]), n)
    mask = evaluate_column(compact_filter, pairs, ctx)
    maps = k.filter(k.make_table([lmap, rmap], _MAPS_SCHEMA, n), mask)
    return k.column(maps, 0), k.column(maps, 1)


def _gather_column(table: Table, index: int, indices: Column, field: pa.Field, ctx: ExecutionContext) -> Column:
    k = ctx.kernels
    one = k.make_table([k.column(table, index)], pa.schema([field]), k.num_rows(table))
    return k.column(k.gather(one, indices), 0)


def _pad(rows: Table, schema: pa.Schema, other_schema: pa.Schema, rows_first: bool, ctx: ExecutionContext) -> Table:
    """``rows`` with all-NULL columns of ``other_schema`` beside them."""
    k = ctx.kernels
    n = k.num_rows(rows)
    nulls = [k.literal_column(Literal(None, f.type), n) for f in other_schema]
    own = [k.column(rows, i) for i in range(len(schema))]
    columns = own + nulls if rows_first else nulls + own
    fields = list(schema) + list(other_schema) if rows_first else list(other_schema) + list(schema)
    return k.make_table(columns, pa.schema(fields), n)


def _not(mask: Column, ctx: ExecutionContext) -> Column:
    return ctx.kernels.unary(UnaryOperator.NOT, mask, _BOOL)


def _has_null_key(exprs, table: Table, ctx: ExecutionContext) -> Column:
    """Per row: does any key expression evaluate to NULL?"""
    k = ctx.kernels
    result = None
    for column in evaluate_columns(exprs, table, ctx):
        is_null = k.unary(UnaryOperator.IS_NULL, column, _BOOL)
        result = is_null if result is None else k.binary(BinaryOperator.OR, result, is_null, _BOOL, k.num_rows(table))
    return result


class _BuildState:
    """What a join keeps across the probe chunks of one partition: which build rows matched (for
    FULL's unmatched build rows, emitted at the end) and whether the build keys hold a NULL.

    A spilled build side is joined a spilled partition at a time, but a null-aware join answers
    from the whole build side: ``build_rows`` (its rows) and ``right_has_null`` are then given,
    found while it was collected; None: the build side held is the whole."""

    def __init__(self, build_rows: int | None = None, right_has_null: bool | None = None) -> None:
        self.matched: Column | None = None
        self.build_rows = build_rows
        self.right_has_null = right_has_null

    def add_matched(self, mask: Column, num_rows: int, ctx: ExecutionContext) -> None:
        self.matched = mask if self.matched is None else ctx.kernels.binary(
            BinaryOperator.OR, self.matched, mask, _BOOL, num_rows)


def _mark(node: Join, left: Table, right: Table, matched: Column, state: _BuildState,
          ctx: ExecutionContext) -> Column:
    """TRUE where a left row matched; for null-aware marks (``x IN (subquery)``) NULL where the
    answer is unknown: the left key is NULL, or no match while the right side holds a NULL key."""
    k = ctx.kernels
    build_rows = k.num_rows(right) if state.build_rows is None else state.build_rows
    if not node.null_aware or build_rows == 0:
        return matched
    n = k.num_rows(left)
    if state.right_has_null is None:
        state.right_has_null = k.num_rows(k.filter(right, _has_null_key(node.right_keys, right, ctx))) > 0
    unknown = _has_null_key(node.left_keys, left, ctx)
    if state.right_has_null:
        unknown = k.binary(BinaryOperator.OR, unknown, _not(matched, ctx), _BOOL, n)
    unknown = k.binary(BinaryOperator.AND, unknown, _not(matched, ctx), _BOOL, n)
    return k.if_else(unknown, Literal(None, _BOOL), matched, _BOOL, n)


def _join_chunk(node: Join, left: Table, right: Table, state: _BuildState, ctx: ExecutionContext) -> Table:
    """``node`` for one chunk of left (probe) rows against the whole right (build) side. FULL
    joins record the right rows that matched in ``state``; ``_unmatched_build`` adds the others
    once every chunk has been joined."""
    k = ctx.kernels
    how = node.how
    simple = node.filter is None and node.left_keys and not node.null_aware
    if simple and how in (JoinType.LEFT_SEMI, JoinType.LEFT_ANTI):
        types = [e.dtype for e in node.left_keys]
        lmap, _ = k.join(_keys_table(node.left_keys, left, ctx, types),
                         _keys_table(node.right_keys, right, ctx, types), how.value, node.nulls_equal)
        return k.gather(left, lmap)
    if simple and how in (JoinType.LEFT, JoinType.FULL):
        types = [e.dtype for e in node.left_keys]
        lmap, rmap = k.join(_keys_table(node.left_keys, left, ctx, types),
                            _keys_table(node.right_keys, right, ctx, types), "left", node.nulls_equal)
        if how is JoinType.FULL:
            state.add_matched(k.index_mask(k.num_rows(right), rmap), k.num_rows(right), ctx)
        return _hstack(k.gather(left, lmap), k.gather(right, rmap), node.left.schema, node.right.schema, ctx)

    lmap, rmap = _matched_pairs(node, left, right, ctx)
    if how is JoinType.INNER:
        return _hstack(k.gather(left, lmap), k.gather(right, rmap), node.left.schema, node.right.schema, ctx)
    left_matched = k.index_mask(k.num_rows(left), lmap)
    if how is JoinType.LEFT_SEMI:
        return k.filter(left, left_matched)
    if how is JoinType.LEFT_ANTI:
        keep = _not(_mark(node, left, right, left_matched, state, ctx), ctx)
        return k.filter(left, keep)
    if how is JoinType.LEFT_MARK:
        mark = _mark(node, left, right, left_matched, state, ctx)
        columns = [k.column(left, i) for i in range(len(node.left.schema))] + [mark]
        return k.make_table(columns, node.schema, k.num_rows(left))
    joined = _hstack(k.gather(left, lmap), k.gather(right, rmap), node.left.schema, node.right.schema, ctx)
    unmatched_left = _pad(k.filter(left, _not(left_matched, ctx)), node.left.schema, node.right.schema, True, ctx)
    if how is JoinType.FULL:
        state.add_matched(k.index_mask(k.num_rows(right), rmap), k.num_rows(right), ctx)
    return k.concat([joined, unmatched_left], node.schema)


def _unmatched_build(node: Join, right: Table, state: _BuildState, ctx: ExecutionContext) -> Table | None:
    """FULL: the right rows no chunk matched, padded with NULL left columns (None otherwise)."""
    if node.how is not JoinType.FULL:
        return None
    k = ctx.kernels
    unmatched = right if state.matched is None else k.filter(right, _not(state.matched, ctx))
    return _pad(unmatched, node.right.schema, node.left.schema, False, ctx)


def _swap(node: Join, how: JoinType) -> Join:
    """The join with its sides swapped (right becomes left), of type ``how``; its residual filter
    is re-indexed accordingly."""
    nl, nr = len(node.left.schema), len(node.right.schema)

    def reindex(e: Expr) -> Expr:
        if isinstance(e, ColumnRef):
            return dataclasses.replace(e, index=e.index + nr if e.index < nl else e.index - nl)
        return e

    schema = pa.schema(list(node.right.schema) + list(node.left.schema)) \
        if how in (JoinType.LEFT, JoinType.INNER) else node.schema
    return dataclasses.replace(
        node, left=node.right, right=node.left, how=how,
        left_keys=node.right_keys, right_keys=node.left_keys,
        filter=transform(node.filter, reindex) if node.filter is not None else None, schema=schema,
    )


def _pairwise(left_parts: list[Partition], right_parts: list[Partition]) -> list[tuple[Partition, Partition]]:
    """Partition pairs to join: co-partitioned sides pair up; a broadcast side (one partition, as
    the physical planner made it) meets every partition of the other side."""
    if len(left_parts) == len(right_parts):
        return list(zip(left_parts, right_parts))
    if len(right_parts) == 1:
        return [(lp, right_parts[0]) for lp in left_parts]
    if len(left_parts) == 1:
        return [(left_parts[0], rp) for rp in right_parts]
    raise AssertionError(f"join inputs are not co-partitioned: {len(left_parts)} vs {len(right_parts)}")


def _shareable(parts: list[Partition], other: list[Partition], schema: pa.Schema, ctx: ExecutionContext) -> list[Partition]:
    """A lone partition that meets several of the other side is read by each: hold it (once)."""
    if len(parts) != 1 or len(other) <= 1 or (isinstance(parts[0], Batches) and parts[0].shared):
        return parts
    k = ctx.kernels
    reservation = ctx.memory.reservation("Join", detail="a side every partition of the other meets")
    table = concat_batches(collect(parts[0], reservation, ctx), schema, k)
    reservation.resize(k.nbytes(table))
    return [Batches([table], k, reservation, shared=True)]


def _build_left(left: Partition, right: Partition) -> bool:
    """For an inner join: build the hash side from the left instead (the right stays the default):
    when the left is the shared (broadcast) side, or both are held and the left is smaller."""
    if isinstance(right, Batches) and right.shared:
        return False
    if isinstance(left, Batches) and left.shared:
        return True
    return isinstance(left, Batches) and isinstance(right, Batches) and left.rows < right.rows


def _chunks(probe: Partition, target: int, schema: pa.Schema, reservation: Reservation,
            ctx: ExecutionContext) -> Iterator[Table]:
    """The probe side's batches, combined into chunks of at least ``target`` rows (each chunk is
    joined against the whole build side: few, big chunks keep the build side's hashing cheap — the
    kernels have no hash table to build once and probe many times); the chunk being gathered is
    accounted in ``reservation``, and cut short when the memory pool has no room for more."""
    k = ctx.kernels
    pending: list[Table] = []
    rows = held = 0
    for batch in probe:
        n = k.num_rows(batch)
        if not n:
            continue
        if not pending and n >= target:
            yield batch
            continue
        size = k.nbytes(batch)
        if not reservation.try_grow(size):
            if pending:  # the pool is short: join what is gathered before holding more
                chunk = concat_batches(pending, schema, k)
                pending = []
                yield chunk
                reservation.shrink(held)
                rows = held = 0
            reservation.grow(size)
        pending.append(batch)
        rows, held = rows + n, held + size
        if rows >= target:
            chunk = concat_batches(pending, schema, k)
            pending = []
            yield chunk
            reservation.shrink(held)
            rows = held = 0
    if pending:
        chunk = concat_batches(pending, schema, k)
        pending = []
        yield chunk
        reservation.shrink(held)


# The most candidate pairs (gather-map entries) one kernel join on keys may produce, in batches'
# rows: a probe chunk whose keys repeat on the build side is cut into row slices that stay under it.
_PAIRS_PER_BATCH = 32


def _candidate_counter(node: Join, right: Table, ctx: ExecutionContext) -> Callable[[Table], int] | None:
    """A function counting the candidate pairs a probe chunk would make with ``right``, or None
    when no probe row can make more than one (the build keys are unique).

    Without keys every probe row pairs with every build row. With keys, the build side's key
    multiplicities are computed once; a chunk's pairs are then the sum of its rows'
    multiplicities, found by joining it to the distinct build keys (a join of at most the
    chunk's rows, however often the keys repeat)."""
    k = ctx.kernels
    build_rows = k.num_rows(right)
    if not node.left_keys:
        return lambda chunk: k.num_rows(chunk) * build_rows
    types = [e.dtype for e in node.left_keys]
    keys = _keys_table(node.right_keys, right, ctx, types)
    width = len(types)
    counted = k.group_by(keys, list(range(width)), [(None, "count_all", _INT64)])
    distinct_rows = k.num_rows(counted)
    if distinct_rows == build_rows:
        return None
    key_schema = pa.schema([pa.field(f"k{i}", t) for i, t in enumerate(types)])
    distinct = k.make_table([k.column(counted, i) for i in range(width)], key_schema, distinct_rows)
    multiplicity = k.make_table([k.column(counted, width)], _COUNT_SCHEMA, distinct_rows)

    def count(chunk: Table) -> int:
        _, rmap = k.join(_keys_table(node.left_keys, chunk, ctx, types), distinct, "inner", node.nulls_equal)
        matched = k.gather(multiplicity, rmap)
        total = k.group_by(matched, [], [(0, "sum", _INT64)])
        return int(k.to_arrow(total, _COUNT_SCHEMA).column(0)[0].as_py() or 0)

    return count


def _bounded(chunk: Table, pairs: Callable[[Table], int] | None, limit: int,
             ctx: ExecutionContext) -> Iterator[Table]:
    """``chunk`` cut into row slices of at most ``limit`` candidate pairs each (a single row that
    matches more build rows than that is a slice of its own)."""
    k = ctx.kernels
    n = k.num_rows(chunk)
    total = 0 if pairs is None or n <= 1 else pairs(chunk)
    if total <= limit:
        yield chunk
        return
    pieces = min(n, -(-total // limit))
    step = -(-n // pieces)
    for offset in range(0, n, step):
        piece = k.slice(chunk, offset, min(step, n - offset))
        # Rows can be unevenly matched: a slice still over the limit is cut again.
        yield from _bounded(piece, pairs, limit, ctx)


def _probe(node: Join, probe: Partition, right: Table, state: _BuildState, reservation: Reservation,
           ctx: ExecutionContext) -> Iterator[Table]:
    """``probe`` joined chunk by chunk against the held build side ``right`` (the chunk being
    gathered accounted in ``reservation``), then FULL's unmatched build rows."""
    k = ctx.kernels
    target = max(ctx.rows_per_batch, 2 * k.num_rows(right))
    pairs = _candidate_counter(node, right, ctx)
    # With keys, each slice rehashes the build side: few big ones. Without, slices are cheap,
    # and kept about a batch's pairs, as a cross join's (a cancel stops between them).
    limit = max(_PAIRS_PER_BATCH * ctx.rows_per_batch, 2 * k.num_rows(right)) if node.left_keys \
        else 2 * ctx.rows_per_batch
    for chunk in _chunks(probe, target, node.left.schema, reservation, ctx):
        for piece in _bounded(chunk, pairs, limit, ctx):
            ctx.check_cancelled()
            out = _join_chunk(node, piece, right, state, ctx)
            if k.num_rows(out):
                yield out
    tail = _unmatched_build(node, right, state, ctx)
    if tail is not None and k.num_rows(tail):
        yield tail


def _join_stream(node: Join, probe: Partition, build: Partition, ctx: ExecutionContext) -> Iterator[Table]:
    """One partition of ``node``, oriented so that its left side is the probe and its right the
    build: the build side collected and held, the probe side joined chunk by chunk as pulled.

    A build side that does not fit in memory is spilled by grace-hash partitioning (see
    gpu_exec.engine.operators.grace): its rows go to spill files by the hash of their join keys,
    the probe side then goes to files by the same hash, and each pair of files is joined alone,
    exactly as a whole partition would be (rows with equal keys, NULLs included, always meet in
    the same pair). What depends on the whole build side — its row count and whether a key is
    NULL, for a null-aware join — is found while it is collected and given to every pair. Without
    keys, or when the build side is a broadcast (held by the exchange), it is held as is."""
    k = ctx.kernels
    types = [e.dtype for e in node.left_keys]

    def key_columns(exprs) -> Callable[[Table], list[Column]]:
        return lambda t: [k.column(_keys_table(exprs, t, ctx, types), i) for i in range(len(types))]

    # Nothing to split by (no keys), or held by the exchange (a broadcast): never spilled.
    spillable = bool(node.left_keys) and not (isinstance(build, Batches) and build.shared)
    held = grace.Held(ctx, node.right.schema, key_columns(node.right_keys) if spillable else None, types,
                      "Join", "build side")
    loaded = ctx.memory.reservation("Join", detail="build side, a spilled partition")
    try:
        right: Table | None = None
        right_has_null = False
        if not spillable:
            right = collect_table(build, node.right.schema, held.reservation, ctx)
        else:
            for batch in build:
                if node.null_aware and not right_has_null and k.num_rows(batch):
                    right_has_null = k.num_rows(k.filter(batch, _has_null_key(node.right_keys, batch, ctx))) > 0
                held.add(batch)
            kept = held.finish()
            if kept is not None:
                right = concat_batches(kept, node.right.schema, k)
                del kept
                held.reservation.resize(k.nbytes(right))
        # The build side is collected: ``right`` holds it whole, or it was spilled (None).
        if right is not None:
            # Its keys may let the probe side's scans skip row groups (no filter when spilled).
            publish_build_keys(node, probe, build, right, ctx)
            yield from _probe(node, probe, right, _BuildState(), held.reservation, ctx)
            return
        build_files = held.files
        assert build_files is not None
        build_rows = held.rows
        held.free()
        probe_files = grace.HashFiles(ctx, node.left.schema, key_columns(node.left_keys), types, "Join-probe")
        for batch in probe:
            ctx.check_cancelled()
            probe_files.add(batch)
            loaded.record_spill(k.nbytes(batch))
        how = node.how

        def one_pair(group: list) -> Iterator[Table]:
            build_file, probe_file = group
            if not probe_file.rows and how is not JoinType.FULL:
                return  # no probe rows: nothing to emit but FULL's unmatched build rows
            if not build_file.rows and how in (JoinType.INNER, JoinType.LEFT_SEMI):
                return  # no build rows: no match
            right = grace.load(build_file, loaded, ctx)
            state = _BuildState(build_rows, right_has_null)
            yield from _probe(node, probe_file.read(), right, state, loaded, ctx)
            del right
            loaded.shrink(loaded.size)

        yield from grace.walk([build_files, probe_files], one_pair, ctx)
    finally:
        held.close()
        loaded.free()


def join(node: Join, left_parts: list[Partition], right_parts: list[Partition], ctx: ExecutionContext) -> list[Partition]:
    left_parts = _shareable(left_parts, right_parts, node.left.schema, ctx)
    right_parts = _shareable(right_parts, left_parts, node.right.schema, ctx)
    nl, nr = len(node.left.schema), len(node.right.schema)
    swapped_order = list(range(nr, nr + nl)) + list(range(nr))  # (right, left) columns → (left, right)
    mirrored = _swap(node, _MIRRORED[node.how]) if node.how in _MIRRORED else None
    swapped = _swap(node, JoinType.INNER) if node.how is JoinType.INNER else None
    out: list[Partition] = []
    for left, right in _pairwise(left_parts, right_parts):
        if mirrored is not None:
            restore = swapped_order if node.how is JoinType.RIGHT else None
            out.append(_restored(_join_stream(mirrored, right, left, ctx), restore, node.schema, ctx))
        elif swapped is not None and _build_left(left, right):
            out.append(_restored(_join_stream(swapped, right, left, ctx), swapped_order, node.schema, ctx))
        else:
            out.append(_join_stream(node, left, right, ctx))
    return out


def _restored(stream: Iterator[Table], order: list[int] | None, schema: pa.Schema,
              ctx: ExecutionContext) -> Iterator[Table]:
    """A swapped join's batches with their columns back in left, right order."""
    if order is None:
        yield from stream
        return
    k = ctx.kernels
    try:
        for t in stream:
            yield k.make_table([k.column(t, i) for i in order], schema, k.num_rows(t))
    finally:
        stream.close()


def _cross_stream(node: CrossJoin, left: Partition, right: Partition, ctx: ExecutionContext) -> Iterator[Table]:
    """Each left batch against the whole (collected) right side, in slices of left rows whose
    product stays about a batch."""
    k = ctx.kernels
    reservation = ctx.memory.reservation("CrossJoin", detail="right side")
    try:
        right_table = collect_table(right, node.right.schema, reservation, ctx)
        nr = k.num_rows(right_table)
        step = max(1, ctx.rows_per_batch // max(1, nr))
        for batch in left:
            n = k.num_rows(batch)
            for offset in range(0, n, step):
                ctx.check_cancelled()  # one product can be large: a cancelled query stops between them
                piece = batch if step >= n else k.slice(batch, offset, min(step, n - offset))
                yield k.cross_join(piece, right_table, node.schema)
    finally:
        reservation.free()


def cross_join(node: CrossJoin, left_parts: list[Partition], right_parts: list[Partition],
               ctx: ExecutionContext) -> list[Partition]:
    left_parts = _shareable(left_parts, right_parts, node.left.schema, ctx)
    right_parts = _shareable(right_parts, left_parts, node.right.schema, ctx)
    return [_cross_stream(node, left, right, ctx) for left, right in _pairwise(left_parts, right_parts)]
