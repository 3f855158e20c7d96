"""Expression IR: immutable, typed expression trees that every backend evaluates the same way.

Every expression carries ``dtype``, the exact Arrow type DataFusion planned for it, so each kernel
call knows the result type it must produce (decimals included). Column references are positional
(an index into the input schema of the operator that owns the expression): DataFusion's qualified
names can repeat across a join (``l1.l_orderkey`` and ``l2.l_orderkey``) and positions cannot.

Strings are always ``pa.string()`` here: DataFusion types Parquet strings as Utf8View, which
translate/ maps to Utf8 so both backends work on one string type (cuDF has only one).
"""

from __future__ import annotations

import dataclasses
import enum
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Iterator

import pyarrow as pa

if TYPE_CHECKING:
    from planner.ir import PlanNode

__all__ = [
    "Expr",
    "ColumnRef",
    "Literal",
    "BinaryOperator",
    "BinaryOp",
    "UnaryOperator",
    "UnaryOp",
    "Cast",
    "Case",
    "InList",
    "Like",
    "ScalarFunction",
    "ScalarSubquery",
    "SortKey",
    "AggregateFunction",
    "AggregateCall",
    "WindowFunction",
    "WindowFrame",
    "WindowCall",
    "FRAMED_WINDOW_FUNCTIONS",
    "window_parameter",
    "child_exprs",
    "walk",
    "column_refs",
    "transform",
    "format_expr",
]


class Expr:
    """Base of every expression node. Subclasses are frozen dataclasses with a ``dtype`` field."""

    __slots__ = ()
    dtype: pa.DataType

    def children(self) -> tuple[Expr, ...]:
        return child_exprs(self)

    def __str__(self) -> str:
        return format_expr(self)


def child_exprs(node: Any) -> tuple[Any, ...]:
    """The direct sub-expressions of ``node``, derived from its dataclass fields (never hand-kept)."""
    out: list[Any] = []
    for f in dataclasses.fields(node):
        value = getattr(node, f.name)
        if isinstance(value, Expr):
            out.append(value)
        elif isinstance(value, tuple):
            for item in value:
                if isinstance(item, Expr):
                    out.append(item)
                elif isinstance(item, tuple):  # Case.whens: ((cond, value), ...)
                    out.extend(x for x in item if isinstance(x, Expr))
                elif isinstance(item, SortKey):
                    out.append(item.expr)
    return tuple(out)


def walk(expr: Expr) -> Iterator[Expr]:
    """Every node of ``expr``, parents before children."""
    yield expr
    for child in expr.children():
        yield from walk(child)


def column_refs(expr: Expr) -> set[int]:
    """The input column positions ``expr`` reads."""
    return {e.index for e in walk(expr) if isinstance(e, ColumnRef)}


def transform(expr: Any, fn: Any) -> Any:
    """Rebuild ``expr`` bottom-up, replacing every sub-expression ``e`` by ``fn(e)``; also walks
    the tuples, CASE branches and sort keys inside nodes."""

    def rebuild(value: Any) -> Any:
        if isinstance(value, (Expr, SortKey, AggregateCall, WindowCall)):
            return transform(value, fn)
        if isinstance(value, tuple):
            return tuple(rebuild(v) for v in value)
        return value

    changes = {}
    for f in dataclasses.fields(expr):
        value = getattr(expr, f.name)
        new = rebuild(value)
        if new is not value:
            changes[f.name] = new
    node = dataclasses.replace(expr, **changes) if changes else expr
    return fn(node) if isinstance(node, Expr) else node


@dataclass(frozen=True, slots=True)
class ColumnRef(Expr):
    """Column ``index`` of the owning operator's input (for joins: left columns, then right)."""

    index: int
    name: str
    dtype: pa.DataType


@dataclass(frozen=True, slots=True)
class Literal(Expr):
    """A constant. ``value`` is a Python value of ``dtype``: int, float, bool, str, Decimal,
    datetime.date / datetime.datetime, None (a typed NULL), or for ``pa.month_day_nano_interval()``
    a tuple ``(months, days, nanoseconds)``."""

    value: Any
    dtype: pa.DataType


