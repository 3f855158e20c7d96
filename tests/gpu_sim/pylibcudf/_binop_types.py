"""The type rules of simulated ``pylibcudf.binaryop`` (pylibcudf 26.10): libcudf's common types and
which (output, lhs, rhs, operator) combinations it supports.

Models ``cpp/include/cudf/binaryop.hpp`` (``binary_op_common_type``), ``cpp/src/binaryop/
compiled/util.cpp`` (``get_common_type``, ``is_supported_operation``) and ``operation.cuh``:

- the common type of two types is C++'s ``std::common_type`` (the usual arithmetic conversions:
  bool/8/16-bit ints promote to INT32 unless both sides have one type; a float wins; signed vs
  unsigned by rank), a decimal with an int, bool or float is the decimal, two timestamps (or two
  durations) are the finer one; decimals of different widths have none;
- the kernel computes in the common type of (output, lhs, rhs), else of (lhs, rhs), else on the
  operand types themselves (timestamp ± duration, duration × int);
- comparisons and logical operators need a BOOL8 output; other results must be constructible
  into the output type (a timestamp result needs a timestamp output at least as fine).
"""

from __future__ import annotations

from pylibcudf import _fixed_width as fw
from pylibcudf.types import DataType, TypeId

__all__ = ["common_type", "compute_type", "result_kind", "COMPARISONS", "LOGICAL", "NULL_AWARE", "ARITHMETIC"]

_RANK = {TypeId.INT8: 1, TypeId.UINT8: 1, TypeId.INT16: 2, TypeId.UINT16: 2, TypeId.INT32: 3,
         TypeId.UINT32: 3, TypeId.INT64: 4, TypeId.UINT64: 4}
_UNSIGNED = {TypeId.UINT8, TypeId.UINT16, TypeId.UINT32, TypeId.UINT64}
_TO_UNSIGNED = {TypeId.INT32: TypeId.UINT32, TypeId.INT64: TypeId.UINT64}

COMPARISONS = frozenset({"EQUAL", "NOT_EQUAL", "LESS", "GREATER", "LESS_EQUAL", "GREATER_EQUAL",
                         "NULL_EQUALS", "NULL_NOT_EQUALS"})
LOGICAL = frozenset({"LOGICAL_AND", "LOGICAL_OR", "NULL_LOGICAL_AND", "NULL_LOGICAL_OR"})
NULL_AWARE = frozenset({"NULL_EQUALS", "NULL_NOT_EQUALS", "NULL_MAX", "NULL_MIN", "NULL_LOGICAL_AND",
                        "NULL_LOGICAL_OR"})
ARITHMETIC = frozenset({"ADD", "SUB", "MUL", "DIV", "NULL_MIN", "NULL_MAX", "MOD", "PMOD", "PYMOD"})


def _promote(tid: TypeId) -> TypeId:
    """C++ integral promotion: bool and ints narrower than int become int."""
    if tid == TypeId.BOOL8 or (tid in _RANK and _RANK[tid] < 3):
        return TypeId.INT32
    return tid


def _arith_common(a: TypeId, b: TypeId) -> TypeId:
    if TypeId.FLOAT64 in (a, b):
        return TypeId.FLOAT64
    if TypeId.FLOAT32 in (a, b):
        return TypeId.FLOAT32
    a, b = _promote(a), _promote(b)
    if a == b:
        return a
    ua, ub = a in _UNSIGNED, b in _UNSIGNED
    if ua == ub:
        return a if _RANK[a] >= _RANK[b] else b
    unsigned, signed = (a, b) if ua else (b, a)
    if _RANK[unsigned] >= _RANK[signed]:
        return unsigned
    if _RANK[signed] > _RANK[unsigned]:  # the signed type holds every value of the unsigned one
        return signed
    return _TO_UNSIGNED[signed]


def _finer(a: TypeId, b: TypeId) -> TypeId:
    return a if fw.NANOS_PER_TICK[a] <= fw.NANOS_PER_TICK[b] else b


def common_type(a: DataType, b: DataType) -> DataType | None:
    """``binary_op_common_type`` of two types, or None."""
    if a == b or (a.id() == b.id() and fw.kind(a) == "decimal"):
        return a
    ka, kb = fw.kind(a), fw.kind(b)
    numeric = ("bool", "int", "float")
    if ka in numeric and kb in numeric:
        return DataType(_arith_common(a.id(), b.id()))
    if ka == "decimal" and kb in numeric:
        return a
    if kb == "decimal" and ka in numeric:
        return b
    if ka == kb and ka in ("timestamp", "duration"):
        return DataType(_finer(a.id(), b.id()))
    if ka == kb == "string":
        return a
    return None


