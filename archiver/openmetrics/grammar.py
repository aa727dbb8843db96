"""The OpenMetrics sample and declaration lines as regular expressions, and what to say about
a line they reject.

The patterns are written in the common subset of Rust's regex crate (what polars runs) and
Python's re (used only to explain the first bad line), with explicit [0-9] because \\d means
any Unicode digit in both.
"""

from __future__ import annotations

import re

__all__ = ["DECLARATION", "LABEL_NAME", "NAME", "SAMPLE", "explain"]

NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
LABEL_NAME = r"[a-zA-Z_][a-zA-Z0-9_]*"
# Only the three escapes OpenMetrics defines; anything else after a backslash is an error.
_QUOTED = r'"(?:[^"\\\n]|\\[\\"n])*"'
_WS = r"[ \t]*"
_PAIR = rf"{LABEL_NAME}{_WS}={_WS}{_QUOTED}"
_BLOCK = rf"{_WS}(?:{_PAIR}{_WS}(?:,{_WS}{_PAIR}{_WS})*,?{_WS})?"
_VALUE = r"[+-]?(?:(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?|(?i:nan|inf(?:inity)?))"
_TS = r"[0-9]+(?:\.[0-9]+)?"
SAMPLE = (
    rf"^(?P<metric>{NAME})(?:\{{(?P<block>{_BLOCK})\}})?"
    rf"[ \t]+(?P<value>{_VALUE})[ \t]+(?P<ts>{_TS}){_WS}$"
)
DECLARATION = rf"^# (?:TYPE[ \t]+({NAME})[ \t]+\S.*|HELP[ \t]+({NAME})(?:[ \t].*)?)$"


_PY_HEAD = re.compile(rf"^({NAME})(?:\{{({_BLOCK})\}})?(?=[ \t]|$)")
_PY_VALUE = re.compile(rf"^{_VALUE}$")
_PY_TS = re.compile(rf"^{_TS}$")


def explain(line: str) -> str:
    """Say what is wrong with a sample line the vectorised pattern rejected."""
    head = _PY_HEAD.match(line)
    if head is None:
        if re.match(rf"^{NAME}\{{", line):
            return 'malformed label set (name="value" pairs; escapes allowed: \\\\ \\" \\n)'
        return "malformed sample line"
    tokens = line[head.end() :].split()
    if not tokens:
        return "sample has no value and no timestamp"
    if not _PY_VALUE.match(tokens[0]):
        return f"bad value {tokens[0][:20]!r}"
    if len(tokens) == 1:
        return "sample has no timestamp"
    if len(tokens) > 2 or not _PY_TS.match(tokens[1]):
        return f"bad timestamp {' '.join(tokens[1:])[:30]!r}"
    return "malformed sample line"