class BinaryOperator(enum.Enum):
    """SQL binary operators; AND/OR are three-valued (Kleene)."""

    ADD = "+"
    SUBTRACT = "-"
    MULTIPLY = "*"
    DIVIDE = "/"  # integers truncate toward zero; decimals give the planned decimal type, truncated
    MODULO = "%"
    EQ = "="
    NOT_EQ = "!="
    LT = "<"
    LT_EQ = "<="
    GT = ">"
    GT_EQ = ">="
    AND = "AND"
    OR = "OR"
    IS_DISTINCT_FROM = "IS DISTINCT FROM"
    IS_NOT_DISTINCT_FROM = "IS NOT DISTINCT FROM"
    STRING_CONCAT = "||"  # any NULL operand gives NULL
    # Integer bit operators (both operands in the result type). A shift count is taken modulo
    # the type's bit width, as DataFusion's wrapping shifts do; >> is arithmetic on signed types.
    BITWISE_AND = "&"
    BITWISE_OR = "|"
    BITWISE_XOR = "BIT_XOR"  # SQL's ^; DataFusion names the operator BIT_XOR
    SHIFT_LEFT = "<<"
    SHIFT_RIGHT = ">>"

    @property
    def is_comparison(self) -> bool:
        return self in _COMPARISONS

    @property
    def is_arithmetic(self) -> bool:
        return self in _ARITHMETIC

    @property
    def is_bitwise(self) -> bool:
        return self in _BITWISE


_COMPARISONS = frozenset(
    {
        BinaryOperator.EQ,
        BinaryOperator.NOT_EQ,
        BinaryOperator.LT,
        BinaryOperator.LT_EQ,
        BinaryOperator.GT,
        BinaryOperator.GT_EQ,
        BinaryOperator.IS_DISTINCT_FROM,
        BinaryOperator.IS_NOT_DISTINCT_FROM,
    }
)
_BITWISE = frozenset(
    {
        BinaryOperator.BITWISE_AND,
        BinaryOperator.BITWISE_OR,
        BinaryOperator.BITWISE_XOR,
        BinaryOperator.SHIFT_LEFT,
        BinaryOperator.SHIFT_RIGHT,
    }
)
_ARITHMETIC = frozenset(
    {
        BinaryOperator.ADD,
        BinaryOperator.SUBTRACT,
        BinaryOperator.MULTIPLY,
        BinaryOperator.DIVIDE,
        BinaryOperator.MODULO,
    }
)


@dataclass(frozen=True, slots=True)
class BinaryOp(Expr):
    """``left op right``. Operand types are those DataFusion coerced them to (casts are explicit
    Cast nodes); date ± interval has a date/timestamp left and an interval right."""

    op: BinaryOperator
    left: Expr
    right: Expr
    dtype: pa.DataType


class UnaryOperator(enum.Enum):
    NOT = "NOT"  # three-valued: NOT NULL is NULL
    NEGATE = "-"
    IS_NULL = "IS NULL"
    IS_NOT_NULL = "IS NOT NULL"
    IS_TRUE = "IS TRUE"  # never NULL
    IS_FALSE = "IS FALSE"
    IS_NOT_TRUE = "IS NOT TRUE"
    IS_NOT_FALSE = "IS NOT FALSE"


@dataclass(frozen=True, slots=True)
class UnaryOp(Expr):
    op: UnaryOperator
    operand: Expr
    dtype: pa.DataType


@dataclass(frozen=True, slots=True)
class Cast(Expr):
    """CAST(operand AS dtype) with DataFusion's semantics (float/decimal → int truncates).
    ``safe=True`` is TRY_CAST: a value that does not convert becomes NULL instead of an error."""

    operand: Expr
    dtype: pa.DataType
    safe: bool = False


@dataclass(frozen=True, slots=True)
class Case(Expr):
    """Searched CASE: the first ``when`` that is TRUE (NULL counts as not true) picks its value;
    no match gives ``otherwise`` or NULL. The simple form ``CASE x WHEN v`` is rewritten by
    translate/ into ``x = v`` conditions."""

    whens: tuple[tuple[Expr, Expr], ...]
    otherwise: Expr | None
    dtype: pa.DataType


