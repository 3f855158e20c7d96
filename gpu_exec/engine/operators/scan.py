"""Table scans, as streams of batches: Parquet one row group at a time, CSV through pyarrow's
streaming reader, each cut into batches of at most ``ctx.rows_per_batch`` rows.

A scan's partitions are contiguous groups of row groups (CSV: of files) of about the same size.
Parquet row groups that the scan's filters, or a join's dynamic filter, rule out by their
statistics are skipped unread (gpu_exec.engine.pruning). Nothing is read until a partition is
pulled, and a partition stops reading once its consumer stops pulling (a LIMIT) or the scan's own
``fetch`` is reached. Nothing is cached between scans: a query that reads a table twice reads it
twice (what bounded memory costs).
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Iterator

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from gpu_exec.engine import pruning
from gpu_exec.engine.pruning import RowGroupStats, column_positions, may_match, must_match
from planner.catalog import ParquetFragment, parquet_fragments
from planner.errors import CatalogError
from planner.expr import Expr, Literal

if TYPE_CHECKING:
    from gpu_exec.engine.context import ExecutionContext
    from gpu_exec.engine.kernels import Table
    from gpu_exec.engine.streams import Partition
    from planner.ir import TableScan

__all__ = ["scan", "split_fragments", "scan_split", "split_count"]


def split_fragments(fragments: list[ParquetFragment], partitions: int) -> list[list[ParquetFragment]]:
    """Contiguous groups of fragments with about the same number of rows each (at most
    ``partitions`` groups; fewer when there are fewer fragments)."""
    if not fragments:
        return []
    groups = min(partitions, len(fragments))
    total = sum(f.num_rows for f in fragments) or 1
    out: list[list[ParquetFragment]] = [[] for _ in range(groups)]
    seen = 0
    for f in fragments:
        # Place each fragment by the position of its first row in the whole table.
        slot = min(groups - 1, seen * groups // total)
        out[slot].append(f)
        seen += f.num_rows
    return [g for g in out if g]


def _split_files(paths: list[str], partitions: int) -> list[list[str]]:
    """Contiguous groups of files of about the same size (at most ``partitions`` groups)."""
    if not paths:
        return []
    sizes = []
    for path in paths:
        try:
            sizes.append(max(1, os.path.getsize(path)))
        except OSError:
            sizes.append(1)  # reported when it is read
    groups = min(partitions, len(paths))
    total = sum(sizes)
    out: list[list[str]] = [[] for _ in range(groups)]
    seen = 0
    for path, size in zip(paths, sizes):
        out[min(groups - 1, seen * groups // total)].append(path)
        seen += size
    return [g for g in out if g]


def _cut(table: Table, remaining: list[int | None], ctx: ExecutionContext) -> Iterator[Table]:
    """``table`` in batches of at most ``ctx.rows_per_batch`` rows, within the scan's ``fetch``
    (``remaining[0]``, counted down; None: no fetch)."""
    k = ctx.kernels
    n = k.num_rows(table)
    step = ctx.rows_per_batch
    offset = 0
    while offset < n:
        length = min(step, n - offset)
        if remaining[0] is not None:
            length = min(length, remaining[0])
            remaining[0] -= length
        if length <= 0:
            return
        yield table if (offset, length) == (0, n) else k.slice(table, offset, length)
        offset += length


class _Pruner:
    """Which row groups of a scan to read: each is checked, before it is read, against the scan's
    pushed-down filters and the dynamic filters joins have published for it so far (see
    gpu_exec.engine.pruning); rows of a row group read are then filtered by the dynamic ones.
    Counts what it considered, skipped and read in the scan's metrics."""

    def __init__(self, node: TableScan, ctx: ExecutionContext, partitions: int, dynamic: bool) -> None:
        self.node = node
        self.ctx = ctx
        self.partitions = partitions
        self.dynamic = dynamic and pruning.ENABLED
        # A scan with a fetch returns its first rows, before any filter: pruning would change which.
        self.static = list(node.filters) if node.fetch is None and pruning.ENABLED else []
        self._files: dict[str, tuple[pq.FileMetaData, dict[str, int]]] = {}
        self.names = ("TableScan", f"TableScan:{node.source.name}")
        self.filter_rows = True
        self._rows_in = self._rows_out = 0

    def file(self, path: str) -> tuple[pq.FileMetaData, dict[str, int]]:
        """The footer of ``path`` (read once per partition) and its columns' positions."""
        if path not in self._files:
            try:
                meta = pq.ParquetFile(path).metadata
            except (OSError, pa.ArrowException) as exc:
                raise CatalogError(f"table {self.node.source.name!r}: cannot read Parquet file {path!r}: {exc}") from exc
            self._files[path] = (meta, column_positions(meta))
        return self._files[path]

    # Row filtering by the dynamic filters stops in a partition once, over at least this many
    # rows, it kept more than _USELESS of them: the join drops the same rows anyway, and a filter
    # that keeps nearly everything only copies the batch (row groups are still skipped by their
    # statistics).
    _SAMPLE_ROWS = 100_000
    _USELESS = 0.9

    def filtered(self, rows_in: int, rows_out: int) -> None:
        self._rows_in += rows_in
        self._rows_out += rows_out
        if self._rows_in >= self._SAMPLE_ROWS and self._rows_out > self._USELESS * self._rows_in:
            self.filter_rows = False

    def dynamic_predicates(self) -> list[Expr]:
        if not self.dynamic or self.node.fetch is not None:
            return []
        return self.ctx.dynamic_filters.predicates(self.node, self.partitions)

    def keep(self, path: str, row_group: int, dynamic: list[Expr]) -> list[Expr] | None:
        """Read ``row_group`` of ``path``? None when no row of it can pass the filters; else the
        dynamic filters its rows still need (those its statistics do not show every row passes).
        Records it (and the bytes read when kept)."""
        predicates = self.static + dynamic
        meta, positions = self.file(path)
        stats = RowGroupStats(meta, row_group, self.node.schema, positions)
        subqueries = self.ctx.subquery_values
        keep = all(may_match(p, stats.column, self.node.schema, subqueries) for p in predicates)
        read = stats.bytes_of(self.node.columns) if keep else 0
        for name in self.names:
            self.ctx.record(name, row_groups=1, row_groups_pruned=0 if keep else 1, bytes_scanned=read)
        if not keep:
            return None
        return [p for p in dynamic if not must_match(p, stats.column, self.node.schema)]


