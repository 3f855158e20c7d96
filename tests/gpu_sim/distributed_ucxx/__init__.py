"""A stand-in for distributed-ucxx 0.46 (Dask's UCX comm), for running gpu-exec's GPU clusters on the
pylibcudf simulator (tests/gpu_sim).

The real package registers the ``ucx://`` scheme (and ``ucxx://``, its older prefix) as a Dask comm
backend. What gpu-exec relies on, and this stand-in models:

- a comm on either scheme offers Dask's "cuda" serialization family first: a message is written
  with the serializers ``("cuda", "dask", "pickle", "error")`` unless the caller names others, and
  read with the same list as its deserializers, so an object registered with ``cuda_serialize``
  (gpu-exec's packed device tables, gpu_exec/cudf/wire.py) travels as its cuda frames;
- a frame that exposes ``__cuda_array_interface__`` is device memory: the sender copies it out of
  the (simulated) device and the receiver allocates an ``rmm.DeviceBuffer`` for it, so a cuda
  frame arrives as an ``rmm.DeviceBuffer`` — never as host bytes — and every other frame as a
  writable host buffer, as UCX delivers them;
- the addresses a comm reports: a connecting comm has no local address (""), an accepted one
  reports the listener's address as both ends (UCX does not tell a listener who called).

The bytes go over a TCP socket underneath (Dask's TCP comm: its connector, listener and stream
handling), framed as UCX's own protocol frames them: the frame count, then each frame's device
flag and size, then the frames. UCX's transports, its configuration (``distributed.comm.ucx``) and
CUDA context handling are not modelled.

Registration: the real package is found through its ``distributed.comm.backends`` entry points; the
stand-in is not an installed distribution, so it registers both schemes when imported. Dask itself
imports ``distributed_ucxx`` whenever it is importable (``distributed.comm._register_transports``),
which with tests/gpu_sim on ``PYTHONPATH`` is in every process of a simulated cluster; importing it
later (as ``gpu-exec executor --protocol ucx`` does) replaces the "ucx was removed" placeholder
Dask registers when it does not find the package.
"""

from __future__ import annotations

from distributed.comm.registry import backends

from distributed_ucxx.ucxx import UCXXBackend, UCXXBackendLegacyPrefix, traffic

__all__ = ["UCXXBackend", "UCXXBackendLegacyPrefix", "__version__", "__git_commit__", "SIMULATED", "traffic"]

__version__ = "0.46.0+simulated"
__git_commit__ = ""
SIMULATED = True  # not in the real package: lets a test tell the stand-in apart

backends["ucx"] = UCXXBackend()
backends["ucxx"] = UCXXBackendLegacyPrefix()