@dataclass(frozen=True, slots=True)
class InList(Expr):
    """``operand [NOT] IN (values...)`` with SQL NULL rules: a NULL operand, or no match in a list
    holding a NULL, gives NULL. ``values`` are Literals of the operand's type."""

    operand: Expr
    values: tuple[Expr, ...]
    negated: bool
    dtype: pa.DataType = dataclasses.field(default_factory=pa.bool_)


@dataclass(frozen=True, slots=True)
class Like(Expr):
    """``operand [NOT] [I]LIKE pattern [ESCAPE escape]``; ``%`` and ``_`` wildcards; the escape
    character defaults to backslash, as in DataFusion."""

    operand: Expr
    pattern: str
    negated: bool
    case_insensitive: bool
    escape: str | None
    dtype: pa.DataType = dataclasses.field(default_factory=pa.bool_)


@dataclass(frozen=True, slots=True)
class ScalarFunction(Expr):
    """A call of one of ``planner.functions.SCALAR_FUNCTIONS`` (by its canonical name)."""

    name: str
    args: tuple[Expr, ...]
    dtype: pa.DataType


@dataclass(frozen=True, slots=True)
class ScalarSubquery(Expr):
    """An uncorrelated subquery returning at most one row of one column; run before its parent,
    its value is substituted as a Literal (more than one row is an error, no row is NULL)."""

    plan: PlanNode
    dtype: pa.DataType


@dataclass(frozen=True, slots=True)
class SortKey:
    """One ORDER BY key. ``nulls_first`` is absolute (not relative to the direction)."""

    expr: Expr
    ascending: bool = True
    nulls_first: bool = False


class AggregateFunction(enum.Enum):
    SUM = "sum"
    AVG = "avg"
    MIN = "min"
    MAX = "max"
    COUNT = "count"  # COUNT(x): non-NULL values; COUNT(*) arrives from DataFusion as count(1)
    # Statistics of one Float64 argument (DataFusion casts every numeric argument to Float64).
    VAR_SAMP = "var_samp"
    VAR_POP = "var_pop"
    STDDEV_SAMP = "stddev_samp"
    STDDEV_POP = "stddev_pop"
    BOOL_AND = "bool_and"
    BOOL_OR = "bool_or"
    BIT_AND = "bit_and"  # of integers, in the argument's type
    BIT_OR = "bit_or"
    BIT_XOR = "bit_xor"
    MEDIAN = "median"  # exact; of Float64 (DataFusion casts integers), float32 or a decimal
    ANY_VALUE = "any_value"  # a non-NULL value of the group (NULL if none)
    FIRST_VALUE = "first_value"  # of the first row by the call's ORDER BY (NULL if its value is)
    LAST_VALUE = "last_value"
    NTH_VALUE = "nth_value"  # (value, constant n): the n-th row by ORDER BY, from the end if n < 0
    PERCENTILE_CONT = "percentile_cont"  # (Float64 value, constant fraction) ORDER BY the value
    STRING_AGG = "string_agg"  # (string value, constant delimiter) [ORDER BY ...]; NULLs skipped
    # Statistics of two Float64 arguments over the rows where both are non-NULL; regr_*(y, x).
    CORR = "corr"
    COVAR_SAMP = "covar_samp"
    COVAR_POP = "covar_pop"
    REGR_SLOPE = "regr_slope"
    REGR_INTERCEPT = "regr_intercept"
    REGR_COUNT = "regr_count"
    REGR_R2 = "regr_r2"
    REGR_AVGX = "regr_avgx"
    REGR_AVGY = "regr_avgy"
    REGR_SXX = "regr_sxx"
    REGR_SYY = "regr_syy"
    REGR_SXY = "regr_sxy"


@dataclass(frozen=True, slots=True)
class AggregateCall:
    """One aggregate of an Aggregate node: ``func([DISTINCT] args [ORDER BY order_by]) [FILTER
    (WHERE filter)]``. ``dtype`` is DataFusion's result type (SUM(decimal(p,s)) →
    decimal(min(38,p+10),s), AVG(decimal(p,s)) → decimal(p+4,s+4), COUNT → int64). ``order_by`` is
    kept only where the result depends on it (first_value, last_value, percentile_cont, string_agg)."""

    func: AggregateFunction
    args: tuple[Expr, ...]
    distinct: bool
    filter: Expr | None
    dtype: pa.DataType
    name: str
    order_by: tuple[SortKey, ...] = ()

    def children(self) -> tuple[Expr, ...]:
        return child_exprs(self)