def _row_filter(table: Table, predicates: list[Expr], ctx: ExecutionContext) -> Table:
    """The rows of ``table`` that the dynamic filters keep (each is a necessary condition for the
    row to find a join partner; they are applied at the scan so that nothing else handles them)."""
    from gpu_exec.engine.expressions import evaluate_column

    return ctx.kernels.filter(table, evaluate_column(pruning.conjunction(predicates), table, ctx))


def _parquet_partition(node: TableScan, group: list[ParquetFragment], ctx: ExecutionContext,
                       partitions: int, dynamic: bool = True) -> Iterator[Table]:
    k = ctx.kernels
    remaining: list[int | None] = [node.fetch]
    pruner = _Pruner(node, ctx, partitions, dynamic)
    for fragment in group:
        for row_group in fragment.row_groups:
            if remaining[0] is not None and remaining[0] <= 0:
                return
            # Asked again at each row group: a join may publish its build keys while we read.
            filters = pruner.keep(fragment.path, row_group, pruner.dynamic_predicates())
            if filters is None:
                continue
            table = _read_row_group(node, fragment.path, row_group, pruner, ctx)
            if filters and k.num_rows(table) and pruner.filter_rows:
                before = k.num_rows(table)
                table = _row_filter(table, filters, ctx)
                pruner.filtered(before, k.num_rows(table))
                if not k.num_rows(table):
                    continue
            ctx.record(pruner.names[1], rows=k.num_rows(table))
            yield from _cut(table, remaining, ctx)


