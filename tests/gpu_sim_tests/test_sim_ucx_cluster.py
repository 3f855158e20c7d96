"""GPU executors on a UCX comm: shuffle pieces go worker to worker as packed device tables.

A cluster as the command line makes one — ``gpu-exec scheduler`` and ``gpu-exec executor --protocol
ucx --device gpu`` (one worker per GPU) — and a session that joins it. Between two GPU workers on
``ucx://`` a reducer asks for packed pieces (gpu_exec/cudf/wire.py), which travel in Dask's "cuda"
serialization family: their device data as a device frame. On the simulator (GPU_EXEC_TEST_DEVICE=
sim) the comm is tests/gpu_sim/distributed_ucxx, which moves cuda frames as device memory the way
UCX does (a received one is an ``rmm.DeviceBuffer``); on a GPU, the real distributed-ucxx.
"""

from __future__ import annotations

import os
from typing import Any, Callable, Iterator

import pyarrow as pa
import pytest

from gpu_exec.testing.processes import ProcessCluster
from gpu_exec.testing.tpch import query_sql

# GPU_EXEC_TEST_DEVICE is "gpu" on a GPU and on the simulator (tests/conftest.py sets it for "sim").
pytestmark = pytest.mark.skipif(os.environ.get("GPU_EXEC_TEST_DEVICE", "cpu") != "gpu",
                                reason="no GPU on this machine")

@pytest.fixture(scope="module")
def ucx_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``gpu-exec scheduler`` (Dask on tcp) and GPU executors listening on ``ucx://``: the
    scheduler's address."""
    # The workers listen on ucx://: this process must speak it to reach them (the import registers
    # the comm, as `gpu-exec executor --protocol ucx` does).
    import distributed_ucxx  # noqa: F401

    from gpu_exec.engine.device import visible_gpu_count

    # An executor runs one worker per GPU; the shuffle needs two workers (two on one GPU if need be).
    cluster = ProcessCluster(tmp_path_factory.mktemp("ucx-cluster"), executors=1 if visible_gpu_count() >= 2 else 2,
                             executor_args=["--protocol", "ucx", "--device", "gpu"])
    try:
        cluster.wait_for_executors(2)
        yield cluster.dask_address
    finally:
        cluster.stop()


@pytest.fixture(scope="module")
def ucx_session(ucx_cluster: str, tpch_data: dict[str, str],
                connect_for_tests: Callable[..., Any]) -> Iterator[Any]:
    """A session on the UCX cluster, every join repartitioned (a shuffle on both sides)."""
    address = ucx_cluster
    session = connect_for_tests(cluster=address, tables=tpch_data, partitions=4, progress="off",
                                broadcast_rows=0)
    yield session
    session.close()


def test_ucx_comm_moves_packed_tables_as_device_memory() -> None:
    """One packed table over the comm, in this process: the device frame arrives in a device
    buffer, and the table unpacks to the same rows."""
    import asyncio

    import distributed_ucxx  # noqa: F401 — the ucx:// backend
    import rmm
    from distributed.comm import connect, listen
    from distributed.protocol import to_serialize

    from gpu_exec.cudf.kernels import CudfKernels
    from gpu_exec.cudf.wire import PackedTable, pack, unpack, wire_stats

    kernels = CudfKernels()
    table = pa.table({"k": pa.array([3, None, 7], pa.int64()), "s": pa.array(["a", None, "ccc"])})

    async def round_trip() -> tuple[Any, str]:
        received: asyncio.Queue[tuple[Any, str]] = asyncio.Queue()

        async def handle(comm: Any) -> None:
            await received.put((await comm.read(), comm.peer_address))
            await comm.close()

        listener = listen("ucx://127.0.0.1", handle)
        await listener.start()
        try:
            comm = await connect(listener.contact_address)
            await comm.write({"piece": to_serialize(pack(kernels.from_arrow(table))),
                              "ipc": to_serialize(memoryview(b"arrow ipc bytes"))})
            await comm.close()
            return await received.get()
        finally:
            listener.stop()

    before = wire_stats()
    message, peer = asyncio.run(round_trip())
    after = wire_stats()
    assert peer.startswith("ucx://")
    piece = message["piece"]
    assert isinstance(piece, PackedTable)
    assert isinstance(piece.gpu_data, rmm.DeviceBuffer)  # device memory, not host bytes
    assert not hasattr(piece.metadata, "__cuda_array_interface__")  # the metadata stays on the host
    assert kernels.to_arrow(unpack(piece), table.schema).equals(table)
    assert bytes(message["ipc"]) == b"arrow ipc bytes"  # host frames arrive as host bytes
    assert after["cuda_sent"] - before["cuda_sent"] == after["cuda_received"] - before["cuda_received"] == 1
    assert after["host_sent"] == before["host_sent"] and after["host_received"] == before["host_received"]


def test_the_shuffle_moves_packed_device_tables_between_gpu_workers(
    ucx_session: Any, tpch_data: dict[str, str], assert_matches_datafusion: Callable[..., Any],
) -> None:
    import distributed_ucxx

    from gpu_exec.cudf.wire import wire_stats
    from scheduler.cluster import shuffle_stats

    client = ucx_session.dask_client
    workers = sorted(client.scheduler_info()["workers"])
    assert len(workers) >= 2 and all(w.startswith("ucx://") for w in workers)
    assert ucx_session.device.name == "gpu"

    # The functions given to client.run are found by name on the workers.
    simulated = getattr(distributed_ucxx, "SIMULATED", False)  # the real comm keeps no counts
    wire_before, store_before = client.run(wire_stats), shuffle_stats(client)
    comm_before = client.run(distributed_ucxx.traffic) if simulated else {}
    assert_matches_datafusion(query_sql(3), tpch_data, session=ucx_session)
    wire_after, store_after = client.run(wire_stats), shuffle_stats(client)
    comm_after = client.run(distributed_ucxx.traffic) if simulated else {}

    def delta(after: dict[str, dict[str, int]], before: dict[str, dict[str, int]], name: str) -> int:
        return sum(after[w][name] - before[w][name] for w in workers)

    sent, received = delta(wire_after, wire_before, "cuda_sent"), delta(wire_after, wire_before, "cuda_received")
    sent_bytes = delta(wire_after, wire_before, "cuda_sent_bytes")
    received_bytes = delta(wire_after, wire_before, "cuda_received_bytes")
    # Pieces went worker to worker as packed tables in the "cuda" family, each received once...
    assert sent > 0 and (received, received_bytes) == (sent, sent_bytes)
    # ...none through the host ("dask" family), which a comm without "cuda" would have used...
    assert all(delta(wire_after, wire_before, f"host_{what}") == 0 for what in ("sent", "received"))
    # ...and every shuffle byte a worker fetched from another came that way (no Arrow IPC): its
    # pieces were all still on the device of the worker serving them.
    assert delta(store_after, store_before, "fetched_bytes") == received_bytes > 0
    if simulated:
        # The comm moved each table's device data as one device frame (its metadata went as host
        # bytes), and nothing else the workers sent each other was device memory.
        assert delta(comm_after, comm_before, "device_frames_received") == received
        assert delta(comm_after, comm_before, "device_frames_sent") == sent
        assert 0 < delta(comm_after, comm_before, "device_bytes_received") < received_bytes
