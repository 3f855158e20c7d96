"""Plan IR: one immutable, typed class per operator, logical and physical.

translate/ builds the logical nodes from DataFusion's optimized plan; physical.py adds the
distribution (Exchange nodes, two-phase aggregates). Every node has an Arrow ``schema`` (exact
types, names may repeat) and ``children()`` derived from its fields. Expressions inside a node
refer to its input by position (see planner.expr).
"""

from __future__ import annotations

import dataclasses
import enum
from dataclasses import dataclass
from typing import Any, Iterator

import pyarrow as pa

from planner.expr import AggregateCall, Expr, Literal, SortKey, WindowCall

__all__ = [
    "PlanNode",
    "TableSource",
    "TableScan",
    "Projection",
    "Filter",
    "AggregateMode",
    "Aggregate",
    "JoinType",
    "Join",
    "CrossJoin",
    "Sort",
    "Limit",
    "Union",
    "Values",
    "EmptyRelation",
    "Window",
    "RecursiveQuery",
    "WorkTableScan",
    "ExchangeKind",
    "Exchange",
    "FileFormat",
    "FileWrite",
    "walk_plan",
    "node_expressions",
]


class PlanNode:
    """Base of every plan node. Subclasses are frozen dataclasses with a ``schema`` (pa.Schema)."""

    __slots__ = ()
    schema: pa.Schema

    def children(self) -> tuple[PlanNode, ...]:
        out: list[PlanNode] = []
        for f in dataclasses.fields(self):  # type: ignore[arg-type]
            value = getattr(self, f.name)
            if isinstance(value, PlanNode):
                out.append(value)
            elif isinstance(value, tuple):
                out.extend(v for v in value if isinstance(v, PlanNode))
        return tuple(out)

    def with_children(self, children: tuple[PlanNode, ...]) -> PlanNode:
        """A copy of this node with its child nodes replaced, in ``children()`` order."""
        it = iter(children)
        changes: dict[str, Any] = {}
        for f in dataclasses.fields(self):  # type: ignore[arg-type]
            value = getattr(self, f.name)
            if isinstance(value, PlanNode):
                changes[f.name] = next(it)
            elif isinstance(value, tuple) and any(isinstance(v, PlanNode) for v in value):
                changes[f.name] = tuple(next(it) if isinstance(v, PlanNode) else v for v in value)
        return dataclasses.replace(self, **changes)  # type: ignore[type-var]


def walk_plan(node: PlanNode) -> Iterator[PlanNode]:
    """Every node of the plan, parents before children."""
    yield node
    for child in node.children():
        yield from walk_plan(child)


@dataclass(frozen=True, slots=True)
class TableSource:
    """Where a registered table's data lives. ``format`` is "parquet" or "csv"; ``paths`` are the
    files (a directory is expanded at registration). ``schema`` is the table's full file schema
    (strings as pa.string()); for CSV, the columns by position, whatever the header line says.
    ``has_header`` and ``delimiter`` describe CSV files; ``location`` is the path it was
    registered with (a file, a directory or a glob)."""

    name: str
    format: str
    paths: tuple[str, ...]
    schema: pa.Schema
    has_header: bool = True
    delimiter: str = ","
    location: str = ""


@dataclass(frozen=True, slots=True)
class TableScan(PlanNode):
    """Read ``columns`` of ``source``. ``filters`` (over the scanned columns) are the predicates
    DataFusion pushed down as *inexact*: they may only prune row groups, because DataFusion keeps
    the Filter node above the scan that removes the rows (ListingTable reports Exact only for
    partition columns, which gpu-exec never registers). ``fetch`` caps the rows when set."""

    source: TableSource
    columns: tuple[str, ...]
    filters: tuple[Expr, ...]
    fetch: int | None
    schema: pa.Schema


@dataclass(frozen=True, slots=True)
class Projection(PlanNode):
    input: PlanNode
    exprs: tuple[Expr, ...]
    schema: pa.Schema


