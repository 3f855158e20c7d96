"""Drive one job on a Dask cluster: submit runnable tasks, react to their reports, collect results.

Tasks are submitted with ``pure=False`` and no Dask retries (our ``Job`` decides retries), and each
finished future is released at once: Dask then holds nothing of ours, so a lost worker never makes
Dask recompute a task behind our back — lost map outputs surface as ``FetchFailed`` and are re-run
here. Results stay in the final stage's shuffle stores until the client streams them, partition by
partition, straight from the workers. Whatever happens — success, failure, cancellation, Ctrl-C —
the job's shuffle data is dropped on every worker at the end, and its tasks still running there stop
at their next operator or batch boundary (the worker's drop handler sets their cancel events).

The runner also watches the cluster: a job that has had no executor to run on for
``executor_timeout`` seconds fails with ClusterError saying so, and an executor its nanny restarted
for going over its memory limit (Dask's ``worker-restart-memory`` event) is named in the error: the
first such death in a job is retried like any lost worker, the second fails the job.
"""

from __future__ import annotations

import queue
import threading
import time
import uuid
from typing import TYPE_CHECKING, Any, Callable, Iterator

import pyarrow as pa

from gpu_exec.executor.shuffle_fetch import FetchFailed, fetch_pieces
from gpu_exec.executor.shuffle_service import DROP_JOB_HANDLER, MEMORY_LIMIT_EVENT
from gpu_exec.executor.task import TaskSpec, run_task
from planner.errors import ExecutionError
from scheduler.errors import ClusterError, QueryCancelled
from scheduler.job import Job
from scheduler.states import JobState

if TYPE_CHECKING:
    from distributed import Client, Future

    from gpu_exec.executor.task import TaskReport
    from planner.ir import PlanNode
    from scheduler.job import TaskStatus

__all__ = ["JobListener", "JobRunner", "new_job_id", "run_job", "DEFAULT_EXECUTOR_TIMEOUT",
           "MEMORY_EVENT_TOPIC", "no_executors_message"]

# Seconds a job waits while the cluster has no executor at all before it fails.
DEFAULT_EXECUTOR_TIMEOUT = 60.0
# What Dask's nanny logs (with the worker's address, pid and resident bytes) just before it
# restarts a worker that went over its memory limit's terminate fraction.
MEMORY_EVENT_TOPIC = "worker-restart-memory"


def no_executors_message(scheduler_address: str, waited: float) -> str:
    return (f"no executors are connected to the scheduler at {scheduler_address} (waited {waited:g} s "
            f"for one): start one with `gpu-exec executor --scheduler {scheduler_address}`")


def new_job_id() -> str:
    return f"job-{uuid.uuid4().hex[:12]}"


class JobListener:
    """Receives a job's events, on the thread running the job (progress bars, tooling, tests);
    override the events of interest."""

    def job_started(self, job: Job) -> None:
        """Before the first task is submitted."""

    def task_finished(self, job: Job, report: TaskReport) -> None:
        """A task's output is in place (``report`` says where)."""

    def stage_finished(self, job: Job, stage_id: int) -> None:
        """Every task of the stage has its output (again, after a re-run)."""

    def tick(self, job: Job) -> None:
        """Nothing happened for a while (about a tenth of a second)."""

    def job_finished(self, job: Job) -> None:
        """The job ended: succeeded, failed or cancelled (``job.state``)."""


