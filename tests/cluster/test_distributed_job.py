"""The job state machine (scheduler.job), without a cluster: what runs when, retries, and what a
lost worker costs."""

from __future__ import annotations

import pyarrow as pa
import pytest

from gpu_exec.executor.shuffle_fetch import FetchFailed
from gpu_exec.executor.task import MapOutput, TaskReport
from planner.errors import ExecutionError
from planner.expr import ColumnRef
from planner.ir import Exchange, ExchangeKind, Join, JoinType, TableScan, TableSource
from planner.stages import cut_stages
from scheduler.job import Job
from scheduler.states import JobState, StageState, TaskState

_SCHEMA = pa.schema([("k", pa.int64())])
_KEY = (ColumnRef(0, "k", pa.int64()),)


def _scan(name: str) -> TableScan:
    return TableScan(TableSource(name, "parquet", (f"/{name}.parquet",), _SCHEMA), ("k",), (), None, _SCHEMA)


def _job() -> Job:
    """Stages 1 and 2 scan (2 tasks each) and hash into 2 partitions; stage 3 joins them (2 tasks)
    into a single-partition merge; stage 4 is the final stage (1 task)."""
    join = Join(Exchange(_scan("a"), ExchangeKind.HASH, _KEY, 2, _SCHEMA),
                Exchange(_scan("b"), ExchangeKind.HASH, _KEY, 2, _SCHEMA),
                JoinType.INNER, _KEY, _KEY, None, False, False, pa.schema([("k", pa.int64())] * 2))
    plan = Exchange(join, ExchangeKind.SINGLE, (), 1, join.schema)
    return Job("job-test", cut_stages(plan, lambda scan: 2))


def _succeed(job: Job, stage_id: int, partition: int, worker: str) -> None:
    task = job.task(stage_id, partition)
    report = TaskReport(job.job_id, stage_id, partition, task.attempt,
                        MapOutput(worker, task.attempt, (1, 1), (8, 8)), 0.0, ())
    assert job.succeeded(report)


def _run_all(job: Job, worker: str = "w1") -> list[tuple[int, int]]:
    """Start and finish every runnable task (repeatedly) on ``worker``; returns what ran."""
    ran = []
    while runnable := job.runnable():
        for task in runnable:
            job.start(task)
            _succeed(job, task.stage_id, task.partition, worker)
            ran.append((task.stage_id, task.partition))
    return ran


def test_stages_run_when_their_inputs_are_complete() -> None:
    job = _job()
    assert job.state is JobState.QUEUED
    assert [(t.stage_id, t.partition) for t in job.runnable()] == [(1, 0), (1, 1), (2, 0), (2, 1)]
    assert job.stage_state(3) is StageState.WAITING
    for task in job.runnable():
        job.start(task)
    assert job.state is JobState.RUNNING and job.runnable() == []
    for p in (0, 1):
        _succeed(job, 1, p, "w1")
        _succeed(job, 2, p, "w2")
    assert job.stage_state(1) is StageState.SUCCEEDED and job.stage_state(3) is StageState.RUNNING
    inputs = dict(job.input_outputs(3))
    assert [o.worker for o in inputs[1]] == ["w1", "w1"] and [o.worker for o in inputs[2]] == ["w2", "w2"]
    assert _run_all(job) == [(3, 0), (3, 1), (4, 0)]
    assert job.complete and job.state is JobState.SUCCEEDED and job.progress() == (7, 7)


def test_a_failed_task_is_retried_then_fails_the_job_naming_it() -> None:
    job = _job()
    task = job.task(1, 0)
    for attempt in (1, 2):
        job.start(task)
        job.failed(1, 0, attempt, OSError("disk"))
        assert task.state is TaskState.PENDING
    job.start(task)
    with pytest.raises(ExecutionError, match=r"stage 1 task 0 failed \(3 attempts\): OSError: disk") as caught:
        job.failed(1, 0, 3, OSError("disk"))
    assert isinstance(caught.value.__cause__, OSError)
    assert task.state is TaskState.FAILED and job.state is JobState.FAILED
    assert job.stage_state(1) is StageState.FAILED


