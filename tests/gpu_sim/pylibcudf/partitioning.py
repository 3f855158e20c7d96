"""Simulated ``pylibcudf.partitioning`` (models pylibcudf 26.10, ``partitioning.pyx``; libcudf
``cpp/src/partitioning/partitioning.cu``).

``partition(t, partition_map, num_partitions)`` returns the rows grouped by partition number and
``num_partitions + 1`` offsets (partition i = rows [offsets[i], offsets[i+1])). The map must be a
non-null integer column (not BOOL8) of the table's length; a value outside [0, num_partitions)
is undefined behaviour on the device (an out-of-bounds atomic), so the simulator raises. Inside
a partition libcudf's row order comes from atomics: the simulator scrambles it.

``hash_partition`` uses cuDF's own MurmurHash3, which the simulator does not reproduce: it raises
(gpu-exec computes partition ids itself and calls ``partition``).
"""

from __future__ import annotations

from enum import IntEnum
from typing import Any

import numpy as np

from pylibcudf import _sim
from pylibcudf.column import Column
from pylibcudf.sorting import _valid_flags, take_table
from pylibcudf.table import Table

__all__ = ["HashId", "hash_partition", "partition", "round_robin_partition"]


class HashId(IntEnum):
    HASH_IDENTITY = 0
    HASH_MURMUR3 = 1


def partition(t: Table, partition_map: Column, num_partitions: int, stream: Any = None,
              mr: Any = None) -> tuple[Table, list[int]]:
    if not isinstance(t, Table) or not isinstance(partition_map, Column):
        raise TypeError("partition takes a Table and a Column")
    num_partitions = int(num_partitions)
    rows = t.num_rows() if t.num_columns() else 0
    if rows != partition_map.size():
        raise RuntimeError(f"Size mismatch between table ({rows} rows) and partition map ({partition_map.size()}).")
    if partition_map.null_count():
        raise RuntimeError("Unexpected null values in partition_map.")
    if num_partitions == 0 or rows == 0:
        return take_table(t, np.zeros(0, np.int64)), [0] * (num_partitions + 1)
    if partition_map.type().id() not in _sim.INTEGER_IDS:
        raise RuntimeError(f"Unexpected, non-integral partition map ({partition_map.type()}).")
    ids = np.asarray(_sim.column_to_arrow(partition_map).to_numpy(zero_copy_only=False)).astype(np.int64)
    bad = (ids < 0) | (ids >= num_partitions)
    if bad.any():
        raise IndexError(f"partition map value {int(ids[bad][0])} is outside [0, {num_partitions}) (simulated: "
                         "libcudf would write out of bounds — undefined behaviour)")
    assert _valid_flags(_sim.column_to_arrow(partition_map)).all()
    shuffled = _sim.scramble(rows)
    order = shuffled[np.argsort(ids[shuffled], kind="stable")]  # grouped by partition, scrambled inside
    counts = np.bincount(ids, minlength=num_partitions)
    offsets = [0] + [int(x) for x in np.cumsum(counts)]
    return take_table(t, order), offsets


def hash_partition(input: Table, keys: Any, num_partitions: int, hash_function: HashId = HashId.HASH_MURMUR3,
                   seed: int = 0, stream: Any = None, mr: Any = None) -> tuple[Table, list[int]]:
    raise NotImplementedError("hash_partition (cuDF's MurmurHash3) is not modelled by the simulator: compute "
                              "partition ids and call partition")


def round_robin_partition(input: Table, num_partitions: int, start_partition: int = 0,
                          stream: Any = None, mr: Any = None) -> tuple[Table, list[int]]:
    raise NotImplementedError("round_robin_partition is not modelled by the simulator (gpu-exec does not call it)")