class WindowFunction(enum.Enum):
    ROW_NUMBER = "row_number"
    RANK = "rank"
    DENSE_RANK = "dense_rank"
    SUM = "sum"
    AVG = "avg"
    MIN = "min"
    MAX = "max"
    COUNT = "count"
    # Window-only functions. lag/lead/first_value/last_value/nth_value keep the argument's type;
    # ntile is UInt64, percent_rank and cume_dist Float64 (DataFusion's types).
    LAG = "lag"
    LEAD = "lead"
    FIRST_VALUE = "first_value"
    LAST_VALUE = "last_value"
    NTH_VALUE = "nth_value"
    NTILE = "ntile"
    PERCENT_RANK = "percent_rank"
    CUME_DIST = "cume_dist"


# The functions whose result depends on the frame (the others see their whole partition, in order).
FRAMED_WINDOW_FUNCTIONS = frozenset({
    WindowFunction.SUM, WindowFunction.AVG, WindowFunction.MIN, WindowFunction.MAX, WindowFunction.COUNT,
    WindowFunction.FIRST_VALUE, WindowFunction.LAST_VALUE, WindowFunction.NTH_VALUE,
})


@dataclass(frozen=True, slots=True)
class WindowFrame:
    """A window frame: rows ``start`` to ``end`` around the current row of its partition.

    ``units`` "ROWS": the bounds count rows (-n is n PRECEDING, 0 CURRENT ROW, n n FOLLOWING);
    "GROUPS": they count peer groups (0 is the current row's group). "RANGE": 0 is the current
    row's first (start) or last (end) peer; no other offset exists here (RANGE offsets are refused
    at translate time). ``None`` is UNBOUNDED PRECEDING as the start, UNBOUNDED FOLLOWING as the
    end. The three SQL defaults are the class constants; translation returns them (never an equal
    copy) for those frames."""

    units: str
    start: int | None
    end: int | None

    WHOLE_PARTITION: ClassVar[WindowFrame]  # no ORDER BY (or a frame unbounded on both sides)
    RANGE_TO_CURRENT: ClassVar[WindowFrame]  # ORDER BY's default, peers included
    ROWS_TO_CURRENT: ClassVar[WindowFrame]

    @property
    def name(self) -> str:
        return next((n for n in _FRAME_NAMES if getattr(WindowFrame, n) == self), "") or self.sql()

    def sql(self) -> str:
        def bound(offset: int | None, unbounded: str) -> str:
            if offset is None:
                return f"UNBOUNDED {unbounded}"
            if offset == 0:
                return "CURRENT ROW"
            return f"{abs(offset)} {'PRECEDING' if offset < 0 else 'FOLLOWING'}"

        return f"{self.units} BETWEEN {bound(self.start, 'PRECEDING')} AND {bound(self.end, 'FOLLOWING')}"


_FRAME_NAMES = ("WHOLE_PARTITION", "RANGE_TO_CURRENT", "ROWS_TO_CURRENT")
WindowFrame.WHOLE_PARTITION = WindowFrame("ROWS", None, None)
WindowFrame.RANGE_TO_CURRENT = WindowFrame("RANGE", None, 0)
WindowFrame.ROWS_TO_CURRENT = WindowFrame("ROWS", None, 0)


@dataclass(frozen=True, slots=True)
class WindowCall:
    """``func(args) OVER (PARTITION BY ... ORDER BY ... frame)``; ranking functions take no args.

    lag/lead take ``(value, offset, default)``: the offset an int64 Literal (a NULL offset is 0, as
    DataFusion), the default an expression of the value's type or absent (NULL). nth_value takes
    ``(value, n)`` and ntile ``(n)``, n an int64 Literal (see ``window_parameter``).
    ``ignore_nulls``: IGNORE NULLS of lag/lead/first_value/last_value/nth_value."""

    func: WindowFunction
    args: tuple[Expr, ...]
    partition_by: tuple[Expr, ...]
    order_by: tuple[SortKey, ...]
    frame: WindowFrame
    dtype: pa.DataType
    name: str
    ignore_nulls: bool = False

    def children(self) -> tuple[Expr, ...]:
        return child_exprs(self)


