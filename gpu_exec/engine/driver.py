"""The driver: the one recursion over a physical plan, dispatching each node to its operator."""

from __future__ import annotations

from functools import singledispatch
from typing import TYPE_CHECKING, Mapping

import pyarrow as pa

from gpu_exec.engine.operators import aggregate, basic, exchange, join, scan, sort, window, write
from planner import ir
from planner.errors import ExecutionError, GpuExecError
from planner.expr import Expr, Literal, ScalarSubquery, SortKey, walk
from planner.physical import RIGHT_MAY_BROADCAST, plan_physical
from planner.placement import place

if TYPE_CHECKING:
    from gpu_exec.engine.context import ExecutionContext
    from gpu_exec.engine.kernels import Kernels, Table

__all__ = ["execute", "run_plan", "run_fragment", "collect_subqueries", "subquery_literal"]


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


def run_plan(plan: ir.PlanNode, ctx: ExecutionContext) -> pa.Table:
    """Run a physical plan to completion and return its rows as one Arrow table."""
    for subquery in collect_subqueries(plan):
        if subquery not in ctx.subquery_values:
            ctx.subquery_values[subquery] = _subquery_value(subquery, ctx)
    partitions, k = run_fragment(plan, ctx)
    whole = partitions[0] if len(partitions) == 1 else k.concat(partitions, plan.schema)
    return k.to_arrow(whole, plan.schema)


def run_fragment(plan: ir.PlanNode, ctx: ExecutionContext,
                 provided: Mapping[ir.PlanNode, list[Table]] | None = None) -> tuple[list[Table], Kernels]:
    """Place ``plan``'s operators and execute it (see ``execute`` for ``provided``); returns its
    output partitions and the kernels of the device they are on. Scalar subqueries must be known."""
    outer_placement = ctx.placement
    ctx.placement = place(plan, ctx.gpu_capabilities)
    try:
        partitions = execute(plan, ctx, provided)
        return partitions, ctx.on_device(ctx.device_of(plan)).kernels
    finally:
        ctx.placement = outer_placement


def execute(node: ir.PlanNode, ctx: ExecutionContext,
            provided: Mapping[ir.PlanNode, list[Table]] | None = None) -> list[Table]:
    """The output partitions of ``node``: children first (moved to this node's device when they
    were placed elsewhere), then the node's operator on its device's kernels (timed).

    ``provided`` gives the partitions of leaves that are not run here, already on their device: a
    distributed task passes the scan split it read and the exchange pieces it fetched (gpu_exec.executor.task)."""
    children = node.children()
    if provided is not None and not children and node in provided:
        return provided[node]
    device = ctx.device_of(node)
    inputs = _adaptive_join_inputs(node, ctx) if provided is None else None
    if inputs is None:
        inputs = [
            ctx.transfer(execute(child, ctx, provided), child.schema, ctx.device_of(child), device)
            for child in children
        ]
    return _run_operator(node, inputs, ctx)


def _run_operator(node: ir.PlanNode, inputs: list[list[Table]], ctx: ExecutionContext) -> list[Table]:
    """``node``'s operator over its children's partitions, on its device's kernels, timed."""
    ctx = ctx.on_device(ctx.device_of(node))
    ctx.check_cancelled()  # an operator boundary: a cancelled query stops here
    name = type(node).__name__
    with ctx.timed(name) as metrics:
        try:
            out = _operator(node, inputs, ctx)
        except (GpuExecError, MemoryError):
            raise
        except Exception as exc:  # a kernel failed: name the operator, keep the cause
            raise ExecutionError(f"{name} failed: {type(exc).__name__}: {exc}") from exc
        metrics.rows += sum(ctx.kernels.num_rows(t) for t in out)
    return out


