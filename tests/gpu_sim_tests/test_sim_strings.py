"""The simulated pylibcudf.strings: libcudf's defaults (no LIKE escape, strip(None) = whitespace,
narep=None = a valid ''), character positions, strict scalar types."""

from __future__ import annotations

import sys
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "gpu_sim"))

import pylibcudf as plc

S = plc.strings
I32 = plc.DataType(plc.TypeId.INT32)
STR = plc.DataType(plc.TypeId.STRING)


def col(values: list, t: pa.DataType | None = None) -> plc.Column:
    return plc.Column.from_arrow(pa.array(values, t))


def values(c: plc.Column) -> list:
    return c.to_arrow().to_pylist()


def text(v: str | None) -> plc.Scalar:
    return plc.Scalar.from_py(v, STR)


def test_like_has_no_default_escape() -> None:
    s = col(["a%", "ab", "a\\b", None])
    assert values(S.contains.like(s, "a\\%")) == [False, False, True, None]  # "\\" is a plain character
    assert values(S.contains.like(s, "a\\%", "\\")) == [True, False, False, None]
    assert values(S.contains.like(s, "a_")) == [True, True, False, None]
    assert values(S.contains.like(col(["ab\\"]), "ab\\", "\\")) == [True]  # a trailing escape is literal


def test_case_is_unicode_aware() -> None:
    assert values(S.case.to_upper(col(["straße", None]))) == ["STRASSE", None]
    assert values(S.case.to_lower(col(["ΣΑΣ"]))) == ["σασ"]  # no final-sigma context rule


def test_lengths_are_int32() -> None:
    chars = S.attributes.count_characters(col(["hé", None]))
    assert chars.type().id() == plc.TypeId.INT32 and values(chars) == [2, None]
    assert values(S.attributes.count_bytes(col(["hé"]))) == [3]


def test_concatenate_narep_semantics() -> None:
    t = plc.Table([col(["a", None, "c"]), col(["x", "y", None])])
    assert values(S.combine.concatenate(t, text("-"))) == ["a-x", "-y", "c-"]  # None narep = valid ''
    assert values(S.combine.concatenate(t, text("-"), narep=text(None))) == ["a-x", None, None]
    NO = S.combine.SeparatorOnNulls.NO
    assert values(S.combine.concatenate(t, text("-"), narep=text(""), separate_nulls=NO)) == ["a-x", "y", "c"]
    with pytest.raises(ValueError):
        S.combine.concatenate(t, text("-"), col_narep=text("?"))


def test_find_and_affixes() -> None:
    s = col(["héllo", "", None])
    found = S.find.find(s, text("l"))
    assert found.type().id() == plc.TypeId.INT32 and values(found) == [2, -1, None]
    assert values(S.find.find(s, text(""))) == [0, 0, None]
    assert values(S.find.find(s, text("l"), 3)) == [3, -1, None]
    assert values(S.find.starts_with(s, text("hé"))) == [True, False, None]
    assert values(S.find.ends_with(s, col(["lo", "", "x"]))) == [True, True, None]
    with pytest.raises(RuntimeError):
        S.find.starts_with(s, text(None))


def test_slice_reads_int32_scalars_only() -> None:
    s = col(["héllo", None])
    i = lambda v: plc.Scalar.from_py(v, I32)
    assert values(S.slice.slice_strings(s, i(1), i(3))) == ["él", None]
    assert values(S.slice.slice_strings(s, i(-3), i(2**31 - 1))) == ["llo", None]  # Python-style negatives
    assert values(S.slice.slice_strings(s, i(1))) == ["", None]  # a missing stop is a valid 0
    with pytest.raises(TypeError):
        S.slice.slice_strings(s, plc.Scalar.from_py(1), plc.Scalar.from_py(3))  # INT64 would be reinterpreted
    per_row = S.slice.slice_strings(s, col([-1, 0], pa.int32()), col([2, 9], pa.int32()))
    assert values(per_row) == ["hé", None]  # columns: negative start is 0, not from the end


def test_strip_sets_and_whitespace() -> None:
    s = col(["\t xyhix \n", None])
    assert values(S.strip.strip(s)) == ["xyhix", None]
    assert values(S.strip.strip(s, S.SideType.LEFT, text("\t x"))) == ["yhix \n", None]
    with pytest.raises(RuntimeError):
        S.strip.strip(s, S.SideType.BOTH, text(None))


def test_replace_and_regex() -> None:
    s = col(["aaa", None])
    assert values(S.replace.replace(s, text("a"), text("b"), 2)) == ["bba", None]
    with pytest.raises(RuntimeError):
        S.replace.replace(s, text(""), text("b"))
    prog = S.regex_program.RegexProgram.create("^[0-9]+$", S.regex_flags.RegexFlags.DEFAULT)
    assert values(S.contains.matches_re(col(["12", "1a", None]), prog)) == [True, False, None]


def test_conversions() -> None:
    CI = S.convert.convert_integers
    assert values(CI.is_integer(col(["12", "+3", "-", "1e2", "3000000000", None]), I32)) == \
        [True, True, False, False, False, None]
    assert values(CI.to_integers(col(["12", None, "-7"]), I32)) == [12, None, -7]
    with pytest.raises(ValueError):
        CI.to_integers(col(["12x"]), I32)  # garbage on a device
    assert values(CI.from_integers(col([5, None, -3], pa.int8()))) == ["5", None, "-3"]
    fixed = S.convert.convert_fixed_point.from_fixed_point(col([Decimal("-0.05"), Decimal("3.00")], pa.decimal128(5, 2)))
    assert values(fixed) == ["-0.05", "3.00"]
    booleans = S.convert.convert_booleans.from_booleans(col([True, None, False]), text("true"), text("false"))
    assert values(booleans) == ["true", None, "false"]
