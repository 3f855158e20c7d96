"""The simulated pylibcudf.datetime: INT16 components, ISO weekday, month arithmetic with day
clamping, flooring."""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path

import pyarrow as pa
import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "gpu_sim"))

import pylibcudf as plc

D = plc.datetime


def col(values: list, t: pa.DataType | None = None) -> plc.Column:
    return plc.Column.from_arrow(pa.array(values, t))


DATES = col([dt.date(2024, 1, 31), dt.date(2023, 12, 31), dt.date(1969, 7, 20), None])
STAMPS = col([dt.datetime(2024, 2, 29, 23, 59, 58, 999000), dt.datetime(1969, 12, 31, 22, 30), None],
             pa.timestamp("ms"))


def values(c: plc.Column) -> list:
    return c.to_arrow().to_pylist()


def test_components_are_int16() -> None:
    year = D.extract_datetime_component(DATES, D.DatetimeComponent.YEAR)
    assert year.type().id() == plc.TypeId.INT16
    assert values(year) == [2024, 2023, 1969, None]
    assert values(D.extract_datetime_component(DATES, D.DatetimeComponent.MONTH)) == [1, 12, 7, None]
    assert values(D.extract_datetime_component(STAMPS, D.DatetimeComponent.HOUR)) == [23, 22, None]
    assert values(D.extract_datetime_component(STAMPS, D.DatetimeComponent.MILLISECOND)) == [999, 0, None]
    assert values(D.extract_quarter(DATES)) == [1, 4, 3, None]
    assert values(D.day_of_year(DATES)) == [31, 365, 201, None]


def test_weekday_is_iso() -> None:
    # 2024-01-31 Wednesday, 2023-12-31 Sunday, 1969-07-20 Sunday
    assert values(D.extract_datetime_component(DATES, D.DatetimeComponent.WEEKDAY)) == [3, 7, 7, None]


def test_add_calendrical_months_clamps_the_day() -> None:
    one = plc.Scalar.from_py(1, plc.DataType(plc.TypeId.INT32))
    assert values(D.add_calendrical_months(DATES, one)) == [dt.date(2024, 2, 29), dt.date(2024, 1, 31),
                                                           dt.date(1969, 8, 20), None]
    shifted = D.add_calendrical_months(STAMPS, col([-12, 2, 1], pa.int16()))
    assert values(shifted) == [dt.datetime(2023, 2, 28, 23, 59, 58, 999000), dt.datetime(1970, 2, 28, 22, 30), None]
    with pytest.raises(RuntimeError):
        D.add_calendrical_months(DATES, plc.Scalar.from_py(1))  # INT64 months are refused


def test_floor_and_type_checks() -> None:
    floored = D.floor_datetimes(STAMPS, D.RoundingFrequency.HOUR)
    assert values(floored) == [dt.datetime(2024, 2, 29, 23), dt.datetime(1969, 12, 31, 22), None]
    assert values(D.floor_datetimes(STAMPS, D.RoundingFrequency.DAY))[1] == dt.datetime(1969, 12, 31)
    with pytest.raises(RuntimeError):
        D.extract_quarter(col([1, 2]))
