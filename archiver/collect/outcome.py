"""How a request or a scrape run ended: one enum that knows its error, exit code and retry rule.

Every scrape-log row carries one of these in its ``outcome`` column. The exit code is not written
here a second time: each outcome names the :mod:`archiver.errors` class it becomes, and that class
carries the code (``errors.py`` holds the one table). :meth:`Outcome.raise_for` is the one place
a run's result turns into an exit, the way ``httpx.Response.raise_for_status`` does.
"""

from __future__ import annotations

import enum

from archiver import errors


class Outcome(enum.StrEnum):
    """What came of one request, or of a whole run (its summary row)."""

    COMPLETE = "complete"  # 200, X-Completeness: complete, parsed and stored
    LIMITED = "limited"  # 200 but truncated at the data-point cap
    UNKNOWN = "unknown"  # 200 but the server could not vouch for completeness (or no/odd header)
    RATE_LIMITED = "rate_limited"  # 429, or the account's shared ledger is spent
    SERVER_ERROR = "server_error"  # 5xx, another unexpected status, or not OpenMetrics
    AUTH_ERROR = "auth_error"  # 401 / 403
    NETWORK_ERROR = "network_error"  # DNS, refused, TLS, timeout, reset, cut body
    PARSE_ERROR = "parse_error"  # the body is not OpenMetrics
    STORAGE_ERROR = "storage_error"  # fetched, but the archive could not store it
    BUDGET_EXHAUSTED = "budget_exhausted"  # not sent: the account's shared ledger had no room
    SHARE_SPENT = "share_spent"  # not sent: this scrape's own share of the budget ran out
    BACKED_OFF = "backed_off"  # not sent: the same fault failed the last runs; waiting it out
    SKIPPED = "skipped"  # not sent: another scrape held the archive, or the window was stored
    STUCK = "stuck"  # not sent: another scrape has held the archive past its deadline
    INTERRUPTED = "interrupted"  # SIGINT/SIGTERM arrived mid-request; nothing of it stored

    @property
    def error(self) -> type[errors.ArchiverError] | None:
        """The exception this outcome becomes when it ends a run (None: a success)."""
        return _ERRORS[self]

    @property
    def exit_code(self) -> int:
        """The process exit code of a run that ended so (the error class's code)."""
        error = self.error
        return 0 if error is None else error.exit_code

    @property
    def transient(self) -> bool:
        """Whether the same request, sent again a little later, may well succeed."""
        return self in _TRANSIENT

    @property
    def answered(self) -> bool:
        """Whether the server sent a usable body (complete or not)."""
        return self in (Outcome.COMPLETE, Outcome.LIMITED, Outcome.UNKNOWN)

    def raise_for(self, message: str) -> None:
        """Raise this outcome's error with ``message``; return quietly for a success."""
        error = self.error
        if error is not None:
            raise error(message)


_ERRORS: dict[Outcome, type[errors.ArchiverError] | None] = {
    Outcome.COMPLETE: None,
    Outcome.SKIPPED: None,
    Outcome.LIMITED: errors.IncompleteError,
    Outcome.UNKNOWN: errors.IncompleteError,
    Outcome.SHARE_SPENT: errors.IncompleteError,
    Outcome.RATE_LIMITED: errors.RateLimitedError,
    Outcome.BUDGET_EXHAUSTED: errors.RateLimitedError,
    Outcome.SERVER_ERROR: errors.ServerError,
    Outcome.AUTH_ERROR: errors.AuthError,
    Outcome.NETWORK_ERROR: errors.NetworkError,
    Outcome.PARSE_ERROR: errors.ParseError,
    Outcome.STORAGE_ERROR: errors.StorageError,
    Outcome.BACKED_OFF: errors.ArchiverError,
    Outcome.STUCK: errors.ArchiverError,
    Outcome.INTERRUPTED: errors.Interrupted,
}
_TRANSIENT = frozenset(
    {Outcome.UNKNOWN, Outcome.RATE_LIMITED, Outcome.SERVER_ERROR, Outcome.NETWORK_ERROR}
)
