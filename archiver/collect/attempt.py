"""One HTTP request and what came of it: the :class:`Attempt` record, and the rules that
classify an answer, a transport error or a budget refusal (retry or not, which outcome).
"""

from __future__ import annotations

import email.utils
import errno
import math
import ssl
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from archiver.collect.budget import MAX_RETRY_AFTER
from archiver.collect.outcome import Outcome
from archiver.errors import ArchiverError

if TYPE_CHECKING:
    import httpx

    from archiver.collect.budget import Refusal

COMPLETENESS = ("complete", "limited", "unknown")


@dataclass(frozen=True)
class Attempt:
    """One HTTP request and what came of it."""

    request: str  # "metrics" or "descriptors"
    params: tuple[tuple[str, str], ...]
    attempt: int
    started: float
    finished: float
    outcome: Outcome
    status: int | None = None
    completeness: str | None = None
    body: bytes | None = field(default=None, repr=False)
    error: str | None = None
    retry_after: float | None = None
    #: False for faults that another try cannot fix: TLS verification, a refused connection,
    #: 4xx other than 429, a body over the size cap, the scrape's deadline reached.
    retryable: bool = True

    @property
    def transient(self) -> bool:
        return self.outcome.transient and self.retryable

    @property
    def fault(self) -> str:
        """What failed, as a short key: the same fault on the next run is the same key."""
        return f"{self.outcome}:{self.status or ''}:{(self.error or '').split(':')[0]}"

    @property
    def size(self) -> int | None:
        """Bytes of the body, None when none arrived."""
        return None if self.body is None else len(self.body)

    def raise_for_outcome(self) -> None:
        """Raise the error a final attempt that did not come back complete stands for."""
        if self.outcome is not Outcome.COMPLETE:
            error = self.outcome.error or ArchiverError
            raise error(f"{self.request} request {self.outcome}: {self.error or ''}".strip())


def parse_retry_after(value: str | None, now: float) -> float | None:
    """Seconds to wait from a ``Retry-After`` header: delta-seconds or an HTTP date.

    >>> parse_retry_after("30", 0.0)
    30.0
    >>> parse_retry_after("soon", 0.0) is None
    True
    >>> parse_retry_after("100000000", 0.0)  # capped: an hour, then ask again
    3600.0

    Garbage (words, ``nan``, ``inf``, negative numbers) counts as absent.
    """
    if not value:
        return None
    value = value.strip()
    seconds: float | None
    try:
        seconds = float(value)
    except ValueError:
        try:
            seconds = email.utils.parsedate_to_datetime(value).timestamp() - now
        except (TypeError, ValueError, IndexError, OverflowError):
            return None
    else:
        if not math.isfinite(seconds) or seconds < 0:
            return None
    return min(max(0.0, seconds), MAX_RETRY_AFTER)


class TooLarge(Exception):
    def __init__(self, size: int, cap: int) -> None:
        super().__init__(
            f"response body of {size:,} bytes or more is over the cap of {cap:,} bytes: raise "
            "ARCHIVER_MAX_BODY_BYTES, or narrow the scrape with --namespaces/--metrics"
        )


def refused(refusal: Refusal, per_hour: int) -> tuple[Outcome, dict[str, Any]]:
    """The outcome and words of a request the budget did not let out."""
    wait = f"next slot in {refusal.wait:.0f}s"
    if refusal.kind == "share":
        return Outcome.SHARE_SPENT, {
            "error": "this scrape's share of the budget is used up "
            "(ARCHIVER_MAX_REQUESTS_PER_SCRAPE)"
        }
    if refusal.kind == "blocked":
        return Outcome.RATE_LIMITED, {
            "error": f"the server said 429 with Retry-After; nothing is sent until then ({wait})"
        }
    return Outcome.BUDGET_EXHAUSTED, {
        "error": f"account budget spent (the account allows {per_hour} requests per hour, "
        f"shared by every client); {wait}"
    }


def permanent(exc: httpx.HTTPError) -> bool:
    """Whether a transport error will be the same on the next try: a certificate that does not
    verify, or a port nobody listens on. DNS failures and resets may pass."""
    cause: BaseException | None = exc
    for _ in range(10):  # the chain is short; bounded anyway
        if cause is None:
            return False
        if isinstance(cause, ssl.SSLCertVerificationError):
            return True
        if isinstance(cause, ConnectionRefusedError) or (
            isinstance(cause, OSError) and cause.errno == errno.ECONNREFUSED
        ):
            return True
        cause = cause.__cause__ or cause.__context__
    text = str(exc)
    return "CERTIFICATE_VERIFY_FAILED" in text or "Connection refused" in text


def ends_with_eof(body: bytes) -> bool:
    """Whether the body's last line is ``# EOF`` (without copying a multi-megabyte body)."""
    end = len(body)
    while end and body[end - 1] in b" \t\r\n":
        end -= 1
    return body.endswith(b"# EOF", 0, end)


def clean(message: str) -> str:
    # httpx messages can be long and multi-line; keep one line for cron mail.
    return " ".join(message.split())[:200]