class JobRunner:
    """Runs ``job`` on ``client``'s cluster.

    Parameters
    ----------
    make_plan
        The fragment task ``(stage_id, partition)`` runs (planner.stages.task_plan).
    spec_fields
        The TaskSpec fields common to every task of the job (device, partitions, subquery values).
    listeners
        Notified of progress.
    cancel_event
        Set from another thread to cancel the job.
    fetch_timeout
        Seconds to keep trying to reach a worker when collecting results.
    executor_timeout
        Seconds the job may go without any executor in the cluster before it fails.
    """

    POLL_SECONDS = 0.1
    WATCH_SECONDS = 1.0  # how often the executors are counted while the job waits
    MEMORY_EVENT_WAIT = 3.0  # how long a lost worker's memory event may lag behind its death (a busy machine)

    def __init__(self, client: Client, job: Job, make_plan: Callable[[int, int], PlanNode],
                 spec_fields: dict[str, Any], *, listeners: list[JobListener],
                 cancel_event: threading.Event, fetch_timeout: float,
                 executor_timeout: float = DEFAULT_EXECUTOR_TIMEOUT) -> None:
        self.client = client
        self.job = job
        self.make_plan = make_plan
        self.spec_fields = spec_fields
        self.listeners = listeners
        self.cancel_event = cancel_event
        self.fetch_timeout = fetch_timeout
        self.reports: list[TaskReport] = []
        self.result_bytes = 0  # Arrow IPC bytes the client fetched: the final stage's output
        self._running: dict[str, tuple[TaskStatus, int]] = {}  # Dask key → (task, attempt)
        self._futures: dict[str, Future] = {}
        self._finished: queue.Queue[Future] = queue.Queue()
        self.executor_timeout = executor_timeout
        self._next_watch = 0.0
        self._no_executors_since: float | None = None
        self._memory_limits: dict[str, int] = {}  # worker address → its memory limit, as last seen
        self._not_memory_deaths: set[str] = set()  # lost workers whose nanny reported no memory death

    # ---- running ----------------------------------------------------------------------------
    def run(self) -> None:
        """Run until every final task has its output; raises the job's error, or QueryCancelled."""
        job = self.job
        if job.state is JobState.QUEUED:
            for listener in self.listeners:
                listener.job_started(job)
            self._watch_executors()  # the workers' memory limits, before any of them can die
        while not job.complete:
            self._check_cancelled()
            for task in job.runnable():
                self._submit(task)
            if not self._running:
                raise ExecutionError(f"internal error: job {job.job_id} has nothing to run and is not complete")
            try:
                future = self._finished.get(timeout=self.POLL_SECONDS)
            except queue.Empty:
                self._watch_executors()
                for listener in self.listeners:
                    listener.tick(job)
                continue
            self._handle(future)

    def _watch_executors(self) -> None:
        """At most every WATCH_SECONDS: note the workers' memory limits, and fail the job once the
        cluster has had no worker for ``executor_timeout`` seconds (its tasks would wait for ever)."""
        now = time.monotonic()
        if now < self._next_watch:
            return
        self._next_watch = now + self.WATCH_SECONDS
        try:
            workers = self.client.scheduler_info()["workers"]
        except Exception:  # noqa: BLE001 — the scheduler is unreachable: Dask's own timeouts say so
            return
        for address, info in workers.items():
            limit = info.get("memory_limit") if isinstance(info, dict) else None
            if limit:
                self._memory_limits[address] = int(limit)
        if workers:
            self._no_executors_since = None
            return
        if self._no_executors_since is None:
            self._no_executors_since = now
        elif now - self._no_executors_since >= self.executor_timeout:
            self.job.state = JobState.FAILED
            raise ClusterError(no_executors_message(self.client.scheduler.address, self.executor_timeout))

    def _check_cancelled(self) -> None:
        if self.cancel_event.is_set():
            self.job.cancel()
            raise QueryCancelled(f"query {self.job.job_id} was cancelled")

    def _submit(self, task: TaskStatus) -> None:
        job = self.job
        attempt = job.start(task)
        spec = TaskSpec(
            job_id=job.job_id, stage_id=task.stage_id, partition=task.partition, attempt=attempt,
            plan=self.make_plan(task.stage_id, task.partition),
            inputs=job.input_outputs(task.stage_id), **self.spec_fields,
        )
        key = f"gpu-exec-{job.job_id}-s{task.stage_id}-p{task.partition}-a{attempt}"
        future = self.client.submit(run_task, spec, key=key, pure=False, retries=0)
        self._running[key] = (task, attempt)
        self._futures[key] = future
        # Called on a Dask thread when the future settles; the loop above takes it from there.
        future.add_done_callback(self._finished.put)

    def _handle(self, future: Future) -> None:
        job = self.job
        key = str(future.key)
        running = self._running.pop(key, None)
        self._futures.pop(key, None)
        if running is None:
            return  # cancelled by us
        task, attempt = running
        stage_id, partition = task.stage_id, task.partition
        status = future.status
        error: BaseException | None = None
        if status == "finished":
            try:
                # The report waits in the worker's memory until read: a worker that dies meanwhile
                # makes Dask reset the future and run the task again (which may fail in turn).
                report: TaskReport = future.result(timeout=self.fetch_timeout)
            except Exception as exc:  # noqa: BLE001 — the task is lost: handled as a failure below
                error = exc if not isinstance(exc, TimeoutError) else RuntimeError(
                    f"the worker holding {task.name}'s report went away before it was read")
                self._cancel_quietly(future)
            else:
                future.release()  # Dask keeps nothing of ours once we have the metadata
                if job.succeeded(report):
                    self.reports.append(report)
                    for listener in self.listeners:
                        listener.task_finished(job, report)
                    if job.stage_complete(stage_id):
                        for listener in self.listeners:
                            listener.stage_finished(job, stage_id)
                return
        else:
            error = future.exception() if status == "error" else RuntimeError(f"task future {status}")
        future.release()
        lost = _lost_worker(error)
        if lost is not None:
            death = self._memory_death(lost, stage_id, running=not isinstance(error, FetchFailed))
            if death is not None:
                job.memory_failed(stage_id, partition, attempt, lost, death, error)
                return
        if isinstance(error, FetchFailed):
            job.fetch_failed(stage_id, partition, attempt, error.worker, error)
        else:
            job.failed(stage_id, partition, attempt, error)

    def _memory_death(self, worker: str, stage_id: int, running: bool) -> str | None:
        """Why ``worker`` died when its nanny restarted it for its memory (None otherwise), as
        one sentence naming the worker, what it held, its limit and the stage. The nanny's event
        may arrive a moment after the scheduler saw the worker go: wait a little for it — once
        per worker (every task it ran reports the same death)."""
        if worker in self._not_memory_deaths:
            return None
        deadline = time.monotonic() + self.MEMORY_EVENT_WAIT
        while True:
            try:
                events = self.client.get_events(MEMORY_EVENT_TOPIC)
            except Exception:  # noqa: BLE001 — no events: not known to be a memory death
                return None
            for _, event in reversed(events):
                if isinstance(event, dict) and event.get("worker") == worker:
                    return _describe_memory_death(worker, int(event.get("rss") or 0),
                                                  self._memory_limit(worker), stage_id, running)
            if time.monotonic() >= deadline:
                self._not_memory_deaths.add(worker)
                return None
            time.sleep(0.1)

    def _cancel_quietly(self, future: Future) -> None:
        try:
            self.client.cancel([future])
        except Exception:  # noqa: BLE001 — the cluster may be going away
            pass

    def cancel_running(self) -> None:
        """Cancel every submitted task that has not reported."""
        futures = list(self._futures.values())
        self._futures.clear()
        self._running.clear()
        if futures:
            try:
                self.client.cancel(futures)
            except Exception:  # noqa: BLE001 — the cluster may be going away; nothing left to do
                pass

    def _memory_limit(self, worker: str) -> int | None:
        """``worker``'s memory limit: the newest one its executor gave it (re-dividing the node's
        memory), else the one it registered with."""
        try:
            events = self.client.get_events(MEMORY_LIMIT_EVENT)
        except Exception:  # noqa: BLE001
            events = ()
        for _, event in reversed(events):
            if isinstance(event, dict) and event.get("worker") == worker and event.get("limit"):
                return int(event["limit"])
        return self._memory_limits.get(worker)

    # ---- results ----------------------------------------------------------------------------
    def results(self) -> Iterator[pa.Table]:
        """The final stage's output, partition by partition, fetched from the workers holding it.
        A worker lost before its partition was fetched has those tasks re-run first."""
        job = self.job
        final = job.plan.final
        schema = final.root.schema
        for partition in range(final.tasks):
            failures = 0
            while True:
                self.run()  # no-op when complete; re-runs what a lost worker took with it
                output = job.task(final.id, partition).output
                assert output is not None
                if not output.rows[0]:
                    yield schema.empty_table()
                    break
                key = (job.job_id, final.id, partition, output.attempt, 0)
                try:
                    pieces = self.client.sync(
                        fetch_pieces, {output.worker: [key]}, local_address=None, store=None,
                        connect_timeout=self.fetch_timeout, connection_args=self.client.connection_args,
                        count_bytes=self._count_result_bytes,
                    )
                except FetchFailed as exc:
                    failures += 1
                    if failures > job.max_fetch_failures:  # e.g. the workers are out of this client's reach
                        job.state = JobState.FAILED
                        raise ExecutionError(f"cannot collect the query's result: {exc}") from exc
                    job.lose_worker(exc.worker)
                    continue
                yield pieces[key]
                break

    def _count_result_bytes(self, nbytes: int) -> None:
        self.result_bytes += nbytes

    def drop_shuffle_data(self) -> None:
        """Tell every worker to forget this job's pieces (a broadcast through the scheduler:
        a small control message, no data)."""
        try:
            self.client.sync(self.client.scheduler.broadcast,
                             msg={"op": DROP_JOB_HANDLER, "job_id": self.job.job_id}, on_error="ignore")
        except Exception:  # noqa: BLE001 — cleanup must not hide the query's own outcome
            pass


