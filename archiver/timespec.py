"""``--since`` / ``--until`` values: ISO dates and times, or durations back from now.

>>> from datetime import datetime, UTC
>>> now = datetime(2025, 3, 10, 12, 0, tzinfo=UTC)
>>> parse("36h", now=now).isoformat()
'2025-03-09T00:00:00+00:00'
>>> parse("2025-03-01", now=now).isoformat()
'2025-03-01T00:00:00+00:00'
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta

from archiver.errors import ConfigError

EXAMPLES = "2025-03-01, 2025-03-01T12:00, 2025-03-01T12:00:00+02:00, 90m, 36h, 7d, 2w or now"

_RELATIVE = re.compile(r"^\s*(\d+)\s*(s|m|h|d|w)\s*$", re.IGNORECASE)
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse(value: str, *, now: datetime, option: str = "--since") -> datetime:
    """The UTC instant ``value`` names; naive dates and times are taken as UTC.

    Relative values count back from ``now``: ``7d`` is seven days before ``now``.
    Raises :class:`ConfigError` with the accepted forms when ``value`` is none of them.
    """
    text = value.strip()
    if text.lower() == "now":
        return _utc(now)
    match = _RELATIVE.match(text)
    if match:
        amount, unit = int(match.group(1)), match.group(2).lower()
        return _utc(now) - timedelta(**{_UNITS[unit]: amount})
    iso = text[:-1] + "+00:00" if text.endswith(("Z", "z")) else text
    try:
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", iso):
            day = date.fromisoformat(iso)
            return datetime(day.year, day.month, day.day, tzinfo=UTC)
        return _utc(datetime.fromisoformat(iso))
    except ValueError:
        pass
    raise ConfigError(f"{option} {value!r} is not a time: use one of {EXAMPLES}")


def _utc(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def window(
    since: str | None, until: str | None, *, now: datetime, default_since: str = "7d"
) -> tuple[datetime, datetime]:
    """Both ends of a report window ``[since, until)``; ``since`` defaults to 7 days back.

    Raises :class:`ConfigError` when ``since`` is not before ``until``.
    """
    start = parse(since or default_since, now=now, option="--since")
    end = parse(until, now=now, option="--until") if until else _utc(now)
    if start >= end:
        raise ConfigError(
            f"--since ({start.isoformat()}) must be before --until ({end.isoformat()})"
        )
    return start, end
