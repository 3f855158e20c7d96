"""The driver: the one recursion over a physical plan, dispatching each node to its operator."""

from __future__ import annotations

import dataclasses
import itertools
import threading
from functools import singledispatch
from typing import TYPE_CHECKING, Iterator, Mapping

import pyarrow as pa

from gpu_exec.engine.operators import aggregate, basic, exchange, join, recursive, scan, sort, window, write
from gpu_exec.engine.streams import Partition
from planner import ir
from planner.errors import ExecutionError, GpuExecError
from planner.expr import Expr, Literal, ScalarSubquery, SortKey, walk
from planner.physical import RIGHT_MAY_BROADCAST, plan_physical
from planner.placement import place

if TYPE_CHECKING:
    from gpu_exec.engine.context import ExecutionContext
    from gpu_exec.engine.kernels import Kernels, Table

__all__ = ["execute", "run_plan", "stream_plan", "run_fragment", "collect_subqueries", "subquery_literal"]


def collect_subqueries(plan: ir.PlanNode) -> list[ScalarSubquery]:
    """The scalar subqueries used by expressions of ``plan`` (not those nested inside them)."""
    found: dict[ScalarSubquery, None] = {}
    for node in ir.walk_plan(plan):
        for item in ir.node_expressions(node):
            roots = [item.expr] if isinstance(item, SortKey) else [item] if isinstance(item, Expr) else item.children()
            for root in roots:
                found.update((e, None) for e in walk(root) if isinstance(e, ScalarSubquery))
    return list(found)


def _subquery_value(subquery: ScalarSubquery, ctx: ExecutionContext) -> Literal:
    return subquery_literal(subquery, run_plan(plan_physical(subquery.plan, ctx.partitions, ctx.broadcast_rows), ctx))


def subquery_literal(subquery: ScalarSubquery, result: pa.Table) -> Literal:
    """The value of a scalar subquery from its result rows (NULL for none; more than one is an error)."""
    if result.num_rows > 1:
        raise ExecutionError(f"a scalar subquery returned {result.num_rows} rows; it must return at most one")
    value = result.column(0)[0].as_py() if result.num_rows == 1 else None
    return Literal(value, subquery.dtype)


def _compute_subqueries(plan: ir.PlanNode, ctx: ExecutionContext) -> None:
    for subquery in collect_subqueries(plan):
        if subquery not in ctx.subquery_values:
            ctx.subquery_values[subquery] = _subquery_value(subquery, ctx)


def run_plan(plan: ir.PlanNode, ctx: ExecutionContext) -> pa.Table:
    """Run a physical plan to completion and return its rows as one Arrow table (its output
    partitions pulled in parallel)."""
    _compute_subqueries(plan, ctx)
    partitions, k = run_fragment(plan, ctx)
    tables = [t for batches in ctx.map(list, partitions) for t in batches]
    whole = tables[0] if len(tables) == 1 else k.concat(tables, plan.schema)
    return k.to_arrow(whole, plan.schema)


def stream_plan(plan: ir.PlanNode, ctx: ExecutionContext) -> Iterator[pa.Table]:
    """Run a physical plan and yield its rows as Arrow tables, batch by batch as its output
    partitions produce them (in arrival order across partitions)."""
    _compute_subqueries(plan, ctx)
    partitions, k = run_fragment(plan, ctx)
    merged = ctx.merge(partitions)
    try:
        for batch in merged:
            yield k.to_arrow(batch, plan.schema)
    finally:
        merged.close()


def run_fragment(plan: ir.PlanNode, ctx: ExecutionContext,
                 provided: Mapping[ir.PlanNode, list[Partition]] | None = None) -> tuple[list[Partition], Kernels]:
    """Place ``plan``'s operators and execute it (see ``execute`` for ``provided``); returns its
    output partitions (streams of batches, pulled by the caller) and the kernels of the device
    they are on. Scalar subqueries must be known."""
    outer_placement = ctx.placement
    ctx.placement = place(plan, ctx.gpu_capabilities)
    try:
        partitions = execute(plan, ctx, provided)
        return partitions, ctx.on_device(ctx.device_of(plan)).kernels
    finally:
        ctx.placement = outer_placement


