"""A stand-in for ``cupy`` (the subset gpu-exec's cuDF kernels use), for the pylibcudf simulator.

``cupy.ndarray`` is a numpy array subclass whose memory is simulated device memory:
``ndarray(shape, dtype, memptr=cuda.MemoryPointer(cuda.UnownedMemory(ptr, size, owner), offset))``
views the bytes of a simulated device buffer (a ``gpumemoryview``/``rmm.DeviceBuffer``: no copy,
and the view keeps ``owner`` alive), and every array exposes ``__cuda_array_interface__``, so
``pylibcudf.Column.from_cuda_array_interface`` and ``gpumemoryview`` take it as device memory.
Arithmetic is numpy's (integer ops wrap, as cupy's do). Like cupy, mixing in a host numpy array
is a TypeError (numpy scalars are fine); ``asarray`` copies host data to the "device" and
``.get()`` / ``asnumpy`` copy back.
"""

from __future__ import annotations

import weakref

from typing import Any

import numpy as np

from cupy import cuda

__all__ = ["ndarray", "cuda", "asarray", "asnumpy", "zeros", "ones", "empty", "full", "arange", "where",
           "concatenate", "cumsum", "minimum", "maximum", "dtype", "nan", "bool_", "uint8", "uint16", "uint32",
           "uint64", "int8", "int16", "int32", "int64", "float32", "float64"]

__version__ = "14.0.0+simulated"

dtype = np.dtype
nan = np.nan
bool_, uint8, uint16, uint32, uint64 = np.bool_, np.uint8, np.uint16, np.uint32, np.uint64
int8, int16, int32, int64, float32, float64 = np.int8, np.int16, np.int32, np.int64, np.float32, np.float64


def _reject_host(values: Any) -> None:
    for v in values:
        if isinstance(v, (list, tuple)):
            _reject_host(v)
        elif isinstance(v, np.ndarray) and not isinstance(v, ndarray):
            raise TypeError(f"Unsupported type {type(v)} (cupy stand-in: a host numpy array mixed with device "
                            f"arrays; use cupy.asarray)")


def _plain(x: Any) -> Any:
    if isinstance(x, ndarray):
        return x.view(np.ndarray)
    if isinstance(x, (list, tuple)):
        return type(x)(_plain(v) for v in x)
    return x


def _device(x: Any) -> Any:
    """A numpy result as a device array (0-d results and scalars stay numpy scalars)."""
    if isinstance(x, np.ndarray) and not isinstance(x, ndarray):
        return x.view(ndarray)
    if isinstance(x, tuple):
        return tuple(_device(v) for v in x)
    return x


class ndarray(np.ndarray):  # noqa: N801 — cupy's name
    """A device array (numpy underneath)."""

    def __new__(cls, shape: Any, dtype: Any = float, memptr: cuda.MemoryPointer | None = None,
                strides: Any = None, order: str = "C") -> ndarray:
        if memptr is None:
            return np.zeros(shape, dtype=dtype, order=order).view(cls)
        buffer = memptr._host_view()
        arr = np.ndarray.__new__(cls, shape, dtype=dtype, buffer=buffer, offset=0, strides=strides, order=order)
        arr._sim_memptr = memptr  # keeps the owner of the memory alive, as cupy's UnownedMemory does
        return arr

    def __array_ufunc__(self, ufunc: Any, method: str, *inputs: Any, **kwargs: Any) -> Any:
        _reject_host(inputs)
        out = kwargs.get("out")
        if out is not None:
            kwargs["out"] = tuple(_plain(o) for o in out)
        result = getattr(ufunc, method)(*(_plain(i) for i in inputs), **kwargs)
        if out is not None:
            return out[0] if len(out) == 1 else out
        return _device(result)

    def get(self) -> np.ndarray:
        """A host copy."""
        return np.array(self.view(np.ndarray), copy=True)

    @property
    def __cuda_array_interface__(self) -> dict[str, Any]:
        plain = self.view(np.ndarray)
        iface = plain.__array_interface__
        return {"shape": iface["shape"], "typestr": iface["typestr"], "data": (iface["data"][0], False),
                "strides": None if plain.flags.c_contiguous else iface["strides"], "version": 3}

    def _sim_adopt(self) -> Any:
        """The simulated device allocation holding this array's memory: registered, and charged to
        the current rmm resource, while device code holds it (whoever takes the array keeps the
        returned allocation; adopting again while it lives gives the same one).

        The array remembers its allocation only weakly: the allocation holds a view of the
        array's memory, and numpy arrays are invisible to the cycle collector, so a strong
        reference back would keep every adopted array alive for ever."""
        from rmm._allocation import DeviceAllocation

        root: np.ndarray = self
        while isinstance(root.base, np.ndarray):
            root = root.base
        ref = getattr(root, "_sim_allocation_of_memory", None)
        cached = ref() if ref is not None else None
        if cached is None:
            whole = root.view(np.ndarray).reshape(-1).view(np.uint8)
            cached = DeviceAllocation(whole)
            try:
                root._sim_allocation_of_memory = weakref.ref(cached)  # a cupy stand-in array: has a __dict__
            except AttributeError:
                self._sim_allocation_of_memory = weakref.ref(cached)
        return cached


def asarray(a: Any, dtype: Any = None) -> ndarray:
    if isinstance(a, ndarray) and (dtype is None or a.dtype == np.dtype(dtype)):
        return a
    return np.array(_plain(a), dtype=dtype, copy=True).view(ndarray)


array = asarray


def asnumpy(a: Any) -> np.ndarray:
    return a.get() if isinstance(a, ndarray) else np.asarray(a)


def _wrapped(name: str) -> Any:
    fn = getattr(np, name)

    def call(*args: Any, **kwargs: Any) -> Any:
        _reject_host(args)
        return _device(fn(*(_plain(a) for a in args), **{k: _plain(v) for k, v in kwargs.items()}))

    call.__name__ = name
    call.__doc__ = f"cupy.{name} (numpy's, on simulated device arrays)"
    return call


zeros = _wrapped("zeros")
ones = _wrapped("ones")
empty = _wrapped("empty")
full = _wrapped("full")
arange = _wrapped("arange")
where = _wrapped("where")
concatenate = _wrapped("concatenate")
cumsum = _wrapped("cumsum")
minimum = _wrapped("minimum")
maximum = _wrapped("maximum")
repeat = _wrapped("repeat")
unique = _wrapped("unique")
searchsorted = _wrapped("searchsorted")


def __getattr__(name: str) -> Any:
    raise AttributeError(f"the cupy stand-in has no attribute {name!r} (gpu-exec does not call it; add it to "
                         f"tests/gpu_sim/cupy if it now does)")
