"""Spill files: what is written comes back in order, as many times as read; files and the query's
spill directory are gone after close / cleanup; an unwritable spill directory is a clear error."""

from __future__ import annotations

import os
from pathlib import Path

import pyarrow as pa
import pytest

from fallback_cpu.kernels import ArrowKernels
from gpu_exec.engine.spill import SpillDirectory
from planner.errors import QueryCancelled, ResourceError


def test_batches_come_back_in_order_and_the_directory_goes(tmp_path: Path) -> None:
    kernels = ArrowKernels()
    table = pa.table({"a": pa.array([1, 2, None], pa.int64()), "s": ["x", None, "z"]})
    directory = SpillDirectory(str(tmp_path))
    assert directory.path is None  # nothing made until a file is
    spill = directory.new_file(kernels, table.schema, "Sort(partition 1)")
    assert spill.write(table) == kernels.nbytes(table)
    spill.write(table.slice(1))
    assert spill.rows == 5
    for _ in range(2):
        assert pa.concat_tables(spill.read()).equals(pa.concat_tables([table, table.slice(1)]))
    assert directory.path is not None and os.listdir(directory.path)
    spill.close()
    assert not os.listdir(directory.path)
    left_open = directory.new_file(kernels, table.schema, "Join")
    left_open.write(table)
    path = directory.path
    directory.cleanup()  # the query ended: what an operator left behind goes too
    assert not os.path.exists(path)


def test_an_unwritable_spill_directory_names_the_setting(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    directory = SpillDirectory(str(blocker))
    with pytest.raises(ResourceError, match="spill_dir"):
        directory.new_file(ArrowKernels(), pa.schema([("a", pa.int64())]), "Sort")


def test_no_spill_file_after_the_query_ended(tmp_path: Path) -> None:
    """A partition thread still running after its query failed or was cancelled cannot make a
    directory that would outlive the query."""
    directory = SpillDirectory(str(tmp_path))
    directory.new_file(ArrowKernels(), pa.schema([("a", pa.int64())]), "Exchange").write(
        pa.table({"a": pa.array([1], pa.int64())}))
    directory.cleanup()
    with pytest.raises(QueryCancelled):
        directory.new_file(ArrowKernels(), pa.schema([("a", pa.int64())]), "Exchange")
    assert not list(tmp_path.iterdir())