def execute(node: ir.PlanNode, ctx: ExecutionContext,
            provided: Mapping[ir.PlanNode, list[Partition]] | None = None) -> list[Partition]:
    """The output partitions of ``node``, each a stream of batches: children first (moved to this
    node's device when they were placed elsewhere), then the node's operator on its device's
    kernels.

    This recursion runs on the driver's thread and builds the pipelines: a streaming operator
    returns generators over its inputs' batches (nothing runs until they are pulled); an
    exchange or a broadcast drives its whole input stage now, partitions in parallel
    (``ctx.map``), and holds the result; the other breakers (sort, final aggregate, join build,
    window, file write) collect their partition's input when first pulled. Every stream is
    wrapped (``_instrumented``): cancellation is checked and metrics are kept at every batch.

    ``provided`` gives the partitions of leaves that are not run here, already on their device: a
    distributed task passes the scan split it reads and the exchange pieces it fetched
    (gpu_exec.executor.task)."""
    children = node.children()
    if provided is not None and not children and node in provided:
        device_ctx = ctx.on_device(ctx.device_of(node))
        return [_instrumented(p, type(node).__name__, device_ctx) for p in provided[node]]
    device = ctx.device_of(node)
    if isinstance(node, ir.RecursiveQuery):
        return _recursive_query(node, ctx, provided)
    inputs = _adaptive_join_inputs(node, ctx) if provided is None else None
    if inputs is None:
        inputs = [
            ctx.transfer(execute(child, ctx, provided), child.schema, ctx.device_of(child), device)
            for child in children
        ]
    return _run_operator(node, inputs, ctx)


def _run_operator(node: ir.PlanNode, inputs: list[list[Partition]], ctx: ExecutionContext) -> list[Partition]:
    """``node``'s operator over its children's partitions, on its device's kernels; its eager
    part (an exchange's) timed now, its streams wrapped to be timed batch by batch."""
    ctx = ctx.on_device(ctx.device_of(node))
    ctx.check_cancelled()  # an operator boundary: a cancelled query stops here
    name = type(node).__name__
    with ctx.timed(name, call=False):
        try:
            out = _operator(node, inputs, ctx)
        except (GpuExecError, MemoryError):
            raise
        except Exception as exc:  # a kernel failed: name the operator, keep the cause
            raise ExecutionError(f"{name} failed: {type(exc).__name__}: {exc}") from exc
    return [_instrumented(p, name, ctx) for p in out]


def _instrumented(partition: Partition, name: str, ctx: ExecutionContext) -> Iterator[Table]:
    """``partition``'s batches, with a cancellation check before each, its own time (its inputs'
    excluded), rows and batches charged to ``name``, and a kernel failure named by it."""
    k = ctx.kernels
    iterator = iter(partition)
    ctx.record(name, calls=1)
    try:
        while True:
            ctx.check_cancelled()  # a batch boundary: a cancelled query stops here
            try:
                batch = ctx.pulled(name, iterator)
            except StopIteration:
                return
            except (GpuExecError, MemoryError):
                raise
            except Exception as exc:  # a kernel failed: name the operator, keep the cause
                raise ExecutionError(f"{name} failed: {type(exc).__name__}: {exc}") from exc
            ctx.record(name, rows=k.num_rows(batch), batches=1)
            yield batch
    finally:
        close = getattr(iterator, "close", None)
        if close is not None:
            close()


def _recursive_query(node: ir.RecursiveQuery, ctx: ExecutionContext,
                     provided: Mapping[ir.PlanNode, list[Partition]] | None) -> list[Partition]:
    """A recursive query's operator, given the static term's partitions and a way to run the
    recursive term again: its pipelines are built anew for every round (over that round's work
    table), as an exchange inside drives its input when it is built."""
    device = ctx.device_of(node)
    # The rounds are built when the output is pulled, after run_fragment has put back the
    # placement it set: they keep this plan's (state shared: memory, metrics, work tables).
    ctx = dataclasses.replace(ctx)

    def term(child: ir.PlanNode) -> list[Partition]:
        return ctx.transfer(execute(child, ctx, provided), child.schema, ctx.device_of(child), device)

    static = term(node.static)
    device_ctx = ctx.on_device(device)
    device_ctx.check_cancelled()
    out = recursive.recursive_query(node, static, lambda: term(node.recursive), device_ctx)
    return [_instrumented(p, type(node).__name__, device_ctx) for p in out]


