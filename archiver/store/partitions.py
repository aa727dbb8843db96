"""Partition names: a value (a namespace) as one harmless Hive path segment of bounded length,
and back.

``namespace=<escaped>`` is what DuckDB, polars and Spark read as the column ``namespace``.
"""

from __future__ import annotations

from urllib.parse import quote, unquote

#: Hive's name for a partition whose value is null or empty (Spark and DuckDB read it as NULL).
NULL_PARTITION = "__HIVE_DEFAULT_PARTITION__"

# Characters that stay literal in a partition value; everything else is percent-encoded as
# UTF-8, which DuckDB, polars and Spark all decode back when they read the Hive path.
_SAFE = "-_"


#: The longest partition directory name (``namespace=`` included) most filesystems allow.
NAME_MAX = 255
#: Marks a name too long to store even compactly: ``~<hash>~<head of the name>``.
_HASHED = "~"


def escape_partition(value: str | None, key: str = "namespace") -> str:
    """Encode a partition value so that it is one harmless path segment of bounded length.

    Percent-encoding (UTF-8) first. A name whose encoding would make ``<key>=<value>`` longer
    than ``NAME_MAX`` bytes (60 Cyrillic letters do) keeps its printable non-ASCII characters as
    UTF-8 instead, which reads back the same through DuckDB, polars and Spark: any printable name
    of up to 61 characters fits. A name too long
    even so is stored under ``~<sha256 prefix>~<its head>``: bounded, distinct, and its rows'
    ``temporal_namespace`` label still holds the full name.

    >>> escape_partition("prod.acme1")
    'prod.acme1'
    >>> escape_partition("../etc/passwd")
    '%2E.%2Fetc%2Fpasswd'
    >>> escape_partition("пространство" * 5 + ".a1") == "пространство" * 5 + ".a1"
    True
    """
    if not value:
        return NULL_PARTITION
    room = NAME_MAX - len(key) - 1
    escaped = _guard(quote(value, safe=_SAFE))
    if len(escaped) <= room:
        return escaped
    compact = _guard("".join(_compact(ch) for ch in value))
    if len(compact.encode()) <= room:
        return compact
    import hashlib

    digest = hashlib.sha256(value.encode()).hexdigest()[:32]
    head = ""
    for ch in value[:100]:  # a readable head, whole characters only, ~100 bytes at most
        if len((head + _compact(ch)).encode()) > 100:
            break
        head += _compact(ch)
    return f"{_HASHED}{digest}{_HASHED}{head}"


def _compact(ch: str) -> str:
    # Printable non-ASCII stays literal: at most 4 UTF-8 bytes instead of up to 12 escaped, and
    # never "/" or "." (ASCII, still escaped). Controls and invisible formatting stay escaped.
    if not ch.isascii() and ch.isprintable():
        return ch
    return quote(ch, safe=_SAFE)


def _guard(escaped: str) -> str:
    # Dots are safe inside a name, but a leading one makes ".", ".." or a hidden directory.
    if escaped.startswith("."):
        escaped = "%2E" + escaped[1:]
    if escaped == NULL_PARTITION:  # a real namespace spelled like Hive's null marker
        escaped = "%5F" + escaped[1:]
    return escaped


def unescape_partition(segment: str) -> str | None:
    """Inverse of :func:`escape_partition` (a hashed name comes back as its directory name)."""
    return None if segment == NULL_PARTITION else unquote(segment)
