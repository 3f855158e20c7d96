"""Substrait plans in and out: ``Session.sql_substrait`` and ``DataFrame.to_substrait``.

A Substrait plan is consumed by DataFusion's consumer into the same logical plan ``Session.sql``
gets from SQL text, on the session's planning context (which mirrors the catalog: a plan's named
tables are the session's tables), so it is translated, placed and run like SQL — and fails like
SQL: bytes that are not a plan are an SQLError, an unknown table a CatalogError, a function
DataFusion does not know an UnsupportedSQLError. ``to_substrait`` is DataFusion's producer over a
DataFrame's logical plan.

Versions: plans of Substrait ``SUBSTRAIT_MIN_VERSION`` to ``SUBSTRAIT_MAX_VERSION`` are taken —
the newest is the one DataFusion's producer writes (its consumer reads the same protobuf
definitions), so a newer plan is refused rather than misread. The oldest is a floor set by policy,
not measured: older plans are refused rather than guessed at; in between, a plan whose fields
DataFusion's consumer no longer reads fails with a planning error like any other. A plan without
a version (one built by hand) is taken.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from gpu_exec.api.dataframe import DataFrame, clean_datafusion_message
from planner.errors import SQLError, UnsupportedSQLError

if TYPE_CHECKING:
    from gpu_exec.api.session import Session

__all__ = ["SUBSTRAIT_MIN_VERSION", "SUBSTRAIT_MAX_VERSION", "PreparedSubstrait", "check_release",
           "prepare_substrait", "run_substrait", "to_substrait"]

SUBSTRAIT_MIN_VERSION = "0.20.0"
SUBSTRAIT_MAX_VERSION = "0.85.0"  # what DataFusion 55's producer writes (tests/api/test_substrait.py checks)

# DataFusion's consumer words an unknown table as SQL planning does not: "No table named 'x'".
_NO_TABLE = re.compile(r"No table named '([^']*)'")
# What DataFusion's consumer has not implemented: functions, extensions, relation kinds.
_NOT_IMPLEMENTED = re.compile(r"This feature is not implemented: (.*)", re.DOTALL)


def _version(text: str) -> tuple[int, int, int]:
    major, minor, patch = (int(p) for p in text.split("."))
    return major, minor, patch


def check_release(release: str) -> None:
    """The Substrait release a client says its plan is of (Flight SQL's ``SubstraitPlan.version``;
    empty when it says nothing): refused when gpu-exec does not take it."""
    if not release:
        return
    try:
        found = _version(release.strip())
    except ValueError:
        raise SQLError(f"{release!r} is not a Substrait release (one such as {SUBSTRAIT_MAX_VERSION!r})") from None
    if not _version(SUBSTRAIT_MIN_VERSION) <= found <= _version(SUBSTRAIT_MAX_VERSION):
        raise UnsupportedSQLError([f"a Substrait {release} plan: gpu-exec takes Substrait "
                                   f"{SUBSTRAIT_MIN_VERSION} to {SUBSTRAIT_MAX_VERSION}"])


@dataclass(frozen=True)
class PreparedSubstrait:
    """A Substrait plan planned once (Flight SQL's CreatePreparedSubstraitPlan): the shape of
    ``gpu_exec.api.statements.PreparedStatement``, without parameters (a plan has none)."""

    session: Session
    plan: bytes
    dataset_schema: pa.Schema
    parameter_schema: pa.Schema

    def bind(self, params: Any = None) -> DataFrame:
        if params:
            raise SQLError("a Substrait plan takes no parameters")
        return run_substrait(self.session, self.plan)


def prepare_substrait(session: Session, plan_bytes: bytes) -> PreparedSubstrait:
    """Plan ``plan_bytes`` now (its errors surface here) and keep it, with its result's schema."""
    frame = run_substrait(session, plan_bytes)
    return PreparedSubstrait(session, bytes(plan_bytes), frame.schema, pa.schema([]))


def run_substrait(session: Session, plan_bytes: bytes) -> DataFrame:
    """``Session.sql_substrait``: a serialized Substrait ``Plan`` as a lazy DataFrame, planned now."""
    from datafusion.substrait import Consumer, Serde

    if not isinstance(plan_bytes, (bytes, bytearray, memoryview)):
        raise SQLError(f"sql_substrait takes a serialized Substrait plan (bytes), not {type(plan_bytes).__name__}")
    try:
        plan = Serde.deserialize_bytes(bytes(plan_bytes))
    except Exception as exc:  # noqa: BLE001 — DataFusion raises plain exceptions
        raise SQLError(f"not a Substrait plan: {clean_datafusion_message(exc)}") from None
    _check_version(plan)
    with session.state.lock:
        ctx = session.state.planner
        try:
            logical = Consumer.from_substrait_plan(ctx, plan)
            df = ctx.create_dataframe_from_logical_plan(logical)
        except Exception as exc:  # noqa: BLE001
            raise _consumer_error(session, clean_datafusion_message(exc)) from None
        frame = DataFrame(session, df, step="Substrait plan")
        frame.physical_plan  # noqa: B018 — plan now, as Session.sql does: its errors surface here
    return frame


def _check_version(plan: object) -> None:
    version = json.loads(plan.to_json()).get("version") or {}  # type: ignore[attr-defined]
    found = (version.get("majorNumber", 0), version.get("minorNumber", 0), version.get("patchNumber", 0))
    if found == (0, 0, 0):
        return  # no version: built by hand, not by a producer
    text = ".".join(map(str, found))
    if not _version(SUBSTRAIT_MIN_VERSION) <= found <= _version(SUBSTRAIT_MAX_VERSION):
        producer = version.get("producer") or "an unnamed producer"
        raise UnsupportedSQLError([f"a Substrait {text} plan (from {producer}): gpu-exec takes Substrait "
                                   f"{SUBSTRAIT_MIN_VERSION} to {SUBSTRAIT_MAX_VERSION}"])


def _consumer_error(session: Session, message: str) -> Exception:
    missing = _NO_TABLE.search(message)
    if missing:
        return session.state.planning_error(f"table '{missing.group(1)}' not found")
    unsupported = _NOT_IMPLEMENTED.search(message)
    if unsupported:
        return UnsupportedSQLError([f"Substrait plan: {unsupported.group(1).strip()}"])
    return session.state.planning_error(f"Substrait plan: {message}")


def to_substrait(frame: DataFrame) -> bytes:
    """``DataFrame.to_substrait``: DataFusion's Substrait plan of the query, serialized."""
    from datafusion.substrait import Producer

    inner = frame._df
    if inner is None:
        raise SQLError(f"{frame._step or 'DataFrame'}.to_substrait(): this DataFrame is the result of a statement "
                       "(CREATE/DROP VIEW or TABLE, COPY, SHOW TABLES, DESCRIBE), not a query")
    session = frame._session
    with session.state.lock:
        ctx = session.state.planner
        try:
            # The plan as written first: the optimized one reads only some columns of a table
            # (a ReadRel projection), which some consumers (Acero) refuse. But the producer cannot
            # write the outer references of correlated subqueries; the optimizer turns those into
            # joins, so a query that has them gets its optimized plan.
            try:
                plan = Producer.to_substrait_plan(inner.logical_plan(), ctx)
            except Exception as exc:  # noqa: BLE001
                if "OuterReferenceColumn" not in str(exc):
                    raise
                plan = Producer.to_substrait_plan(inner.optimized_logical_plan(), ctx)
            return bytes(plan.encode())
        except Exception as exc:  # noqa: BLE001
            message = clean_datafusion_message(exc)
            unsupported = _NOT_IMPLEMENTED.search(message)
            if unsupported:
                raise UnsupportedSQLError([f"to_substrait(): {unsupported.group(1).strip()}"]) from None
            raise SQLError(f"to_substrait(): {message}") from None
