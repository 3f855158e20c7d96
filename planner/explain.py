"""EXPLAIN text: one line per operator, indented by depth, ending with where it runs."""

from __future__ import annotations

from functools import singledispatch
from typing import Callable

from planner.expr import format_expr
from planner.ir import (
    Aggregate,
    CrossJoin,
    EmptyRelation,
    Exchange,
    FileWrite,
    Filter,
    Join,
    Limit,
    PlanNode,
    Projection,
    RecursiveQuery,
    Sort,
    TableScan,
    Union,
    Values,
    Window,
    WorkTableScan,
)

__all__ = ["describe", "render_plan"]


def _list(items: object) -> str:
    return ", ".join(format_expr(i) for i in items)  # type: ignore[attr-defined]


@singledispatch
def describe(node: PlanNode) -> str:
    """One line for ``node`` without its children."""
    return type(node).__name__


@describe.register(TableScan)
def _(node: TableScan) -> str:
    text = f"TableScan: {node.source.name} [{', '.join(node.columns)}]"
    if node.filters:
        text += f" filters=[{_list(node.filters)}]"
    if node.fetch is not None:
        text += f" fetch={node.fetch}"
    return text


@describe.register(Projection)
def _(node: Projection) -> str:
    return f"Projection: {', '.join(f'{format_expr(e)} AS {f.name}' for e, f in zip(node.exprs, node.schema))}"


@describe.register(Filter)
def _(node: Filter) -> str:
    return f"Filter: {format_expr(node.predicate)}"


@describe.register(Aggregate)
def _(node: Aggregate) -> str:
    return f"Aggregate({node.mode.value}): group_by=[{_list(node.group_by)}] aggregates=[{_list(node.aggregates)}]"


@describe.register(Join)
def _(node: Join) -> str:
    on = ", ".join(f"{format_expr(a)} = {format_expr(b)}" for a, b in zip(node.left_keys, node.right_keys))
    text = f"Join({node.how.value}): on=[{on}]"
    if node.filter is not None:
        text += f" filter={format_expr(node.filter)}"
    if node.nulls_equal:
        text += " nulls_equal"
    if node.null_aware:
        text += " null_aware"
    return text


@describe.register(CrossJoin)
def _(node: CrossJoin) -> str:
    return "CrossJoin"


@describe.register(Sort)
def _(node: Sort) -> str:
    fetch = f" fetch={node.fetch}" if node.fetch is not None else ""
    return f"Sort: [{_list(node.keys)}]{fetch}"


@describe.register(Limit)
def _(node: Limit) -> str:
    return f"Limit: skip={node.skip} fetch={node.fetch}"


@describe.register(Union)
def _(node: Union) -> str:
    return f"Union: {len(node.inputs)} inputs"


@describe.register(Values)
def _(node: Values) -> str:
    return f"Values: {len(node.rows)} rows"


@describe.register(EmptyRelation)
def _(node: EmptyRelation) -> str:
    return f"EmptyRelation: {'one row' if node.produce_one_row else 'no rows'}"


@describe.register(Window)
def _(node: Window) -> str:
    return f"Window: [{_list(node.windows)}]"


@describe.register(RecursiveQuery)
def _(node: RecursiveQuery) -> str:
    return f"RecursiveQuery: {node.name} {'UNION' if node.distinct else 'UNION ALL'}"


@describe.register(WorkTableScan)
def _(node: WorkTableScan) -> str:
    fetch = f" fetch={node.fetch}" if node.fetch is not None else ""
    return f"WorkTableScan: {node.name} [{', '.join(node.schema.names)}]{fetch}"


@describe.register(Exchange)
def _(node: Exchange) -> str:
    keys = f" keys=[{_list(node.keys)}]" if node.keys else ""
    return f"Exchange({node.kind.value}): partitions={node.partitions}{keys}"


@describe.register(FileWrite)
def _(node: FileWrite) -> str:
    f = node.file_format
    what = "one file" if node.single_file else "a file per partition"
    which = "" if node.partition is None else f" partition={node.partition}"
    return f"FileWrite({f.kind}): {what} into {node.directory}{which}"


def render_plan(plan: PlanNode, placement: Callable[[PlanNode], str]) -> str:
    """The plan as indented text; ``placement(node)`` gives each line's ending, e.g. ``@cpu``."""
    lines: list[str] = []

    def visit(node: PlanNode, depth: int) -> None:
        lines.append(f"{'  ' * depth}{describe(node)} {placement(node)}")
        for child in node.children():
            visit(child, depth + 1)

    visit(plan, 0)
    return "\n".join(lines)
