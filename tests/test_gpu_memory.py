"""GPU memory configuration: sizes, and a resource set up once per process (no GPU needed)."""

from __future__ import annotations

import pytest

from gpu_exec.cudf import memory as gpu_memory
from gpu_exec.cudf.memory import GpuMemoryConfig, parse_size, setup_gpu_memory
from planner.errors import GpuExecError


@pytest.mark.parametrize(
    ("text", "expected"),
    [("10GiB", 10 * 2**30), ("512MB", 512 * 10**6), ("1048576", 2**20), (4096, 4096), ("1.5 GiB", 3 * 2**29),
     (None, None), ("", None)],
)
def test_parse_size(text: object, expected: int | None) -> None:
    assert parse_size(text) == expected  # type: ignore[arg-type]


@pytest.mark.parametrize("bad", ["ten gigs", "10XB", "GiB"])
def test_parse_size_names_the_bad_text(bad: str) -> None:
    with pytest.raises(GpuExecError, match="cannot read the size"):
        parse_size(bad)


def test_memory_is_set_up_once_per_process(monkeypatch: pytest.MonkeyPatch) -> None:
    # As in a fresh process: earlier GPU tests in this one set a resource (and its statistics) up.
    monkeypatch.setattr(gpu_memory, "_configured", None)
    monkeypatch.setattr(gpu_memory, "_resource", None)
    setup_gpu_memory(GpuMemoryConfig(resource="none"))
    setup_gpu_memory(GpuMemoryConfig(resource="none"))  # the same again: fine
    with pytest.raises(GpuExecError, match="already set up"):
        setup_gpu_memory(GpuMemoryConfig(resource="pool", pool_size="1GiB"))
    assert gpu_memory.gpu_memory_stats() is None  # "none" installs no statistics adaptor
