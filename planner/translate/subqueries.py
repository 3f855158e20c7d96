"""Subqueries: the NULL semantics of the joins DataFusion made of them, and scalar subqueries' plans."""

from __future__ import annotations

from typing import TYPE_CHECKING

from datafusion import Expr as DFExpr
from datafusion.plan import LogicalPlan

from planner.errors import SQLError
from planner.translate.protobuf import (
    _PB_EXPR_SCALAR_SUBQUERY,
    _PB_SCALAR_SUBQUERY_NODE,
    _PB_SUBQUERY_OUTER_REFS,
    _PB_SUBQUERY_PLAN,
    _proto_field,
    _proto_replace,
)
from planner.translate.translator import _wrap

if TYPE_CHECKING:
    from planner.translate.translator import _Translator


def _anti_join_null_aware(t: _Translator, plan: LogicalPlan, keys: int) -> bool:
    """DataFusion 55 marks the anti join of ``WHERE x NOT IN (subquery)`` null-aware when NULLs
    are possible; the flag has no Python accessor, but the node's display ends with it."""
    null_aware = plan.display().rstrip().endswith(" null_aware")
    if null_aware and keys != 1:
        # The IR's flag would apply to every key, SQL's rule only to the IN comparison.
        t.unsupported(
            "NOT IN (correlated subquery): a null-aware anti join on more than one key "
            "(DataFusion 55 cannot run it either); rewrite it as NOT EXISTS"
        )
    return null_aware


def _subquery_kind(unoptimized: LogicalPlan | None) -> str | None:
    """"in" when every subquery predicate of the query is ``[NOT] IN (subquery)``, "exists" when
    every one is ``[NOT] EXISTS``, else None. Read from the unoptimized plan's text, the only
    place DataFusion 55 still tells them apart (its display prints ``IN (<subquery>)``,
    ``EXISTS (<subquery>)``, ``= ANY (<subquery>)``); a mix gives None and the cautious rule."""
    if unoptimized is None:
        return None
    text = unoptimized.display_indent()
    exists = text.count("EXISTS (<subquery>)")
    ins = text.count(" IN (<subquery>)")
    others = text.count("ANY (<subquery>)") + text.count("ALL (<subquery>)")
    if ins and not exists and not others:
        return "in"
    if exists and not ins and not others:
        return "exists"
    return None


def _mark_join_null_aware(t: _Translator, mark: str, unknowable: bool) -> bool:
    """A LeftMark join (IN / EXISTS subquery inside OR) carries no null-aware flag in DataFusion
    55, and its plan no longer says which of the two it came from: IN's mark is NULL when NULLs
    leave the comparison unknown, EXISTS's is FALSE (apache/datafusion#8241). The answers agree
    when no match condition can be UNKNOWN, or when the Filter above reads the mark only under
    AND/OR (a NULL row is dropped like a FALSE one). Otherwise refuse rather than answer wrongly.
    """
    if mark in t.positive_marks or not unknowable:
        return False
    t.unsupported(
        "[NOT] IN (subquery) or [NOT] EXISTS under NOT or IS inside an OR, on values that may "
        "be NULL: DataFusion 55's mark join does not record whether a NULL makes the result "
        "unknown (IN) or false (EXISTS) (apache/datafusion#8241); move the subquery to a "
        "plain WHERE conjunct or exclude NULLs explicitly"
    )
    return False


def _positive_mark_columns(predicate: DFExpr) -> set[str]:
    """Mark columns of ``predicate`` read only as operands of AND/OR chains from the top."""
    positive: set[str] = set()
    others: list[str] = []
    stack = [predicate]
    while stack:
        e = stack.pop()
        kind = e.variant_name()
        if kind == "Alias":
            stack.append(_wrap(e.to_variant().expr()))
            continue
        if kind == "BinaryExpr":
            b = e.to_variant()
            if b.op() in ("AND", "OR"):
                stack += [_wrap(b.left()), _wrap(b.right())]
                continue
        if kind == "Column" and e.to_variant().name() == "mark":
            positive.add(e.to_variant().qualified_name())
            continue
        others.append(e.canonical_name())
    # A mark also read elsewhere (under NOT, IS NULL, ...) is not purely positive. Matching the
    # text can only over-report, which refuses a query rather than mis-answering it.
    return {m for m in positive if not any(m in text for text in others)}


