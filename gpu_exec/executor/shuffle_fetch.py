"""The reducer side of the shuffle: fetch map output pieces from peers' shuffle stores.

One request per peer, all peers at once, over Dask's comms (``rpc`` to the ``gpu_exec_fetch``
handler that ``gpu_exec.executor.shuffle_service`` registers on every worker). Pieces travel as Arrow IPC
stream buffers in Dask frames — or, between two GPU executors on a UCX comm, as packed device
tables (``gpu_exec.cudf.wire``, which states the rule) — no pickling of data, and never through the
scheduler or the client. Given the reducer's ``kernels``, pieces come back on its backend (a
local device piece read by its own backend is not copied); without, as Arrow tables. A peer that
cannot be reached, or that no longer holds a piece, raises ``FetchFailed``: the scheduler then
re-runs the lost map tasks and retries the reducer (Spark's and Ballista's model).
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any, Callable, Mapping, Sequence

from planner.errors import ExecutionError

if TYPE_CHECKING:
    from gpu_exec.engine.kernels import Kernels, Table
    from gpu_exec.executor.shuffle_store import PieceKey, ShuffleStore

__all__ = ["FetchFailed", "FETCH_HANDLER", "fetch_pieces"]

FETCH_HANDLER = "gpu_exec_fetch"


class FetchFailed(ExecutionError):
    """Map output on ``worker`` could not be fetched (the worker is gone, or lost the pieces).

    Not the reducer's fault: the scheduler marks every map output on ``worker`` lost, re-runs those
    map tasks elsewhere and retries the reducer.
    """

    def __init__(self, worker: str, stage_ids: Sequence[int], reason: str) -> None:
        self.worker = worker
        self.stage_ids = tuple(stage_ids)
        self.reason = reason
        stages = ", ".join(map(str, self.stage_ids))
        super().__init__(f"cannot fetch map output of stage(s) {stages} from {worker}: {reason}")

    def __reduce__(self) -> tuple[Any, ...]:
        # Crosses process boundaries (worker → client) inside Dask's error reports.
        return (FetchFailed, (self.worker, self.stage_ids, self.reason))


def _wants_packed(kernels: Kernels | None, local_address: str | None, peer_address: str) -> bool:
    if kernels is None or kernels.name != "gpu":
        return False  # checked first: a CPU executor never imports the cuDF kernels
    from gpu_exec.cudf.kernels import CudfKernels
    from gpu_exec.cudf.wire import use_pack_path

    return use_pack_path(kernels.name, isinstance(kernels, CudfKernels), local_address, peer_address)


async def _fetch_from_peer(address: str, keys: Sequence[PieceKey], connect_timeout: float,
                           connection_args: Mapping[str, Any], kernels: Kernels | None,
                           packed: bool) -> tuple[list[Table], int]:
    """The tables of ``keys`` held by ``address`` (on ``kernels``, or Arrow tables when None), and
    the bytes that crossed the wire."""
    from distributed.core import rpc

    from gpu_exec.cudf.wire import PackedTable, unpack
    from gpu_exec.executor.shuffle_store import decode_ipc

    stage_ids = sorted({k[1] for k in keys})
    try:
        # ``timeout`` bounds connecting only: Dask retries a refused connection until it expires,
        # which is how long a dead peer takes to be declared lost.
        async with rpc(address, timeout=connect_timeout, connection_args=dict(connection_args)) as peer:
            reply = await getattr(peer, FETCH_HANDLER)(keys=[list(k) for k in keys], packed=packed)
    except (OSError, asyncio.TimeoutError) as exc:  # CommClosedError is an OSError
        raise FetchFailed(address, stage_ids, f"{type(exc).__name__}: {exc}") from None
    missing = [tuple(k) for k, piece in zip(keys, reply["pieces"]) if piece is None]
    if missing:
        raise FetchFailed(address, stage_ids, f"{len(missing)} piece(s) are no longer there, e.g. {missing[0]}")
    tables: list[Table] = []
    nbytes = 0
    for piece in reply["pieces"]:
        if isinstance(piece, PackedTable):  # only sent when ``packed``: we run the cuDF backend
            tables.append(unpack(piece))
            nbytes += piece.nbytes
        else:
            view = memoryview(piece)
            arrow = decode_ipc(view)
            tables.append(arrow if kernels is None else kernels.from_arrow(arrow))
            nbytes += view.nbytes
    return tables, nbytes


async def fetch_pieces(
    requests: Mapping[str, Sequence[PieceKey]],
    *,
    local_address: str | None,
    store: ShuffleStore | None,
    connect_timeout: float,
    connection_args: Mapping[str, Any],
    count_bytes: Callable[[int], None] | None = None,
    kernels: Kernels | None = None,
) -> dict[PieceKey, Table]:
    """The pieces ``requests`` names, by worker address, as tables of ``kernels`` (None: Arrow
    tables). Pieces on ``local_address`` are read from ``store`` directly; the others are fetched
    from their workers concurrently, and the bytes received are reported to ``count_bytes``.
    Raises ``FetchFailed`` naming the first worker that failed."""
    out: dict[PieceKey, Table] = {}
    remote = {a: list(keys) for a, keys in requests.items() if keys and a != local_address}
    if local_address is not None and local_address in requests and store is not None:
        for key in requests[local_address]:
            try:
                out[key] = store.get(key, kernels)
            except KeyError:
                raise FetchFailed(local_address, [key[1]], f"piece {key} is no longer there") from None
    results = await asyncio.gather(
        *(_fetch_from_peer(a, keys, connect_timeout, connection_args, kernels,
                           _wants_packed(kernels, local_address, a))
          for a, keys in remote.items()),
        return_exceptions=True,
    )
    for (address, keys), result in zip(remote.items(), results):
        if isinstance(result, BaseException):
            raise result
        tables, nbytes = result
        out.update(zip(keys, tables))
        if count_bytes is not None:
            count_bytes(nbytes)
    return out