def test_an_error_of_the_query_fails_at_once() -> None:
    job = _job()
    job.start(job.task(1, 0))
    with pytest.raises(ExecutionError, match=r"failed \(1 attempt\): ExecutionError: division by zero"):
        job.failed(1, 0, 1, ExecutionError("division by zero"))


def test_stale_reports_are_ignored() -> None:
    job = _job()
    task = job.task(1, 0)
    job.start(task)
    job.failed(1, 0, 1, OSError("x"))
    job.start(task)  # attempt 2
    stale = TaskReport(job.job_id, 1, 0, 1, MapOutput("w9", 1, (1, 1), (8, 8)), 0.0, ())
    assert not job.succeeded(stale)
    job.failed(1, 0, 1, OSError("late"))  # the old attempt's failure changes nothing either
    assert task.state is TaskState.RUNNING and task.failures == 1


def test_fetch_failed_reruns_only_the_lost_outputs_still_needed() -> None:
    job = _job()
    ran = []
    while runnable := [t for t in job.runnable() if t.stage_id < 4]:
        for task in runnable:
            job.start(task)
            # stage 1 task 1 and stage 3 task 0 ran on w2; everything else on w1
            _succeed(job, task.stage_id, task.partition,
                     "w2" if (task.stage_id, task.partition) in ((1, 1), (3, 0)) else "w1")
            ran.append((task.stage_id, task.partition))
    final = job.task(4, 0)
    job.start(final)
    job.fetch_failed(4, 0, 1, "w2", FetchFailed("w2", [3], "connection refused"))
    assert final.state is TaskState.PENDING and final.fetch_failures == 1
    assert job.lost_outputs == 2 and job.stage_state(3) is StageState.WAITING
    # Stage 3's lost task needs stage 1 complete again; stage 2 lost nothing.
    assert _run_all(job, "w3") == [(1, 1), (3, 0), (4, 0)]
    assert job.complete


def test_a_reducer_failing_to_fetch_too_often_fails_the_job() -> None:
    job = _job()
    final = job.task(4, 0)
    for failure in range(1, job.max_fetch_failures + 2):
        while runnable := [t for t in job.runnable() if t.stage_id < 4]:
            for task in runnable:
                job.start(task)
                _succeed(job, task.stage_id, task.partition, "w1")
        job.start(final)
        error = FetchFailed("w1", [3], "connection refused")
        if failure <= job.max_fetch_failures:
            job.fetch_failed(4, 0, final.attempt, "w1", error)
            assert final.state is TaskState.PENDING
        else:
            with pytest.raises(ExecutionError, match="could not fetch its input 5 times"):
                job.fetch_failed(4, 0, final.attempt, "w1", error)
    assert final.state is TaskState.FAILED and job.state is JobState.FAILED


def test_a_worker_killed_for_memory_is_retried_once_then_the_job_fails_saying_so() -> None:
    job = _job()
    task = job.runnable()[0]
    job.start(task)
    died = "executor w1 ran out of memory while running stage 1: it used 9 GiB, over 95% of its memory limit"
    job.memory_failed(1, 0, 1, "w1", died, RuntimeError("KilledWorker"))
    assert task.state is TaskState.PENDING  # the first death: retried, like any lost worker
    job.start(task)
    job.memory_failed(1, 0, 2, "w1", died, RuntimeError("KilledWorker"))  # the same death, reported again
    assert task.state is TaskState.PENDING
    job.start(task)
    with pytest.raises(ExecutionError, match="stage 1 task 0 failed: executor w2 ran out of memory .*"
                                             "second executor this query drove out of memory"):
        job.memory_failed(1, 0, 3, "w2", died.replace("w1", "w2"), RuntimeError("KilledWorker"))
    assert job.state is JobState.FAILED and task.state is TaskState.FAILED


class _FakeFuture:
    def __init__(self, key: str) -> None:
        self.key, self.status, self.error = key, "pending", None

    def add_done_callback(self, fn: object) -> None:
        pass

    def exception(self) -> BaseException | None:
        return self.error

    def result(self, timeout: float | None = None) -> object:
        assert self.error is not None
        raise self.error

    def release(self) -> None:
        pass


