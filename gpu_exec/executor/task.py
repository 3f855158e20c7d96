"""The task runner: one stage fragment for one partition, on a Dask worker.

A task reads its leaves — its scan split, and the exchange pieces it fetches from the shuffle
stores of the workers that ran the map tasks — runs the fragment through the driver (the same
operators and dispatch as in process, over one-element partition lists), then writes its output to
this worker's shuffle store: split into the exchange's pieces for a map stage, whole for the final
stage (the client fetches it from there). It returns only metadata (``TaskReport``): where the
output is, and its rows and bytes per piece. Shuffle data never travels with Dask's results.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from gpu_exec.engine.context import ExecutionContext
from gpu_exec.engine.driver import run_fragment
from gpu_exec.engine.operators import scan as scan_operator
from gpu_exec.engine.operators.exchange import hash_pieces
from planner.catalog import parquet_fragments
from planner.errors import ExecutionError
from planner.ir import Exchange, ExchangeKind, walk_plan
from planner.placement import place
from planner.stages import ExchangeRead, ExchangeWrite, ScanSplit

if TYPE_CHECKING:
    from gpu_exec.engine.kernels import Table
    from gpu_exec.executor.shuffle_service import ShuffleService
    from gpu_exec.executor.shuffle_store import PieceKey
    from planner.expr import Literal, ScalarSubquery
    from planner.ir import PlanNode, TableScan

__all__ = ["MapOutput", "TaskSpec", "TaskReport", "run_task", "scan_split_count"]


@dataclass(frozen=True, slots=True)
class MapOutput:
    """Where one finished task's output lives, and its rows and bytes per piece (metadata only)."""

    worker: str
    attempt: int
    rows: tuple[int, ...]
    nbytes: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class TaskSpec:
    """Everything a worker needs to run one task; the device is chosen here, never on the worker.

    ``plan`` is the stage's fragment pinned to ``partition`` (planner.stages.task_plan);
    ``inputs`` gives, for each stage it reads, the outputs of that stage's tasks in partition order;
    ``partitions`` is the session's partition count (it decides the scan splits)."""

    job_id: str
    stage_id: int
    partition: int
    attempt: int
    plan: PlanNode
    device: str
    partitions: int
    subquery_values: tuple[tuple[ScalarSubquery, Literal], ...]
    inputs: tuple[tuple[int, tuple[MapOutput, ...]], ...]

    @property
    def name(self) -> str:
        return f"stage {self.stage_id} task {self.partition} (attempt {self.attempt})"


@dataclass(frozen=True, slots=True)
class TaskReport:
    """What a task returns to the scheduler: metadata, never data."""

    job_id: str
    stage_id: int
    partition: int
    attempt: int
    output: MapOutput
    seconds: float
    metrics: tuple[tuple[str, float, int, int], ...]  # (operator, seconds, rows, calls)


def scan_split_count(scan: TableScan, partitions: int) -> int:
    """How many partitions the scan operator makes of ``scan`` at ``partitions`` (planning side)."""
    if scan.source.format == "csv":
        return partitions  # split by rows once read; a split past the end is empty
    return max(1, len(scan_operator.split_fragments(parquet_fragments(scan.source), partitions)))


def _read_split(leaf: ScanSplit, ctx: ExecutionContext) -> Table:
    k = ctx.kernels
    node = leaf.scan
    if node.source.format == "csv":
        parts = scan_operator.scan(node, ctx)
        return parts[leaf.split] if leaf.split < len(parts) else k.empty(node.schema)
    groups = scan_operator.split_fragments(parquet_fragments(node.source), ctx.partitions)
    if not groups:
        return k.empty(node.schema)
    # The same row groups, read by the same reader (private to the scan operator), as the
    # in-process scan puts in its partition ``split``.
    table = scan_operator.read_parquet_group(node, groups[leaf.split], ctx)
    if node.fetch is not None:
        table = k.slice(table, 0, min(node.fetch, k.num_rows(table)))
    return table


