"""HTTP to the metrics API: auth, the https rule, timeouts, retries with backoff, completeness.

Every attempt passes through the account budget before it is sent and is reported to the
caller afterwards (the collector turns each into a scrape-log row). Retries use tenacity with
full-jitter exponential backoff, ``Retry-After`` where the server gives one, and a deadline on
the injected clock, so simulated time drives them in tests without real sleeps.
"""

from __future__ import annotations

import email.utils
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import httpx
import tenacity

from archiver.collect.outcome import Outcome
from archiver.config import Secret, check_endpoint
from archiver.errors import ArchiverError, AuthError, ServerError

if TYPE_CHECKING:
    from archiver.collect.budget import Budget
    from archiver.config import Settings

Clock = Callable[[], float]
Sleep = Callable[[float], None]

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

    @property
    def transient(self) -> bool:
        return self.outcome.transient

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
    """
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    return max(0.0, when.timestamp() - now)


class Client:
    """A metrics-API client for one endpoint and key.

    ``transport`` swaps the network for an in-process one (the simulator's) in tests and demos.
    """

    def __init__(
        self,
        endpoint: str,
        api_key: Secret,
        *,
        budget: Budget,
        clock: Clock = time.time,
        sleep: Sleep = time.sleep,
        timeout: float = 30.0,
        ca_file: str | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        check_endpoint(endpoint)
        self._key = api_key
        self._budget = budget
        self._clock = clock
        self._sleep = sleep
        verify: Any = True
        if ca_file:
            import ssl

            import certifi

            # Trust the usual roots plus the extra CA (a private proxy, the simulator).
            verify = ssl.create_default_context(cafile=certifi.where())
            verify.load_verify_locations(cafile=ca_file)
        self._http = httpx.Client(
            base_url=endpoint.rstrip("/"),
            timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0)),
            verify=verify,
            transport=transport,
            trust_env=False,
            follow_redirects=False,
            headers={"User-Agent": "archiver", "Accept": "application/openmetrics-text"},
        )

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        *,
        budget: Budget,
        clock: Clock = time.time,
        sleep: Sleep = time.sleep,
        transport: httpx.BaseTransport | None = None,
    ) -> Client:
        """A client for the endpoint, key, timeout and CA file in ``settings``."""
        return cls(
            settings.endpoint,
            settings.require_key(),
            budget=budget,
            clock=clock,
            sleep=sleep,
            timeout=settings.timeout,
            ca_file=settings.ca_file,
            transport=transport,
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- one request, retried ------------------------------------------------------------

    def fetch(
        self,
        request: str,
        params: Sequence[tuple[str, str]],
        *,
        deadline: float,
        on_attempt: Callable[[Attempt], None] = lambda a: None,
    ) -> Attempt:
        """GET ``/v1/<request>`` with retries until success, a final failure or ``deadline``.

        Returns the last attempt; raises AuthError on 401/403 (retrying cannot help).
        """
        counter = iter(range(1, 1_000))

        def once() -> Attempt:
            attempt = self._send(request, tuple(params), next(counter))
            on_attempt(attempt)
            if attempt.outcome is Outcome.AUTH_ERROR:
                raise AuthError(_auth_message(attempt.status), status=attempt.status)
            return attempt

        def wait(state: tenacity.RetryCallState) -> float:
            last: Attempt = state.outcome.result()  # type: ignore[union-attr]
            if last.retry_after is not None:
                return last.retry_after
            floor = 2.0 if last.outcome is Outcome.RATE_LIMITED else 0.0
            backoff = tenacity.wait_random_exponential(multiplier=0.5, max=16)(state)
            return max(floor, backoff)

        def stop(state: tenacity.RetryCallState) -> bool:
            return self._clock() + (state.upcoming_sleep or 0.0) >= deadline

        answered: list[Attempt] = []  # attempts that brought data, even incomplete

        def keep(attempt: Attempt) -> Attempt:
            if attempt.body is not None and attempt.outcome in (Outcome.LIMITED, Outcome.UNKNOWN):
                answered.append(attempt)
            return attempt

        retrying = tenacity.Retrying(
            retry=tenacity.retry_if_result(lambda a: a.transient),
            wait=wait,
            stop=stop,
            sleep=self._sleep,
            retry_error_callback=lambda state: state.outcome.result(),  # type: ignore[union-attr]
            reraise=True,
        )
        result: Attempt = retrying(lambda: keep(once()))
        # A retry that ended without an answer must not throw away the data an earlier
        # attempt did bring (an `unknown` answer is still most of the window).
        if result.body is None and answered:
            return answered[-1]
        return result

    def descriptors(
        self, *, deadline: float, on_attempt: Callable[[Attempt], None]
    ) -> list[dict[str, Any]]:
        """Every page of ``/v1/descriptors``."""
        out: list[dict[str, Any]] = []
        offset = 0
        for _ in range(1_000):  # bounded: 100 per page, far more than the catalog holds
            attempt = self.fetch(
                "descriptors",
                [("limit", "100"), ("offset", str(offset))],
                deadline=deadline,
                on_attempt=on_attempt,
            )
            attempt.raise_for_outcome()
            assert attempt.body is not None  # a complete answer has one
            try:
                page = json.loads(attempt.body)
                items = page["descriptors"]
                total = int(page["meta"]["pagination"]["total"])
            except (ValueError, KeyError, TypeError) as exc:
                raise ServerError(f"/v1/descriptors answered with unexpected JSON: {exc}") from None
            out.extend(items)
            offset += len(items)
            if not items or offset >= total:
                return out
        raise ServerError("/v1/descriptors kept paging past 100,000 descriptors")

    def _send(self, request: str, params: tuple[tuple[str, str], ...], n: int) -> Attempt:
        started = self._clock()

        def done(outcome: Outcome, **kw: Any) -> Attempt:
            return Attempt(request, params, n, started, self._clock(), outcome, **kw)

        wait_hint = self._budget.acquire()
        if wait_hint is not None:
            return done(
                Outcome.BUDGET_EXHAUSTED,
                error=(
                    f"account budget spent (the account allows {self._budget.per_hour} requests "
                    f"per hour, shared by every client); next slot in {wait_hint:.0f}s"
                ),
            )
        try:
            response = self._http.get(
                f"/v1/{request}",
                params=list(params),
                headers={"Authorization": f"Bearer {self._key.reveal()}"},
            )
        except httpx.TimeoutException as exc:
            return done(Outcome.NETWORK_ERROR, error=f"timed out ({type(exc).__name__})")
        except httpx.HTTPError as exc:
            return done(Outcome.NETWORK_ERROR, error=f"{type(exc).__name__}: {_clean(str(exc))}")
        status = response.status_code
        body = response.content
        if status in (401, 403):
            return done(Outcome.AUTH_ERROR, status=status, error=f"HTTP {status}")
        if status == 429:
            retry_after = parse_retry_after(response.headers.get("Retry-After"), self._clock())
            self._budget.server_refused(retry_after)
            return done(
                Outcome.RATE_LIMITED, status=status, retry_after=retry_after, error="HTTP 429"
            )
        if status != 200:
            return done(Outcome.SERVER_ERROR, status=status, error=f"HTTP {status}")
        if request == "descriptors":
            return done(Outcome.COMPLETE, status=status, body=body)
        content_type = response.headers.get("Content-Type", "")
        if "openmetrics" not in content_type and "text/plain" not in content_type:
            return done(
                Outcome.SERVER_ERROR,
                status=status,
                error=f"HTTP 200 with Content-Type {content_type or 'missing'!r}, not OpenMetrics",
            )
        if not _ends_with_eof(body):
            return done(Outcome.NETWORK_ERROR, status=status, error="body ended before # EOF (cut)")
        header = (response.headers.get("X-Completeness") or "").strip().lower()
        completeness = Outcome(header) if header in COMPLETENESS else Outcome.UNKNOWN
        error = None if header in COMPLETENESS else f"X-Completeness {header or 'missing'!r}"
        return done(
            completeness, status=status, completeness=str(completeness), body=body, error=error
        )


def _ends_with_eof(body: bytes) -> bool:
    """Whether the body's last line is ``# EOF`` (without copying a multi-megabyte body)."""
    end = len(body)
    while end and body[end - 1] in b" \t\r\n":
        end -= 1
    return body.endswith(b"# EOF", 0, end)


def _clean(message: str) -> str:
    # httpx messages can be long and multi-line; keep one line for cron mail.
    return " ".join(message.split())[:200]


def _auth_message(status: int | None) -> str:
    """What to fix when the server says no: 401 is the key itself, 403 what it may read."""
    if status == 403:
        return (
            "the server accepted the API key but refused access (HTTP 403): give its service "
            "account the Metrics Read-Only role"
        )
    return (
        f"the server refused the API key (HTTP {status}): it is wrong, expired or revoked; "
        "check TEMPORAL_CLOUD_API_KEY (or the file ARCHIVER_API_KEY_FILE names)"
    )
