"""Placement: each operator of a physical plan on the GPU or the CPU, with the reason when CPU.

Planned, never discovered at run time: a backend describes what
it can run in a capability table (``Capabilities``: operators, expressions, argument and result
types); an operator whose node, expressions or types are not all supported by the GPU table runs on
the CPU, and the first reason is recorded for EXPLAIN (``@cpu: <reason>``) and for the session's
``fallback`` policy. A CPU-only machine can plan "as if GPU" (``explain(device="gpu")``), so
placement is tested without a GPU.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any, Protocol

import pyarrow as pa

from planner.errors import UnsupportedSQLError
from planner.explain import describe
from planner.expr import AggregateCall, Expr, SortKey, WindowCall, walk
from planner.ir import PlanNode, node_expressions, walk_plan

__all__ = ["Capabilities", "Placement", "PlacedOn", "place", "apply_fallback_policy", "GpuFallbackWarning"]


class Capabilities(Protocol):
    """What one backend can run. Each method returns None when supported, else the reason."""

    device: str

    def node_reason(self, node: PlanNode) -> str | None: ...

    def expression_reason(self, expr: Expr) -> str | None: ...

    def type_reason(self, dtype: pa.DataType) -> str | None: ...


@dataclass(frozen=True, slots=True)
class PlacedOn:
    """Where one operator runs; ``reason`` says why it is not on the requested device."""

    device: str
    reason: str | None = None

    def label(self) -> str:
        return f"@{self.device}" + (f": {self.reason}" if self.reason else "")


class Placement:
    """The placement of every node of one plan (by node identity: plans are immutable)."""

    def __init__(self, requested: str) -> None:
        self.requested = requested
        self._by_node: dict[int, PlacedOn] = {}
        self._nodes: list[PlanNode] = []  # keeps the nodes alive, so their ids stay unique

    def set(self, node: PlanNode, placed: PlacedOn) -> None:
        self._by_node[id(node)] = placed
        self._nodes.append(node)

    def __getitem__(self, node: PlanNode) -> PlacedOn:
        return self._by_node[id(node)]

    def fallbacks(self) -> list[tuple[PlanNode, str]]:
        """Operators that run on the CPU although the GPU was requested, with their reasons."""
        return [
            (node, placed.reason or "")
            for node in self._nodes
            if (placed := self._by_node[id(node)]).device != self.requested
        ]


def _expression_roots(item: Any) -> list[Expr]:
    if isinstance(item, SortKey):
        return [item.expr]
    if isinstance(item, (AggregateCall, WindowCall)):
        return list(item.children())
    return [item]


def _first_reason(node: PlanNode, caps: Capabilities) -> str | None:
    reason = caps.node_reason(node)
    if reason:
        return reason
    for field in node.schema:
        reason = caps.type_reason(field.type)
        if reason:
            return f"column {field.name!r}: {reason}"
    for item in node_expressions(node):
        for root in _expression_roots(item):
            for expr in walk(root):
                reason = caps.expression_reason(expr) or caps.type_reason(expr.dtype)
                if reason:
                    return reason
    return None


def place(plan: PlanNode, gpu: Capabilities | None) -> Placement:
    """Place every node of ``plan``: on the GPU when ``gpu`` capabilities are given and allow it,
    else on the CPU (with the GPU's reason). ``gpu=None`` means a CPU session: all on the CPU."""
    placement = Placement("gpu" if gpu is not None else "cpu")
    for node in walk_plan(plan):
        if gpu is None:
            placement.set(node, PlacedOn("cpu"))
            continue
        reason = _first_reason(node, gpu)
        placement.set(node, PlacedOn("cpu", reason) if reason else PlacedOn("gpu"))
    return placement


class GpuFallbackWarning(UserWarning):
    """Part of a query runs on the CPU although the session asked for the GPU."""


def apply_fallback_policy(placement: Placement, policy: str) -> None:
    """Act on operators that left the GPU: "raise" (UnsupportedSQLError listing every one),
    "warn" (one warning per query naming each operator and reason) or "silent"."""
    fallbacks = placement.fallbacks()
    if not fallbacks or policy == "silent":
        return
    lines = [f"{describe(node)}: {reason}" for node, reason in fallbacks]
    if policy == "raise":
        raise UnsupportedSQLError([f"cannot run on the GPU: {line}" for line in lines])
    warnings.warn(
        "part of this query runs on the CPU instead of the GPU:\n  " + "\n  ".join(lines),
        GpuFallbackWarning,
        stacklevel=3,
    )
