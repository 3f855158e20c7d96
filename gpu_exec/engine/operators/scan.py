"""Table scans, as streams of batches: Parquet one row group at a time, CSV through pyarrow's
streaming reader, each cut into batches of at most ``ctx.rows_per_batch`` rows.

A scan's partitions are contiguous groups of row groups (CSV: of files) of about the same size.
Nothing is read until a partition is pulled, and a partition stops reading once its consumer stops
pulling (a LIMIT) or the scan's own ``fetch`` is reached. Nothing is cached between scans: a query
that reads a table twice reads it twice (what bounded memory costs).
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Iterator

import pyarrow as pa
import pyarrow.csv as pacsv

from planner.catalog import ParquetFragment, parquet_fragments
from planner.errors import CatalogError

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


def _parquet_partition(node: TableScan, group: list[ParquetFragment], ctx: ExecutionContext) -> Iterator[Table]:
    k = ctx.kernels
    remaining: list[int | None] = [node.fetch]
    for fragment in group:
        for row_group in fragment.row_groups:
            if remaining[0] is not None and remaining[0] <= 0:
                return
            table = k.read_parquet(fragment.path, node.columns, [row_group], node.schema)
            yield from _cut(table, remaining, ctx)


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


def scan_split(node: TableScan, split: int, ctx: ExecutionContext) -> Iterator[Table]:
    """Partition ``split`` of the scan at ``ctx.partitions`` — the same rows, read the same way, as
    the in-process scan's partition ``split`` (empty past the last one)."""
    if node.source.format == "csv":
        files = _split_files(list(node.source.paths), ctx.partitions)
        return _csv_partition(node, files[split], ctx) if split < len(files) else iter(())
    groups = split_fragments(parquet_fragments(node.source), ctx.partitions)
    return _parquet_partition(node, groups[split], ctx) if split < len(groups) else iter(())


def scan(node: TableScan, ctx: ExecutionContext) -> list[Partition]:
    if node.source.format == "csv":
        files = _split_files(list(node.source.paths), ctx.partitions)
        return [_csv_partition(node, g, ctx) for g in files] or [iter(())]
    groups = split_fragments(parquet_fragments(node.source), ctx.partitions)
    return [_parquet_partition(node, g, ctx) for g in groups] or [iter(())]
