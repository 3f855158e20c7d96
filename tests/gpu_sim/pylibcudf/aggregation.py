"""Simulated ``pylibcudf.aggregation`` (models pylibcudf 26.10, ``aggregation.pyx``; libcudf
``cpp/include/cudf/aggregation.hpp`` and ``cpp/include/cudf/detail/aggregation/aggregation.hpp``).

An ``Aggregation`` is made only by the factories, carries its ``Kind`` and parameters, and knows
which algorithms accept it (libcudf's class hierarchy: e.g. ANY/ALL are reduce-only, RANK is a
scan aggregation, MEAN has no scan).
Using it where libcudf's dynamic cast fails raises ``NotImplementedError`` as pylibcudf does.

Runtime defaults are the ``.pyx`` ones, which differ from the stubs: ``count(null_handling)``
defaults to EXCLUDE, ``nunique`` to EXCLUDE, ``nth_element`` to INCLUDE.

``target_type`` gives libcudf's result type of an aggregation over a type (``target_type_impl``):
SUM of any integer (bool included) → INT64, of a float or decimal or duration → the same type;
MEAN of a number → FLOAT64, of a decimal or duration → the same type; COUNT/NUNIQUE/ARGMIN/ARGMAX
→ INT32; MIN/MAX/NTH_ELEMENT → the input type; VARIANCE/STD/MEDIAN/QUANTILE → FLOAT64.
"""

from __future__ import annotations

from enum import IntEnum
from typing import Any

from pylibcudf import _sim
from pylibcudf.types import (
    DataType,
    Interpolation,
    NanEquality,
    NullEquality,
    NullOrder,
    NullPolicy,
    Order,
    TypeId,
)

__all__ = [
    "Aggregation",
    "CorrelationType",
    "EWMHistory",
    "Kind",
    "RankMethod",
    "RankPercentage",
    "all",
    "any",
    "argmax",
    "argmin",
    "collect_list",
    "collect_set",
    "count",
    "is_valid_aggregation",
    "max",
    "mean",
    "median",
    "min",
    "nth_element",
    "nunique",
    "product",
    "quantile",
    "rank",
    "row_number",
    "std",
    "sum",
    "sum_of_squares",
    "variance",
]

_builtin_min, _builtin_max, _builtin_any, _builtin_all, _builtin_sum = min, max, any, all, sum


class Kind(IntEnum):
    """``cudf::aggregation::Kind`` (the names pylibcudf exposes, libcudf's values)."""

    SUM = 0
    PRODUCT = 2
    MIN = 3
    MAX = 4
    COUNT_VALID = 5
    COUNT_ALL = 6
    ANY = 7
    ALL = 8
    SUM_OF_SQUARES = 9
    MEAN = 10
    M2 = 11
    VARIANCE = 12
    STD = 13
    MEDIAN = 14
    QUANTILE = 15
    ARGMAX = 16
    ARGMIN = 17
    NUNIQUE = 18
    NTH_ELEMENT = 19
    ROW_NUMBER = 20
    EWMA = 21
    RANK = 22
    COLLECT_LIST = 23
    COLLECT_SET = 24
    LEAD = 25
    LAG = 26
    HOST_UDF = 29
    MERGE_LISTS = 30
    MERGE_SETS = 31
    MERGE_M2 = 32
    COVARIANCE = 33
    CORRELATION = 34
    TDIGEST = 35
    MERGE_TDIGEST = 36
    HISTOGRAM = 37
    MERGE_HISTOGRAM = 38
    BITWISE_AGG = 39


class RankMethod(IntEnum):
    FIRST = 0
    AVERAGE = 1
    MIN = 2
    MAX = 3
    DENSE = 4


class RankPercentage(IntEnum):
    NONE = 0
    ZERO_NORMALIZED = 1
    ONE_NORMALIZED = 2


class CorrelationType(IntEnum):
    PEARSON = 0
    KENDALL = 1
    SPEARMAN = 2


class EWMHistory(IntEnum):
    INFINITE = 0
    FINITE = 1


