"""Device tables on the wire: a CudfTable packed into host metadata + one device buffer.

Between two GPU executors a shuffle piece still on the device travels packed
(``pylibcudf.contiguous_split.pack``) instead of as Arrow IPC: one device-to-device copy on each
side instead of a download, an IPC encode and decode, and an upload. ``PackedTable`` is registered
in Dask's "cuda" serialization family, so a UCX comm moves its device frame GPU to GPU; it is also
registered in the "dask" family, which copies the device frame through the host, so a comm that
did not negotiate "cuda" still works (slowly) rather than falling back to pickle.

When the pack path is used (``use_pack_path``): the reducer's backend is the cuDF one, both
workers' addresses are on a UCX comm (``ucx://`` / ``ucxx://``), and the serving worker still
holds the piece in its device tier. In every other case — a CPU executor at either end, a TCP
comm, a piece spilled to host or disk, the client fetching a result — the piece goes as Arrow IPC.
``wire_stats()`` counts, in this process, the packed tables serialized and deserialized by each
family: the way to see that pieces did cross as device memory.

pylibcudf and rmm are imported lazily: this module is imported by every worker (the fetch path
checks for ``PackedTable``), GPU or not.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

from distributed.protocol.cuda import cuda_deserialize, cuda_serialize
from distributed.protocol.serialize import dask_deserialize, dask_serialize

if TYPE_CHECKING:
    import pyarrow as pa

    from gpu_exec.cudf.columns import CudfTable

__all__ = ["PackedTable", "PACK_PROTOCOLS", "device_nbytes", "is_cudf_table", "pack", "unpack",
           "use_pack_path", "wire_stats"]

PACK_PROTOCOLS = ("ucx://", "ucxx://")
"""Comm address schemes that move "cuda" frames device to device (distributed-ucxx)."""


class PackedTable:
    """A packed device table in flight: ``metadata`` (host bytes of the packed layout), ``gpu_data``
    (one device buffer: a ``gpumemoryview`` when sent, an ``rmm.DeviceBuffer`` when received) and
    the Arrow ``schema`` the table stands for (names, decimal precisions, timezones: the packed
    layout only knows cuDF types)."""

    __slots__ = ("metadata", "gpu_data", "schema")

    def __init__(self, metadata: memoryview[Any], gpu_data: Any, schema: pa.Schema) -> None:
        self.metadata = metadata
        self.gpu_data = gpu_data
        self.schema = schema

    @property
    def nbytes(self) -> int:
        """Bytes on the wire (metadata and device data)."""
        return self.metadata.nbytes + int(self.gpu_data.nbytes)


def device_nbytes(table: CudfTable) -> int:
    """Device bytes held by ``table``'s columns (data, null masks and children)."""
    return sum(column.device_buffer_size() for column in table.table.columns())


def is_cudf_table(table: object) -> bool:
    """Whether ``table`` is a CudfTable (imports the cuDF kernels only on a GPU executor's path)."""
    from gpu_exec.cudf.columns import CudfTable

    return isinstance(table, CudfTable)


def use_pack_path(kernels_name: str, kernels_is_cudf: bool, local_address: str | None,
                  peer_address: str) -> bool:
    """The rule for a reducer asking ``peer_address`` for pieces: packed device tables only when
    the reducer runs the cuDF backend and both ends talk UCX; Arrow IPC otherwise. (The peer adds
    the last condition: it packs only pieces still on its device.)"""
    return (kernels_name == "gpu" and kernels_is_cudf and local_address is not None
            and local_address.startswith(PACK_PROTOCOLS) and peer_address.startswith(PACK_PROTOCOLS))


def pack(table: CudfTable) -> PackedTable:
    """``table`` as one contiguous device buffer + host metadata (a device-to-device copy)."""
    import pylibcudf as plc

    metadata, gpu_data = plc.contiguous_split.pack(table.table).release()
    return PackedTable(metadata, gpu_data, table.schema)


