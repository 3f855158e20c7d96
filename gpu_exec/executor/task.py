"""The task runner: one stage fragment for one partition, on a Dask worker.

A task reads its leaves — its scan split, streamed batch by batch, and the exchange pieces it
fetches from the shuffle stores of the workers that ran the map tasks — runs the fragment through
the driver (the same operators and dispatch as in process, over one-partition lists), and streams
its output into this worker's shuffle store: each batch split into the exchange's pieces for a map
stage (appended to the piece of each reducer), as it is for the final stage (the client fetches it
from there). Its operators' memory is accounted in the executor's pool (one per worker, limited by
its memory limit), in a child pool of the task's own. It returns only metadata (``TaskReport``): where the
output is, and its rows and bytes per piece. Shuffle data never travels with Dask's results.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass
from typing import TYPE_CHECKING, Iterator

from gpu_exec.engine.context import ExecutionContext
from gpu_exec.engine.driver import run_fragment
from gpu_exec.engine.operators import scan as scan_operator
from gpu_exec.engine.operators.exchange import hash_pieces
from gpu_exec.engine.spill import SpillDirectory
from gpu_exec.engine.streams import Batches
from planner.errors import ExecutionError
from planner.ir import Exchange, ExchangeKind, walk_plan
from planner.placement import place
from planner.stages import ExchangeRead, ExchangeWrite, ScanSplit

if TYPE_CHECKING:
    from gpu_exec.engine.kernels import Table
    from gpu_exec.engine.streams import Partition
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
    batch_rows: int = 0  # the session's setting (0: the kernels' default)
    recursion_limit: int = 10_000  # the session's bound on the rounds of WITH RECURSIVE

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
    # (operator, seconds, rows, calls, batches, peak bytes, spilled bytes, row groups, row groups
    # pruned, bytes scanned)
    metrics: tuple[tuple[str, float, int, int, int, int, int, int, int, int], ...]
    peak_bytes: int = 0  # the most this task's operators held at once (its memory pool's peak)


def scan_split_count(scan: TableScan, partitions: int) -> int:
    """How many partitions the scan operator makes of ``scan`` at ``partitions`` (planning side)."""
    return scan_operator.split_count(scan, partitions)


def _read_split(leaf: ScanSplit, ctx: ExecutionContext, dynamic: bool = False) -> Partition:
    """The scan split ``leaf`` as a stream: the same row groups, read by the same reader, as the
    in-process scan puts in its partition ``split``; ``dynamic`` when it has one consumer (then
    a join's build keys may filter it)."""
    return scan_operator.scan_split(leaf.scan, leaf.split, ctx, dynamic=dynamic)


class _Rescan:
    """A scan split that each consumer reads anew: iterating it starts another read."""

    def __init__(self, leaf: ScanSplit, ctx: ExecutionContext) -> None:
        self._leaf, self._ctx = leaf, ctx

    def __iter__(self) -> Iterator[Table]:
        return iter(_read_split(self._leaf, self._ctx))


def _read_leaves(spec: TaskSpec, body: PlanNode, ctx: ExecutionContext,
                 service: ShuffleService) -> dict[PlanNode, list[Partition]]:
    """The partition of every leaf that is not an operator, on the device its placement chose:
    scan splits as streams (read as the fragment pulls them, the same row groups the in-process
    scan puts in its partition ``split``), exchange reads as the pieces fetched now.

    A fragment can hold the same leaf more than once (a self-join: both sides scan the same
    split, or read the one stage the planner made of two equal exchanges), and the driver gives
    every occurrence the leaf's one entry here: such a leaf is one each consumer reads whole (a
    scan read again, exchange pieces kept until the last reader is done), not a stream the first
    consumer drains."""
    placement = place(body, ctx.gpu_capabilities)
    uses = Counter(node for node in walk_plan(body) if isinstance(node, (ScanSplit, ExchangeRead)))
    outputs = dict(spec.inputs)
    provided: dict[PlanNode, list[Partition]] = {}
    reads: dict[ExchangeRead, list[PieceKey]] = {}
    # By the device of the reads, then by worker: each read gets its pieces on its own backend.
    requests: dict[str, dict[str, list[PieceKey]]] = {}
    for node in walk_plan(body):
        if isinstance(node, ScanSplit) and node not in provided:
            leaf_ctx = ctx.on_device(placement[node].device)
            provided[node] = [_Rescan(node, leaf_ctx) if uses[node] > 1 else _read_split(node, leaf_ctx, dynamic=True)]
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
        with ctx.timed("ExchangeRead", call=False):
            pieces = {device: service.fetch(by_worker, ctx.on_device(device).kernels)  # every peer at once
                      for device, by_worker in requests.items()}
            for node, keys in reads.items():
                k = ctx.on_device(placement[node].device).kernels
                tables = [pieces[placement[node].device][key] for key in keys]
                reservation = ctx.memory.reservation("ExchangeRead", detail=f"stage {node.stage_id}")
                sizes = [k.nbytes(t) for t in tables]
                reservation.grow(sum(sizes))
                provided[node] = [Batches(tables, k, reservation, sizes, shared=uses[node] > 1)]
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
        # Set by the worker's shuffle service when the job is dropped (cancelled, failed, done).
        cancel_event=service.task_started(spec.job_id),
        # The task's operators hold memory under the executor's limit; the task's own peak is its.
        memory=service.memory_pool.child(spec.name), batch_rows=spec.batch_rows,
        spill=SpillDirectory(service.spill_base), recursion_limit=spec.recursion_limit,
    )


