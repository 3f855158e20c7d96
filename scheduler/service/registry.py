"""The query service's record of every query it runs: what ``gpu-exec jobs`` lists and cancels.

The Flight SQL endpoint starts a ``QueryRecord`` for each statement it runs and tells it how the
run goes; the gRPC job service reads the records and cancels through them. Finished records are
kept (the newest ``keep_finished``) so that a user can still see how a query ended.
"""

from __future__ import annotations

import enum
import itertools
import logging
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable

from scheduler.runner import JobListener
from scheduler.service import metrics

if TYPE_CHECKING:
    from gpu_exec.executor.task import TaskReport
    from scheduler.job import Job

__all__ = ["QueryState", "QueryRecord", "QueryRegistry", "RecordProgress"]

log = logging.getLogger(__name__)


class QueryState(enum.Enum):
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"


@dataclass
class QueryRecord:
    """One statement run by the service. ``tasks_done`` / ``tasks_total`` are the progress of its
    distributed jobs (0 / 0 for a query run in process); ``rows`` the size of its result."""

    query_id: str
    sql: str
    user: str
    started: float = field(default_factory=time.time)
    finished: float | None = None
    state: QueryState = QueryState.RUNNING
    error: str = ""
    rows: int = 0
    tasks_done: int = 0
    tasks_total: int = 0
    tag: str = ""  # the client's own name for the statement (Flight SQL header x-gpu-exec-tag)
    job_ids: list[str] = field(default_factory=list)  # its distributed jobs (scheduler.runner ids)
    # Set once the statement's work has ended: a query cancelled or timed out is CANCELLED at once,
    # but its tasks stop a moment later (at their next batch); this says they have.
    stopped: threading.Event = field(default_factory=threading.Event, repr=False)
    _cancel: Callable[[], None] | None = field(default=None, repr=False)
    _cancel_requested: bool = field(default=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def seconds(self) -> float:
        """How long it ran (so far, when still running)."""
        return (self.finished or time.time()) - self.started

    def on_cancel(self, cancel: Callable[[], None]) -> None:
        """What ``cancel()`` calls: e.g. the DataFrame's own ``cancel``. Called at once when a
        cancel was asked for before the query had anything to cancel (while it was planned)."""
        with self._lock:
            self._cancel = cancel
            requested = self._cancel_requested
        if requested:
            cancel()

    @property
    def cancel_requested(self) -> bool:
        return self._cancel_requested

    def cancel(self) -> bool:
        """Ask the running query to stop; False when it already ended."""
        with self._lock:
            if self.state is not QueryState.RUNNING:
                return False
            self._cancel_requested = True
            cancel = self._cancel
        if cancel is not None:
            cancel()
        return True

    def finish(self, state: QueryState, *, rows: int = 0, error: str = "") -> None:
        """The query ended; the first report wins (a cancelled query may still report its error)."""
        with self._lock:
            if self.state is not QueryState.RUNNING:
                return
            self.state, self.rows, self.error = state, rows, error
            self.finished = time.time()
            self._cancel = None
        metrics.query_finished(state.value, self.seconds, rows)
        # One line per query, with the ids of its jobs (what executors' logs and task keys name).
        log.info("query %s %s user=%s seconds=%.3f rows=%d jobs=%s%s sql=%r", self.query_id, state.value,
                 self.user or "-", self.seconds, rows, ",".join(self.job_ids) or "-",
                 f" error={error!r}" if error else "", self.sql[:200])


class RecordProgress(JobListener):
    """Feeds a record the task counts of the distributed jobs of its query (a query with scalar
    subqueries runs several jobs, one after another: their tasks add up)."""

    def __init__(self, record: QueryRecord) -> None:
        self.record = record
        self._finished_jobs_tasks = (0, 0)

    def job_started(self, job: Job) -> None:
        self.record.job_ids.append(job.job_id)
        self._update(job)

    def task_finished(self, job: Job, report: TaskReport) -> None:
        self._update(job)

    def job_finished(self, job: Job) -> None:
        done, total = job.progress()
        self._finished_jobs_tasks = (self._finished_jobs_tasks[0] + done, self._finished_jobs_tasks[1] + total)

    def _update(self, job: Job) -> None:
        done, total = job.progress()
        self.record.tasks_done = self._finished_jobs_tasks[0] + done
        self.record.tasks_total = self._finished_jobs_tasks[1] + total


class QueryRegistry:
    """Every running query and the newest ``keep_finished`` finished ones, by id."""

    def __init__(self, keep_finished: int = 1000) -> None:
        self.keep_finished = keep_finished
        self._records: OrderedDict[str, QueryRecord] = OrderedDict()
        self._ids = itertools.count(1)
        self._lock = threading.Lock()

    def start(self, sql: str, user: str = "") -> QueryRecord:
        with self._lock:
            record = QueryRecord(f"q-{next(self._ids):06d}", sql, user)
            self._records[record.query_id] = record
            self._trim()
        metrics.query_started()
        return record

    def get(self, query_id: str) -> QueryRecord | None:
        with self._lock:
            return self._records.get(query_id)

    def list(self, *, running_only: bool = False) -> list[QueryRecord]:
        """Oldest first."""
        with self._lock:
            records = list(self._records.values())
        return [r for r in records if r.state is QueryState.RUNNING] if running_only else records

    def _trim(self) -> None:
        finished = [k for k, r in self._records.items() if r.state is not QueryState.RUNNING]
        for key in finished[: max(0, len(finished) - self.keep_finished)]:
            del self._records[key]
