"""connect()'s distributed options, checked before anything starts; the in-process default."""

from __future__ import annotations

import pytest

import gpu_exec
from planner.errors import GpuExecError
from scheduler.progress import progress_enabled


def test_without_workers_or_cluster_the_session_runs_in_process() -> None:
    session = gpu_exec.connect(device="cpu")
    try:
        assert session.dask_client is None
    finally:
        session.close()


@pytest.mark.parametrize(("options", "message"), [
    ({"workers": 2, "cluster": "tcp://127.0.0.1:8786"}, "not both"),
    ({"workers": -1}, "workers must be a non-negative integer"),
    ({"progress": "sometimes"}, "progress must be"),
    ({"fetch_timeout": 0}, "fetch_timeout must be a positive number"),
    ({"shuffle_memory_limit": -5}, "shuffle_memory_limit must be"),
])
def test_bad_options_are_refused_before_starting_anything(options: dict[str, object], message: str) -> None:
    with pytest.raises(GpuExecError, match=message):
        gpu_exec.connect(device="cpu", **options)  # type: ignore[arg-type]


def test_distributed_options_read_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    from gpu_exec.engine.config import Config

    monkeypatch.setenv("GPU_EXEC__FETCH_TIMEOUT", "2.5")
    monkeypatch.setenv("GPU_EXEC__SHUFFLE_MEMORY_LIMIT", "1000")
    config = Config.build()
    assert (config.fetch_timeout, config.shuffle_memory_limit, config.workers) == (2.5, 1000, 0)


def test_the_progress_bar_stays_quiet_when_output_is_captured() -> None:
    assert not progress_enabled("auto")  # pytest captures stderr: not a terminal
    assert progress_enabled("on") and not progress_enabled("off")
