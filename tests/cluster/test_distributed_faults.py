"""Faults on a real embedded cluster: failing tasks are retried a bounded number of times, a
cancelled query drops its shuffle data, and a worker process killed in the middle of a multi-stage
query costs only its map outputs, which are recomputed elsewhere.

Failures are injected into the worker processes by replacing the task runner's scan reader there
(``client.run``); the module has its own cluster because the last test kills one of its workers.
"""

from __future__ import annotations

import collections
import os
import signal
import sys
import threading
import time
from typing import Any, Callable, Iterator

import cloudpickle
import pytest

from gpu_exec.testing.tpch import query_sql
from planner.errors import ExecutionError
from scheduler.errors import QueryCancelled
from scheduler.runner import JobListener

# The functions below run inside the worker processes, which cannot import this test module.
cloudpickle.register_pickle_by_value(sys.modules[__name__])

# q5 with every join repartitioned: 13 stages, 12 exchanges.
MULTI_STAGE_QUERY = query_sql(5)


@pytest.fixture(scope="module")
def fault_session(tpch_data: dict[str, str], connect_for_tests: Callable[..., Any]) -> Iterator[Any]:
    session = connect_for_tests(tables=tpch_data, workers=3, worker_threads=1, partitions=8, broadcast_rows=0,
                                progress="off", fetch_timeout=2)
    yield session
    session.close()


def _inject(dask_worker: Any, failures: int, error: str, delay: float) -> None:
    """Make the next ``failures`` scan reads on this worker raise ``error`` ("os" / "query"), and
    every read wait ``delay`` seconds."""
    import gpu_exec.executor.task as task

    original = getattr(task, "_original_read_split", task._read_split)
    task._original_read_split = original  # type: ignore[attr-defined]
    left = [failures]

    def read_split(leaf: Any, ctx: Any, dynamic: bool = False) -> Any:
        time.sleep(delay)
        if left[0] > 0:
            left[0] -= 1
            if error == "os":
                raise OSError("injected: the disk went away")
            raise ExecutionError("injected: the data is bad")
        return original(leaf, ctx, dynamic)

    task._read_split = read_split


def _restore(dask_worker: Any) -> None:
    import gpu_exec.executor.task as task

    task._read_split = getattr(task, "_original_read_split", task._read_split)


@pytest.fixture
def inject(fault_session: Any) -> Iterator[Callable[..., None]]:
    client = fault_session.dask_client

    def install(failures: int, error: str = "os", delay: float = 0.0) -> None:
        client.run(_inject, failures=failures, error=error, delay=delay)

    yield install
    client.run(_restore)


def _stores(session: Any) -> dict[str, dict[str, Any]]:
    from scheduler.cluster import shuffle_stats

    return shuffle_stats(session.dask_client)


def _assert_no_shuffle_data(session: Any) -> None:
    stats = _stores(session)
    assert stats and all(s["pieces"] == 0 and s["disk_bytes"] == 0 and not s["jobs"] for s in stats.values()), stats


def test_a_failing_task_is_retried(fault_session: Any, inject: Callable[..., None], tpch_data: dict[str, str],
                                   assert_matches_datafusion: Callable[..., Any]) -> None:
    inject(failures=1)  # the first scan read on each worker fails
    df = fault_session.sql(MULTI_STAGE_QUERY)
    result = df.to_arrow()
    assert result.num_rows == 5
    assert df.job_summary.task_runs > df.job_summary.tasks
    _assert_no_shuffle_data(fault_session)


def test_a_task_failing_every_time_fails_the_query_with_its_error(
        fault_session: Any, inject: Callable[..., None]) -> None:
    inject(failures=1000)
    with pytest.raises(ExecutionError, match=r"stage \d+ task \d+ failed \(3 attempts\): OSError: injected"):
        fault_session.sql(MULTI_STAGE_QUERY).to_arrow()
    _assert_no_shuffle_data(fault_session)


def test_an_error_of_the_query_itself_is_not_retried(fault_session: Any, inject: Callable[..., None]) -> None:
    inject(failures=1000, error="query")
    with pytest.raises(ExecutionError, match=r"failed \(1 attempt\): ExecutionError: injected: the data is bad"):
        fault_session.sql(MULTI_STAGE_QUERY).to_arrow()
    _assert_no_shuffle_data(fault_session)


def test_cancel_stops_the_query_and_drops_its_shuffle_data(fault_session: Any, inject: Callable[..., None]) -> None:
    inject(failures=0, delay=0.3)  # slow scans: the query is still running when cancelled
    df = fault_session.sql(MULTI_STAGE_QUERY)
    outcome: list[BaseException | None] = []

    def run() -> None:
        try:
            df.to_arrow()
            outcome.append(None)
        except BaseException as exc:  # noqa: BLE001 — handed to the test thread
            outcome.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    time.sleep(1.0)
    df.cancel()
    thread.join(timeout=30)
    assert len(outcome) == 1 and isinstance(outcome[0], QueryCancelled)
    time.sleep(1.0)  # tasks already running when cancelled finish; their output must not stay
    _assert_no_shuffle_data(fault_session)


class _KillAfterStage(JobListener):
    """Kills (SIGKILL) the worker process holding most outputs of stage ``stage_id`` as soon as
    that stage finishes, before the stages reading it start."""

    def __init__(self, pids: dict[str, int], stage_id: int) -> None:
        self.pids = pids
        self.stage_id = stage_id
        self.killed: str | None = None
        self.lost_outputs = 0

    def job_finished(self, job: Any) -> None:
        self.lost_outputs += job.lost_outputs

    def stage_finished(self, job: Any, stage_id: int) -> None:
        if stage_id != self.stage_id or self.killed is not None:
            return
        holders = collections.Counter(t.output.worker for t in job.stage_tasks(stage_id))
        self.killed = holders.most_common(1)[0][0]
        os.kill(self.pids[self.killed], signal.SIGKILL)


def test_a_worker_killed_mid_query_costs_only_its_map_outputs(
        fault_session: Any, tpch_data: dict[str, str], assert_matches_datafusion: Callable[..., Any]) -> None:
    client = fault_session.dask_client
    pids = client.run(os.getpid)
    # Stage 3 joins stages 1 and 2: killing a holder of its outputs loses outputs of three stages,
    # which must be recomputed in order before stage 5 can read stage 3 again.
    killer = _KillAfterStage(pids, stage_id=3)
    fault_session.cluster.listeners.append(killer)
    try:
        assert_matches_datafusion(MULTI_STAGE_QUERY, tpch_data, session=fault_session)
    finally:
        fault_session.cluster.listeners.remove(killer)
    assert killer.killed is not None
    assert killer.lost_outputs >= 3  # map outputs of stages 1, 2 and 3 (at least one each)
    survivors = set(pids) - {killer.killed}
    stats = _stores(fault_session)
    assert survivors <= set(stats)
    assert killer.killed not in stats
    _assert_no_shuffle_data(fault_session)
