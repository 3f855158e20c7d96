"""A job's bookkeeping: the state of every stage and task, and where each map output lives.

Pure state, no Dask: the runner (scheduler.runner) feeds it what Dask reports and asks it what to
submit next, so the rules below are testable without a cluster.

- A task is runnable when it is PENDING, its stage is needed, and every stage it reads has all
  its outputs. A stage is needed when it is the final stage, or when a needed stage that reads
  it still has tasks to run — so after a worker is lost, only the lost outputs that something
  still has to read are recomputed.
- A task that fails is retried until it has failed ``max_attempts`` times; an error of the query
  itself (a ``GpuExecError`` such as a division by zero) fails the job at once, since running it
  again gives the same error.
- A reducer that reports ``FetchFailed`` is not at fault: every output on the lost worker is
  marked missing (those tasks go back to PENDING) and the reducer waits for them again. It is
  retried at most ``max_fetch_failures`` times, in case a worker keeps losing its data.
- A worker restarted for going over its memory limit (while running a task, or holding the
  outputs a reducer fetches) is a lost worker too, but a query that exhausts one executor's memory
  is likely to exhaust the next one's: the first such death in a job is retried, the second
  (``max_memory_deaths``) fails the job with the memory error instead of killing executors for
  minutes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from planner.errors import ExecutionError, GpuExecError
from scheduler.states import JobState, StageState, TaskState

if TYPE_CHECKING:
    from gpu_exec.executor.task import MapOutput, TaskReport
    from planner.stages import StagePlan

__all__ = ["Job", "TaskStatus", "DEFAULT_MAX_ATTEMPTS", "DEFAULT_MAX_FETCH_FAILURES",
           "DEFAULT_MAX_MEMORY_DEATHS"]

DEFAULT_MAX_ATTEMPTS = 3
DEFAULT_MAX_FETCH_FAILURES = 4
DEFAULT_MAX_MEMORY_DEATHS = 1


@dataclass
class TaskStatus:
    """One task: stage × partition. ``attempt`` counts the runs started (the current one when
    RUNNING); reports of older attempts are stale and ignored."""

    stage_id: int
    partition: int
    state: TaskState = TaskState.PENDING
    attempt: int = 0
    failures: int = 0
    fetch_failures: int = 0
    output: MapOutput | None = None

    @property
    def name(self) -> str:
        return f"stage {self.stage_id} task {self.partition}"


class Job:
    """The state of one query's stages and tasks."""

    def __init__(self, job_id: str, plan: StagePlan, *, max_attempts: int = DEFAULT_MAX_ATTEMPTS,
                 max_fetch_failures: int = DEFAULT_MAX_FETCH_FAILURES,
                 max_memory_deaths: int = DEFAULT_MAX_MEMORY_DEATHS) -> None:
        self.job_id = job_id
        self.plan = plan
        self.max_attempts = max_attempts
        self.max_fetch_failures = max_fetch_failures
        self.max_memory_deaths = max_memory_deaths
        self.memory_deaths: dict[str, str] = {}  # worker restarted for its memory → what happened
        self.state = JobState.QUEUED
        self.error: BaseException | None = None
        self.tasks: dict[tuple[int, int], TaskStatus] = {
            (s.id, p): TaskStatus(s.id, p) for s in plan.stages for p in range(s.tasks)
        }
        self.lost_outputs = 0  # map outputs re-run because their worker was lost

    # ---- queries ----------------------------------------------------------------------------
    def task(self, stage_id: int, partition: int) -> TaskStatus:
        return self.tasks[(stage_id, partition)]

    def stage_tasks(self, stage_id: int) -> list[TaskStatus]:
        return [self.tasks[(stage_id, p)] for p in range(self.plan.stage(stage_id).tasks)]

    def stage_complete(self, stage_id: int) -> bool:
        return all(t.state is TaskState.SUCCEEDED for t in self.stage_tasks(stage_id))

    def stage_state(self, stage_id: int) -> StageState:
        tasks = self.stage_tasks(stage_id)
        if any(t.state is TaskState.FAILED for t in tasks):
            return StageState.FAILED
        if all(t.state is TaskState.SUCCEEDED for t in tasks):
            return StageState.SUCCEEDED
        if all(self.stage_complete(i) for i in self.plan.stage(stage_id).inputs):
            return StageState.RUNNING
        return StageState.WAITING

    @property
    def complete(self) -> bool:
        """Every task of the final stage has its output (the results can be collected)."""
        return self.stage_complete(self.plan.final.id)

    def progress(self) -> tuple[int, int]:
        """(tasks with their output, all tasks)."""
        done = sum(t.state is TaskState.SUCCEEDED for t in self.tasks.values())
        return done, len(self.tasks)

    def runnable(self) -> list[TaskStatus]:
        """The PENDING tasks to submit now, producers first."""
        needed: set[int] = set()

        def need(stage_id: int) -> None:
            if stage_id in needed or self.stage_complete(stage_id):
                return
            needed.add(stage_id)
            for input_id in self.plan.stage(stage_id).inputs:
                need(input_id)

        need(self.plan.final.id)
        out: list[TaskStatus] = []
        for stage in self.plan.stages:
            if stage.id in needed and all(self.stage_complete(i) for i in stage.inputs):
                out.extend(t for t in self.stage_tasks(stage.id) if t.state is TaskState.PENDING)
        return out

    def input_outputs(self, stage_id: int) -> tuple[tuple[int, tuple[MapOutput, ...]], ...]:
        """For each stage that ``stage_id`` reads: its tasks' outputs, in partition order."""
        out: list[tuple[int, tuple[MapOutput, ...]]] = []
        for input_id in self.plan.stage(stage_id).inputs:
            outputs = [t.output for t in self.stage_tasks(input_id)]
            if any(o is None for o in outputs):
                raise AssertionError(f"stage {input_id} is not complete")
            out.append((input_id, tuple(o for o in outputs if o is not None)))
        return tuple(out)

    # ---- transitions ------------------------------------------------------------------------
    def start(self, task: TaskStatus) -> int:
        """PENDING → RUNNING; returns the new attempt number."""
        assert task.state is TaskState.PENDING, task
        self.state = JobState.RUNNING
        task.state = TaskState.RUNNING
        task.attempt += 1
        return task.attempt

    def _current(self, stage_id: int, partition: int, attempt: int) -> TaskStatus | None:
        task = self.tasks[(stage_id, partition)]
        return task if task.state is TaskState.RUNNING and task.attempt == attempt else None

    def succeeded(self, report: TaskReport) -> bool:
        """RUNNING → SUCCEEDED with the report's output; False for a stale report."""
        task = self._current(report.stage_id, report.partition, report.attempt)
        if task is None:
            return False
        task.state = TaskState.SUCCEEDED
        task.output = report.output
        if self.complete:
            self.state = JobState.SUCCEEDED
        return True

    def failed(self, stage_id: int, partition: int, attempt: int, error: BaseException) -> None:
        """A task attempt raised ``error``: back to PENDING to be retried, or the job fails
        (raising the ExecutionError that names the task)."""
        task = self._current(stage_id, partition, attempt)
        if task is None:
            return
        task.failures += 1
        deterministic = isinstance(error, GpuExecError)
        if not deterministic and task.failures < self.max_attempts:
            task.state = TaskState.PENDING
            return
        task.state = TaskState.FAILED
        attempts = f"{task.failures} attempt{'s' * (task.failures != 1)}"
        self._fail(ExecutionError(f"{task.name} failed ({attempts}): {type(error).__name__}: {error}"), error)

    def fetch_failed(self, stage_id: int, partition: int, attempt: int, worker: str, error: BaseException) -> None:
        """A reducer could not fetch from ``worker``: its outputs are lost, the reducer waits again."""
        task = self._current(stage_id, partition, attempt)
        if task is None:
            return
        task.fetch_failures += 1
        self.lose_worker(worker)
        if task.fetch_failures > self.max_fetch_failures:
            task.state = TaskState.FAILED
            message = f"{task.name} could not fetch its input {task.fetch_failures} times: {error}"
            self._fail(ExecutionError(message), error)
        task.state = TaskState.PENDING

    def memory_failed(self, stage_id: int, partition: int, attempt: int, worker: str, description: str,
                      error: BaseException) -> None:
        """A task attempt was lost because ``worker`` was restarted for its memory
        (``description`` says how): its outputs are lost and the task runs again, unless this job
        has already lost ``max_memory_deaths`` workers that way — then it fails, saying so."""
        task = self._current(stage_id, partition, attempt)
        if task is None:
            return
        self.lose_worker(worker)
        self.memory_deaths.setdefault(worker, description)
        if len(self.memory_deaths) > self.max_memory_deaths:
            task.state = TaskState.FAILED
            deaths = len(self.memory_deaths)
            message = (f"{task.name} failed: {description} — the {_ordinal(deaths)} executor this query "
                       f"drove out of memory, so it is not retried again. Give the executors more memory "
                       f"(gpu-exec executor --memory-limit), or run fewer queries at once")
            self._fail(ExecutionError(message), error)
        task.failures += 1
        task.state = TaskState.PENDING

    def lose_worker(self, worker: str) -> list[TaskStatus]:
        """Every finished task whose output lived on ``worker`` goes back to PENDING."""
        lost = [t for t in self.tasks.values()
                if t.state is TaskState.SUCCEEDED and t.output is not None and t.output.worker == worker]
        for task in lost:
            task.state = TaskState.PENDING
            task.output = None
        self.lost_outputs += len(lost)
        if lost and self.state is JobState.SUCCEEDED:
            self.state = JobState.RUNNING
        return lost

    def _fail(self, error: ExecutionError, cause: BaseException) -> None:
        self.state = JobState.FAILED
        error.__cause__ = cause
        self.error = error
        raise error

    def cancel(self) -> None:
        if self.state not in (JobState.SUCCEEDED, JobState.FAILED):
            self.state = JobState.CANCELLED


def _ordinal(n: int) -> str:
    return {1: "first", 2: "second", 3: "third"}.get(n, f"{n}th")
