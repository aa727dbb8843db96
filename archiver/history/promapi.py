"""A small client of the Prometheus HTTP query API (``/api/v1/series``, ``/api/v1/query_range``),
the API that Prometheus, Thanos, Mimir, VictoriaMetrics and Grafana Cloud all serve.

Every failure becomes one error that says which: a status that is not 2xx is a
:class:`~archiver.errors.ServerError` (401/403 an :class:`~archiver.errors.AuthError`), an
answer that is not the API's JSON envelope says the URL is not a Prometheus API, and no
answer at all is a :class:`~archiver.errors.NetworkError`. Transient failures (5xx, 429,
timeouts) are retried a few times with backoff.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Mapping
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx

from archiver.credentials import ImportAuth
from archiver.endpoints import is_loopback
from archiver.errors import AuthError, ConfigError, NetworkError, ServerError

#: Points per series one query_range may return (Prometheus refuses more: "exceeded maximum
#: resolution of 11,000 points per timeseries").
MAX_POINTS_PER_SERIES = 11_000
_RETRIES = 3
_NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
_SELECTOR = re.compile(rf"^\s*(?P<name>{_NAME})?\s*(?:\{{(?P<inner>.*)\}})?\s*$", re.DOTALL)


def display_url(url: str) -> str:
    """``url`` without credentials, query or fragment (what logs and the scrape log show)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path.rstrip("/"), "", ""))


def split_selector(selector: str) -> tuple[str | None, str]:
    """A series selector's metric name (None when it has none) and the matchers in its braces.

    >>> split_selector('up{job="x"}')
    ('up', 'job="x"')
    >>> split_selector('{__name__=~"temporal_.*"}')
    (None, '__name__=~"temporal_.*"')
    """
    match = _SELECTOR.match(selector)
    if match is None or not (match.group("name") or match.group("inner")):
        raise ConfigError(
            f"--match {selector!r} is not a series selector: use e.g. "
            "'temporal_cloud_v1_workflow_success_count' or '{__name__=~\"temporal_cloud_v1_.*\"}'"
        )
    return match.group("name"), (match.group("inner") or "").strip()


def metric_selector(selector: str, metric: str) -> str:
    """``selector`` narrowed to one metric name."""
    name, inner = split_selector(selector)
    if name is not None:
        return selector.strip()
    return f'{{__name__="{metric}",{inner}}}' if inner else f'{{__name__="{metric}"}}'


class PromAPI:
    """``with PromAPI(url, auth) as api: api.series(...)``; ``transport`` swaps the network."""

    def __init__(
        self,
        url: str,
        auth: ImportAuth | None = None,
        *,
        timeout: float = 60.0,
        verify: Any = True,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigError(
                f"--url {url!r} is not an http(s) URL: use e.g. http://prometheus:9090"
            )
        auth = auth or ImportAuth()
        if auth.is_set and parts.scheme == "http" and not is_loopback(parts.hostname):
            raise ConfigError(
                f"--url {display_url(url)} is plain http: credentials travel only over https "
                "(or to 127.0.0.1/localhost)"
            )
        headers: dict[str, str] = {}
        basic: tuple[str, str] | None = None
        if auth.bearer_token is not None:
            headers["Authorization"] = f"Bearer {auth.bearer_token.reveal()}"
        elif auth.username is not None and auth.password is not None:
            basic = (auth.username, auth.password.reveal())
        self.url = display_url(url)
        self._sleep = sleep
        self._client = httpx.Client(
            base_url=url.rstrip("/"),
            headers=headers,
            auth=basic,
            timeout=timeout,
            verify=verify,
            transport=transport,
        )

    def __enter__(self) -> PromAPI:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        self._client.close()

    def series(self, selector: str, start: float, end: float) -> list[dict[str, str]]:
        """Label sets (``__name__`` included) of the series ``selector`` matches in [start, end]."""
        data = self._get("/api/v1/series", {"match[]": selector, "start": start, "end": end})
        if not isinstance(data, list):
            raise self._not_prometheus("/api/v1/series", "data is not a list")
        return [dict(item) for item in data]

    def query_range(
        self, query: str, start: float, end: float, step: float
    ) -> list[dict[str, Any]]:
        """The ``matrix`` result of ``query`` at ``step`` seconds over [start, end]."""
        data = self._get(
            "/api/v1/query_range", {"query": query, "start": start, "end": end, "step": step}
        )
        if not isinstance(data, dict) or data.get("resultType") != "matrix":
            raise self._not_prometheus("/api/v1/query_range", "no matrix result")
        result = data.get("result")
        if not isinstance(result, list):
            raise self._not_prometheus("/api/v1/query_range", "result is not a list")
        return result

    # -- one request -------------------------------------------------------------------------

    def _get(self, path: str, params: Mapping[str, Any]) -> Any:
        delay = 0.5
        for attempt in range(1, _RETRIES + 1):
            try:
                # POST with a form body: selectors and long series lists do not fit every URL.
                response = self._client.post(path, data={k: str(v) for k, v in params.items()})
            except httpx.TransportError as exc:
                if attempt == _RETRIES:
                    raise NetworkError(
                        f"{self.url}{path}: no answer after {attempt} attempts ({exc}); "
                        "check --url and that the server is up"
                    ) from None
            else:
                if response.status_code < 500 and response.status_code != 429:
                    return self._data(path, response)
                if attempt == _RETRIES:
                    self._raise_status(path, response)
            self._sleep(delay)
            delay *= 2
        raise AssertionError("unreachable")  # pragma: no cover

    def _data(self, path: str, response: httpx.Response) -> Any:
        if response.status_code in (401, 403):
            raise AuthError(
                f"{self.url}{path} answered HTTP {response.status_code}: check "
                "ARCHIVER_IMPORT_BEARER_TOKEN or ARCHIVER_IMPORT_USERNAME/_PASSWORD",
                status=response.status_code,
            )
        try:
            body = response.json()
        except ValueError:
            body = None
        if not isinstance(body, dict) or body.get("status") not in ("success", "error"):
            if response.status_code >= 400:
                self._raise_status(path, response)
            raise self._not_prometheus(path, "the answer is not the API's JSON")
        if body["status"] == "error" or response.status_code >= 400:
            raise ServerError(
                f"{self.url}{path} answered HTTP {response.status_code}: "
                f"{body.get('errorType', 'error')}: {str(body.get('error', ''))[:300]}",
                status=response.status_code,
            )
        return body.get("data")

    def _raise_status(self, path: str, response: httpx.Response) -> None:
        hint = " (is --url the Prometheus API's base URL?)" if response.status_code == 404 else ""
        raise ServerError(
            f"{self.url}{path} answered HTTP {response.status_code}{hint}",
            status=response.status_code,
        )

    def _not_prometheus(self, path: str, why: str) -> ServerError:
        return ServerError(
            f"{self.url}{path} is not a Prometheus API ({why}); --url must be the base URL that "
            "serves /api/v1/query_range, e.g. http://prometheus:9090"
        )
