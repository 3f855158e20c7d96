"""Simulated ``pylibcudf.strings.convert.convert_datetime`` (models pylibcudf 26.10; libcudf
``cpp/src/strings/convert/convert_datetime.cu``): ``from_timestamps(timestamps, format,
input_strings_names)`` formats a TIMESTAMP_* column with strftime-like specifiers. Modelled:
``%Y`` (4+ digits, zero padded), ``%y``, ``%m``, ``%d``, ``%H``, ``%M``, ``%S``, ``%j``, ``%f``
(the unit's sub-second digits: 3/6/9, none for seconds), ``%%``; anything else is not modelled.
``input_strings_names`` is only read by the name specifiers (%a %A %b %B %p), which are not
modelled; it must be a STRING column. NULL rows stay NULL."""

from __future__ import annotations

from typing import Any

import numpy as np

from pylibcudf.column import Column
from pylibcudf.datetime import _civil, _counts, _days_from_civil
from pylibcudf.strings._common import STRING, typed_column
from pylibcudf.types import TypeId

__all__ = ["from_timestamps", "is_timestamp", "to_timestamps"]

_SUBSECOND_DIGITS = {TypeId.TIMESTAMP_DAYS: 0, TypeId.TIMESTAMP_SECONDS: 0, TypeId.TIMESTAMP_MILLISECONDS: 3,
                     TypeId.TIMESTAMP_MICROSECONDS: 6, TypeId.TIMESTAMP_NANOSECONDS: 9}


def from_timestamps(timestamps: Column, format: str, input_strings_names: Column,
                    stream: Any = None, mr: Any = None) -> Column:
    if not isinstance(format, str) or not format:
        raise RuntimeError("Format parameter must not be empty.")
    if not isinstance(input_strings_names, Column) or input_strings_names.type().id() != TypeId.STRING:
        raise TypeError("input_strings_names must be a STRING column")
    values, nulls, per_day = _counts(timestamps)
    days = np.floor_divide(values, per_day)
    within = values - days * per_day
    year, month, day = _civil(days)
    doy = days - _days_from_civil(year, np.ones_like(year), np.ones_like(year)) + 1
    digits = _SUBSECOND_DIGITS[timestamps.type().id()]
    units_per_second = per_day // 86_400 if per_day > 1 else 1
    seconds = within // units_per_second if per_day > 1 else np.zeros_like(within)
    subsecond = within % units_per_second if per_day > 1 else np.zeros_like(within)
    out: list[str | None] = []
    for i in range(len(values)):
        if nulls is not None and nulls[i]:
            out.append(None)
            continue
        fields = {"Y": f"{year[i]:04d}", "y": f"{year[i] % 100:02d}", "m": f"{month[i]:02d}", "d": f"{day[i]:02d}",
                  "H": f"{seconds[i] // 3600:02d}", "M": f"{seconds[i] // 60 % 60:02d}",
                  "S": f"{seconds[i] % 60:02d}", "j": f"{doy[i]:03d}",
                  "f": f"{subsecond[i]:0{digits}d}" if digits else "", "%": "%"}
        text, j = [], 0
        while j < len(format):
            c = format[j]
            if c == "%" and j + 1 < len(format):
                spec = format[j + 1]
                if spec not in fields:
                    raise NotImplementedError(f"from_timestamps format %{spec} is not modelled by the simulator")
                text.append(fields[spec])
                j += 2
            else:
                text.append(c)
                j += 1
        out.append("".join(text))
    return typed_column(out, STRING)


def to_timestamps(input: Column, timestamp_type: Any, format: str, stream: Any = None, mr: Any = None) -> Column:
    raise NotImplementedError("to_timestamps is not modelled by the simulator (gpu-exec does not call it)")


def is_timestamp(input: Column, format: str, stream: Any = None, mr: Any = None) -> Column:
    raise NotImplementedError("is_timestamp is not modelled by the simulator (gpu-exec does not call it)")



