"""HTTP to the metrics API: auth, the https rule, timeouts, retries with backoff, completeness.

Every attempt passes through the account budget before it is sent and is reported to the
caller afterwards (the collector turns each into a scrape-log row). Retries use tenacity with
full-jitter exponential backoff, ``Retry-After`` where the server gives one, and a deadline on
the injected clock, so simulated time drives them in tests without real sleeps.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import httpx
import tenacity

from archiver.collect.attempt import (
    COMPLETENESS,
    Attempt,
    TooLarge,
    clean,
    ends_with_eof,
    parse_retry_after,
    permanent,
    refused,
)
from archiver.collect.clock import Clock, Sleep
from archiver.collect.outcome import Outcome
from archiver.config import DEFAULT_MAX_BODY_BYTES, Secret, check_endpoint, trust_context
from archiver.errors import AuthError, ServerError

if TYPE_CHECKING:
    from archiver.collect.budget import Budget
    from archiver.config import Settings


#: Set while a request is on the wire in this process: a signal handler that sees it may
#: raise :class:`archiver.errors.Interrupted` to cut the request short (``archiver run``).
ON_WIRE = threading.Event()
#: Sends of one request before its fault is taken as persistent (the run then ends on it).
MAX_TRIES = 3


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
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        check_endpoint(endpoint)
        self._key = api_key
        # A password inside the endpoint URL is a secret too (a proxy's basic auth).
        self._url_password = Secret(urlsplit(endpoint).password or "")
        self._budget = budget
        self._clock = clock
        self._sleep = sleep
        self._timeout = timeout
        self._max_body = max_body_bytes
        verify: Any = True
        if ca_file:
            verify = trust_context(ca_file)
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
            max_body_bytes=settings.max_body_bytes,
            transport=transport,
        )

    def _scrub(self, text: str) -> str:
        """``text`` without the key or the endpoint's password (for logs and the scrape log)."""
        return self._url_password.scrub(self._key.scrub(text))

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
        """GET ``/v1/<request>`` until success, a final failure, ``MAX_TRIES`` or ``deadline``.

        Returns the last attempt; raises AuthError on 401/403 (retrying cannot help). No
        request outlives ``deadline``: each is cut off when it is reached, trickling or not.
        """
        counter = iter(range(1, 1_000))

        def once() -> Attempt:
            attempt = self._send(request, tuple(params), next(counter), deadline)
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
            if state.attempt_number >= MAX_TRIES:
                return True
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

    def _send(
        self, request: str, params: tuple[tuple[str, str], ...], n: int, deadline: float
    ) -> Attempt:
        started = self._clock()

        def done(outcome: Outcome, **kw: Any) -> Attempt:
            if kw.get("error"):
                kw["error"] = self._scrub(kw["error"])
            return Attempt(request, params, n, started, self._clock(), outcome, **kw)

        left = deadline - started
        if left <= 0:
            return done(
                Outcome.NETWORK_ERROR, error="the scrape's deadline passed", retryable=False
            )
        refusal = self._budget.acquire()
        if refusal is not None:
            outcome, words = refused(refusal, self._budget.per_hour)
            return done(outcome, **words)
        try:
            status, headers, body = self._receive(request, params, min(self._timeout, left))
        except TooLarge as exc:
            return done(Outcome.SERVER_ERROR, status=200, error=str(exc), retryable=False)
        except httpx.TimeoutException as exc:
            return done(Outcome.NETWORK_ERROR, error=f"timed out ({type(exc).__name__})")
        except httpx.HTTPError as exc:
            return done(
                Outcome.NETWORK_ERROR,
                error=f"{type(exc).__name__}: {clean(str(exc))}",
                retryable=not permanent(exc),
            )
        return self._judge(done, request, status, headers, body)

    def _judge(
        self,
        done: Callable[..., Attempt],
        request: str,
        status: int,
        headers: httpx.Headers,
        body: bytes,
    ) -> Attempt:
        """The attempt an answer makes: its status, headers and body judged in that order."""
        if status in (401, 403):
            return done(Outcome.AUTH_ERROR, status=status, error=f"HTTP {status}")
        if status == 429:
            retry_after = parse_retry_after(headers.get("Retry-After"), self._clock())
            self._budget.server_refused(retry_after)
            return done(
                Outcome.RATE_LIMITED, status=status, retry_after=retry_after, error="HTTP 429"
            )
        if status != 200:
            # 4xx (other than 429) says the request itself is wrong: asking again cannot help.
            bad_request = 400 <= status < 500 and status != 408
            return done(
                Outcome.SERVER_ERROR,
                status=status,
                error=f"HTTP {status}",
                retryable=not bad_request,
            )
        if request == "descriptors":
            return done(Outcome.COMPLETE, status=status, body=body)
        content_type = headers.get("Content-Type", "")
        if "openmetrics" not in content_type and "text/plain" not in content_type:
            return done(
                Outcome.SERVER_ERROR,
                status=status,
                error=f"HTTP 200 with Content-Type {content_type or 'missing'!r}, not OpenMetrics",
            )
        if not ends_with_eof(body):
            return done(Outcome.NETWORK_ERROR, status=status, error="body ended before # EOF (cut)")
        header = (headers.get("X-Completeness") or "").strip().lower()
        completeness = Outcome(header) if header in COMPLETENESS else Outcome.UNKNOWN
        error = None if header in COMPLETENESS else f"X-Completeness {header or 'missing'!r}"
        return done(
            completeness, status=status, completeness=str(completeness), body=body, error=error
        )

    def _receive(
        self, request: str, params: tuple[tuple[str, str], ...], seconds: float
    ) -> tuple[int, httpx.Headers, bytes]:
        """Status, headers and whole body within ``seconds`` of wall time, within the size cap.

        httpx's timeouts are per read: a server sending a byte every few seconds never trips
        them. This loop checks the total after every piece and gives up when it is spent.
        """
        give_up = time.monotonic() + seconds
        ON_WIRE.set()
        try:
            return self._read(request, params, seconds, give_up)
        finally:
            ON_WIRE.clear()

    def _read(
        self, request: str, params: tuple[tuple[str, str], ...], seconds: float, give_up: float
    ) -> tuple[int, httpx.Headers, bytes]:
        timeout = httpx.Timeout(seconds, connect=min(seconds, 10.0))
        headers = {"Authorization": f"Bearer {self._key.reveal()}"}
        with self._http.stream(
            "GET", f"/v1/{request}", params=list(params), headers=headers, timeout=timeout
        ) as response:
            declared = response.headers.get("Content-Length", "")
            if declared.isdigit() and int(declared) > self._max_body:
                raise TooLarge(int(declared), self._max_body)
            body = bytearray()
            for piece in response.iter_bytes():
                body += piece
                if len(body) > self._max_body:
                    raise TooLarge(len(body), self._max_body)
                if time.monotonic() > give_up:
                    raise httpx.ReadTimeout(
                        f"no whole answer within {seconds:.0f}s (what was left of the scrape's "
                        f"deadline); {len(body)} bytes had arrived",
                        request=response.request,
                    )
            return response.status_code, response.headers, bytes(body)


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