# The algorithms each kind's libcudf class derives from (groupby, groupby_scan, reduce, scan, rolling).
_GB, _GBS, _RED, _SCAN, _ROLL = "groupby", "groupby_scan", "reduce", "scan", "rolling"
_ALGORITHMS: dict[Kind, frozenset[str]] = {
    Kind.SUM: frozenset({_GB, _GBS, _RED, _SCAN, _ROLL}),
    Kind.PRODUCT: frozenset({_GB, _GBS, _RED, _SCAN}),
    Kind.MIN: frozenset({_GB, _GBS, _RED, _SCAN, _ROLL}),
    Kind.MAX: frozenset({_GB, _GBS, _RED, _SCAN, _ROLL}),
    Kind.COUNT_VALID: frozenset({_GB, _GBS, _RED, _SCAN, _ROLL}),
    Kind.COUNT_ALL: frozenset({_GB, _GBS, _RED, _SCAN, _ROLL}),
    Kind.ANY: frozenset({_RED}),
    Kind.ALL: frozenset({_RED}),
    Kind.SUM_OF_SQUARES: frozenset({_GB, _RED}),
    Kind.MEAN: frozenset({_GB, _RED, _ROLL}),
    Kind.VARIANCE: frozenset({_GB, _RED, _ROLL}),
    Kind.STD: frozenset({_GB, _RED, _ROLL}),
    Kind.MEDIAN: frozenset({_GB, _RED}),
    Kind.QUANTILE: frozenset({_GB, _RED}),
    Kind.ARGMAX: frozenset({_GB, _RED, _ROLL}),
    Kind.ARGMIN: frozenset({_GB, _RED, _ROLL}),
    Kind.NUNIQUE: frozenset({_GB, _RED}),
    Kind.NTH_ELEMENT: frozenset({_GB, _RED, _ROLL}),
    Kind.ROW_NUMBER: frozenset({_ROLL}),
    Kind.RANK: frozenset({_GBS, _SCAN, _ROLL}),
    Kind.COLLECT_LIST: frozenset({_GB, _RED, _ROLL}),
    Kind.COLLECT_SET: frozenset({_GB, _RED, _ROLL}),
}


class Aggregation:
    """An aggregation kind and its parameters; build one with a factory function."""

    __slots__ = ("_kind", "_params")

    def __init__(self) -> None:
        raise ValueError("Aggregations should not be constructed directly. Use one of the factories.")

    @classmethod
    def _make(cls, kind: Kind, **params: Any) -> Aggregation:
        agg = object.__new__(cls)
        agg._kind, agg._params = kind, params
        return agg

    def kind(self) -> Kind:
        return self._kind

    def _param(self, name: str) -> Any:
        return self._params[name]

    def _require(self, algorithm: str) -> None:
        """pylibcudf's dynamic cast to the algorithm's aggregation class."""
        if algorithm not in _ALGORITHMS.get(self._kind, frozenset()):
            raise NotImplementedError(f"{self} aggregations are not supported by {algorithm}")

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Aggregation) and (self._kind, self._params) == (other._kind, other._params)

    def __hash__(self) -> int:
        return hash((self._kind, tuple(sorted(self._params.items()))))

    def __repr__(self) -> str:
        return f"<Aggregation({self._kind!r})>"


def _policy(value: Any, what: str = "null_handling") -> NullPolicy:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{what} must be a NullPolicy, not {type(value).__name__}")
    return NullPolicy(int(value))


def sum() -> Aggregation:
    return Aggregation._make(Kind.SUM)


def product() -> Aggregation:
    return Aggregation._make(Kind.PRODUCT)


def min() -> Aggregation:
    return Aggregation._make(Kind.MIN)


def max() -> Aggregation:
    return Aggregation._make(Kind.MAX)


def count(null_handling: NullPolicy = NullPolicy.EXCLUDE) -> Aggregation:
    """COUNT_VALID for EXCLUDE (the runtime default), COUNT_ALL for INCLUDE."""
    policy = _policy(null_handling)
    return Aggregation._make(Kind.COUNT_ALL if policy == NullPolicy.INCLUDE else Kind.COUNT_VALID)


def any() -> Aggregation:
    return Aggregation._make(Kind.ANY)


def all() -> Aggregation:
    return Aggregation._make(Kind.ALL)


def sum_of_squares() -> Aggregation:
    return Aggregation._make(Kind.SUM_OF_SQUARES)


def mean() -> Aggregation:
    return Aggregation._make(Kind.MEAN)


def variance(ddof: int = 1) -> Aggregation:
    return Aggregation._make(Kind.VARIANCE, ddof=int(ddof))


def std(ddof: int = 1) -> Aggregation:
    return Aggregation._make(Kind.STD, ddof=int(ddof))


def median() -> Aggregation:
    return Aggregation._make(Kind.MEDIAN)


def quantile(quantiles: list[float], interp: Interpolation = Interpolation.LINEAR) -> Aggregation:
    if not isinstance(quantiles, list):
        raise TypeError("quantiles must be a list")
    return Aggregation._make(Kind.QUANTILE, quantiles=tuple(float(q) for q in quantiles),
                             interp=Interpolation(int(interp)))