class _FakeClient:
    """What the runner asks of Dask: submit (futures that never finish by themselves), the
    workers, the scheduler's events."""

    def __init__(self, workers: dict[str, dict[str, int]], events: dict[str, list[tuple[float, dict[str, object]]]]) -> None:
        self.workers, self.events, self.futures = workers, events, []

        class _Scheduler:
            address = "tcp://scheduler:8786"

        self.scheduler = _Scheduler()

    def submit(self, fn: object, spec: object, key: str, **_: object) -> _FakeFuture:
        self.futures.append(_FakeFuture(key))
        return self.futures[-1]

    def scheduler_info(self) -> dict[str, object]:
        return {"workers": self.workers}

    def get_events(self, topic: str) -> tuple[tuple[float, dict[str, object]], ...]:
        return tuple(self.events.get(topic, ()))


def _runner(client: _FakeClient, job: Job, **options: float) -> object:
    import threading

    from scheduler.runner import JobRunner

    return JobRunner(client, job, lambda s, p: job.plan.stage(s).root, {"device": "cpu", "partitions": 2,  # type: ignore[arg-type]
                     "subquery_values": ()}, listeners=[], cancel_event=threading.Event(), fetch_timeout=1.0,
                     **options)


def test_the_runner_names_a_memory_death_with_the_limit_and_the_stage() -> None:
    from distributed.scheduler import KilledWorker

    from gpu_exec.executor.shuffle_service import MEMORY_LIMIT_EVENT
    from scheduler.runner import MEMORY_EVENT_TOPIC

    job = _job()
    client = _FakeClient({"w1": {"memory_limit": 2**30}},
                         {MEMORY_EVENT_TOPIC: [(0.0, {"worker": "w1", "pid": 7, "rss": 2**30})],
                          MEMORY_LIMIT_EVENT: [(0.0, {"worker": "w1", "limit": 2**30})]})
    runner = _runner(client, job)
    runner._watch_executors()  # type: ignore[attr-defined]
    for task in job.runnable():
        runner._submit(task)  # type: ignore[attr-defined]
    future = client.futures[0]

    class _Worker:
        address = "w1"

    future.status, future.error = "error", KilledWorker(future.key, _Worker(), 0)
    runner._handle(future)  # type: ignore[attr-defined]
    assert job.memory_deaths == {"w1": "executor w1 ran out of memory while running stage 1: it used 1.00 GiB, "
                                       "over 95% of its memory limit of 1.00 GiB, and its nanny restarted it"}
    assert job.task(1, 0).state is TaskState.PENDING
    # A task that finished on a worker killed before its report was read: Dask reran it, and the
    # rerun's worker was killed too. The second death ends the job, with the memory message.
    client.events[MEMORY_EVENT_TOPIC].append((1.0, {"worker": "w2", "pid": 8, "rss": 2**30}))
    late = client.futures[1]

    class _Worker2:
        address = "w2"

    late.status, late.error = "finished", KilledWorker(late.key, _Worker2(), 0)
    with pytest.raises(ExecutionError, match="executor w2 ran out of memory .* the second executor"):
        runner._handle(late)  # type: ignore[attr-defined]
    # A reducer that cannot fetch from a worker killed for memory is told the same, not "timed out".
    died = runner._memory_death("w1", 3, running=False)  # type: ignore[attr-defined]
    assert died is not None and "while holding the input of stage 3" in died


def test_a_job_without_executors_fails_after_the_executor_timeout() -> None:
    from scheduler.errors import ClusterError

    job = _job()
    runner = _runner(_FakeClient({}, {}), job, executor_timeout=0.3)
    with pytest.raises(ClusterError, match=r"no executors are connected to the scheduler at tcp://scheduler:8786 "
                                           r"\(waited 0.3 s for one\): start one with `gpu-exec executor"):
        runner.run()  # type: ignore[attr-defined]
    assert job.state is JobState.FAILED