def _adaptive_join_inputs(node: ir.PlanNode, ctx: ExecutionContext) -> list[list[Table]] | None:
    """Broadcast a hash join's right side after all when it turns out small (in process only).

    The physical planner's row estimates are rough (a HAVING over a big aggregate looks big), so
    when both sides of a join are hash exchanges, the right side's input runs first: if it holds at
    most ``broadcast_rows`` rows, it becomes one broadcast partition and the left side skips its
    exchange (no hashing of the big side); otherwise the right exchange proceeds as planned. The
    answer is the same either way: it is only a cheaper way to co-locate matching rows. None when
    the node is not such a join."""
    if not (
        isinstance(node, ir.Join)
        and isinstance(node.left, ir.Exchange) and node.left.kind is ir.ExchangeKind.HASH
        and isinstance(node.right, ir.Exchange) and node.right.kind is ir.ExchangeKind.HASH
        and node.how in RIGHT_MAY_BROADCAST and not node.null_aware
        and ctx.broadcast_rows > 0
        and len({ctx.device_of(n) for n in (node, node.left, node.right, node.left.input, node.right.input)}) == 1
    ):
        return None
    right_input = execute(node.right.input, ctx)
    if sum(ctx.kernels.num_rows(t) for t in right_input) > ctx.broadcast_rows:
        right = _run_operator(node.right, [right_input], ctx)
        return [execute(node.left, ctx), right]
    with ctx.timed("AdaptiveBroadcast"):
        k = ctx.on_device(ctx.device_of(node)).kernels
        right = [right_input[0] if len(right_input) == 1 else k.concat(right_input, node.right.schema)]
    return [execute(node.left.input, ctx), right]


@singledispatch
def _operator(node: ir.PlanNode, inputs: list[list[Table]], ctx: ExecutionContext) -> list[Table]:
    raise ExecutionError(f"internal error: no operator for plan node {type(node).__name__}")


@_operator.register(ir.TableScan)
def _(node: ir.TableScan, inputs: list[list[Table]], ctx: ExecutionContext) -> list[Table]:
    return scan.scan(node, ctx)


@_operator.register(ir.Projection)
def _(node: ir.Projection, inputs: list[list[Table]], ctx: ExecutionContext) -> list[Table]:
    return basic.project(node, inputs[0], ctx)


@_operator.register(ir.Filter)
def _(node: ir.Filter, inputs: list[list[Table]], ctx: ExecutionContext) -> list[Table]:
    return basic.filter_rows(node, inputs[0], ctx)


@_operator.register(ir.Limit)
def _(node: ir.Limit, inputs: list[list[Table]], ctx: ExecutionContext) -> list[Table]:
    return basic.limit(node, inputs[0], ctx)


@_operator.register(ir.Union)
def _(node: ir.Union, inputs: list[list[Table]], ctx: ExecutionContext) -> list[Table]:
    return basic.union(node, inputs, ctx)


@_operator.register(ir.Values)
def _(node: ir.Values, inputs: list[list[Table]], ctx: ExecutionContext) -> list[Table]:
    return basic.values(node, ctx)


@_operator.register(ir.EmptyRelation)
def _(node: ir.EmptyRelation, inputs: list[list[Table]], ctx: ExecutionContext) -> list[Table]:
    return basic.empty_relation(node, ctx)


@_operator.register(ir.Aggregate)
def _(node: ir.Aggregate, inputs: list[list[Table]], ctx: ExecutionContext) -> list[Table]:
    return aggregate.aggregate(node, inputs[0], ctx)


@_operator.register(ir.Join)
def _(node: ir.Join, inputs: list[list[Table]], ctx: ExecutionContext) -> list[Table]:
    return join.join(node, inputs[0], inputs[1], ctx)


@_operator.register(ir.CrossJoin)
def _(node: ir.CrossJoin, inputs: list[list[Table]], ctx: ExecutionContext) -> list[Table]:
    return join.cross_join(node, inputs[0], inputs[1], ctx)


@_operator.register(ir.Sort)
def _(node: ir.Sort, inputs: list[list[Table]], ctx: ExecutionContext) -> list[Table]:
    return sort.sort(node, inputs[0], ctx)


@_operator.register(ir.Window)
def _(node: ir.Window, inputs: list[list[Table]], ctx: ExecutionContext) -> list[Table]:
    return window.window(node, inputs[0], ctx)


@_operator.register(ir.FileWrite)
def _(node: ir.FileWrite, inputs: list[list[Table]], ctx: ExecutionContext) -> list[Table]:
    return write.write_files(node, inputs[0], ctx)


@_operator.register(ir.Exchange)
def _(node: ir.Exchange, inputs: list[list[Table]], ctx: ExecutionContext) -> list[Table]:
    return exchange.exchange(node, inputs[0], ctx)