def _adaptive_join_inputs(node: ir.PlanNode, ctx: ExecutionContext) -> list[list[Partition]] | None:
    """Broadcast a hash join's right side after all when it turns out small (in process only).

    The physical planner's row estimates are rough (a HAVING over a big aggregate looks big), so
    when both sides of a join are hash exchanges, the right side's input runs first, until it has
    produced more than ``broadcast_rows`` rows: if it never does, it becomes one broadcast
    partition and the left side skips its exchange (no hashing of the big side); otherwise the
    right exchange proceeds as planned over what was read and the rest. The answer is the same
    either way: it is only a cheaper way to co-locate matching rows. None when the node is not
    such a join."""
    if not (
        isinstance(node, ir.Join)
        and isinstance(node.left, ir.Exchange) and node.left.kind is ir.ExchangeKind.HASH
        and isinstance(node.right, ir.Exchange) and node.right.kind is ir.ExchangeKind.HASH
        and node.how in RIGHT_MAY_BROADCAST and not node.null_aware
        and ctx.broadcast_rows > 0
        and len({ctx.device_of(n) for n in (node, node.left, node.right, node.left.input, node.right.input)}) == 1
    ):
        return None
    ctx = ctx.on_device(ctx.device_of(node))
    k = ctx.kernels
    right_input = execute(node.right.input, ctx)
    reservation = ctx.memory.reservation("AdaptiveBroadcast", detail="the right side of a join, read first")
    lock = threading.Lock()
    seen = [0]

    def read_until_big(partition: Partition) -> tuple[list[Table], Iterator[Table] | None]:
        iterator = iter(partition)
        got = []
        for batch in iterator:
            reservation.grow(k.nbytes(batch))
            got.append(batch)
            with lock:
                seen[0] += k.num_rows(batch)
                if seen[0] > ctx.broadcast_rows:
                    return got, iterator
        return got, None

    try:
        read = ctx.map(read_until_big, right_input)
        if seen[0] > ctx.broadcast_rows:
            streams = [itertools.chain(got, rest if rest is not None else ()) for got, rest in read]
            del read
            right = _run_operator(node.right, [streams], ctx)
            return [execute(node.left, ctx), right]
        with ctx.timed("AdaptiveBroadcast"):
            batches = [t for got, _ in read for t in got]
            del read
            reservation.free()  # from here the broadcast accounts for them (and spills them)
            right = [exchange.broadcast_of(batches, node.right.schema, ctx)]
            del batches
    finally:
        reservation.free()
    return [execute(node.left.input, ctx), right]


@singledispatch
def _operator(node: ir.PlanNode, inputs: list[list[Partition]], ctx: ExecutionContext) -> list[Partition]:
    raise ExecutionError(f"internal error: no operator for plan node {type(node).__name__}")


@_operator.register(ir.TableScan)
def _(node: ir.TableScan, inputs: list[list[Partition]], ctx: ExecutionContext) -> list[Partition]:
    return scan.scan(node, ctx)


@_operator.register(ir.Projection)
def _(node: ir.Projection, inputs: list[list[Partition]], ctx: ExecutionContext) -> list[Partition]:
    return basic.project(node, inputs[0], ctx)


@_operator.register(ir.Filter)
def _(node: ir.Filter, inputs: list[list[Partition]], ctx: ExecutionContext) -> list[Partition]:
    return basic.filter_rows(node, inputs[0], ctx)


@_operator.register(ir.Limit)
def _(node: ir.Limit, inputs: list[list[Partition]], ctx: ExecutionContext) -> list[Partition]:
    return basic.limit(node, inputs[0], ctx)


@_operator.register(ir.Union)
def _(node: ir.Union, inputs: list[list[Partition]], ctx: ExecutionContext) -> list[Partition]:
    return basic.union(node, inputs, ctx)


@_operator.register(ir.Values)
def _(node: ir.Values, inputs: list[list[Partition]], ctx: ExecutionContext) -> list[Partition]:
    return basic.values(node, ctx)


@_operator.register(ir.EmptyRelation)
def _(node: ir.EmptyRelation, inputs: list[list[Partition]], ctx: ExecutionContext) -> list[Partition]:
    return basic.empty_relation(node, ctx)


@_operator.register(ir.Aggregate)
def _(node: ir.Aggregate, inputs: list[list[Partition]], ctx: ExecutionContext) -> list[Partition]:
    return aggregate.aggregate(node, inputs[0], ctx)


@_operator.register(ir.Join)
def _(node: ir.Join, inputs: list[list[Partition]], ctx: ExecutionContext) -> list[Partition]:
    return join.join(node, inputs[0], inputs[1], ctx)


@_operator.register(ir.CrossJoin)
def _(node: ir.CrossJoin, inputs: list[list[Partition]], ctx: ExecutionContext) -> list[Partition]:
    return join.cross_join(node, inputs[0], inputs[1], ctx)


@_operator.register(ir.Sort)
def _(node: ir.Sort, inputs: list[list[Partition]], ctx: ExecutionContext) -> list[Partition]:
    return sort.sort(node, inputs[0], ctx)


@_operator.register(ir.Window)
def _(node: ir.Window, inputs: list[list[Partition]], ctx: ExecutionContext) -> list[Partition]:
    return window.window(node, inputs[0], ctx)


@_operator.register(ir.FileWrite)
def _(node: ir.FileWrite, inputs: list[list[Partition]], ctx: ExecutionContext) -> list[Partition]:
    return write.write_streams(node, inputs[0], ctx)


@_operator.register(ir.WorkTableScan)
def _(node: ir.WorkTableScan, inputs: list[list[Partition]], ctx: ExecutionContext) -> list[Partition]:
    return recursive.work_table_scan(node, ctx)


@_operator.register(ir.Exchange)
def _(node: ir.Exchange, inputs: list[list[Partition]], ctx: ExecutionContext) -> list[Partition]:
    return exchange.exchange(node, inputs[0], ctx)
