"""Reading only what a query needs: row groups ruled out by their Parquet statistics, and the
dynamic filters a hash join's build side hands to the scans of its probe side.

Static pruning. A scan's ``filters`` (what DataFusion pushed into it, inexact: the Filter above
still removes the rows) are checked against each row group's min/max and null count before it is
read: ``may_match`` answers False only when no row of the row group can make the predicate TRUE.
Anything it does not understand (a function, a float column, missing statistics, a cast that is
not order-preserving) answers "maybe", and the row group is read.

Dynamic filters. Once a join partition has collected its build side, ``publish_build_keys`` turns
the build keys into a predicate over the probe-side scan's columns (each key between the build's
min and max, and IN the build's distinct values when they are few; NULL keys kept only where
``nulls_equal`` lets them match a NULL on the build side) and registers it for the scans that
feed the probe side unchanged (through projections that keep the key column, filters, and the
row-preserving sides of other joins). The scans then use it like a static filter on row-group
statistics and, since dropping those rows cannot change the join's answer, also on the rows they
read. Only joins where a probe row without a matching key contributes nothing are eligible: INNER
and LEFT_SEMI as the join runs them (a RIGHT_SEMI runs mirrored as a LEFT_SEMI over its right
side); never the preserved side of an outer join (a RIGHT join runs mirrored as a LEFT join
whose probe side is the preserved right side, so it gets none), nor anti or mark joins.

A build partition may hold only part of the build side (both sides hash-repartitioned, partition
by partition). A filter is used only once it covers the whole build side: a broadcast build side
(one shared partition) covers it at once; otherwise every partition pair of the join must have
published (their union), which a scan of ``P`` partitions knows when ``P`` contributions arrived.
Until then the scan reads everything, which is always correct. In a distributed task the same
holds within the task: its fragment is one partition of each operator, a scan split feeding a
probe side meets a whole (broadcast) build side, and the split gets the filter when it is its
task's only reader of that split. Filters do not cross tasks or stages.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import os
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.compute as pc

from planner import ir
from planner.expr import (
    BinaryOp,
    BinaryOperator,
    Cast,
    ColumnRef,
    Expr,
    InList,
    Literal,
    ScalarSubquery,
    UnaryOp,
    UnaryOperator,
)

if TYPE_CHECKING:
    import pyarrow.parquet as pq

    from gpu_exec.engine.context import ExecutionContext
    from gpu_exec.engine.kernels import Table

__all__ = [
    "ColumnStats",
    "DynamicFilters",
    "RowGroupStats",
    "may_match",
    "must_match",
    "publish_build_keys",
    "scan_metrics",
]

# Off (GPU_EXEC_PRUNING=0, or set to False in process): every row group is read, no join hands
# its keys over: the baseline the star benchmark measures against.
ENABLED = os.environ.get("GPU_EXEC_PRUNING", "1") not in ("0", "off", "false")

# A build side with at most this many distinct values of a key also hands over the values
# themselves (an IN list), not only their range.
IN_SET_LIMIT = 256
# Build sides up to this many rows are summarized on the host from a download of their keys;
# bigger ones by a global min/max aggregate on their own device (a download of one row).
_HOST_SUMMARY_ROWS = 65_536


# ---- comparable values ------------------------------------------------------------------------

def _prunable_type(t: pa.DataType) -> bool:
    """Types whose Parquet statistics order values as SQL does. Floats are left out: the
    statistics skip NaN, which DataFusion orders above every number."""
    return (pa.types.is_integer(t) or pa.types.is_decimal(t) or pa.types.is_date(t)
            or pa.types.is_timestamp(t) or pa.types.is_string(t) or pa.types.is_large_string(t)
            or pa.types.is_boolean(t))


def _key(scalar: pa.Scalar) -> Any:
    """A Python value that orders as ``scalar`` does among values of its type (None for NULL or
    for a value we cannot order)."""
    if not scalar.is_valid:
        return None
    t = scalar.type
    if pa.types.is_timestamp(t):
        return scalar.cast(pa.int64()).as_py()  # instants in the type's unit, whatever the zone
    if pa.types.is_date(t):
        return scalar.cast(pa.int32() if pa.types.is_date32(t) else pa.int64()).as_py()
    value = scalar.as_py()
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def _monotone_cast(source: pa.DataType, target: pa.DataType) -> bool:
    """Casts that never decrease the order of values and never fail or give NULL for the
    values a column of ``source`` holds (so a range of the column maps to a range of the cast)."""
    if source == target:
        return True
    if pa.types.is_integer(source):
        if pa.types.is_integer(target):
            return target.bit_width >= source.bit_width and (pa.types.is_signed_integer(target)
                                                            or not pa.types.is_signed_integer(source))
        return pa.types.is_floating(target) or pa.types.is_decimal(target)
    if pa.types.is_decimal(source):
        return pa.types.is_decimal(target) and target.scale >= source.scale and \
            target.precision - target.scale >= source.precision - source.scale
    if pa.types.is_date(source):
        return pa.types.is_date(target) or pa.types.is_timestamp(target)
    if pa.types.is_timestamp(source):
        return pa.types.is_timestamp(target)
    return False


@dataclass(frozen=True)
class _ColumnPath:
    """A scan column, possibly under order-preserving casts: its position and the types the
    value passes through (the column's first)."""

    index: int
    types: tuple[pa.DataType, ...]

    @property
    def result_type(self) -> pa.DataType:
        return self.types[-1]


def _column_path(e: Expr, schema: pa.Schema) -> _ColumnPath | None:
    casts: list[pa.DataType] = []
    while isinstance(e, Cast) and not e.safe:
        casts.append(e.dtype)
        e = e.operand
    if not isinstance(e, ColumnRef) or e.index >= len(schema):
        return None
    types = (schema.field(e.index).type, *reversed(casts))
    if not _prunable_type(types[0]):
        return None
    if any(not _monotone_cast(a, b) for a, b in itertools.pairwise(types)):
        return None
    return _ColumnPath(e.index, types)


# ---- statistics --------------------------------------------------------------------------------

@dataclass(frozen=True)
class ColumnStats:
    """One column chunk's statistics: ``lo``/``hi`` the min/max as pyarrow scalars of the scan
    column's type (None: not known), ``null_count`` (None: not known), ``num_rows``."""

    lo: pa.Scalar | None
    hi: pa.Scalar | None
    null_count: int | None
    num_rows: int

    def bounds(self, path: _ColumnPath) -> tuple[Any, Any] | None:
        """(min, max) as comparable keys after ``path``'s casts, or None when unknown."""
        if self.lo is None or self.hi is None:
            return None
        try:
            lo, hi = self.lo, self.hi
            for t in path.types[1:]:
                lo, hi = lo.cast(t, safe=False), hi.cast(t, safe=False)
        except (pa.ArrowException, ValueError, OverflowError):
            return None
        lo_key, hi_key = _key(lo), _key(hi)
        if lo_key is None or hi_key is None:
            return None
        return lo_key, hi_key

    @property
    def all_null(self) -> bool:
        return self.null_count is not None and self.null_count >= self.num_rows


class RowGroupStats:
    """The statistics of one row group of one file, by scan column position, read lazily from
    the file's metadata."""

    def __init__(self, metadata: pq.FileMetaData, row_group: int, schema: pa.Schema,
                 positions: dict[str, int]) -> None:
        self._group = metadata.row_group(row_group)
        self._schema = schema
        self._positions = positions
        self._cache: dict[int, ColumnStats | None] = {}
        self.num_rows = self._group.num_rows

    def column(self, index: int) -> ColumnStats | None:
        if index not in self._cache:
            self._cache[index] = self._read(index)
        return self._cache[index]

    def _read(self, index: int) -> ColumnStats | None:
        name = self._schema.field(index).name
        position = self._positions.get(name)
        if position is None:
            return None
        chunk = self._group.column(position)
        if chunk.physical_type == "INT96":
            return None  # legacy timestamps: their statistics are not ordered as the values
        stats = chunk.statistics
        if stats is None:
            return None
        null_count = stats.null_count if stats.has_null_count else None
        lo = hi = None
        if stats.has_min_max:
            t = self._schema.field(index).type
            try:
                lo, hi = pa.scalar(stats.min, type=t), pa.scalar(stats.max, type=t)
            except (pa.ArrowException, ValueError, TypeError, OverflowError):
                lo = hi = None
        return ColumnStats(lo, hi, null_count, self.num_rows)

    def bytes_of(self, names: Iterable[str]) -> int:
        """Compressed bytes of these columns' chunks: what reading them takes from the file."""
        total = 0
        for name in names:
            position = self._positions.get(name)
            if position is not None:
                total += self._group.column(position).total_compressed_size
        return total


def column_positions(metadata: pq.FileMetaData) -> dict[str, int]:
    """Top-level column name → its column-chunk position in the file."""
    schema = metadata.schema
    return {schema.column(i).path: i for i in range(len(schema))}


# ---- may this row group hold a row where the predicate is TRUE? --------------------------------

_FLIP = {
    BinaryOperator.LT: BinaryOperator.GT,
    BinaryOperator.LT_EQ: BinaryOperator.GT_EQ,
    BinaryOperator.GT: BinaryOperator.LT,
    BinaryOperator.GT_EQ: BinaryOperator.LT_EQ,
    BinaryOperator.EQ: BinaryOperator.EQ,
    BinaryOperator.NOT_EQ: BinaryOperator.NOT_EQ,
    BinaryOperator.IS_DISTINCT_FROM: BinaryOperator.IS_DISTINCT_FROM,
    BinaryOperator.IS_NOT_DISTINCT_FROM: BinaryOperator.IS_NOT_DISTINCT_FROM,
}

_UNKNOWN: Any = object()


def _literal(e: Expr, subqueries: dict | None) -> Literal | None:
    if isinstance(e, Literal):
        return e
    if isinstance(e, ScalarSubquery) and subqueries and e in subqueries:
        return subqueries[e]
    return None


def _literal_key(lit: Literal, target: pa.DataType) -> Any:
    """The literal as a comparable key of ``target`` (None for NULL; _UNKNOWN when it does not
    convert exactly)."""
    if lit.value is None:
        return None
    try:
        scalar = pa.scalar(lit.value, type=lit.dtype)
        if scalar.type != target:
            scalar = scalar.cast(target, safe=True)
    except (pa.ArrowException, ValueError, TypeError, OverflowError):
        return _UNKNOWN
    key = _key(scalar)
    return _UNKNOWN if key is None else key


def may_match(expr: Expr, stats: Callable[[int], ColumnStats | None], schema: pa.Schema,
              subqueries: dict | None = None) -> bool:
    """False only when no row described by ``stats`` (per scan column position) can make
    ``expr`` TRUE; True when some may, or when that cannot be told."""
    try:
        return _may_match(expr, stats, schema, subqueries)
    except (pa.ArrowException, ValueError, TypeError, OverflowError):
        return True


def _may_match(e: Expr, stats: Callable[[int], ColumnStats | None], schema: pa.Schema,
               subqueries: dict | None) -> bool:
    if isinstance(e, Literal):
        return e.value is not False and e.value is not None  # FALSE or NULL keeps no row
    if isinstance(e, BinaryOp):
        if e.op is BinaryOperator.AND:
            return _may_match(e.left, stats, schema, subqueries) and _may_match(e.right, stats, schema, subqueries)
        if e.op is BinaryOperator.OR:
            return _may_match(e.left, stats, schema, subqueries) or _may_match(e.right, stats, schema, subqueries)
        if e.op in _FLIP:
            path, lit, op = _column_path(e.left, schema), _literal(e.right, subqueries), e.op
            if path is None or lit is None:
                path, lit, op = _column_path(e.right, schema), _literal(e.left, subqueries), _FLIP[e.op]
            if path is None or lit is None:
                return True
            return _compare(path, op, lit, stats(path.index))
        return True
    if isinstance(e, UnaryOp) and e.op in (UnaryOperator.IS_NULL, UnaryOperator.IS_NOT_NULL):
        path = _column_path(e.operand, schema)
        s = stats(path.index) if path is not None else None
        if s is None or s.null_count is None:
            return True
        return s.null_count > 0 if e.op is UnaryOperator.IS_NULL else s.null_count < s.num_rows
    if isinstance(e, InList):
        path = _column_path(e.operand, schema)
        s = stats(path.index) if path is not None else None
        if s is None:
            return True
        literals = [_literal(v, subqueries) for v in e.values]
        if any(lit is None for lit in literals):
            return True
        keys = [_literal_key(lit, path.result_type) for lit in literals]  # type: ignore[arg-type]
        if any(k is _UNKNOWN for k in keys):
            return True
        if e.negated and any(k is None for k in keys):
            return False  # NOT IN a list holding NULL is never TRUE
        if s.all_null:
            return False
        bounds = s.bounds(path)
        if bounds is None:
            return True
        lo, hi = bounds
        values = [k for k in keys if k is not None]
        if not e.negated:
            return any(lo <= v <= hi for v in values)
        return not (lo == hi and lo in values)
    return True


def _compare(path: _ColumnPath, op: BinaryOperator, lit: Literal, s: ColumnStats | None) -> bool:
    """May ``column op literal`` be TRUE for some row described by ``s``?"""
    if s is None:
        return True
    value = _literal_key(lit, path.result_type)
    if value is _UNKNOWN:
        return True
    if value is None:
        if op is BinaryOperator.IS_NOT_DISTINCT_FROM:
            return s.null_count is None or s.null_count > 0
        if op is BinaryOperator.IS_DISTINCT_FROM:
            return s.null_count is None or s.null_count < s.num_rows
        return False  # a comparison with NULL is NULL
    if op is BinaryOperator.IS_DISTINCT_FROM:
        if s.null_count is None or s.null_count > 0:
            return True  # NULL IS DISTINCT FROM a value
        op = BinaryOperator.NOT_EQ
    if op is BinaryOperator.IS_NOT_DISTINCT_FROM:
        op = BinaryOperator.EQ
    if s.all_null:
        return False
    bounds = s.bounds(path)
    if bounds is None:
        return True
    lo, hi = bounds
    if op is BinaryOperator.EQ:
        return lo <= value <= hi
    if op is BinaryOperator.NOT_EQ:
        return not (lo == hi == value)
    if op is BinaryOperator.LT:
        return lo < value
    if op is BinaryOperator.LT_EQ:
        return lo <= value
    if op is BinaryOperator.GT:
        return hi > value
    if op is BinaryOperator.GT_EQ:
        return hi >= value
    return True


def must_match(expr: Expr, stats: Callable[[int], ColumnStats | None], schema: pa.Schema) -> bool:
    """True only when every row described by ``stats`` makes ``expr`` TRUE (then filtering the
    rows by it is a copy for nothing: a range filter whose row group lies inside the range)."""
    try:
        return _must_match(expr, stats, schema)
    except (pa.ArrowException, ValueError, TypeError, OverflowError):
        return False


def _must_match(e: Expr, stats: Callable[[int], ColumnStats | None], schema: pa.Schema) -> bool:
    if isinstance(e, Literal):
        return e.value is True
    if isinstance(e, BinaryOp):
        if e.op is BinaryOperator.AND:
            return _must_match(e.left, stats, schema) and _must_match(e.right, stats, schema)
        if e.op is BinaryOperator.OR:
            return _must_match(e.left, stats, schema) or _must_match(e.right, stats, schema)
        if e.op not in (BinaryOperator.GT_EQ, BinaryOperator.LT_EQ, BinaryOperator.EQ):
            return False
        path, lit = _column_path(e.left, schema), _literal(e.right, None)
        if path is None or lit is None:
            return False
        s = stats(path.index)
        if s is None or s.null_count != 0:
            return False
        bounds = s.bounds(path)
        value = _literal_key(lit, path.result_type)
        if bounds is None or value is None or value is _UNKNOWN:
            return False
        lo, hi = bounds
        if e.op is BinaryOperator.GT_EQ:
            return lo >= value
        if e.op is BinaryOperator.LT_EQ:
            return hi <= value
        return lo == hi == value
    if isinstance(e, UnaryOp) and e.op is UnaryOperator.IS_NULL:
        path = _column_path(e.operand, schema)
        s = stats(path.index) if path is not None else None
        return s is not None and s.all_null
    return False


# ---- dynamic filters ---------------------------------------------------------------------------

@dataclass
class _KeySummary:
    """What a build side's values of one key are: their range (None: no non-NULL value), whether
    one is NULL, and the distinct values when few (None: too many to list)."""

    lo: Any
    hi: Any
    has_null: bool
    values: frozenset | None

    def merge(self, other: _KeySummary) -> _KeySummary:
        los = [v for v in (self.lo, other.lo) if v is not None]
        his = [v for v in (self.hi, other.hi) if v is not None]
        values = None
        if self.values is not None and other.values is not None:
            values = self.values | other.values
            if len(values) > IN_SET_LIMIT:
                values = None
        return _KeySummary(min(los) if los else None, max(his) if his else None,
                           self.has_null or other.has_null, values)


@dataclass
class _Contribution:
    """One join's filter for one scan: the merged summaries of the build partitions published so
    far, per scan column position; ``complete`` once a published build side was whole."""

    nulls_equal: bool
    keys: dict[int, tuple[pa.DataType, _KeySummary]] = field(default_factory=dict)
    count: int = 0
    complete: bool = False
    predicate: Expr | None = None


@dataclass
class _Target:
    """A probe-side scan a join's keys reach: the scan node and, per join key, its position among
    the scan's columns."""

    scan: ir.TableScan
    columns: dict[int, int]  # join key number → scan column position


class DynamicFilters:
    """A query's dynamic filters, in process: which scan (by identity of its plan node) gets
    which joins' build-key predicates. Shared by every device view of the execution context."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_scan: dict[int, dict[int, _Contribution]] = {}
        self._invocations: dict[int, int] = {}
        self._keep: list[Any] = []  # the plan nodes keyed by id, kept alive for the query
        self._whole: set[int] = set()

    def scan_started(self, node: ir.TableScan) -> None:
        """Count the ways a scan node is read in this query: a plan node read in more than one
        place (a shared subtree) gets no dynamic filter, since the filter was meant for one
        consumer of it and the registry cannot tell them apart."""
        with self._lock:
            self._invocations[id(node)] = self._invocations.get(id(node), 0) + 1
            self._keep.append(node)

    def whole_known(self, join_id: int) -> bool:
        """Has this join already published a whole (broadcast) build side? Every partition of
        the join holds the same one: summarizing it once is enough."""
        with self._lock:
            return join_id in self._whole

    def publish(self, join: ir.Join, target: _Target, summaries: list[tuple[pa.DataType, _KeySummary]],
                whole: bool) -> None:
        """Add one build partition's key summaries (``summaries``, by join key number) to the
        filter ``join`` (the join as it runs, oriented) gives ``target``."""
        join_id = id(join)
        with self._lock:
            # Kept alive, so that no other join of this query is given the same id.
            self._keep.append(join)
            per_join = self._by_scan.setdefault(id(target.scan), {})
            c = per_join.setdefault(join_id, _Contribution(join.nulls_equal))
            for key_number, position in target.columns.items():
                dtype, summary = summaries[key_number]
                old = c.keys.get(position)
                c.keys[position] = (dtype, summary if old is None else old[1].merge(summary))
            c.count += 1
            c.complete = c.complete or whole
            if whole:
                self._whole.add(join_id)
            c.predicate = None
            self._keep.append(target.scan)

    def predicates(self, node: ir.TableScan, partitions: int) -> list[Expr]:
        """The dynamic predicates a scan of ``partitions`` partitions may apply now (over its
        columns): those of joins whose whole build side is known."""
        with self._lock:
            if self._invocations.get(id(node), 0) != 1:
                return []
            out = []
            for c in self._by_scan.get(id(node), {}).values():
                if not (c.complete or c.count >= partitions):
                    continue
                if c.predicate is None:
                    c.predicate = _predicate(c, node.schema)
                out.append(c.predicate)
            return out


    def applied(self) -> list[tuple[str, str]]:
        """(table, predicate text) of each filter joins of this query published for a scan, as
        it stood at the end (EXPLAIN ANALYZE). A scan applies one once every partition of its
        join's build side is in it."""
        from planner.expr import format_expr

        with self._lock:
            scans = {id(n): n for n in self._keep if isinstance(n, ir.TableScan)}
            return [(scans[scan_id].source.name,
                     format_expr(c.predicate if c.predicate is not None else _predicate(c, scans[scan_id].schema)))
                    for scan_id, per_join in self._by_scan.items() if scan_id in scans
                    for c in per_join.values()]


def conjunction(parts: list[Expr]) -> Expr:
    """``parts[0] AND parts[1] AND ...`` (at least one part)."""
    out = parts[0]
    for p in parts[1:]:
        out = BinaryOp(BinaryOperator.AND, out, p, pa.bool_())
    return out


def _predicate(c: _Contribution, schema: pa.Schema) -> Expr:
    """The build keys as a predicate over the scan's columns."""
    parts: list[Expr] = []
    for position, (dtype, s) in sorted(c.keys.items()):
        column = ColumnRef(position, schema.field(position).name, schema.field(position).type)
        keep_nulls = c.nulls_equal and s.has_null
        if s.lo is None:
            parts.append(UnaryOp(UnaryOperator.IS_NULL, column, pa.bool_()) if keep_nulls
                         else Literal(False, pa.bool_()))
            continue
        if s.values is not None:
            ordered = sorted(s.values)
            test: Expr = InList(column, tuple(Literal(v, dtype) for v in ordered), False)
            if len(ordered) == 1:
                test = BinaryOp(BinaryOperator.EQ, column, Literal(ordered[0], dtype), pa.bool_())
        else:
            test = BinaryOp(BinaryOperator.AND,
                            BinaryOp(BinaryOperator.GT_EQ, column, Literal(s.lo, dtype), pa.bool_()),
                            BinaryOp(BinaryOperator.LT_EQ, column, Literal(s.hi, dtype), pa.bool_()),
                            pa.bool_())
        if keep_nulls:
            test = BinaryOp(BinaryOperator.OR, test, UnaryOp(UnaryOperator.IS_NULL, column, pa.bool_()), pa.bool_())
        parts.append(test)
    return conjunction(parts) if parts else Literal(True, pa.bool_())


def _dynamic_type(t: pa.DataType) -> bool:
    """Key types handed to probe scans: those whose values compare exactly (no floats: NaN)."""
    if pa.types.is_timestamp(t):
        return t.unit != "ns"  # nanosecond values do not all round-trip through Python datetimes
    return (pa.types.is_integer(t) or pa.types.is_decimal(t) or pa.types.is_date(t)
            or pa.types.is_string(t))


def _probe_targets(node: ir.PlanNode, columns: dict[int, int], out: list[_Target]) -> None:
    """Scans under ``node`` whose rows reach its output unchanged and one for one, with the
    positions its key columns (``columns``: key number → position in ``node``'s output) come
    from. Dropping a scan row there only drops the output rows made from it."""
    if not columns:
        return
    from planner.stages import ScanSplit

    if isinstance(node, ScanSplit):
        node = node.scan  # a task's split: the task reads it through this scan node
    if isinstance(node, ir.TableScan):
        if node.fetch is None and node.source.format == "parquet":
            out.append(_Target(node, dict(columns)))
        return
    if isinstance(node, ir.Filter):
        _probe_targets(node.input, columns, out)
        return
    if isinstance(node, ir.Projection):
        below = {}
        for key, position in columns.items():
            e = node.exprs[position]
            if isinstance(e, ColumnRef) and e.dtype == node.schema.field(position).type:
                below[key] = e.index
        _probe_targets(node.input, below, out)
        return
    if isinstance(node, ir.Exchange) and node.kind is ir.ExchangeKind.HASH:
        # A hash exchange reads its whole input while the plan is set up, before any build side
        # is collected: a filter registered for the scans under it comes too late to be used —
        # except where the driver's adaptive broadcast skips the probe side's exchange and the
        # scan streams straight into the join, which is the case this walk is for.
        _probe_targets(node.input, columns, out)
        return
    if isinstance(node, ir.Join) and not node.null_aware:
        nl = len(node.left.schema)
        how = node.how
        if how in (ir.JoinType.INNER, ir.JoinType.LEFT, ir.JoinType.LEFT_SEMI, ir.JoinType.LEFT_ANTI,
                   ir.JoinType.LEFT_MARK):
            _probe_targets(node.left, {k: p for k, p in columns.items() if p < nl}, out)
        if how in (ir.JoinType.INNER, ir.JoinType.RIGHT):
            _probe_targets(node.right, {k: p - nl for k, p in columns.items() if p >= nl}, out)
        elif how in (ir.JoinType.RIGHT_SEMI, ir.JoinType.RIGHT_ANTI):
            _probe_targets(node.right, dict(columns), out)
        return
    # Anything else (aggregates, limits, unions, exchanges, windows, sorts) stops here: below an
    # exchange the rows were read before any build side was known anyway.


def _scans(node: ir.PlanNode) -> set[int]:
    from planner.stages import ScanSplit

    return {id(n.scan if isinstance(n, ScanSplit) else n) for n in ir.walk_plan(node)
            if isinstance(n, (ir.TableScan, ScanSplit))}


def _summaries(node: ir.Join, right: Table, wanted: set[int], ctx: ExecutionContext
               ) -> list[tuple[pa.DataType, _KeySummary] | None]:
    """Per join key: the build side's values of it, cast to the probe key's type."""
    from gpu_exec.engine.expressions import evaluate_columns

    k = ctx.kernels
    n = k.num_rows(right)
    exprs = [node.right_keys[i] for i in sorted(wanted)]
    types = [node.left_keys[i].dtype for i in sorted(wanted)]
    columns = evaluate_columns(exprs, right, ctx)
    columns = [c if e.dtype == t else k.cast(c, t, False) for c, e, t in zip(columns, exprs, types)]
    schema = pa.schema([pa.field(f"k{i}", t) for i, t in enumerate(types)])
    keys = k.make_table(columns, schema, n)
    out: list[tuple[pa.DataType, _KeySummary] | None] = [None] * len(node.left_keys)
    if n <= _HOST_SUMMARY_ROWS:
        host = k.to_arrow(keys, schema)
        for j, i in enumerate(sorted(wanted)):
            col = host.column(j)
            out[i] = (types[j], _host_summary(col, types[j]))
        return out
    aggs = []
    for j, t in enumerate(types):
        aggs += [(j, "min", t), (j, "max", t), (j, "count", pa.int64())]
    agg_schema = pa.schema([pa.field(f"a{m}", a[2]) for m, a in enumerate(aggs)])
    row = k.to_arrow(k.group_by(keys, [], aggs), agg_schema)
    for j, i in enumerate(sorted(wanted)):
        lo, hi, count = (row.column(3 * j + m)[0] for m in range(3))
        out[i] = (types[j], _KeySummary(_py(lo), _py(hi), count.as_py() < n, None))
    return out


def _py(scalar: pa.Scalar) -> Any:
    return scalar.as_py() if scalar.is_valid else None


def _host_summary(col: pa.ChunkedArray, t: pa.DataType) -> _KeySummary:
    has_null = col.null_count > 0
    valid = pc.drop_null(col)
    if len(valid) == 0:
        return _KeySummary(None, None, has_null, frozenset())
    bounds = pc.min_max(valid)
    distinct = pc.unique(valid)
    values = frozenset(distinct.to_pylist()) if len(distinct) <= IN_SET_LIMIT else None
    return _KeySummary(bounds["min"].as_py(), bounds["max"].as_py(), has_null, values)


def publish_build_keys(node: ir.Join, probe: Any, build: Any, right: Table, ctx: ExecutionContext) -> None:
    """Called by a join partition once its build side (``right``, collected from ``build``) is
    held: hand the build keys to the scans feeding its probe side (``node.left``, as the join
    runs). A no-op where it could change the answer or cannot help."""
    from gpu_exec.engine.streams import Batches

    registry: DynamicFilters | None = getattr(ctx, "dynamic_filters", None)
    if registry is None or not ENABLED or not node.left_keys or node.null_aware:
        return
    if node.how not in (ir.JoinType.INNER, ir.JoinType.LEFT_SEMI):
        return  # probe rows without a match are kept (outer), or decide the answer (anti, mark)
    if isinstance(probe, Batches):
        return  # already read in full
    whole = isinstance(build, Batches) and build.shared
    if whole and registry.whole_known(id(node)):
        return
    columns = {i: e.index for i, e in enumerate(node.left_keys)
               if isinstance(e, ColumnRef) and _dynamic_type(e.dtype)}
    if not columns:
        return
    targets: list[_Target] = []
    _probe_targets(node.left, columns, targets)
    build_side = _scans(node.right)
    targets = [t for t in targets if id(t.scan) not in build_side]
    if not targets:
        return
    wanted = {i for t in targets for i in t.columns}
    try:
        summaries = _summaries(node, right, wanted, ctx)
    except Exception:  # noqa: BLE001 — an optimization: without a summary the scans read everything
        return
    for t in targets:
        usable = {i: p for i, p in t.columns.items()
                  if summaries[i] is not None and summaries[i][0] == t.scan.schema.field(p).type}
        if usable:
            registry.publish(node, dataclasses.replace(t, columns=usable),
                             [s if s is not None else (pa.null(), _KeySummary(None, None, False, None))
                              for s in summaries], whole)


# ---- reporting ---------------------------------------------------------------------------------

def scan_metrics(metrics: dict[str, Any]) -> dict[str, dict[str, int]]:
    """Per scanned table (``TableScan:<name>`` entries of ``DataFrame.metrics``): row groups in
    all, pruned, and bytes read."""
    out = {}
    for name, m in metrics.items():
        if name.startswith("TableScan:"):
            out[name.split(":", 1)[1]] = {"row_groups": m.row_groups, "row_groups_pruned": m.row_groups_pruned,
                                          "bytes_scanned": m.bytes_scanned, "rows": m.rows}
    return out
