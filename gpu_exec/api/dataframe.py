"""gpu-exec's DataFrame: a lazy DataFusion DataFrame, planned by DataFusion, run by gpu-exec.

A DataFrame wraps a ``datafusion.DataFrame`` built on the session's planning context. Relational
methods (``select``, ``filter``, ``join``, ...) delegate to it and return new DataFrames; nothing is
translated to gpu-exec's IR until a terminal method (``to_arrow``, ``show``, ...), ``explain``,
``placement`` or ``schema`` needs it. ``Session.sql`` returns the same class, so relational methods
chain after SQL too.

    >>> from gpu_exec import col, lit, functions as f
    >>> s.table("lineitem").filter(col("l_quantity") > lit(45)) \
    ...     .aggregate([col("l_returnflag")], [f.sum(col("l_extendedprice")).alias("revenue")]) \
    ...     .sort(col("l_returnflag")).show()
"""

from __future__ import annotations

import html
import threading
from typing import TYPE_CHECKING, Any, Callable, Iterator, Literal, Sequence

import pyarrow as pa

from gpu_exec.engine.context import ExecutionContext
from gpu_exec.engine.spill import SpillDirectory
from gpu_exec.cudf.capabilities import CudfCapabilities
from gpu_exec.api.result_conversions import ResultConversions
from planner.errors import GpuExecError, SQLError
from planner.explain import render_plan
from planner.physical import plan_physical
from planner.placement import Placement, apply_fallback_policy, place

if TYPE_CHECKING:
    import os

    import datafusion
    from datafusion import Expr

    from gpu_exec.engine.context import OperatorMetrics
    from gpu_exec.engine.memory import MemoryStats
    from gpu_exec.executor.output_files import OutputTarget
    from gpu_exec.api.session import Session
    from planner.ir import PlanNode
    from scheduler.cluster import ClusterConnection
    from scheduler.query import JobSummary
    from scheduler.runner import JobListener

__all__ = ["DataFrame"]

JoinHow = Literal["inner", "left", "right", "full", "semi", "anti"]


def clean_datafusion_message(exc: BaseException) -> str:
    """DataFusion's error text without its layer prefixes ("Error during planning: ", ...)."""
    text = str(exc).strip()
    for prefix in ("DataFusion error: ", "Error during planning: ", "SQL error: ", "Schema error: "):
        text = text.replace(prefix, "")
    return text


def _describe(value: Any) -> str:
    """A short rendering of a method argument for error messages: ``col("a") > 1`` as ``a > Int64(1)``."""
    from datafusion import Expr

    if isinstance(value, Expr):
        return str(value).removeprefix("Expr(").removesuffix(")")
    if isinstance(value, DataFrame):
        return "<DataFrame>"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_describe(v) for v in value) + "]"
    return repr(value)


class _planned_once:  # noqa: N801 — used as a decorator, like functools.cached_property
    """A property computed once, under the session's lock, then kept in the instance.

    Planning reads DataFusion's context and the catalog, which other threads change (DDL): it
    holds the session's lock. functools.cached_property is not used: in Python 3.11 it holds one
    lock per property across all instances, taken before the session's lock by one thread and
    after it by another (``Session.sql`` plans under the session's lock) — a deadlock.
    """

    def __init__(self, compute: Callable[[Any], Any]) -> None:
        self.compute = compute
        self.name = compute.__name__
        self.__doc__ = compute.__doc__

    def __get__(self, instance: Any, owner: type | None = None) -> Any:
        if instance is None:
            return self
        cache = instance.__dict__  # found there first on later reads: this is a non-data descriptor
        if self.name not in cache:
            with instance._session.state.lock:
                if self.name not in cache:
                    cache[self.name] = self.compute(instance)
        return cache[self.name]