def _scalar_subquery_plan(t: _Translator, e: DFExpr) -> LogicalPlan | None:
    """The plan of an uncorrelated scalar subquery, decoded from DataFusion's encoding of ``e``
    (the Python ``Subquery.input()`` returns no plan in datafusion 55)."""
    correlated = (
        "correlated scalar subquery (it reads columns of the outer query and DataFusion did not turn it "
        "into a join)"
    )
    try:
        encoded = e.to_bytes(t.ctx)
    except Exception as exc:  # noqa: BLE001
        if "OuterReferenceColumn" in str(exc) or "outer_ref" in str(exc):
            t.unsupported(correlated)
        else:
            t.unsupported(f"scalar subquery DataFusion cannot hand over: {exc}")
        return None
    subquery = _proto_field(_proto_field(encoded, _PB_EXPR_SCALAR_SUBQUERY) or b"", _PB_SCALAR_SUBQUERY_NODE)
    if not isinstance(subquery, bytes):
        raise SQLError("internal planning error: unexpected encoding of a scalar subquery")
    if _proto_field(subquery, _PB_SUBQUERY_OUTER_REFS) is not None:
        t.unsupported(correlated)
        return None
    plan_bytes = _proto_field(subquery, _PB_SUBQUERY_PLAN)
    if not isinstance(plan_bytes, bytes):
        raise SQLError("internal planning error: a scalar subquery has no plan")
    if plan_bytes in t.subquery_stand_ins:
        return t.subquery_stand_ins[plan_bytes]
    try:
        return LogicalPlan.from_bytes(t.ctx, plan_bytes)
    except Exception as exc:  # noqa: BLE001
        found = _reoptimized_subquery(t, plan_bytes)
        if found is None:
            raise SQLError(f"internal planning error: cannot decode a scalar subquery's plan: {exc}") from exc
        return found


def _reoptimized_subquery(t: _Translator, plan_bytes: bytes) -> LogicalPlan | None:
    """The optimized plan that encodes to ``plan_bytes``, rebuilt from the unoptimized query.

    DataFusion's optimizer can leave a subquery plan that its own decoder rejects: a filter it
    proves always false becomes an EmptyRelation, whose encoding carries no schema, so the nodes
    above it no longer resolve their columns. The unoptimized query still holds the subquery with
    its real input: each of its scalar subqueries is decoded, optimized on its own, and the one
    whose encoding is byte for byte the failing one is that subquery's plan (equal bytes mean
    the same plan, so a mismatch is never taken).

    When the undecodable part is a subquery nested inside the failing one (whose own optimized
    form then differs from any re-optimized candidate), each embedded candidate is swapped for
    its unoptimized encoding, which decodes and means the same; when the outer plan is then
    translated, that nested subquery resolves to the optimized candidate again
    (``subquery_stand_ins``).
    """
    if t.reoptimized_subqueries is None:
        t.reoptimized_subqueries = {}
        if t.unoptimized is not None:
            _collect_reoptimized(t, t.unoptimized, t.reoptimized_subqueries)
    found = t.reoptimized_subqueries.get(plan_bytes)
    if found is not None:
        return found[1]
    patched = plan_bytes
    for optimized, (unoptimized, plan) in t.reoptimized_subqueries.items():
        if optimized in patched:
            patched = _proto_replace(patched, optimized, unoptimized)
            t.subquery_stand_ins[unoptimized] = plan
    if patched == plan_bytes:
        return None
    try:
        return LogicalPlan.from_bytes(t.ctx, patched)
    except Exception:  # noqa: BLE001 — still not decodable: the caller reports the first error
        return None


def _collect_reoptimized(t: _Translator, root: LogicalPlan, out: dict[bytes, tuple[bytes, LogicalPlan]]) -> None:
    from planner.translate.statements import _plan_expressions

    pending = [root]
    while pending:
        node = pending.pop()
        pending.extend(node.inputs())
        for e in _plan_expressions(node.to_variant()):
            for sub in _scalar_subqueries_in(_wrap(e)):
                try:
                    node_bytes = _proto_field(sub.to_bytes(t.ctx), _PB_EXPR_SCALAR_SUBQUERY)
                    encoded = _proto_field(node_bytes, _PB_SCALAR_SUBQUERY_NODE) if isinstance(node_bytes, bytes) else None
                    raw = _proto_field(encoded, _PB_SUBQUERY_PLAN) if isinstance(encoded, bytes) else None
                    if not isinstance(raw, bytes):
                        continue
                    plan = LogicalPlan.from_bytes(t.ctx, raw)
                    optimized = t.ctx.create_dataframe_from_logical_plan(plan).optimized_logical_plan()
                    out.setdefault(optimized.to_bytes(), (raw, optimized))
                except Exception:  # noqa: BLE001 — a correlated or undecodable one: not a candidate
                    continue
                pending.append(plan)  # subqueries nested inside this one


_LEAF_EXPRS = frozenset({"Column", "Literal", "Placeholder", "ScalarVariable", "OuterReferenceColumn",
                         "Wildcard", "Exists", "InSubquery"})


def _scalar_subqueries_in(e: DFExpr, depth: int = 0) -> list[DFExpr]:
    """The scalar subqueries inside ``e`` (not inside other subqueries)."""
    kind = e.variant_name()
    if kind == "ScalarSubquery":
        return [e]
    if kind in _LEAF_EXPRS or depth > 200:
        return []
    if kind == "Alias":
        return _scalar_subqueries_in(_wrap(e.to_variant().expr()), depth + 1)
    try:
        operands = e.rex_call_operands()
    except Exception:  # noqa: BLE001 — a kind without operands
        return []
    # rex_call_operands() of a leaf kind returns the expression itself: stop there.
    children = [_wrap(o) for o in operands]
    children = [c for c in children if c.variant_name() != kind or c.canonical_name() != e.canonical_name()]
    return [s for c in children for s in _scalar_subqueries_in(c, depth + 1)]