@dataclass(frozen=True, slots=True)
class Filter(PlanNode):
    """Keep the rows where ``predicate`` is TRUE (NULL drops the row)."""

    input: PlanNode
    predicate: Expr
    schema: pa.Schema


class AggregateMode(enum.Enum):
    SINGLE = "single"  # all rows of a group are in this partition: aggregate in one step
    PARTIAL = "partial"  # per partition, before the exchange: output = keys + partial states
    FINAL = "final"  # after the exchange: combine the partial states of each group


@dataclass(frozen=True, slots=True)
class Aggregate(PlanNode):
    """GROUP BY ``group_by`` computing ``aggregates``; output = group columns then aggregates.
    No group_by means one output row even for empty input (a global aggregate).

    In PARTIAL mode the output holds, after the keys, the partial state columns of each aggregate
    (planner.physical.partial_state_fields); in FINAL mode ``group_by`` are ColumnRefs to the keys
    of the partial output and ``aggregates`` are the original calls (their args unused)."""

    input: PlanNode
    group_by: tuple[Expr, ...]
    aggregates: tuple[AggregateCall, ...]
    schema: pa.Schema
    mode: AggregateMode = AggregateMode.SINGLE


class JoinType(enum.Enum):
    INNER = "inner"
    LEFT = "left"
    RIGHT = "right"
    FULL = "full"
    LEFT_SEMI = "left_semi"
    LEFT_ANTI = "left_anti"
    RIGHT_SEMI = "right_semi"
    RIGHT_ANTI = "right_anti"
    LEFT_MARK = "left_mark"  # left columns + a boolean "mark" column (EXISTS / IN inside OR)


@dataclass(frozen=True, slots=True)
class Join(PlanNode):
    """Equi join on ``left_keys[i] = right_keys[i]`` (each over its own side's columns), with an
    optional residual ``filter`` over left columns followed by right columns.

    Output: left + right columns for INNER/LEFT/RIGHT/FULL; left only for LEFT_SEMI/LEFT_ANTI;
    right only for RIGHT_SEMI/RIGHT_ANTI; left + mark for LEFT_MARK. ``nulls_equal`` makes NULL keys
    match (IS NOT DISTINCT FROM). ``null_aware`` is the SQL rule of ``NOT IN (subquery)`` for
    LEFT_ANTI / LEFT_MARK: a NULL on either side makes the comparison unknown, never a match."""

    left: PlanNode
    right: PlanNode
    how: JoinType
    left_keys: tuple[Expr, ...]
    right_keys: tuple[Expr, ...]
    filter: Expr | None
    nulls_equal: bool
    null_aware: bool
    schema: pa.Schema


@dataclass(frozen=True, slots=True)
class CrossJoin(PlanNode):
    left: PlanNode
    right: PlanNode
    schema: pa.Schema


@dataclass(frozen=True, slots=True)
class Sort(PlanNode):
    """ORDER BY ``keys``; ``fetch`` keeps only the first rows (top-k)."""

    input: PlanNode
    keys: tuple[SortKey, ...]
    fetch: int | None
    schema: pa.Schema


@dataclass(frozen=True, slots=True)
class Limit(PlanNode):
    """OFFSET ``skip`` LIMIT ``fetch`` (None = no limit)."""

    input: PlanNode
    skip: int
    fetch: int | None
    schema: pa.Schema


@dataclass(frozen=True, slots=True)
class Union(PlanNode):
    """UNION ALL of inputs with the same column types (UNION DISTINCT = Aggregate over Union)."""

    inputs: tuple[PlanNode, ...]
    schema: pa.Schema


@dataclass(frozen=True, slots=True)
class Values(PlanNode):
    """A literal table: VALUES (...), (...)."""

    rows: tuple[tuple[Literal, ...], ...]
    schema: pa.Schema