def unpack(packed: PackedTable) -> CudfTable:
    """The table of a received ``PackedTable``: columns are views into its device buffer, which
    they keep alive (no copy)."""
    import pylibcudf as plc
    import rmm

    from gpu_exec.cudf.columns import CudfTable

    gpu_data = packed.gpu_data
    if not hasattr(gpu_data, "__cuda_array_interface__"):
        gpu_data = rmm.DeviceBuffer.to_device(gpu_data)  # came through the host ("dask" family)
    table = plc.contiguous_split.unpack_from_memoryviews(
        memoryview(packed.metadata), plc.gpumemoryview(gpu_data))
    return CudfTable(table, packed.schema)


# ---- Dask serialization --------------------------------------------------------------------------
# Frames: [packed metadata (host), Arrow schema (host), device data]. Dask's comms look at each
# frame: one with ``__cuda_array_interface__`` is sent from device memory by UCX.


def _schema_bytes(schema: pa.Schema) -> memoryview[Any]:
    return memoryview(schema.serialize())


def _read_schema(frame: Any) -> pa.Schema:
    import pyarrow as pa

    schema: pa.Schema = pa.ipc.read_schema(pa.py_buffer(frame))
    return schema


# Which way packed tables travel is decided by the comms (their serializer families), not by the
# shuffle: these counters are how a test or an operator sees that the device path was taken.
_stats_lock = threading.Lock()
_stats = dict.fromkeys(("cuda_sent", "cuda_sent_bytes", "cuda_received", "cuda_received_bytes",
                        "host_sent", "host_sent_bytes", "host_received", "host_received_bytes"), 0)


def wire_stats() -> dict[str, int]:
    """The packed tables this process serialized (sent) and deserialized (received), and their
    bytes, by the Dask family that carried them: "cuda" (the device data as a device frame, a UCX
    comm) or "host" (the "dask" family: copied through host memory)."""
    with _stats_lock:
        return dict(_stats)


def _count(what: str, packed: PackedTable) -> PackedTable:
    with _stats_lock:
        _stats[what] += 1
        _stats[f"{what}_bytes"] += packed.nbytes
    return packed


def _cuda_dumps(packed: PackedTable) -> tuple[dict[str, Any], list[Any]]:
    _count("cuda_sent", packed)
    return {}, [packed.metadata, _schema_bytes(packed.schema), packed.gpu_data]


def _cuda_loads(header: dict[str, Any], frames: list[Any]) -> PackedTable:
    metadata, schema, gpu_data = frames
    return _count("cuda_received", PackedTable(memoryview(metadata), gpu_data, _read_schema(schema)))


def _host_dumps(packed: PackedTable) -> tuple[dict[str, Any], list[Any]]:
    import rmm

    _count("host_sent", packed)
    gpu = packed.gpu_data
    host = rmm.DeviceBuffer(ptr=int(gpu.ptr), size=int(gpu.nbytes)).copy_to_host()
    return {}, [packed.metadata, _schema_bytes(packed.schema), host.data]


def _host_loads(header: dict[str, Any], frames: list[Any]) -> PackedTable:
    metadata, schema, host = frames
    # Stays on the host until ``unpack`` uploads it: deserializing must not need a GPU.
    return _count("host_received", PackedTable(memoryview(metadata), memoryview(host), _read_schema(schema)))


# Registered at import: a receiving worker imports this module when it unpickles the type named in
# the frame header, before it looks the deserializer up.
_SERIALIZERS: tuple[tuple[Any, Any], ...] = (
    (cuda_serialize, _cuda_dumps), (cuda_deserialize, _cuda_loads),
    (dask_serialize, _host_dumps), (dask_deserialize, _host_loads),
)
for _dispatch, _function in _SERIALIZERS:
    _dispatch.register(PackedTable, _function)  # dask.utils.Dispatch is untyped
