"""The regular expressions gpu-exec runs: a validator of DataFusion's (Rust regex) patterns down to
the subset on which Rust's regex crate, RE2 (the Arrow kernels) and libcudf agree, and the
pattern text each engine is given.

DataFusion compiles patterns with Rust's regex crate; pyarrow.compute uses RE2; libcudf has its
own engine. They agree on literals, ``.``, classes of characters and ranges, ``^`` and ``$``,
alternation, groups and the greedy and lazy quantifiers, and disagree elsewhere: ``\\d``, ``\\w``,
``\\s`` and ``\\b`` are Unicode-aware in Rust and ASCII-only in RE2; ``[`` inside a class nests a
class (or a POSIX class) in Rust and is a literal in libcudf; ``&&``, ``--`` and ``~~`` in a
class are set operations in Rust only; ``{`` that is not a quantifier is an error in Rust and a
literal in RE2; ``{,n}`` is a quantifier in Rust only. Anything outside the subset is refused at
plan time with the reason (``call_reason``), so no backend answers differently from DataFusion.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from planner.expr import Expr, Literal

__all__ = [
    "REGEX_FLAGS",
    "Regex",
    "RegexError",
    "call_reason",
    "flags_reason",
    "parse_regex",
    "replacement_parts",
]

# The flags gpu-exec takes (Rust's inline flags; DataFusion writes them as ``(?flags)`` before
# the pattern): case-insensitive, multi-line anchors, '.' matching a line break. regexp_replace
# also takes 'g' (every match, not only the first).
REGEX_FLAGS = frozenset("ims")

SUPPORTED = ("gpu-exec runs literals, '.', classes like [a-z0-9_] and [^...], ^ and $, |, (...) and (?:...), "
             "and the quantifiers * + ? {n} {n,} {n,m} (also lazy, with ?)")

_META = frozenset("\\^$.|?*+()[]{}")
# What a backslash may escape: outside a class the metacharacters, inside one these.
_CLASS_META = frozenset("\\^-[]")
_CONTROL = {"n": "\n", "t": "\t", "r": "\r"}


class RegexError(ValueError):
    """A pattern outside the subset gpu-exec runs; the message says why."""


@dataclass(frozen=True, slots=True)
class Regex:
    """A validated pattern: ``tokens`` (each a literal character, a class, an anchor, ``.``, a
    quantifier, ``|`` or a parenthesis), its capture groups and whether it can match ''."""

    tokens: tuple[tuple[str, object], ...]
    groups: int
    nullable: bool

    def text(self, dialect: str) -> str:
        """The pattern for ``dialect`` ('re2' for the Arrow kernels, 'cudf' for libcudf's engine)."""
        out: list[str] = []
        for kind, value in self.tokens:
            if kind == "char":
                assert isinstance(value, str)
                out.append(_literal(value, dialect))
            elif kind == "class":
                assert isinstance(value, tuple)
                negated, items = value
                body = "".join(_class_char(a, dialect) if a == b else f"{_class_char(a, dialect)}-{_class_char(b, dialect)}"
                               for a, b in items)
                out.append(f"[{'^' if negated else ''}{body}]")
            elif kind == "$" and dialect == "cudf":
                # libcudf's '$' also matches before a final line break; '\Z' is the end of the
                # string only, which is Rust's '$' without the m flag.
                out.append("\\Z")
            else:
                assert isinstance(value, str)
                out.append(value)
        return "".join(out)


def _literal(c: str, dialect: str) -> str:
    if c in _META and not (dialect == "cudf" and c == "]"):  # libcudf reads ']' as itself
        return "\\" + c
    return {"\n": "\\n", "\t": "\\t", "\r": "\\r"}.get(c, c)


def _class_char(c: str, dialect: str) -> str:
    if c == "[" and dialect == "cudf":
        return "["  # a literal in libcudf's classes
    if c in _CLASS_META:
        return "\\" + c
    return {"\n": "\\n", "\t": "\\t", "\r": "\\r"}.get(c, c)


def flags_reason(flags: str, allowed: frozenset[str] = REGEX_FLAGS) -> str | None:
    """Why gpu-exec refuses the flags string, or None."""
    unknown = sorted(set(flags) - allowed)
    if unknown:
        return (f"regular expression flag(s) {''.join(unknown)!r} not supported (gpu-exec takes "
                f"{', '.join(sorted(allowed))})")
    if len(set(flags)) < len(flags):
        return f"duplicate regular expression flag in {flags!r} (DataFusion refuses it)"
    return None


def parse_regex(pattern: str) -> Regex:
    """``pattern`` validated (RegexError, with the reason, when it is outside the subset)."""
    tokens: list[tuple[str, object]] = []
    groups = 0
    depth = 0
    # Whether the last token can take a quantifier (an atom or a closed group).
    quantifiable = False
    i, n = 0, len(pattern)
    while i < n:
        c = pattern[i]
        if c == "\\":
            if i + 1 == n:
                raise RegexError("a pattern ending in a lone backslash")
            e = pattern[i + 1]
            if e in _META:
                tokens.append(("char", e))
            elif e in _CONTROL:
                tokens.append(("char", _CONTROL[e]))
            elif e in "dDwWsSbB":
                raise RegexError(f"\\{e} is Unicode-aware in DataFusion (Rust) and ASCII-only in RE2: "
                                 "write the class out, e.g. [0-9] or [A-Za-z0-9_]")
            else:
                raise RegexError(f"the escape \\{e} is not supported ({SUPPORTED})")
            quantifiable = True
            i += 2
        elif c == "[":
            i, item = _parse_class(pattern, i)
            tokens.append(("class", item))
            quantifiable = True
        elif c == "(":
            if pattern.startswith("(?:", i):
                tokens.append(("(", "(?:"))
                i += 3
            elif pattern.startswith("(?", i):
                raise RegexError("inline flags and named groups are not supported: give flags as the "
                                 "function's flags argument")
            else:
                groups += 1
                tokens.append(("(", "("))
                i += 1
            if i < n and pattern[i] == ")":
                raise RegexError("an empty group () is not supported (libcudf leaves it undefined)")
            depth += 1
            quantifiable = False
        elif c == ")":
            if depth == 0:
                raise RegexError("unbalanced ')'")
            if tokens and tokens[-1][0] == "|":
                raise RegexError("an empty alternative before ')' is not supported")
            depth -= 1
            tokens.append((")", ")"))
            quantifiable = True
            i += 1
        elif c == "|":
            if not tokens or tokens[-1][0] in ("|", "("):
                raise RegexError("an empty alternative is not supported")
            tokens.append(("|", "|"))
            quantifiable = False
            i += 1
        elif c in "^$.":
            tokens.append((c, c))
            quantifiable = c == "."
            i += 1
        elif c in "*+?{":
            if not quantifiable:
                raise RegexError(f"a quantifier {c!r} with nothing (or an anchor) before it")
            i, text = _parse_quantifier(pattern, i)
            tokens.append(("quantifier", text))
            quantifiable = False
        elif c in "]}":
            raise RegexError(f"an unescaped {c!r} outside a class: write \\{c}")
        else:
            tokens.append(("char", c))
            quantifiable = True
            i += 1
    if depth:
        raise RegexError("unbalanced '('")
    if tokens and tokens[-1][0] == "|":
        raise RegexError("an empty alternative is not supported")
    regex = Regex(tuple(tokens), groups, False)
    # Only ^ and $ match without consuming in this subset, and both hold at every position of
    # '': the pattern can give an empty match somewhere exactly when it matches ''. The text
    # for RE2 is also valid Python with the same meaning on the empty string.
    nullable = re.search(regex.text("re2"), "") is not None
    return Regex(regex.tokens, groups, nullable)


def _parse_class(pattern: str, start: int) -> tuple[int, tuple[bool, tuple[tuple[str, str], ...]]]:
    i = start + 1
    negated = pattern.startswith("^", i)
    if negated:
        i += 1
    items: list[tuple[str, str]] = []
    pending_range = False
    while True:
        if i >= len(pattern):
            raise RegexError("an unclosed '['")
        c = pattern[i]
        if c == "]":
            if pending_range:
                raise RegexError("an incomplete range in a class: escape a literal '-' as \\-")
            if not items:
                raise RegexError("an empty class [] is not supported: escape a literal ']' as \\]")
            return i + 1, (negated, tuple(items))
        if c == "\\":
            e = pattern[i + 1] if i + 1 < len(pattern) else ""
            if e in _CLASS_META:
                char = e
            elif e in _CONTROL:
                char = _CONTROL[e]
            elif e and e in "dDwWsS":
                raise RegexError(f"\\{e} is Unicode-aware in DataFusion (Rust) and ASCII-only in RE2: "
                                 "list the characters, e.g. [0-9]")
            else:
                raise RegexError(f"the escape \\{e} inside a class is not supported (escape only \\ ^ - [ ])")
            i += 2
        elif c == "[":
            raise RegexError("'[' inside a class nests a class in Rust and is a literal in libcudf: "
                             "write \\[")
        elif c == "-":
            if not items or pending_range or items[-1][0] != items[-1][1] or i + 1 >= len(pattern) or pattern[i + 1] == "]":
                raise RegexError("a '-' in a class that is not a range: escape it as \\-")
            pending_range = True
            i += 1
            continue
        elif c in "&~" and pattern.startswith(c * 2, i):
            raise RegexError(f"'{c * 2}' in a class is a set operation in Rust only: escape it")
        elif c == "^":
            raise RegexError("a '^' inside a class: escape it as \\^")
        else:
            char = c
            i += 1
        if pending_range:
            low = items[-1][0]
            if ord(char) < ord(low):
                raise RegexError(f"an invalid class range {low}-{char}")
            items[-1] = (low, char)
            pending_range = False
        else:
            items.append((char, char))


_QUANTIFIER = re.compile(r"[*+?]|\{([0-9]{1,3})(,([0-9]{1,3})?)?\}")


def _parse_quantifier(pattern: str, i: int) -> tuple[int, str]:
    m = _QUANTIFIER.match(pattern, i)
    if m is None:
        raise RegexError("a '{' that is not a quantifier {n}, {n,} or {n,m} (n, m up to 999): write \\{")
    if m.group(3) is not None and int(m.group(3)) < int(m.group(1)):
        raise RegexError(f"an invalid repetition {m.group(0)}")
    end = m.end()
    if pattern.startswith("?", end):  # lazy
        end += 1
    if end < len(pattern) and pattern[end] in "*+?{":
        raise RegexError("a quantifier after a quantifier is not supported")
    return end, pattern[i:end]


def replacement_parts(replacement: str) -> list[str | int]:
    """regexp_replace's replacement as literal text and group numbers (RegexError outside what
    gpu-exec takes). DataFusion rewrites ``\\N`` to ``${N}`` and expands Rust's ``${N}`` and
    ``$$``; gpu-exec takes those with one digit N (``\\0`` / ``${0}`` the whole match) and text
    without other ``\\`` or ``$`` (where Rust's ``$name`` rules and RE2's rewrites part)."""
    parts: list[str | int] = []
    i, n = 0, len(replacement)
    while i < n:
        c = replacement[i]
        m = re.compile(r"\\([0-9])(?![0-9])|\$\{([0-9])\}|\$\$").match(replacement, i)
        if m is not None:
            digit = m.group(1) or m.group(2)
            parts.append(int(digit) if digit is not None else "$")
            i = m.end()
        elif c in "\\$":
            raise RegexError(f"the replacement {replacement!r}: gpu-exec takes literal text, \\N or ${{N}} "
                             "(one digit N) and $$")
        else:
            parts.append(c)
            i += 1
    return parts


# Per function: the positions of its pattern, replacement and flags arguments.
_ARGUMENTS = {"regexp_like": (1, None, 2), "regexp_replace": (1, 2, 3), "regexp_count": (1, None, 3)}


def call_reason(name: str, args: tuple[Expr, ...], text: str) -> str | None:
    """Why translation refuses the call ``name(args)`` of a regexp function, or None. Patterns,
    replacements and flags must be constants (each backend compiles one program per call)."""
    constants: list[str | None] = []
    for position, what in zip(_ARGUMENTS[name], ("pattern", "replacement", "flags")):
        arg = args[position] if position is not None and position < len(args) else None
        if arg is not None and (not isinstance(arg, Literal) or not isinstance(arg.value, (str, type(None)))):
            return f"{name}() needs a constant {what} (gpu-exec compiles one per call): {text}"
        constants.append(arg.value if isinstance(arg, Literal) else None)
    pattern, replacement, flags = constants
    try:
        regex = parse_regex(pattern) if pattern is not None else None
        if replacement is not None:
            replacement_parts(replacement)
    except RegexError as exc:
        return f"regular expression {pattern!r} in {name}() is not supported: {exc} ({text})"
    if flags == "" and name == "regexp_replace":
        # DataFusion 55 compiles '(?)' + pattern, which Rust's regex refuses.
        return f"regexp_replace() with empty flags '' is an error in DataFusion (leave the flags out): {text}"
    if flags is not None:
        reason = flags_reason(flags, REGEX_FLAGS | ({"g"} if name == "regexp_replace" else set()))
        if reason is None and name != "regexp_replace" and "g" in flags:
            reason = f"{name}() does not take the 'g' flag (as in DataFusion)"
        if reason:
            return f"{reason}: {text}"
    if regex is not None and name == "regexp_count":
        if regex.nullable:
            # Arrow's count_substring_regex counts empty matches differently from Rust's
            # find_iter ('^' four times in 'abc').
            return (f"regexp_count() of a pattern that can match the empty string ({pattern!r}) is not "
                    f"supported: Arrow counts empty matches differently from DataFusion ({text})")
        if any(kind == "^" for kind, _ in regex.tokens):
            # Arrow's count consumes each match and searches the rest as a new string, where
            # '^' matches again ('^a' three times in 'aaa').
            return (f"regexp_count() of a pattern with '^' ({pattern!r}) is not supported: Arrow's "
                    f"count matches '^' again after each match ({text})")
    return None