def window_parameter(call: WindowCall) -> int | None:
    """The constant integer of lag/lead (the offset), nth_value and ntile (n); None for others
    (and for a NULL n, which gives NULL)."""
    position = {WindowFunction.LAG: 1, WindowFunction.LEAD: 1, WindowFunction.NTH_VALUE: 1,
                WindowFunction.NTILE: 0}.get(call.func)
    if position is None or position >= len(call.args):
        return None
    value = call.args[position]
    assert isinstance(value, Literal), "translation folds window parameters to literals"
    return None if value.value is None else int(value.value)


def format_expr(e: Any) -> str:
    """Readable SQL-like text for explain output and error messages."""
    if isinstance(e, ColumnRef):
        return f"{e.name}#{e.index}"
    if isinstance(e, Literal):
        if e.value is None:
            return f"NULL::{e.dtype}"
        return repr(e.value) if isinstance(e.value, str) else str(e.value)
    if isinstance(e, BinaryOp):
        return f"({format_expr(e.left)} {e.op.value} {format_expr(e.right)})"
    if isinstance(e, UnaryOp):
        if e.op in (UnaryOperator.NOT, UnaryOperator.NEGATE):
            return f"{e.op.value} {format_expr(e.operand)}"
        return f"{format_expr(e.operand)} {e.op.value}"
    if isinstance(e, Cast):
        return f"{'TRY_CAST' if e.safe else 'CAST'}({format_expr(e.operand)} AS {e.dtype})"
    if isinstance(e, Case):
        whens = " ".join(f"WHEN {format_expr(c)} THEN {format_expr(v)}" for c, v in e.whens)
        other = f" ELSE {format_expr(e.otherwise)}" if e.otherwise is not None else ""
        return f"CASE {whens}{other} END"
    if isinstance(e, InList):
        values = ", ".join(format_expr(v) for v in e.values)
        return f"{format_expr(e.operand)} {'NOT IN' if e.negated else 'IN'} ({values})"
    if isinstance(e, Like):
        op = ("NOT " if e.negated else "") + ("ILIKE" if e.case_insensitive else "LIKE")
        return f"{format_expr(e.operand)} {op} {e.pattern!r}"
    if isinstance(e, ScalarFunction):
        return f"{e.name}({', '.join(format_expr(a) for a in e.args)})"
    if isinstance(e, ScalarSubquery):
        return "(<scalar subquery>)"
    if isinstance(e, SortKey):
        return (
            f"{format_expr(e.expr)} {'ASC' if e.ascending else 'DESC'} "
            f"NULLS {'FIRST' if e.nulls_first else 'LAST'}"
        )
    if isinstance(e, AggregateCall):
        args = ", ".join(format_expr(a) for a in e.args) or "*"
        order = f" ORDER BY {', '.join(format_expr(k) for k in e.order_by)}" if e.order_by else ""
        text = f"{e.func.value}({'DISTINCT ' if e.distinct else ''}{args}{order})"
        return text + (f" FILTER (WHERE {format_expr(e.filter)})" if e.filter is not None else "")
    if isinstance(e, WindowCall):
        args = ", ".join(format_expr(a) for a in e.args)
        over = []
        if e.partition_by:
            over.append("PARTITION BY " + ", ".join(format_expr(p) for p in e.partition_by))
        if e.order_by:
            over.append("ORDER BY " + ", ".join(format_expr(k) for k in e.order_by))
        if e.func in FRAMED_WINDOW_FUNCTIONS and e.frame not in (WindowFrame.WHOLE_PARTITION, WindowFrame.RANGE_TO_CURRENT):
            over.append(e.frame.sql())
        nulls = " IGNORE NULLS" if e.ignore_nulls else ""
        return f"{e.func.value}({args}){nulls} OVER ({' '.join(over)})"
    return repr(e)