def _read_row_group(node: TableScan, path: str, row_group: int, pruner: _Pruner, ctx: ExecutionContext) -> Table:
    """One row group's scanned columns; those its file lacks (a table whose later files added
    columns) are NULL, as DataFusion reads them."""
    k = ctx.kernels
    meta, positions = pruner.file(path)
    present = [c for c in node.columns if c in positions]
    if len(present) == len(node.columns):
        return k.read_parquet(path, node.columns, [row_group], node.schema)
    schema = node.schema
    part = k.read_parquet(path, present, [row_group], pa.schema([schema.field(c) for c in present]))
    rows = meta.row_group(row_group).num_rows
    columns = [k.column(part, present.index(f.name)) if f.name in positions
               else k.literal_column(Literal(None, f.type), rows) for f in schema]
    return k.make_table(columns, schema, rows)


def _csv_partition(node: TableScan, paths: list[str], ctx: ExecutionContext) -> Iterator[Table]:
    k = ctx.kernels
    source = node.source
    types = {f.name: f.type for f in source.schema}
    options = pacsv.ConvertOptions(column_types=types, include_columns=list(node.columns))
    # The catalog's names by position (declared columns rename the header's; a file without a
    # header has none).
    read = pacsv.ReadOptions(column_names=list(source.schema.names), skip_rows=1 if source.has_header else 0)
    parse = pacsv.ParseOptions(delimiter=source.delimiter)
    remaining: list[int | None] = [node.fetch]
    for path in paths:
        try:
            reader = pacsv.open_csv(path, read_options=read, parse_options=parse, convert_options=options)
        except (OSError, pa.ArrowException) as exc:
            if "Empty CSV file" in str(exc):
                continue
            raise CatalogError(f"table {source.name!r}: cannot read CSV file {path!r}: {exc}") from exc
        with reader:
            while remaining[0] is None or remaining[0] > 0:
                try:
                    batch = reader.read_next_batch()
                except StopIteration:
                    break
                except (OSError, pa.ArrowException) as exc:
                    raise CatalogError(f"table {source.name!r}: cannot read CSV file {path!r}: {exc}") from exc
                table = pa.Table.from_batches([batch]).cast(node.schema)
                yield from _cut(k.from_arrow(table), remaining, ctx)


def split_count(node: TableScan, partitions: int) -> int:
    """How many partitions ``scan`` makes of ``node`` at ``partitions`` (at least one)."""
    if node.source.format == "csv":
        return max(1, len(_split_files(list(node.source.paths), partitions)))
    return max(1, len(split_fragments(parquet_fragments(node.source), partitions)))


def scan_split(node: TableScan, split: int, ctx: ExecutionContext, dynamic: bool = False) -> Iterator[Table]:
    """Partition ``split`` of the scan at ``ctx.partitions`` — the same rows, read the same way, as
    the in-process scan's partition ``split`` (empty past the last one). ``dynamic``: this split
    has one consumer in its task, whose joins may hand it their build keys (a task's fragment
    is one partition of each of its operators: one build side per join, whole — a probe side
    read from a scan split meets a broadcast build side)."""
    if node.source.format == "csv":
        files = _split_files(list(node.source.paths), ctx.partitions)
        return _csv_partition(node, files[split], ctx) if split < len(files) else iter(())
    groups = split_fragments(parquet_fragments(node.source), ctx.partitions)
    if split >= len(groups):
        return iter(())
    if dynamic:
        ctx.dynamic_filters.scan_started(node)
    return _parquet_partition(node, groups[split], ctx, 1, dynamic=dynamic)


def scan(node: TableScan, ctx: ExecutionContext) -> list[Partition]:
    if node.source.format == "csv":
        files = _split_files(list(node.source.paths), ctx.partitions)
        return [_csv_partition(node, g, ctx) for g in files] or [iter(())]
    groups = split_fragments(parquet_fragments(node.source), ctx.partitions)
    ctx.dynamic_filters.scan_started(node)
    return [_parquet_partition(node, g, ctx, len(groups)) for g in groups] or [iter(())]
