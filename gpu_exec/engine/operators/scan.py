"""Table scans: Parquet row groups (or CSV files) split into partitions."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pyarrow as pa
import pyarrow.csv as pacsv

from planner.catalog import ParquetFragment, parquet_fragments
from planner.errors import CatalogError

if TYPE_CHECKING:
    from gpu_exec.engine.context import ExecutionContext
    from gpu_exec.engine.kernels import Table
    from planner.ir import TableScan

__all__ = ["scan", "split_fragments", "read_parquet_group"]


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


def read_parquet_group(node: TableScan, group: list[ParquetFragment], ctx: ExecutionContext) -> Table:
    k = ctx.kernels
    # One read per file with all of its row groups in this partition.
    by_file: dict[str, list[int]] = {}
    for f in group:
        by_file.setdefault(f.path, []).extend(f.row_groups)
    pieces = [k.read_parquet(path, node.columns, rgs, node.schema) for path, rgs in by_file.items()]
    return pieces[0] if len(pieces) == 1 else k.concat(pieces, node.schema)


def _read_csv(node: TableScan, ctx: ExecutionContext) -> list[Table]:
    k = ctx.kernels
    source = node.source
    types = {f.name: f.type for f in source.schema}
    options = pacsv.ConvertOptions(column_types=types, include_columns=list(node.columns))
    # The catalog's names by position (declared columns rename the header's; a file without a
    # header has none).
    read = pacsv.ReadOptions(column_names=list(source.schema.names), skip_rows=1 if source.has_header else 0)
    parse = pacsv.ParseOptions(delimiter=source.delimiter)
    tables = []
    for path in source.paths:
        try:
            tables.append(pacsv.read_csv(path, read_options=read, parse_options=parse, convert_options=options))
        except (OSError, pa.ArrowException) as exc:
            raise CatalogError(f"table {node.source.name!r}: cannot read CSV file {path!r}: {exc}") from exc
    whole = pa.concat_tables(tables).cast(node.schema) if tables else node.schema.empty_table()
    n = whole.num_rows
    parts = max(1, min(ctx.partitions, n))
    bounds = [n * i // parts for i in range(parts + 1)]
    return [k.from_arrow(whole.slice(bounds[i], bounds[i + 1] - bounds[i])) for i in range(parts)]


def scan(node: TableScan, ctx: ExecutionContext) -> list[Table]:
    k = ctx.kernels
    # A query may read the same columns of a table twice (TPC-H q21 reads lineitem three times):
    # read once per query; tables are immutable, so sharing them is safe.
    key = (k.name, node.source, node.columns)
    partitions = ctx.scan_cache.get(key)
    if partitions is None:
        if node.source.format == "csv":
            partitions = _read_csv(node, ctx)
        else:
            groups = split_fragments(parquet_fragments(node.source), ctx.partitions)
            partitions = ctx.map(lambda g: read_parquet_group(node, g, ctx), groups) or [k.empty(node.schema)]
        ctx.scan_cache[key] = partitions
    if node.fetch is not None:
        partitions = [k.slice(t, 0, min(node.fetch, k.num_rows(t))) for t in partitions]
    return partitions
