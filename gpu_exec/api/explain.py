"""``EXPLAIN [ANALYZE] [VERBOSE] <query>`` as SQL: the plan as a result table.

The answer has DataFusion's shape — columns ``plan_type`` and ``plan``, one row per plan — so it
reaches every client that can run a query (Flight SQL and JDBC tools included), not only Python's
``DataFrame.explain()``:

- ``EXPLAIN``: DataFusion's optimized logical plan, and gpu-exec's physical plan with where each
  operator runs (``@gpu`` / ``@cpu: <reason>``); nothing runs.
- ``EXPLAIN VERBOSE`` adds DataFusion's plan before optimization and, on a CPU session, the
  placement a GPU session would choose.
- ``EXPLAIN ANALYZE`` runs the query (its rows are dropped) and answers the physical plan with what
  the run measured: per scan the rows, Parquet row groups read and pruned and bytes read; per
  operator kind the time, rows, batches, the most memory held at once and the bytes spilled; the
  dynamic filters joins gave to scans; for the query its time, rows, peak memory and, on a
  cluster, its stages, tasks and shuffled bytes. ``VERBOSE`` adds the memory pool's consumers.

Metrics are kept per operator kind (and per scanned table), not per plan node, which is why they
are listed under the plan rather than on each of its lines; scan lines carry their table's.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any, Sequence

import pyarrow as pa

from gpu_exec.api.dataframe import DataFrame
from gpu_exec.engine.memory import format_bytes
from planner.explain import render_plan
from planner.ir import EmptyRelation, TableScan

if TYPE_CHECKING:
    import datafusion

    from gpu_exec.api.session import Session
    from gpu_exec.engine.context import OperatorMetrics
    from scheduler.runner import JobListener

__all__ = ["EXPLAIN_SCHEMA", "explained_query", "AnalyzedQuery"]

EXPLAIN_SCHEMA = pa.schema([pa.field("plan_type", pa.string(), nullable=False),
                            pa.field("plan", pa.string(), nullable=False)])


def _table(rows: Sequence[tuple[str, str]]) -> pa.Table:
    return pa.Table.from_arrays([pa.array([r[0] for r in rows], pa.string()),
                                 pa.array([r[1] for r in rows], pa.string())], schema=EXPLAIN_SCHEMA)


def explained_query(session: Session, df: datafusion.DataFrame) -> DataFrame | None:
    """The answer to ``df`` when DataFusion planned it as EXPLAIN or EXPLAIN ANALYZE (None for any
    other plan): the explained query is planned in full now, so its errors surface at once."""
    from gpu_exec.api.ddl import statement_result

    plan = df.logical_plan()
    variant = plan.to_variant()
    kind = type(variant).__name__
    if kind not in ("Explain", "Analyze"):
        return None
    (inner,) = plan.inputs()
    inner_df = session.state.planner.create_dataframe_from_logical_plan(inner)
    query = DataFrame(session, inner_df, step="")
    query.physical_plan  # noqa: B018 — plan now: an unsupported query is refused before it runs
    verbose = bool(variant.verbose())
    if kind == "Analyze":
        return AnalyzedQuery(session, query, verbose)
    rows = []
    if verbose:
        rows.append(("initial_logical_plan", inner.display_indent()))
    rows.append(("logical_plan", inner_df.optimized_logical_plan().display_indent()))
    rows.append(("physical_plan", query.explain()))
    if verbose and session.device.name != "gpu":
        rows.append(("physical_plan on a GPU", query.explain(device="gpu")))
    return statement_result(session, _table(rows))


class AnalyzedQuery(DataFrame):
    """The result of ``EXPLAIN ANALYZE``: runs its query when the result is asked for (like any
    query, so that ``cancel()`` and a service's progress listeners reach it), then answers the
    plan with the run's metrics."""

    def __init__(self, session: Session, query: DataFrame, verbose: bool) -> None:
        super().__init__(session, None, plan=EmptyRelation(False, EXPLAIN_SCHEMA))
        self._query = query
        self._verbose = verbose
        self._device = session.device.name

    def to_arrow(self, *, listeners: Sequence[JobListener] = ()) -> pa.Table:
        start = time.perf_counter()
        result = self._query.to_arrow(listeners=listeners)
        seconds = time.perf_counter() - start
        query = self._query
        self.metrics, self.memory, self.job_summary = query.metrics, query.memory, query.job_summary
        text = analyzed_plan(query, result.num_rows, seconds, self._verbose, self._device)
        return _table([("Plan with Metrics", text)])

    def execute_stream(self) -> Any:
        yield from self.to_arrow().to_batches()

    def cancel(self) -> None:
        self._query.cancel()


def _scan_text(m: OperatorMetrics | None) -> str:
    if m is None:
        return "  -- not read"
    text = f"  -- rows={m.rows}"
    if m.row_groups:
        text += (f" row_groups={m.row_groups - m.row_groups_pruned}/{m.row_groups} read"
                 f" ({m.row_groups_pruned} pruned) bytes_scanned={format_bytes(m.bytes_scanned)}")
    return text


def analyzed_plan(query: DataFrame, rows: int, seconds: float, verbose: bool, device: str) -> str:
    """The physical plan of ``query``'s finished run, with its metrics (see the module's text)."""
    metrics = query.metrics
    placement = query.placement()
    physical = query.physical_plan

    def label(node: Any) -> str:
        text = placement[node].label()
        if isinstance(node, TableScan):
            text += _scan_text(metrics.get(f"TableScan:{node.source.name}"))
        return text

    lines = [render_plan(physical, label), "", "operators (time excludes their inputs' time):"]
    for name, m in sorted(metrics.items()):
        if name.startswith("TableScan:"):
            continue
        lines.append(f"  {name}: time={m.seconds:.3f}s rows={m.rows} batches={m.batches} partitions={m.calls}"
                     f" peak_memory={format_bytes(m.peak_bytes)} spilled={format_bytes(m.spilled_bytes)}")
    filters = query.dynamic_filters
    if filters:
        lines.append("dynamic filters (join build keys applied to probe-side scans):")
        lines.extend(f"  {table}: {predicate}" for table, predicate in filters)
    memory = query.memory
    summary = query.job_summary
    text = f"query: {seconds:.3f}s, {rows} rows, device {device}"
    if memory is not None:
        text += f", peak memory {format_bytes(memory.peak)}, spilled {format_bytes(memory.spilled)}"
    lines.append(text)
    if summary is not None:
        lines.append(f"cluster: {summary.stages} stages, {summary.tasks} tasks ({summary.task_runs} runs), "
                     f"shuffled {format_bytes(summary.shuffle_bytes)}, peak per task "
                     f"{format_bytes(summary.peak_task_bytes)}")
    if verbose and memory is not None and memory.consumers:
        lines.append("memory by consumer:")
        lines.extend(f"  {name}: peak {format_bytes(c.peak)}, spilled {format_bytes(c.spilled)}"
                     for name, c in sorted(memory.consumers.items()))
    return "\n".join(lines)
