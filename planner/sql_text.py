"""What gpu-exec reads in the SQL text itself, outside literals and comments.

DataFusion's plans keep neither the declared types of a CREATE EXTERNAL TABLE's columns nor the
placeholders' order, and DataFusion 55 does not parse two forms clients send: Postgres' and
DuckDB's ``COPY ... TO ... (FORMAT parquet)`` and JDBC's ``?`` placeholders. A small tokenizer
(strings, quoted identifiers, comments, words, placeholders) finds them here; the statement is
then parsed by DataFusion as usual.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Iterator, Mapping, Sequence

from planner.errors import SQLError

__all__ = [
    "is_show_tables",
    "rewrite_copy_options",
    "number_question_marks",
    "placeholder_names",
    "parameter_values",
    "column_definitions",
]


_TOKEN = re.compile(
    r"""(?P<space>\s+)
      | (?P<comment>--[^\n]*|/\*.*?\*/)
      | (?P<string>'(?:[^']|'')*')
      | (?P<quoted>"(?:[^"]|"")*")
      | (?P<placeholder>\$[A-Za-z0-9_]+)
      | (?P<word>[A-Za-z_][A-Za-z0-9_$]*)
      | (?P<number>[0-9]+(?:\.[0-9]*)?)
      | (?P<other>.)""",
    re.VERBOSE | re.DOTALL,
)


@dataclass(frozen=True, slots=True)
class _Token:
    kind: str
    text: str
    start: int
    end: int

    def is_word(self, *words: str) -> bool:
        return self.kind == "word" and self.text.upper() in words


def _tokens(sql: str) -> list[_Token]:
    """The significant tokens of ``sql`` (no blanks, no comments). Identifiers may hold ``$``
    (``a$1`` is one word), so a placeholder is only a ``$`` that starts a token."""
    out = []
    for m in _TOKEN.finditer(sql):
        kind = m.lastgroup or "other"
        if kind not in ("space", "comment"):
            out.append(_Token(kind, m.group(0), m.start(), m.end()))
    return out


def _unquote(token: _Token) -> str:
    if token.kind == "string":
        return token.text[1:-1].replace("''", "'")
    if token.kind == "quoted":
        return token.text[1:-1].replace('""', '"')
    return token.text


def _closing(tokens: list[_Token], open_index: int) -> int | None:
    """The index of the ``)`` that closes the ``(`` at ``open_index``."""
    depth = 0
    for i in range(open_index, len(tokens)):
        if tokens[i].text == "(":
            depth += 1
        elif tokens[i].text == ")":
            depth -= 1
            if depth == 0:
                return i
    return None


def _without_semicolon(tokens: list[_Token]) -> list[_Token]:
    return tokens[:-1] if tokens and tokens[-1].text == ";" else tokens


def is_show_tables(sql: str) -> bool:
    """``SHOW TABLES`` (DataFusion plans it over information_schema, which gpu-exec cannot scan)."""
    tokens = _without_semicolon(_tokens(sql))
    return len(tokens) == 2 and tokens[0].is_word("SHOW") and tokens[1].is_word("TABLES")


def rewrite_copy_options(sql: str) -> str:
    """Postgres' and DuckDB's ``COPY source TO 'target' [WITH] (FORMAT parquet, KEY value, ...)``
    in DataFusion's words: ``... STORED AS parquet OPTIONS ('key' 'value', ...)``. DataFusion 55
    does not parse the trailing option list; a bare key means true (``HEADER``). Any other
    statement is returned as it is."""
    tokens = _without_semicolon(_tokens(sql))
    if not tokens or not tokens[0].is_word("COPY"):
        return sql
    depth, target = 0, None
    for i, token in enumerate(tokens):
        depth += token.text == "("
        depth -= token.text == ")"
        if depth == 0 and token.is_word("TO") and i + 1 < len(tokens) and tokens[i + 1].kind == "string":
            target = i + 1
            break
    if target is None:
        return sql
    rest = target + 1
    if rest < len(tokens) and tokens[rest].is_word("WITH"):
        rest += 1
    if rest >= len(tokens) or tokens[rest].text != "(" or _closing(tokens, rest) != len(tokens) - 1:
        return sql
    file_type, options = None, []
    for item in _split_items(tokens[rest + 1 : -1]):
        key = _unquote(item[0]).lower()
        value = "true" if len(item) == 1 else "".join(_unquote(t) if t.kind == "string" else t.text for t in item[1:])
        if key == "format":
            file_type = value
        else:
            options.append(f"'{key}' '{value.replace(chr(39), chr(39) * 2)}'")
    text = sql[: tokens[target].end]
    if file_type is not None:
        text += f" STORED AS {file_type}"
    if options:
        text += f" OPTIONS ({', '.join(options)})"
    return text


def _split_items(tokens: list[_Token]) -> Iterator[list[_Token]]:
    item: list[_Token] = []
    depth = 0
    for token in tokens:
        depth += token.text == "("
        depth -= token.text == ")"
        if depth == 0 and token.text == ",":
            if item:
                yield item
            item = []
        else:
            item.append(token)
    if item:
        yield item


def number_question_marks(sql: str) -> str:
    """``?`` placeholders (JDBC's, ODBC's) as ``$1``, ``$2``, ... in order: DataFusion binds
    parameters to ``$n`` only. Mixing both styles is refused."""
    tokens = _tokens(sql)
    marks = [t for t in tokens if t.text == "?"]
    if not marks:
        return sql
    if any(t.kind == "placeholder" for t in tokens):
        raise SQLError("a query uses either ? or $1, $2, ... placeholders, not both")
    parts, position = [], 0
    for n, mark in enumerate(marks, 1):
        parts += [sql[position : mark.start], f"${n}"]
        position = mark.end
    return "".join(parts) + sql[position:]


def placeholder_names(sql: str) -> list[str]:
    """The placeholders of ``sql`` without their ``$``, each once: ``$1, $2, ...`` in number order,
    then named ones (``$name``) in order of appearance."""
    seen = dict.fromkeys(t.text[1:] for t in _tokens(sql) if t.kind == "placeholder")
    numbered = sorted((n for n in seen if n.isdigit()), key=int)
    return numbered + [n for n in seen if not n.isdigit()]


def parameter_values(names: Sequence[str], params: Sequence[Any] | Mapping[str, Any] | None) -> dict[str, Any]:
    """``params`` as DataFusion's ``param_values`` (``{"1": v, "name": w}``) for a statement whose
    placeholders are ``names``; a missing or extra value is an SQLError naming it."""
    if params is None:
        given: dict[str, Any] = {}
    elif isinstance(params, Mapping):
        given = {str(k).removeprefix("$"): v for k, v in params.items()}
    elif isinstance(params, (str, bytes)) or not isinstance(params, Sequence):
        raise SQLError(f"params must be a sequence (for $1, $2, ...) or a mapping, not {type(params).__name__}")
    else:
        given = {str(i): v for i, v in enumerate(params, 1)}
    missing = [f"${n}" for n in names if n not in given]
    extra = [f"${n}" for n in given if n not in names]
    if missing or extra:
        wanted = ", ".join(f"${n}" for n in names) or "no parameters"
        problems = ([f"no value for {', '.join(missing)}"] if missing else []) + (
            [f"{', '.join(extra)} {'is' if len(extra) == 1 else 'are'} not in the statement"] if extra else [])
        raise SQLError(f"the statement has {wanted}; {' and '.join(problems)}")
    return {n: given[n] for n in names}


def column_definitions(sql: str) -> str | None:
    """The text of the column list of ``CREATE EXTERNAL TABLE name (a INT, ...)``: DataFusion's
    Python API gives the declared names but not their types, which its own ``CREATE TABLE`` then
    types (planner.translate)."""
    tokens = _tokens(sql)
    for i, token in enumerate(tokens):
        if token.is_word("STORED", "LOCATION", "OPTIONS", "PARTITIONED"):
            return None
        if token.text == "(" and i > 0 and any(t.is_word("TABLE") for t in tokens[:i]):
            close = _closing(tokens, i)
            return None if close is None else sql[token.end : tokens[close].start]
    return None