def compute_type(out: DataType, lhs: DataType, rhs: DataType) -> DataType | None:
    """``get_common_type``: of (out, lhs, rhs) if it exists, else of (lhs, rhs)."""
    first = common_type(out, lhs)
    if first is not None:
        both = common_type(first, rhs)
        if both is not None:
            return both
    return common_type(lhs, rhs)


def _timestamp_of(duration_or_ts: TypeId) -> TypeId:
    return TypeId(duration_or_ts - (TypeId.DURATION_DAYS - TypeId.TIMESTAMP_DAYS)) \
        if duration_or_ts >= TypeId.DURATION_DAYS else duration_or_ts


def _duration_of(ts: TypeId) -> TypeId:
    return TypeId(ts + (TypeId.DURATION_DAYS - TypeId.TIMESTAMP_DAYS)) if ts < TypeId.DURATION_DAYS else ts


def _result_of(op: str, lhs: DataType, rhs: DataType) -> DataType | str | None:
    """The kind of value the operator yields on these operand types (a DataType for chrono results,
    "int"/"float"/"bool"/"decimal" otherwise), or None when C++ cannot apply it."""
    t = common_type(lhs, rhs)
    ka, kb = fw.kind(lhs), fw.kind(rhs)
    if t is None:
        if op in ("ADD", "SUB") and ka == "timestamp" and kb == "duration":
            return DataType(_timestamp_of(_finer(lhs.id(), rhs.id())))
        if op == "ADD" and ka == "duration" and kb == "timestamp":
            return DataType(_timestamp_of(_finer(lhs.id(), rhs.id())))
        if op == "MUL" and {ka, kb} == {"duration", "int"}:
            return lhs if ka == "duration" else rhs
        if op in ("DIV", "MOD", "PYMOD") and ka == "duration" and kb == "int":
            return lhs
        return None
    k = fw.kind(t)
    if k in ("bool", "int", "float"):
        floating = k == "float"
        if op in ("ADD", "SUB", "MUL", "DIV", "MOD", "PMOD", "PYMOD", "FLOOR_DIV"):
            return "float" if floating else "int"
        if op in ("NULL_MAX", "NULL_MIN"):
            return k
        if op in ("TRUE_DIV", "POW", "LOG_BASE", "ATAN2"):
            return "float"
        if op in ("INT_POW", "BITWISE_AND", "BITWISE_OR", "BITWISE_XOR", "SHIFT_LEFT", "SHIFT_RIGHT",
                  "SHIFT_RIGHT_UNSIGNED"):
            return None if floating or (op == "SHIFT_RIGHT_UNSIGNED" and k == "bool") else "int"
        return None
    if k == "decimal":
        return "decimal" if op in ARITHMETIC else None
    if k == "timestamp":
        if op == "SUB":
            return DataType(_duration_of(t.id()))
        return t if op in ("NULL_MAX", "NULL_MIN") else None
    if k == "duration":
        if op in ("ADD", "SUB", "MOD", "PYMOD", "NULL_MAX", "NULL_MIN"):
            return t
        if op == "DIV":
            return "int"
        return None
    return None


def _constructible(result: DataType | str, out: DataType) -> bool:
    ko = fw.kind(out)
    if isinstance(result, DataType):
        kr = fw.kind(result)
        # chrono → chrono of the same kind, only toward a finer (or the same) unit
        return ko == kr and fw.NANOS_PER_TICK[out.id()] <= fw.NANOS_PER_TICK[result.id()]
    if result == "decimal":
        return ko in ("decimal", "bool", "int", "float")
    if result == "int":
        return ko in ("bool", "int", "float", "decimal", "duration")
    if result in ("float", "bool"):
        return ko in ("bool", "int", "float", "decimal")
    return False


def result_kind(out: DataType, lhs: DataType, rhs: DataType, op: str) -> DataType | str | None:
    """What the operator produces when libcudf supports (out, lhs, rhs, op), else None."""
    if op in COMPARISONS or op in LOGICAL:
        if out.id() != TypeId.BOOL8:
            return None
        t = common_type(lhs, rhs)
        if t is None:
            return None
        if op in LOGICAL and fw.kind(t) not in ("bool", "int", "float"):
            return None
        return "bool"
    if op in ("NULL_MAX", "NULL_MIN") and lhs.id() == rhs.id() == out.id() == TypeId.STRING:
        return "string"
    result = _result_of(op, lhs, rhs)
    if result is None or not _constructible(result, out):
        return None
    return result