@dataclass(frozen=True, slots=True)
class EmptyRelation(PlanNode):
    """No input: zero rows, or one row of zero columns (SELECT without FROM)."""

    produce_one_row: bool
    schema: pa.Schema


@dataclass(frozen=True, slots=True)
class Window(PlanNode):
    """Input columns followed by one column per window call."""

    input: PlanNode
    windows: tuple[WindowCall, ...]
    schema: pa.Schema


@dataclass(frozen=True, slots=True)
class RecursiveQuery(PlanNode):
    """WITH RECURSIVE ``name``: the rows of ``static``, then those of ``recursive`` run again and
    again over the previous round's rows (its ``WorkTableScan`` of the same ``id``) until a round
    yields none. ``distinct`` (UNION, not UNION ALL): a row already produced, in any round or
    twice in one, is dropped, and only the new rows feed the next round. ``id`` tells nested
    recursive queries of one plan apart (equal names and schemas would make equal nodes)."""

    static: PlanNode
    recursive: PlanNode
    name: str
    distinct: bool
    id: int
    schema: pa.Schema


@dataclass(frozen=True, slots=True)
class WorkTableScan(PlanNode):
    """Leaf of a recursive term: the previous round's rows of the RecursiveQuery ``id``, its
    columns ``columns`` (positions in the recursive query's schema); ``fetch`` caps the rows."""

    name: str
    id: int
    columns: tuple[int, ...]
    fetch: int | None
    schema: pa.Schema


class ExchangeKind(enum.Enum):
    HASH = "hash"  # rows with equal keys land in the same output partition
    SINGLE = "single"  # everything into one partition
    BROADCAST = "broadcast"  # every output partition gets all rows
    ROUND_ROBIN = "round_robin"  # spread evenly (union rebalancing)


@dataclass(frozen=True, slots=True)
class Exchange(PlanNode):
    """Repartition ``input`` into ``partitions`` output partitions; a stage boundary."""

    input: PlanNode
    kind: ExchangeKind
    keys: tuple[Expr, ...]
    partitions: int
    schema: pa.Schema


@dataclass(frozen=True, slots=True)
class FileFormat:
    """How a FileWrite encodes its files: ``kind`` "parquet" (``compression`` as pyarrow names it,
    ``compression_level``, ``row_group_size`` rows; None = the writer's default) or "csv"
    (``has_header``, ``delimiter``)."""

    kind: str
    compression: str | None = None
    compression_level: int | None = None
    row_group_size: int | None = None
    has_header: bool = True
    delimiter: str = ","

    @property
    def extension(self) -> str:
        return "." + self.kind


@dataclass(frozen=True, slots=True)
class FileWrite(PlanNode):
    """Write each partition of ``input`` to its own file ``part-<partition:05d>.<ext>`` in
    ``directory`` (COPY, CREATE TABLE AS); its output is one row per partition, ``count`` (uint64):
    the rows that partition wrote. Partition 0 always writes a file, even empty, so the directory
    holds the schema; other empty partitions write none. ``single_file`` asks the physical planner
    for one partition (COPY to a file name). ``partition`` is None in a plan; a distributed task
    pins it to the task's partition (planner.stages.task_plan), which names the file."""

    input: PlanNode
    directory: str
    file_format: FileFormat
    single_file: bool
    schema: pa.Schema
    partition: int | None = None


def node_expressions(node: PlanNode) -> list[Any]:
    """The expressions (and aggregate / window calls and sort keys) held directly by ``node``."""
    out: list[Any] = []

    def collect(value: Any) -> None:
        if isinstance(value, (Expr, AggregateCall, WindowCall, SortKey)):
            out.append(value)
        elif isinstance(value, tuple):
            for v in value:
                collect(v)

    for f in dataclasses.fields(node):  # type: ignore[arg-type]
        value = getattr(node, f.name)
        if not isinstance(value, PlanNode):
            collect(value)
    return out
