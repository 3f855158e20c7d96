"""The simulated UCX comm: Dask's TCP comm underneath, UCX's serialization and frame handling on top
(see the package docstring for what is modelled)."""

from __future__ import annotations

import struct
import threading
from collections.abc import Collection
from typing import Any

from distributed.comm.addressing import unparse_host_port
from distributed.comm.core import CommClosedError
from distributed.comm.tcp import (
    TCP,
    BaseTCPBackend,
    TCPConnector,
    TCPListener,
    convert_stream_closed_error,
    read_bytes_rw,
)
from distributed.comm.utils import from_frames, to_frames
from distributed.utils import ensure_memoryview, nbytes
from tornado.iostream import StreamClosedError

__all__ = ["UCXX", "UCXXConnector", "UCXXListener", "UCXXBackend", "UCXXLegacyPrefix",
           "UCXXConnectorLegacyPrefix", "UCXXListenerLegacyPrefix", "UCXXBackendLegacyPrefix", "traffic"]

# What a UCX comm serializes with and accepts when its caller names nothing: "cuda" first.
DEFAULT_SERIALIZERS = ("cuda", "dask", "pickle", "error")

# Tornado is handed at most this much per write call (a frame of device memory can be gigabytes).
_WRITE_CHUNK = 1 << 30

_traffic_lock = threading.Lock()
_traffic = {"device_frames_sent": 0, "device_bytes_sent": 0,
            "device_frames_received": 0, "device_bytes_received": 0}


def traffic() -> dict[str, int]:
    """The device frames (cuda frames) this process's UCX comms sent and received, and their bytes.
    Simulator only: the real package keeps no such counters."""
    with _traffic_lock:
        return dict(_traffic)


def _count(direction: str, frames: int, nbytes_: int) -> None:
    if frames:
        with _traffic_lock:
            _traffic[f"device_frames_{direction}"] += frames
            _traffic[f"device_bytes_{direction}"] += nbytes_


def _rmm() -> Any:
    try:
        import rmm
    except ImportError:
        raise RuntimeError("In order to send/recv CUDA arrays, RMM is required.") from None
    return rmm


def _device_to_host(frame: Any, size: int) -> Any:
    """The bytes of the device frame ``frame`` (``size`` bytes), copied out of device memory as
    UCX's transfer would read them. Device memory UCX cannot send in one piece is refused."""
    iface = frame.__cuda_array_interface__
    if iface.get("strides") is not None:
        raise ValueError("UCX sends only C-contiguous device buffers (the frame has strides)")
    if iface.get("mask") is not None:
        raise ValueError("UCX cannot send a masked device array")
    if size == 0:
        return b""
    rmm = _rmm()
    # A cupy stand-in array: its memory is addressable device memory while ``adopted`` lives.
    adopted = frame._sim_adopt() if hasattr(frame, "_sim_adopt") else None
    # A copy at the frame's device address: fails, as a real transfer would, when the pointer is
    # not simulated device memory.
    host = rmm.DeviceBuffer(ptr=int(iface["data"][0]), size=size).copy_to_host()
    del adopted
    return host


def _host_to_device(data: Any) -> Any:
    """A received device frame: a new ``rmm.DeviceBuffer`` holding ``data``."""
    rmm = _rmm()
    if nbytes(data) == 0:
        return rmm.DeviceBuffer(size=0)
    return rmm.DeviceBuffer.to_device(data)


