"""Run one physical plan on a cluster: scalar subqueries first, then stages, tasks and results.

The distributed counterpart of ``gpu_exec.engine.driver.run_plan``: same plan, same answer. Each scalar
subquery is a job of its own whose value is handed to the tasks that need it (as the driver
computes them before the plan that uses them).
"""

from __future__ import annotations

import threading
from collections import defaultdict
from dataclasses import dataclass, field
from functools import lru_cache
from typing import TYPE_CHECKING

import pyarrow as pa

from gpu_exec.engine.context import OperatorMetrics
from gpu_exec.engine.driver import collect_subqueries, subquery_literal
from gpu_exec.executor.task import scan_split_count
from planner.physical import plan_physical
from planner.stages import cut_stages, task_plan
from scheduler.job import Job
from scheduler.progress import ProgressBar, progress_enabled
from scheduler.runner import JobRunner, new_job_id, run_job

if TYPE_CHECKING:
    from planner.expr import Literal, ScalarSubquery
    from planner.ir import PlanNode, TableScan
    from scheduler.cluster import ClusterConnection
    from scheduler.runner import JobListener

__all__ = ["JobSummary", "QueryResult", "run_query"]


@dataclass
class JobSummary:
    """What one query's jobs did (the main job and those of its scalar subqueries)."""

    job_ids: list[str] = field(default_factory=list)
    stages: int = 0
    tasks: int = 0
    task_runs: int = 0  # tasks submitted, re-runs included
    lost_outputs: int = 0  # map outputs re-run because their worker was lost
    shuffle_bytes: int = 0  # map output written to shuffle stores (final results excluded)
    result_bytes: int = 0  # fetched by the client: the final stage's output (Arrow IPC bytes)
    peak_task_bytes: int = 0  # the most one task's operators held at once (its memory pool's peak)


@dataclass
class QueryResult:
    table: pa.Table
    metrics: dict[str, OperatorMetrics]
    summary: JobSummary


def run_query(connection: ClusterConnection, plan: PlanNode, *, cancel_event: threading.Event | None = None,
              listeners: list[JobListener] | None = None) -> QueryResult:
    """Run the physical plan ``plan`` on ``connection``'s cluster and collect its rows.
    ``listeners`` (default: a progress bar, when enabled) and the connection's own listeners hear
    of every job's progress."""
    config = connection.config
    connection.ensure_workers()
    if listeners is None:
        listeners = [ProgressBar()] if progress_enabled(config.progress) else []
    listeners = [*listeners, *connection.listeners]
    metrics: dict[str, OperatorMetrics] = defaultdict(OperatorMetrics)
    summary = JobSummary()
    values: dict[ScalarSubquery, Literal] = {}
    event = cancel_event or threading.Event()

    @lru_cache(maxsize=None)
    def splits(scan: TableScan) -> int:
        return scan_split_count(scan, config.partitions)

    def run(node: PlanNode) -> pa.Table:
        for subquery in collect_subqueries(node):
            if subquery not in values:
                sub_plan = plan_physical(subquery.plan, config.partitions, config.broadcast_rows)
                values[subquery] = subquery_literal(subquery, run(sub_plan))
        stages = cut_stages(node, splits)
        job = Job(new_job_id(), stages)
        spec_fields = {"device": connection.device.name, "partitions": config.partitions,
                       "subquery_values": tuple(values.items()), "batch_rows": config.batch_rows,
                       "recursion_limit": config.recursion_limit}
        runner = JobRunner(connection.client, job, lambda s, p: task_plan(stages.stage(s), p, splits),
                           spec_fields, listeners=listeners, cancel_event=event,
                           fetch_timeout=config.fetch_timeout, executor_timeout=connection.executor_timeout)
        tables = list(run_job(runner))
        _account(summary, metrics, job, runner)
        return pa.concat_tables(tables) if len(tables) > 1 else tables[0]

    return QueryResult(run(plan), dict(metrics), summary)


def _account(summary: JobSummary, metrics: dict[str, OperatorMetrics], job: Job, runner: JobRunner) -> None:
    summary.job_ids.append(job.job_id)
    summary.stages += len(job.plan.stages)
    summary.tasks += len(job.tasks)
    summary.task_runs += sum(t.attempt for t in job.tasks.values())
    summary.lost_outputs += job.lost_outputs
    summary.result_bytes += runner.result_bytes
    final = job.plan.final.id
    for report in runner.reports:
        if report.stage_id != final:
            summary.shuffle_bytes += sum(report.output.nbytes)
        summary.peak_task_bytes = max(summary.peak_task_bytes, report.peak_bytes)
        for name, seconds, rows, calls, batches, peak, spilled, groups, pruned, scanned in report.metrics:
            m = metrics[name]
            m.seconds += seconds
            m.rows += rows
            m.calls += calls
            m.batches += batches
            m.peak_bytes = max(m.peak_bytes, peak)  # the most one task's operators of this kind held
            m.spilled_bytes += spilled
            m.row_groups += groups  # Parquet row groups its scans considered, skipped, read
            m.row_groups_pruned += pruned
            m.bytes_scanned += scanned