def _lost_worker(error: BaseException | None) -> str | None:
    """The worker whose loss ``error`` reports: a reducer's FetchFailed, or Dask's KilledWorker
    (the worker running the task died)."""
    if isinstance(error, FetchFailed):
        return error.worker
    if type(error).__name__ == "KilledWorker":
        last = getattr(error, "last_worker", None)
        address = getattr(last, "address", None)
        return address if isinstance(address, str) else None
    return None


def _describe_memory_death(worker: str, rss: int, limit: int | None, stage_id: int, running: bool) -> str:
    import dask.config
    from dask.utils import format_bytes

    fraction = dask.config.get("distributed.worker.memory.terminate", 0.95) or 0.95
    over = f"over {fraction:.0%} of its memory limit of {format_bytes(limit)}" if limit else \
        f"over {fraction:.0%} of its memory limit"
    during = f"while running stage {stage_id}" if running else f"while holding the input of stage {stage_id}"
    return (f"executor {worker} ran out of memory {during}: it used {format_bytes(rss)}, {over}, "
            "and its nanny restarted it")


def run_job(runner: JobRunner) -> Iterator[pa.Table]:
    """Run ``runner``'s job and stream its result partitions; always cleans up."""
    job = runner.job
    try:
        runner.run()
        yield from runner.results()
    except BaseException:
        if job.state is not JobState.FAILED:
            job.cancel()
        runner.cancel_running()
        raise
    finally:
        runner.drop_shuffle_data()
        for listener in runner.listeners:
            listener.job_finished(job)
