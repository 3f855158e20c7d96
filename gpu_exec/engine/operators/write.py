"""File writes (COPY, CREATE TABLE AS): each partition writes its own file where it was computed.

A file is written under a temporary name in the same directory and renamed into place once
complete, so a task that fails (or is retried: the rename replaces its earlier attempt's file)
never leaves a half-written ``part-*`` file. The directory itself is prepared and, once every
partition is written, published by the client (gpu_exec.executor.output_files): nothing here creates it,
so a task still running after its query was cancelled cannot resurrect a removed directory.
"""

from __future__ import annotations

import os
import uuid
from typing import TYPE_CHECKING, Iterator

import pyarrow as pa

from gpu_exec.engine.streams import collect_table
from planner.expr import Literal

if TYPE_CHECKING:
    from gpu_exec.engine.context import ExecutionContext
    from gpu_exec.engine.kernels import Table
    from gpu_exec.engine.streams import Partition
    from planner.ir import FileWrite

__all__ = ["write_files", "write_streams", "part_file_name"]


def part_file_name(partition: int, extension: str) -> str:
    return f"part-{partition:05d}{extension}"


def _write_partition(node: FileWrite, index: int, table: Table, ctx: ExecutionContext) -> Table:
    k = ctx.kernels
    rows = k.num_rows(table)
    if rows or index == 0:  # partition 0 writes even when empty: the directory keeps the schema
        final = os.path.join(node.directory, part_file_name(index, node.file_format.extension))
        # Hidden and without the format's suffix: never picked up as data by a directory scan.
        temporary = os.path.join(node.directory, f".{os.path.basename(final)}.{uuid.uuid4().hex}.tmp")
        try:
            k.write_file(table, node.input.schema, temporary, node.file_format)
            os.replace(temporary, final)
        except BaseException:
            try:
                os.remove(temporary)
            except OSError:
                pass
            raise
    count = k.literal_column(Literal(rows, pa.uint64()), 1)
    return k.make_table([count], node.schema, 1)


def write_files(node: FileWrite, partitions: list[Table], ctx: ExecutionContext) -> list[Table]:
    """Write every partition (a table each); one ``count`` row per partition. A distributed task
    runs one partition, pinned to the task's number (``node.partition``), which names its file."""
    first = node.partition or 0
    return ctx.map(lambda item: _write_partition(node, first + item[0], item[1], ctx), list(enumerate(partitions)))


def _write_stream(node: FileWrite, index: int, partition: Partition, ctx: ExecutionContext) -> Iterator[Table]:
    reservation = ctx.memory.reservation("FileWrite", detail=f"partition {index}")
    try:
        table = collect_table(partition, node.input.schema, reservation, ctx)
        yield _write_partition(node, index, table, ctx)
    finally:
        reservation.free()


def write_streams(node: FileWrite, partitions: list[Partition], ctx: ExecutionContext) -> list[Partition]:
    """``write_files`` over streams: each partition collected (the kernels write whole tables),
    then written when it is pulled, on the thread that pulls it."""
    first = node.partition or 0
    return [_write_stream(node, first + i, p, ctx) for i, p in enumerate(partitions)]
