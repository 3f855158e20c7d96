"""Stage cutting: a physical plan split at its exchanges into a DAG of stages (tasks = stage × partition).

A pure function of the physical plan (Ballista's
``scheduler/src/planner.rs`` is the model). Every ``Exchange`` becomes a boundary: the subtree
below it is a map stage rooted at an ``ExchangeWrite``, and the consumer sees an ``ExchangeRead``
leaf naming the producing stage. What is left above the last exchanges is the final stage. Stages
are numbered from 1 in dependency order (producers first), so the plan text is stable and the
last stage is the final one. Structurally identical exchanges (a view used twice, a self join)
become one stage read twice.

A stage runs as one task per output partition of its fragment. ``task_plan`` pins a fragment to
one partition: scans become ``ScanSplit`` leaves, exchange reads name the partition they read, and
a ``Union`` keeps only the input that produces the partition. The operators then see one-element
partition lists, exactly as they see lists of partitions in process (gpu_exec.engine.driver).

A ``RecursiveQuery`` is not cut: its rounds re-run its recursive term over the previous round's
rows, which no stage DAG planned before the query runs can express. It runs whole inside one task
of the stage that holds it (one partition, like a literal table), its exchanges and scans run by
the task's in-process driver. (The physical planner usually puts an exchange above it; when a
join reads it whole beside a partitioned side instead, each of that stage's tasks runs it, as each
reads a literal table.)
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Callable

import pyarrow as pa

from planner.explain import describe
from planner.expr import Expr, format_expr
from planner.ir import (
    CrossJoin,
    EmptyRelation,
    Exchange,
    ExchangeKind,
    FileWrite,
    Join,
    PlanNode,
    RecursiveQuery,
    TableScan,
    Union,
    Values,
)

__all__ = [
    "ExchangeRead",
    "ExchangeWrite",
    "ScanSplit",
    "Stage",
    "StagePlan",
    "ScanSplits",
    "cut_stages",
    "output_partitions",
    "task_plan",
    "render_plan_fragment",
    "render_stages",
]

ScanSplits = Callable[[TableScan], int]
"""How many partitions (splits) a scan produces; the engine's answer is
``gpu_exec.executor.task.scan_split_count`` (Parquet row groups), tests may pass a constant."""


@dataclass(frozen=True, slots=True)
class ExchangeRead(PlanNode):
    """Leaf: the output of stage ``stage_id``'s exchange. In a stage ``partition`` is None; in a
    task it is the exchange output partition the task reads (always 0 for single and broadcast
    exchanges, whose one output partition every reader reads whole)."""

    stage_id: int
    kind: ExchangeKind
    partitions: int
    schema: pa.Schema
    partition: int | None = None


@dataclass(frozen=True, slots=True)
class ExchangeWrite(PlanNode):
    """Root of a map stage: each task splits the rows of ``input`` into the exchange's pieces
    (hash: ``partitions`` pieces by ``keys``; single and broadcast: one piece)."""

    input: PlanNode
    kind: ExchangeKind
    keys: tuple[Expr, ...]
    partitions: int
    schema: pa.Schema


@dataclass(frozen=True, slots=True)
class ScanSplit(PlanNode):
    """Leaf of a task: split ``split`` of ``scan`` (the row groups the in-process scan would put
    in its partition ``split``). A leaf: the scan it carries is data, not a child to execute."""

    scan: TableScan
    split: int
    schema: pa.Schema

    def children(self) -> tuple[PlanNode, ...]:
        return ()

    def with_children(self, children: tuple[PlanNode, ...]) -> PlanNode:
        return self


@dataclass(frozen=True, slots=True)
class Stage:
    """One stage: ``root`` is an ``ExchangeWrite`` (map stage) or the query's root (final stage);
    it runs as ``tasks`` tasks and reads the exchange outputs of the stages ``inputs``."""

    id: int
    root: PlanNode
    tasks: int
    inputs: tuple[int, ...]

    @property
    def is_final(self) -> bool:
        return not isinstance(self.root, ExchangeWrite)


@dataclass(frozen=True, slots=True)
class StagePlan:
    """The stages of one query, producers before consumers; the last one is the final stage."""

    stages: tuple[Stage, ...]

    @property
    def final(self) -> Stage:
        return self.stages[-1]

    def stage(self, stage_id: int) -> Stage:
        return self.stages[stage_id - 1]

    def consumers(self, stage_id: int) -> tuple[Stage, ...]:
        return tuple(s for s in self.stages if stage_id in s.inputs)

    @property
    def num_tasks(self) -> int:
        return sum(s.tasks for s in self.stages)


def _leaf_partitions(node: PlanNode, scan_splits: ScanSplits) -> int | None:
    if isinstance(node, TableScan):
        return max(1, scan_splits(node))
    if isinstance(node, ExchangeRead):
        # single / broadcast outputs are one partition that every consumer partition reads
        return node.partitions if node.kind in (ExchangeKind.HASH, ExchangeKind.ROUND_ROBIN) else 1
    if isinstance(node, (Values, EmptyRelation, ScanSplit, RecursiveQuery)):
        return 1
    return None


def output_partitions(node: PlanNode, scan_splits: ScanSplits) -> int:
    """How many partitions ``node`` produces, as the in-process driver would produce them: scans
    one per split, a union the sum of its inputs, a join the larger side (the other is one
    broadcast partition or has as many), every other node as many as its input."""
    leaf = _leaf_partitions(node, scan_splits)
    if leaf is not None:
        return leaf
    counts = [output_partitions(c, scan_splits) for c in node.children()]
    if isinstance(node, Union):
        return sum(counts)
    if isinstance(node, (Join, CrossJoin)):
        left, right = counts
        if left != right and 1 not in (left, right):
            raise AssertionError(f"join inputs are not co-partitioned: {left} vs {right}")
        return max(left, right)
    if isinstance(node, Exchange):
        raise ValueError("output_partitions() takes a stage fragment, not a plan with exchanges")
    return counts[0]


def cut_stages(plan: PlanNode, scan_splits: ScanSplits) -> StagePlan:
    """The stages of the physical plan ``plan`` (the output of ``planner.physical.plan_physical``)."""
    stages: list[Stage] = []
    by_exchange: dict[PlanNode, ExchangeRead] = {}

    def inputs_of(fragment: PlanNode) -> tuple[int, ...]:
        found: dict[int, None] = {}

        def visit(node: PlanNode) -> None:
            if isinstance(node, ExchangeRead):
                found[node.stage_id] = None
            for child in node.children():
                visit(child)

        visit(fragment)
        return tuple(found)

    def cut(node: PlanNode) -> PlanNode:
        if isinstance(node, RecursiveQuery):
            return node  # run whole by one task (module doc)
        children = tuple(cut(c) for c in node.children())
        node = node.with_children(children) if children else node
        if not isinstance(node, Exchange):
            return node
        try:
            reused = by_exchange.get(node)  # the same exchange of the same input: one stage, read twice
        except TypeError:  # a literal that cannot be hashed: no reuse, still correct
            reused = None
        if reused is not None:
            return reused
        write = ExchangeWrite(node.input, node.kind, node.keys, node.partitions, node.schema)
        stage = Stage(len(stages) + 1, write, output_partitions(node.input, scan_splits), inputs_of(node.input))
        stages.append(stage)
        read = ExchangeRead(stage.id, node.kind, node.partitions, node.schema)
        try:
            by_exchange[node] = read
        except TypeError:
            pass
        return read

    root = cut(plan)
    stages.append(Stage(len(stages) + 1, root, output_partitions(root, scan_splits), inputs_of(root)))
    return StagePlan(tuple(stages))


def task_plan(stage: Stage, partition: int, scan_splits: ScanSplits) -> PlanNode:
    """``stage.root`` pinned to one output partition: what task ``partition`` of the stage runs."""
    if not 0 <= partition < stage.tasks:
        raise ValueError(f"stage {stage.id} has {stage.tasks} tasks, not a task {partition}")
    if isinstance(stage.root, ExchangeWrite):
        return stage.root.with_children((_bind(stage.root.input, partition, scan_splits),))
    return _bind(stage.root, partition, scan_splits)


def _bind(node: PlanNode, p: int, scan_splits: ScanSplits) -> PlanNode:
    if isinstance(node, RecursiveQuery):
        return node  # one partition, its scans read whole by the task (module doc)
    if isinstance(node, TableScan):
        return ScanSplit(node, p, node.schema)
    if isinstance(node, ExchangeRead):
        return dataclasses.replace(node, partition=p if _leaf_partitions(node, scan_splits) != 1 else 0)
    if isinstance(node, Union):
        # Partition p of a union is partition p - offset of the input that holds it.
        offset = 0
        for child in node.inputs:
            n = output_partitions(child, scan_splits)
            if p < offset + n:
                return dataclasses.replace(node, inputs=(_bind(child, p - offset, scan_splits),))
            offset += n
        raise AssertionError(f"union has no partition {p}")
    if isinstance(node, FileWrite):
        # The task's partition names the file it writes (in process, the partition's position).
        return dataclasses.replace(node, input=_bind(node.input, p, scan_splits), partition=p)
    children = node.children()
    if isinstance(node, (Join, CrossJoin)):
        # Co-partitioned sides pair partition p with p; a one-partition side is read whole.
        return node.with_children(tuple(
            _bind(c, 0 if output_partitions(c, scan_splits) == 1 else p, scan_splits) for c in children
        ))
    return node.with_children(tuple(_bind(c, p, scan_splits) for c in children)) if children else node


def _describe(node: PlanNode) -> str:
    if isinstance(node, ExchangeWrite):
        keys = f" keys=[{', '.join(format_expr(k) for k in node.keys)}]" if node.keys else ""
        return f"ExchangeWrite({node.kind.value}): partitions={node.partitions}{keys}"
    if isinstance(node, ExchangeRead):
        which = "" if node.partition is None else f" partition={node.partition}"
        return f"ExchangeRead({node.kind.value}): stage={node.stage_id}{which}"
    if isinstance(node, ScanSplit):
        return f"{describe(node.scan)} split={node.split}"
    return describe(node)


def render_plan_fragment(node: PlanNode, depth: int = 0) -> list[str]:
    """``node`` and its children as indented lines (the EXPLAIN form, without placements)."""
    lines = [f"{'  ' * depth}{_describe(node)}"]
    for child in node.children():
        lines.extend(render_plan_fragment(child, depth + 1))
    return lines


def render_stages(plan: StagePlan) -> str:
    """The stage plan as text: one header line per stage, then its fragment indented below."""
    lines: list[str] = []
    for stage in plan.stages:
        kind = "final" if stage.is_final else "map"
        inputs = f" inputs=[{', '.join(map(str, stage.inputs))}]" if stage.inputs else ""
        lines.append(f"Stage {stage.id} ({kind}): tasks={stage.tasks}{inputs}")
        lines.extend(render_plan_fragment(stage.root, 1))
    return "\n".join(lines)