def argmax() -> Aggregation:
    return Aggregation._make(Kind.ARGMAX)


def argmin() -> Aggregation:
    return Aggregation._make(Kind.ARGMIN)


def nunique(null_handling: NullPolicy = NullPolicy.EXCLUDE) -> Aggregation:
    return Aggregation._make(Kind.NUNIQUE, null_handling=_policy(null_handling))


def nth_element(n: int, null_handling: NullPolicy = NullPolicy.INCLUDE) -> Aggregation:
    return Aggregation._make(Kind.NTH_ELEMENT, n=int(n), null_handling=_policy(null_handling))


def collect_list(null_handling: NullPolicy = NullPolicy.INCLUDE) -> Aggregation:
    return Aggregation._make(Kind.COLLECT_LIST, null_handling=_policy(null_handling))


def collect_set(null_handling: NullPolicy = NullPolicy.INCLUDE, nulls_equal: NullEquality = NullEquality.EQUAL,
                nans_equal: NanEquality = NanEquality.ALL_EQUAL) -> Aggregation:
    return Aggregation._make(Kind.COLLECT_SET, null_handling=_policy(null_handling),
                             nulls_equal=NullEquality(int(nulls_equal)), nans_equal=NanEquality(int(nans_equal)))


def rank(method: RankMethod, column_order: Order = Order.ASCENDING, null_handling: NullPolicy = NullPolicy.EXCLUDE,
         null_precedence: NullOrder = NullOrder.AFTER, percentage: RankPercentage = RankPercentage.NONE) -> Aggregation:
    return Aggregation._make(Kind.RANK, method=RankMethod(int(method)), column_order=Order(int(column_order)),
                             null_handling=_policy(null_handling), null_precedence=NullOrder(int(null_precedence)),
                             percentage=RankPercentage(int(percentage)))


def row_number() -> Aggregation:
    return Aggregation._make(Kind.ROW_NUMBER)


# ---- libcudf's result types --------------------------------------------------------------------

_INTEGRAL = _sim.INTEGER_IDS | {TypeId.BOOL8}
_NUMERIC = _INTEGRAL | _sim.FLOAT_IDS  # cudf::is_numeric: integers, bool, floats


def target_type(source: DataType, agg: Aggregation) -> DataType | None:
    """libcudf's ``target_type_t<Source, kind>`` as a DataType, None where it is void (the
    combination is invalid)."""
    tid, kind = source.id(), agg.kind()
    if tid in (TypeId.EMPTY, TypeId.LIST, TypeId.STRUCT):
        return None
    if kind in (Kind.MIN, Kind.MAX, Kind.NTH_ELEMENT):
        return source
    if kind in (Kind.COUNT_VALID, Kind.COUNT_ALL, Kind.NUNIQUE, Kind.ARGMIN, Kind.ARGMAX, Kind.ROW_NUMBER):
        return DataType(TypeId.INT32)
    if kind in (Kind.ANY, Kind.ALL):
        return DataType(TypeId.BOOL8)
    if kind in (Kind.SUM, Kind.PRODUCT, Kind.SUM_OF_SQUARES):
        if tid in _INTEGRAL:
            return DataType(TypeId.INT64)
        if tid in _sim.FLOAT_IDS:
            return source
        if kind == Kind.SUM and (tid in _sim.DECIMAL_IDS or tid in _sim.DURATION_IDS):
            return source
        return None
    if kind == Kind.MEAN:
        if tid in _NUMERIC:
            return DataType(TypeId.FLOAT64)
        if tid in _sim.DECIMAL_IDS or tid in _sim.DURATION_IDS:
            return source
        return None
    if kind in (Kind.VARIANCE, Kind.STD, Kind.MEDIAN, Kind.QUANTILE):
        return DataType(TypeId.FLOAT64)
    if kind == Kind.RANK:
        percentage = agg._param("percentage") != RankPercentage.NONE
        return DataType(TypeId.FLOAT64) if percentage or agg._param("method") == RankMethod.AVERAGE \
            else DataType(TypeId.INT32)
    return None


def is_valid_aggregation(source: DataType, agg: Aggregation) -> bool:
    """Whether libcudf's groupby can aggregate ``source`` with ``agg`` (``cudf::detail::
    is_valid_aggregation``: the target type is not void)."""
    if not isinstance(source, DataType) or not isinstance(agg, Aggregation):
        raise TypeError("is_valid_aggregation takes a DataType and an Aggregation")
    return target_type(source, agg) is not None