def run_task(spec: TaskSpec) -> TaskReport:
    """Run one task on the current Dask worker (the function the scheduler submits): the fragment's
    output streams batch by batch into this worker's shuffle store, each batch split into the
    exchange's pieces and appended to them."""
    from gpu_exec.executor.shuffle_service import current_service

    start = time.perf_counter()
    service = current_service()
    ctx = _context(spec, service)
    root = spec.plan
    body = root.input if isinstance(root, ExchangeWrite) else root
    rows: list[int] = []
    nbytes: list[int] = []
    try:
        provided = _read_leaves(spec, body, ctx, service)
        partitions, k = run_fragment(body, ctx, provided)
        del provided
        if len(partitions) != 1:
            raise ExecutionError(f"internal error: {spec.name} produced {len(partitions)} partitions, not 1")
        out_ctx = ctx.on_device(k.name)
        width = root.partitions if isinstance(root, ExchangeWrite) and root.kind in (
            ExchangeKind.HASH, ExchangeKind.ROUND_ROBIN) else 1
        rows, nbytes = [0] * width, [0] * width
        ctx.record("ExchangeWrite", calls=1)
        for batch in partitions[0]:
            with ctx.timed("ExchangeWrite", call=False):
                pieces = _split_output(root, spec.partition, batch, out_ctx)
                for i, piece in enumerate(pieces):
                    n = k.num_rows(piece)
                    if not n:
                        continue
                    key = (spec.job_id, spec.stage_id, spec.partition, spec.attempt, i)
                    rows[i] += n
                    # Kept as the backend made it: a device table stays on the device until the
                    # store's device budget spills it.
                    nbytes[i] += service.append(key, piece, k, root.schema)
            ctx.record("ExchangeWrite", rows=sum(k.num_rows(p) for p in pieces), batches=1)
    finally:
        ctx.close()
        service.task_ended(spec.job_id, ctx.cancel_event)  # a cancelled task's memory goes back to the OS
    assert service.worker is not None
    ctx.memory_metrics()
    output = MapOutput(service.worker.address, spec.attempt, tuple(rows), tuple(nbytes))
    metrics = tuple((name, m.seconds, m.rows, m.calls, m.batches, m.peak_bytes, m.spilled_bytes,
                     m.row_groups, m.row_groups_pruned, m.bytes_scanned)
                    for name, m in ctx.metrics.items())
    return TaskReport(spec.job_id, spec.stage_id, spec.partition, spec.attempt, output,
                      time.perf_counter() - start, metrics, ctx.memory.peak)