def _read_leaves(spec: TaskSpec, body: PlanNode, ctx: ExecutionContext,
                 service: ShuffleService) -> dict[PlanNode, list[Table]]:
    """The partition of every leaf that is not an operator — scan splits and exchange reads — on
    the device its placement chose."""
    placement = place(body, ctx.gpu_capabilities)
    outputs = dict(spec.inputs)
    provided: dict[PlanNode, list[Table]] = {}
    reads: dict[ExchangeRead, list[PieceKey]] = {}
    # By the device of the reads, then by worker: each read gets its pieces on its own backend.
    requests: dict[str, dict[str, list[PieceKey]]] = {}
    for node in walk_plan(body):
        if isinstance(node, ScanSplit) and node not in provided:
            leaf_ctx = ctx.on_device(placement[node].device)
            with ctx.timed("ScanSplit") as metrics:
                provided[node] = [_read_split(node, leaf_ctx)]
                metrics.rows += leaf_ctx.kernels.num_rows(provided[node][0])
        elif isinstance(node, ExchangeRead) and node not in reads:
            piece = node.partition or 0
            by_worker = requests.setdefault(placement[node].device, {})
            keys = []
            for map_partition, out in enumerate(outputs[node.stage_id]):
                if out.rows[piece]:  # empty pieces are not stored
                    key = (spec.job_id, node.stage_id, map_partition, out.attempt, piece)
                    keys.append(key)
                    by_worker.setdefault(out.worker, []).append(key)
            reads[node] = keys
    if reads:
        with ctx.timed("ExchangeRead") as metrics:
            pieces = {device: service.fetch(by_worker, ctx.on_device(device).kernels)  # every peer at once
                      for device, by_worker in requests.items()}
            for node, keys in reads.items():
                device = placement[node].device
                k = ctx.on_device(device).kernels
                tables = [pieces[device][key] for key in keys]
                whole = k.empty(node.schema) if not tables else tables[0] if len(tables) == 1 \
                    else k.concat(tables, node.schema)
                provided[node] = [whole]
                metrics.rows += k.num_rows(whole)
    return provided


def _split_output(root: PlanNode, partition: int, table: Table, ctx: ExecutionContext) -> list[Table]:
    """The pieces of this task's output: one per partition of the exchange it writes."""
    if not isinstance(root, ExchangeWrite):
        return [table]
    if root.kind is ExchangeKind.HASH:
        exchange = Exchange(root.input, root.kind, root.keys, root.partitions, root.schema)
        return hash_pieces(exchange, table, ctx)
    if root.kind is ExchangeKind.ROUND_ROBIN:
        # As in process: whole input partitions dealt to the output partitions in turn.
        k = ctx.kernels
        return [table if i == partition % root.partitions else k.empty(root.schema) for i in range(root.partitions)]
    return [table]  # single / broadcast: the whole output is read by every reader


def _context(spec: TaskSpec, service: ShuffleService) -> ExecutionContext:
    kernels = service.kernels(spec.device)
    gpu = None
    if spec.device == "gpu":
        from gpu_exec.cudf.capabilities import CudfCapabilities

        gpu = CudfCapabilities()
    return ExecutionContext(
        kernels=kernels, partitions=spec.partitions, subquery_values=dict(spec.subquery_values),
        kernels_by_device={"cpu": service.kernels("cpu"), spec.device: kernels}, gpu_capabilities=gpu,
    )


def run_task(spec: TaskSpec) -> TaskReport:
    """Run one task on the current Dask worker (the function the scheduler submits)."""
    from gpu_exec.executor.shuffle_service import current_service

    start = time.perf_counter()
    service = current_service()
    ctx = _context(spec, service)
    root = spec.plan
    body = root.input if isinstance(root, ExchangeWrite) else root
    try:
        provided = _read_leaves(spec, body, ctx, service)
        partitions, k = run_fragment(body, ctx, provided)
        if len(partitions) != 1:
            raise ExecutionError(f"internal error: {spec.name} produced {len(partitions)} partitions, not 1")
        [table] = partitions
        with ctx.timed("ExchangeWrite"):
            pieces = _split_output(root, spec.partition, table, ctx.on_device(k.name))
            rows, nbytes = [], []
            for i, piece in enumerate(pieces):
                n = k.num_rows(piece)
                key = (spec.job_id, spec.stage_id, spec.partition, spec.attempt, i)
                rows.append(n)
                # Kept as the backend made it: a device table stays on the device until the
                # store's device budget spills it.
                nbytes.append(service.put(key, piece, k, root.schema) if n else 0)
    finally:
        ctx.close()
    assert service.worker is not None
    output = MapOutput(service.worker.address, spec.attempt, tuple(rows), tuple(nbytes))
    metrics = tuple((name, m.seconds, m.rows, m.calls) for name, m in ctx.metrics.items())
    return TaskReport(spec.job_id, spec.stage_id, spec.partition, spec.attempt, output,
                      time.perf_counter() - start, metrics)