class DataFrame(ResultConversions):
    """A lazy query: relational methods build on it, terminal methods run it on gpu-exec.

    Build one with ``Session.sql``, ``Session.table``, ``Session.read_parquet``,
    ``Session.read_csv``, ``Session.from_arrow`` or ``Session.from_pandas``. Relational methods
    mirror ``datafusion.DataFrame`` and take the expressions of ``gpu_exec.col``, ``gpu_exec.lit``
    and ``gpu_exec.api.functions`` (DataFusion's own). Errors in a relational method are raised as
    ``SQLError("DataFrame.<method>(<args>): <cause>")``.
    """

    def __init__(
        self,
        session: Session,
        df: datafusion.DataFrame | None,
        *,
        step: str = "DataFrame",
        plan: PlanNode | None = None,
        result: pa.Table | None = None,
        output: OutputTarget | None = None,
    ) -> None:
        self._session = session
        # None only for statements (DDL, COPY), which give their own `plan`: the rows of a statement
        # that already ran (`result`), or a write that runs on to_arrow() (`output`).
        self._df = df
        self._step = step  # the method that made this DataFrame, named by late planning errors ("" for SQL)
        if plan is not None:
            self.__dict__["logical_plan"] = plan
        self._result = result
        self._output = output
        self.metrics: dict[str, OperatorMetrics] = {}
        # The last run's memory pool in process: peak bytes held by its operators (and per
        # operator, also in ``metrics``), bytes spilled; None before a run.
        self.memory: MemoryStats | None = None
        self.job_summary: JobSummary | None = None  # what the last distributed run did
        # The dynamic filters the last in-process run's scans were given: (table, predicate).
        self.dynamic_filters: list[tuple[str, str]] = []
        self._cancel = threading.Event()

    # ---- planning (lazy) ----------------------------------------------------------------------
    @_planned_once
    def logical_plan(self) -> PlanNode:
        """gpu-exec's IR of DataFusion's optimized logical plan, translated on first use."""
        from planner.translate import translate

        assert self._df is not None
        try:
            optimized = self._df.optimized_logical_plan()
        except Exception as exc:  # noqa: BLE001 — DataFusion raises plain exceptions
            message = clean_datafusion_message(exc)
            raise SQLError(f"{self._step}: {message}" if self._step else message) from None
        return translate(optimized, self._session.state.planner, self._session.catalog,
                         unoptimized=self._df.logical_plan())

    @_planned_once
    def physical_plan(self) -> PlanNode:
        """The partitioned plan the engine runs; the fallback policy is applied when it is made."""
        config = self._session.config
        physical = plan_physical(self.logical_plan, config.partitions, broadcast_rows=config.broadcast_rows)
        # Placement is checked here so that fallback="raise" refuses the query before it runs.
        apply_fallback_policy(place(physical, self._capabilities(None)), config.fallback)
        return physical

    def _capabilities(self, device: str | None) -> CudfCapabilities | None:
        device = device or self._session.device.name
        if device not in ("cpu", "gpu"):
            raise GpuExecError(f"device must be 'cpu' or 'gpu', not {device!r}")
        return CudfCapabilities() if device == "gpu" else None

    def placement(self, device: str | None = None) -> Placement:
        """Where each operator runs on ``device`` ("gpu" plans as if a GPU were present, even on a
        machine without one; default: the session's device)."""
        capabilities = self._capabilities(device)
        return place(self.physical_plan, capabilities)

    @property
    def schema(self) -> pa.Schema:
        """The result's schema (strings normalized to ``pa.string()``), known without running."""
        return self.logical_plan.schema

    def columns(self) -> list[str]:
        """The result's column names."""
        return list(self.schema.names)

    def explain(self, device: str | None = None) -> str:
        """The physical plan, one operator a line, each ending with where it runs: ``@gpu``,
        ``@cpu``, or ``@cpu: <reason>`` when the GPU was asked for and the operator can't use it.
        ``device="gpu"`` shows the placement a GPU session would choose, on any machine."""
        placement = self.placement(device)
        return render_plan(self.physical_plan, lambda node: placement[node].label())

    def to_substrait(self) -> bytes:
        """The query as a serialized Substrait ``Plan`` (DataFusion's producer), for
        ``Session.sql_substrait`` or any Substrait consumer; SQLError for a statement's result."""
        from gpu_exec.api.substrait import to_substrait

        return to_substrait(self)

    # ---- relational methods (delegated to DataFusion) -----------------------------------------
    def _derive(self, method: str, args: Sequence[Any], build: Callable[[datafusion.DataFrame], Any]) -> DataFrame:
        step = f"DataFrame.{method}({', '.join(_describe(a) for a in args)})"
        if self._df is None:
            raise SQLError(f"{step}: this DataFrame is the result of a statement "
                           "(CREATE/DROP VIEW or TABLE, COPY, SHOW TABLES, DESCRIBE), not a query")
        try:
            with self._session.state.lock:  # building a plan reads DataFusion's context
                df = build(self._df)
        except Exception as exc:  # noqa: BLE001 — DataFusion raises plain exceptions
            raise SQLError(f"{step}: {clean_datafusion_message(exc)}") from None
        return DataFrame(self._session, df, step=step)

    def _inner(self, other: DataFrame, method: str) -> datafusion.DataFrame:
        if not isinstance(other, DataFrame) or other._session is not self._session or other._df is None:
            raise SQLError(f"DataFrame.{method}: the other side must be a gpu-exec DataFrame of the same session")
        return other._df

    def select(self, *exprs: Expr | str) -> DataFrame:
        """Project expressions or column names: ``df.select("a", (col("b") * lit(2)).alias("b2"))``."""
        return self._derive("select", exprs, lambda d: d.select(*exprs))

    def select_columns(self, *names: str) -> DataFrame:
        """Keep only the named columns."""
        return self._derive("select_columns", names, lambda d: d.select(*names))

    def filter(self, *predicates: Expr) -> DataFrame:
        """Keep the rows where every predicate is true."""
        return self._derive("filter", predicates, lambda d: d.filter(*predicates))

    def with_column(self, name: str, expr: Expr) -> DataFrame:
        """Add (or replace) column ``name`` computed by ``expr``."""
        return self._derive("with_column", (name, expr), lambda d: d.with_column(name, expr))

    def with_columns(self, *exprs: Expr, **named_exprs: Expr) -> DataFrame:
        """Add several columns: aliased expressions, or ``name=expr`` keywords."""
        args = (*exprs, *named_exprs.values())
        return self._derive("with_columns", args, lambda d: d.with_columns(*exprs, **named_exprs))

    def with_column_renamed(self, old_name: str, new_name: str) -> DataFrame:
        """Rename one column."""
        return self._derive("with_column_renamed", (old_name, new_name),
                            lambda d: d.with_column_renamed(old_name, new_name))

    def aggregate(self, group_by: Sequence[Expr | str] | Expr | str | None, aggs: Sequence[Expr] | Expr) -> DataFrame:
        """Group by ``group_by`` (empty or None: one group) and compute the aggregate expressions ``aggs``."""
        return self._derive("aggregate", (group_by, aggs), lambda d: d.aggregate(group_by or [], aggs))

    def sort(self, *exprs: Any) -> DataFrame:
        """Order rows: ``df.sort(col("a").sort(ascending=False), "b")``."""
        return self._derive("sort", exprs, lambda d: d.sort(*exprs))

    def limit(self, count: int, offset: int = 0) -> DataFrame:
        """At most ``count`` rows, after skipping ``offset``."""
        return self._derive("limit", (count, offset) if offset else (count,), lambda d: d.limit(count, offset))

    def join(
        self,
        right: DataFrame,
        on: str | Sequence[str] | None = None,
        how: JoinHow = "inner",
        *,
        left_on: str | Sequence[str] | None = None,
        right_on: str | Sequence[str] | None = None,
    ) -> DataFrame:
        """Equi-join with ``right`` (a DataFrame of the same session) on columns named ``on`` in both,
        or ``left_on`` = ``right_on``; ``how`` is inner, left, right, full, semi or anti."""
        other = self._inner(right, "join")
        args: list[Any] = [right]
        if on is not None:
            args.append(on)
        if left_on is not None:
            args += [left_on, right_on]
        args.append(how)
        if on is not None:
            return self._derive("join", args, lambda d: d.join(other, on, how))
        return self._derive("join", args, lambda d: d.join(other, how=how, left_on=left_on, right_on=right_on))

    def join_on(self, right: DataFrame, *on_exprs: Expr, how: JoinHow = "inner") -> DataFrame:
        """Join with ``right`` on arbitrary predicates (equalities become hash-join keys)."""
        other = self._inner(right, "join_on")
        return self._derive("join_on", (right, *on_exprs, how), lambda d: d.join_on(other, *on_exprs, how=how))

    def union(self, other: DataFrame, distinct: bool = False) -> DataFrame:
        """Rows of both (UNION ALL; ``distinct=True`` for UNION)."""
        inner = self._inner(other, "union")
        return self._derive("union", (other,), lambda d: d.union(inner, distinct))

    def union_distinct(self, other: DataFrame) -> DataFrame:
        """Distinct rows of both (UNION)."""
        return self.union(other, distinct=True)

    def intersect(self, other: DataFrame) -> DataFrame:
        """Rows present in both."""
        inner = self._inner(other, "intersect")
        return self._derive("intersect", (other,), lambda d: d.intersect(inner))

    def except_all(self, other: DataFrame) -> DataFrame:
        """Rows of this DataFrame not in ``other``."""
        inner = self._inner(other, "except_all")
        return self._derive("except_all", (other,), lambda d: d.except_all(inner))

    def distinct(self) -> DataFrame:
        """Drop duplicate rows."""
        return self._derive("distinct", (), lambda d: d.distinct())

    def drop(self, *columns: str) -> DataFrame:
        """Remove the named columns."""
        return self._derive("drop", columns, lambda d: d.drop(*columns))

    def window(self, *exprs: Expr) -> DataFrame:
        """Add window-function columns: ``df.window(f.row_number(partition_by=[col("g")]).alias("rn"))``."""
        return self._derive("window", exprs, lambda d: d.window(*exprs))

    def sql_view(self, name: str) -> DataFrame:
        """Register this DataFrame as the view ``name`` for ``Session.sql``; returns ``self``."""
        if self._df is None:
            raise SQLError(f"DataFrame.sql_view({name!r}): the result of a statement can't be a view")
        self._session.register_view(name, self._df)
        return self

    create_view = sql_view

    # ---- terminal methods (run on gpu-exec) ---------------------------------------------------
    def to_arrow(self, *, listeners: Sequence[JobListener] = ()) -> pa.Table:
        """Run the query and return all its rows. For a statement: its result (COPY runs now).

        ``listeners`` (scheduler.runner.JobListener) hear of the jobs, stages and tasks of a
        distributed run, instead of the default progress bar (a service follows its queries this
        way); a run in process has no jobs to report.
        """
        if self._result is not None:
            return self._result
        physical = self.physical_plan
        output = self._output
        if output is None:
            return self._run(physical, listeners)
        output.prepare()
        try:
            result = self._run(physical, listeners)
            output.commit()
        except BaseException:
            output.abort()
            raise
        return result

    def _context(self) -> ExecutionContext:
        """A new query's execution context in this process: the session's kernels and settings,
        and a memory pool of its own under the session's."""
        session = self._session
        config = session.config
        return ExecutionContext(
            kernels=session.kernels,
            partitions=config.partitions,
            broadcast_rows=config.broadcast_rows,
            kernels_by_device=session.kernels_by_device,
            gpu_capabilities=CudfCapabilities() if session.device.name == "gpu" else None,
            cancel_event=self._cancel,
            memory=session.memory_pool.child("query"),
            batch_rows=config.batch_rows,
            spill=SpillDirectory(config.spill_dir),
            recursion_limit=config.recursion_limit,
        )

    def _finished(self, ctx: ExecutionContext) -> None:
        """Keep a finished (or failed) run's metrics: per operator, and the query's memory."""
        ctx.memory_metrics()
        self.metrics = dict(ctx.metrics)
        self.memory = ctx.memory.stats()
        self.dynamic_filters = ctx.dynamic_filters.applied()

    def _run(self, physical: PlanNode, listeners: Sequence[JobListener]) -> pa.Table:
        from gpu_exec.engine.driver import run_plan

        try:
            if self._session.cluster is not None:
                return self._run_distributed(self._session.cluster, physical, listeners)
            ctx = self._context()
            try:
                return run_plan(physical, ctx)
            finally:
                # A failed write waits for the partitions still writing, so that nothing lands in
                # its directory once it has been removed.
                ctx.close(wait=self._output is not None)
                self._finished(ctx)
        finally:
            self._cancel = threading.Event()  # a cancel ends this run only

    def _run_distributed(self, cluster: ClusterConnection, physical: PlanNode,
                         listeners: Sequence[JobListener]) -> pa.Table:
        from scheduler.query import run_query

        result = run_query(cluster, physical, cancel_event=self._cancel,
                           listeners=[*listeners] if listeners else None)
        from gpu_exec.engine.memory import MemoryStats

        self.metrics, self.job_summary = result.metrics, result.summary
        spilled = sum(m.spilled_bytes for m in result.metrics.values())
        self.memory = MemoryStats(None, 0, result.summary.peak_task_bytes, spilled)
        return result.table

    def cancel(self) -> None:
        """Cancel this query while it runs (from another thread): ``to_arrow()`` raises
        QueryCancelled — in process at the next operator or partition, on a cluster at once, the
        query's shuffle data dropped on every worker. A COPY leaves no files."""
        self._cancel.set()

    def collect(self) -> list[pa.RecordBatch]:
        """Run the query; its rows as a list of record batches."""
        return self.to_arrow().to_batches()

    def execute_stream(self) -> Iterator[pa.RecordBatch]:
        """Run the query and iterate over its record batches. In process they come as the plan's
        root produces them (the first ones long before the query ends when the root streams: a
        scan, filter, projection, join probe or limit); stopping early (closing the iterator, or a
        ``break``) stops the query at its next batch. On a cluster, and for statements, the
        result is collected first."""
        if self._result is not None or self._output is not None or self._session.cluster is not None:
            yield from self.to_arrow().to_batches()
            return
        from gpu_exec.engine.driver import stream_plan

        physical = self.physical_plan
        ctx = self._context()
        tables = stream_plan(physical, ctx)
        try:
            for table in tables:
                yield from table.to_batches()
        finally:
            tables.close()  # stops the query's streams now when the caller stopped early
            ctx.close()
            self._finished(ctx)
            self._cancel = threading.Event()

    def count(self) -> int:
        """Run ``count(*)`` over this DataFrame on gpu-exec; the number of rows."""
        from datafusion import functions as f

        if self._df is None:
            return self.to_arrow().num_rows
        counted = self._derive("count", (), lambda d: d.aggregate([], [f.count_star().alias("count")]))
        return int(counted.to_arrow().column(0)[0].as_py())

    def head(self, n: int = 5) -> pa.Table:
        """Run the query limited to ``n`` rows."""
        if self._df is None:
            return self.to_arrow().slice(0, n)
        return self.limit(n).to_arrow()

    def show(self, n: int = 20) -> None:
        """Run the query limited to ``n`` rows and print them as a table."""
        from rich.console import Console
        from rich.table import Table

        rows = self.head(n)
        table = Table(*rows.schema.names, show_lines=False)
        for row in rows.to_pylist():
            table.add_row(*("NULL" if v is None else str(v) for v in row.values()))
        Console().print(table)

    def write_parquet(self, path: str | os.PathLike[str]) -> None:
        """Run the query on gpu-exec and write its rows to one Parquet file (with pyarrow)."""
        import pyarrow.parquet as pq

        pq.write_table(self.to_arrow(), path)

    def write_csv(self, path: str | os.PathLike[str]) -> None:
        """Run the query on gpu-exec and write its rows to one CSV file with a header (with pyarrow)."""
        import pyarrow.csv as pacsv

        pacsv.write_csv(self.to_arrow(), path)

    def _repr_html_(self, max_rows: int = 10) -> str:
        """A notebook rendering: the first ``max_rows`` rows as an HTML table (runs the query)."""
        rows = self.head(max_rows)
        header = "".join(f"<th>{html.escape(name)}</th>" for name in rows.schema.names)
        body = "".join(
            "<tr>" + "".join(f"<td>{html.escape('NULL' if v is None else str(v))}</td>" for v in row.values()) + "</tr>"
            for row in rows.to_pylist()
        )
        return f"<table><thead><tr>{header}</tr></thead><tbody>{body}</tbody></table>"

    def __repr__(self) -> str:
        return f"DataFrame[{', '.join(f'{f.name}: {f.type}' for f in self.schema)}]"