class UCXX(TCP):
    """A Dask comm on the ``ucx://`` scheme.

    Each message goes as: the number of frames (uint64), then for every frame whether it is device
    memory (bool) and its size (uint64), then the frames' bytes.
    """

    def __init__(self, stream: Any, local_addr: str, peer_addr: str, deserialize: bool = True) -> None:
        if local_addr:
            assert local_addr.startswith(("ucx://", "ucxx://")), local_addr
        assert peer_addr.startswith(("ucx://", "ucxx://")), peer_addr
        super().__init__(stream, local_addr, peer_addr, deserialize)

    @property
    def same_host(self) -> bool:
        # A connecting UCX comm has no local address to compare.
        return super().same_host if self._local_addr else False

    async def write(self, msg: Any, serializers: Collection[str] | None = None,
                    on_error: str = "message") -> int:
        stream = self.stream
        if stream is None:
            raise CommClosedError("Endpoint is closed -- unable to send message")
        if serializers is None:
            serializers = DEFAULT_SERIALIZERS
        # As UCX's comm: no frame splitting and no handshake context (it negotiates nothing).
        frames = await to_frames(msg, serializers=serializers, on_error=on_error,
                                 allow_offload=self.allow_offload)
        on_device = [hasattr(f, "__cuda_array_interface__") for f in frames]
        sizes = [nbytes(f) for f in frames]
        payload = [_device_to_host(f, size) if device else f for f, device, size in zip(frames, on_device, sizes)]
        header = struct.pack("Q", len(frames)) + struct.pack(f"{len(frames)}?{len(frames)}Q", *on_device, *sizes)
        try:
            done = stream.write(header)
            for data in payload:
                view = ensure_memoryview(data)
                for start in range(0, view.nbytes, _WRITE_CHUNK):
                    done = stream.write(view[start:start + _WRITE_CHUNK])
            await done
        except StreamClosedError as exc:
            self.stream = None
            self._closed = True
            convert_stream_closed_error(self, exc)
        except BaseException:
            # What reached the socket is unknown: the stream cannot be used again.
            self.abort()
            raise
        _count("sent", sum(on_device), sum(s for s, d in zip(sizes, on_device) if d))
        return sum(sizes)

    async def read(self, deserializers: Collection[str] | None = None) -> Any:
        stream = self.stream
        if stream is None:
            raise CommClosedError("UCX Endpoint is closed")
        if deserializers is None:
            deserializers = DEFAULT_SERIALIZERS
        try:
            (count,) = struct.unpack("Q", await stream.read_bytes(struct.calcsize("Q")))
            layout = f"{count}?{count}Q"
            described = struct.unpack(layout, await stream.read_bytes(struct.calcsize(layout)))
            on_device, sizes = described[:count], described[count:]
            # Host frames land in writable host buffers; device frames are received into device
            # buffers (here: read to the host, then copied to a new device buffer).
            frames = []
            for device, size in zip(on_device, sizes):
                data = await read_bytes_rw(stream, size)
                frames.append(_host_to_device(data) if device else data)
        except StreamClosedError as exc:
            self.stream = None
            self._closed = True
            convert_stream_closed_error(self, exc)
        except BaseException:
            self.abort()
            raise
        _count("received", sum(on_device), sum(s for s, d in zip(sizes, on_device) if d))
        try:
            return await from_frames(frames, deserialize=self.deserialize, deserializers=deserializers,
                                     allow_offload=self.allow_offload)
        except EOFError:
            self.abort()
            raise CommClosedError("Aborted stream on truncated data") from None


class UCXXConnector(TCPConnector):
    prefix = "ucx://"
    comm_class = UCXX
    encrypted = False

    async def connect(self, address: str, deserialize: bool = True, **connection_args: Any) -> UCXX:
        comm: UCXX = await super().connect(address, deserialize, **connection_args)
        comm._local_addr = ""  # a UCX endpoint that connected knows no local address
        return comm


class UCXXListener(TCPListener):
    prefix = UCXXConnector.prefix
    comm_class = UCXXConnector.comm_class
    encrypted = UCXXConnector.encrypted

    async def on_connection(self, comm: Any, handshake_overrides: dict[str, Any] | None = None) -> None:
        # UCX does not tell a listener who connected: an accepted comm names the listener at both ends.
        comm._local_addr = comm._peer_addr = self.prefix + unparse_host_port(*self.get_host_port())
        await super().on_connection(comm, handshake_overrides)


class UCXXBackend(BaseTCPBackend):
    _connector_class = UCXXConnector
    _listener_class = UCXXListener


# The ``ucxx://`` prefix distributed-ucxx used before it took over ``ucx://``: the same comm.
class UCXXLegacyPrefix(UCXX):
    pass


class UCXXConnectorLegacyPrefix(UCXXConnector):
    prefix = "ucxx://"
    comm_class = UCXXLegacyPrefix


class UCXXListenerLegacyPrefix(UCXXListener):
    prefix = UCXXConnectorLegacyPrefix.prefix
    comm_class = UCXXConnectorLegacyPrefix.comm_class


class UCXXBackendLegacyPrefix(UCXXBackend):
    _connector_class = UCXXConnectorLegacyPrefix
    _listener_class = UCXXListenerLegacyPrefix
