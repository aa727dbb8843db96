"""The simulated ``metrics.temporal.io``: a pure request handler plus an httpx transport.

>>> sim = Simulator(Account(AccountSpec.small()), clock=lambda: 1_700_000_000.0)
>>> import httpx
>>> with httpx.Client(transport=sim.transport(), base_url="https://sim") as client:
...     r = client.get("/v1/metrics", headers={"Authorization": "Bearer sim-key"})
>>> r.status_code, r.headers["X-Completeness"]
(200, 'complete')

The handler is the whole behaviour; :mod:`archiver.simulator.httpd` only puts it on a socket.
"""

from __future__ import annotations

import email.utils
import hmac
import itertools
import json
import math
import re
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, replace
from typing import Literal, TypedDict
from urllib.parse import parse_qsl, urlsplit

import httpx
import numpy as np
import polars as pl

from archiver.catalog import LEGACY_NAMES, load_catalog
from archiver.openmetrics import render
from archiver.simulator.faults import Faults
from archiver.simulator.model import Account, AccountSpec
from archiver.simulator.series import mix, salt
from archiver.simulator.variants import (
    NEW_METRIC,
    far_future_rows,
    legacy_names,
    long_namespace_rows,
    new_metric_rows,
    odd_label_rows,
)

__all__ = ["Faults", "RequestRecord", "SimResponse", "Simulator"]

CONTENT_TYPE = "application/openmetrics-text; version=1.0.0; charset=utf-8"
_NAMESPACE_PATTERN = re.compile(r"^[a-z0-9.*-]+$")
_HTML = (
    b"<!DOCTYPE html>\n<html><head><title>502 Bad Gateway</title></head>\n"
    b"<body><h1>502 Bad Gateway</h1><p>The upstream did not answer in time.</p></body></html>\n"
)
_MALFORMED = b'temporal_cloud_v1_workflow_success_count{temporal_namespace="cut 1.0 oops\n'
_CHUNK = 16 * 1024

# Salts that keep the dice of different faults independent.
_ERROR, _THROTTLE, _HTML_T, _UNKNOWN, _ODD, _SLOW, _CUT, _BAD, _HELP, _EMPTY, _SPACE = range(11)
_STALL, _ODD_LABELS, _NEW_METRIC, _WHERE, _WHICH = range(20, 25)
_TRICKLE, _HANG, _ECHO, _FUTURE, _LONG_NS = range(30, 35)


@dataclass(frozen=True)
class RequestRecord:
    """One request as the server saw it."""

    time: float  # the simulator's clock when it arrived
    method: str
    path: str
    params: tuple[tuple[str, str], ...]
    status: int
    completeness: str | None = None  # the X-Completeness header sent, if any
    window_ms: int | None = None  # the window served (epoch ms), for /v1/metrics
    samples: int = 0
    fault: str | None = None  # the fault injected, if any


@dataclass(frozen=True)
class SimResponse:
    """A response before it meets a transport.

    ``cut_at``: the body stops at this byte offset and the connection drops (no end of body).
    ``stall_at``: the body pauses ``stall_s`` seconds at this byte offset.
    ``trickle_s``: the body comes one byte every this many seconds; ``hang``: nothing comes.
    """

    status: int
    headers: tuple[tuple[str, str], ...]
    body: bytes
    cut_at: int | None = None
    stall_at: int | None = None
    stall_s: float = 0.0
    trickle_s: float | None = None  # one byte every this many seconds
    hang: bool = False  # never answer

    def header(self, name: str) -> str | None:
        """The first header called ``name`` (case-insensitive), or None."""
        return next((v for k, v in self.headers if k.lower() == name.lower()), None)


class _Extra(TypedDict, total=False):
    completeness: str | None
    window_ms: int | None
    samples: int
    fault: str | None


def _pattern(glob: str) -> re.Pattern[str]:
    return re.compile("^" + ".*".join(re.escape(part) for part in glob.split("*")) + "$")


class Simulator:
    """The endpoint's behaviour: auth, the hourly budget, windows, filters, the cap, faults.

    ``clock`` returns epoch seconds (inject one in tests). The served window is the minute
    ``floor((clock() - offset_s) / 60)``. ``budget_per_hour`` counts every admitted request
    (any endpoint) over a rolling hour; requests refused with 401/403/429 do not count.
    """

    def __init__(
        self,
        account: Account | None = None,
        *,
        api_key: str = "sim-key",
        forbidden_keys: Iterable[str] = (),
        clock: Callable[[], float] = time.time,
        faults: Faults | None = None,
        point_cap: int = 30_000,
        budget_per_hour: int = 180,
        offset_s: float = 120.0,
        ts_unit: Literal["s", "ms"] = "s",
    ) -> None:
        self.account = account or Account(AccountSpec.small())
        self._api_key = api_key
        self._forbidden = frozenset(forbidden_keys)
        self.clock = clock
        self.faults = faults or Faults()
        self.point_cap = point_cap
        self.budget_per_hour = budget_per_hour
        self.offset_s = offset_s
        self.ts_unit: Literal["s", "ms"] = ts_unit
        self._helps = {m.name: m.description for m in load_catalog()}
        self._helps.update({old: self._helps[new] for new, old in LEGACY_NAMES.items()})
        self._helps[NEW_METRIC] = "Nexus operations completed successfully per second"
        self._lock = threading.Lock()
        self._admitted: deque[float] = deque()
        self._records: list[RequestRecord] = []
        self._count = 0

    def __repr__(self) -> str:  # the key stays out of reprs and logs
        return f"Simulator(account={self.account.spec!r}, faults={self.faults!r})"

    @property
    def requests(self) -> list[RequestRecord]:
        """Every request received so far, oldest first (a copy)."""
        with self._lock:
            return list(self._records)

    # -- dice -------------------------------------------------------------------------------

    def _roll(self, rate: float, counter: int, tag: int) -> bool:
        if rate <= 0.0:
            return False
        return self._unit(counter, tag) < rate

    def _unit(self, counter: int, tag: int) -> float:
        h = mix(salt(self.account.spec.seed, counter, tag))
        return float((h >> np.uint64(11))[0]) / 2.0**53

    # -- windows ----------------------------------------------------------------------------

    def served_minute(self, now: float) -> int:
        """The window (epoch minute) a request at ``now`` receives, stalls included."""
        minute = math.floor((now - self.offset_s) / 60.0)
        k = self.faults.stall_minutes
        block = minute // (k + 1)
        if minute - block * (k + 1) < k and self._roll(self.faults.stall_rate, block, _STALL):
            return block * (k + 1) - 1
        return minute

    def window(self, minute_ms: int, labels: Iterable[str] = ()) -> pl.DataFrame:
        """The full window as served (per-window faults applied, before filters and cap)."""
        frame = self.account.window(minute_ms, tuple(labels))
        minute, f = minute_ms // 60_000, self.faults
        extra = []
        if self._roll(f.odd_labels_rate, minute, _ODD_LABELS):
            extra.append(odd_label_rows(self.account, minute_ms))
        if self._roll(f.new_metric_rate, minute, _NEW_METRIC):
            extra.append(new_metric_rows(self.account, minute_ms))
        if self._roll(f.far_future_rate, minute, _FUTURE):
            extra.append(far_future_rows(self.account, minute_ms))
        if self._roll(f.long_namespace_rate, minute, _LONG_NS):
            extra.append(long_namespace_rows(self.account, minute_ms))
        if extra:
            frame = pl.concat([frame, *extra], how="vertical")
        if f.legacy_names_until_ms is not None and minute_ms < f.legacy_names_until_ms:
            frame = legacy_names(frame)
        return frame

    # -- the handler --------------------------------------------------------------------------

    def handle(self, method: str, target: str, headers: Mapping[str, str]) -> SimResponse:
        """Answer one request. ``target`` is the path with its query string."""
        with self._lock:
            counter = self._count
            self._count += 1
        now = self.clock()
        url = urlsplit(target)
        params = tuple(parse_qsl(url.query, keep_blank_values=True))
        response, record = self._dispatch(method.upper(), url.path, params, headers, now, counter)
        with self._lock:
            self._records.append(
                RequestRecord(now, method.upper(), url.path, params, response.status, **record)
            )
        return response

    def _dispatch(
        self,
        method: str,
        path: str,
        params: tuple[tuple[str, str], ...],
        headers: Mapping[str, str],
        now: float,
        counter: int,
    ) -> tuple[SimResponse, _Extra]:
        lower = {k.lower(): v for k, v in headers.items()}
        auth = lower.get("authorization", "")
        key = auth[7:] if auth[:7].lower() == "bearer " else ""
        if key in self._forbidden:
            return _text(403, "Forbidden: the key's service account lacks a metrics role"), {}
        if not key or not hmac.compare_digest(key.encode(), self._api_key.encode()):
            return _text(401, "Jwt is missing"), {}
        if path not in ("/v1/metrics", "/v1/descriptors"):
            return _json(404, {"code": 5, "message": f"no route for {path}"}), {}
        if method != "GET":
            return _json(405, {"code": 12, "message": "only GET is supported"}), {}
        with self._lock:
            while self._admitted and self._admitted[0] <= now - 3600.0:
                self._admitted.popleft()
            if len(self._admitted) >= self.budget_per_hour:
                wait = max(1, math.ceil(self._admitted[0] + 3600.0 - now))
                return _text(429, "rate limit exceeded", ("Retry-After", str(wait))), {}
            self._admitted.append(now)

        f = self.faults
        if self._roll(f.throttle_rate, counter, _THROTTLE):
            style = counter % 4
            retry = [
                str(1 + counter % 30),
                email.utils.formatdate(now + 30, usegmt=True),
                None,
                "soon-ish",
            ][style]
            retry = f.retry_after if f.retry_after is not None else retry
            extra = () if retry is None else (("Retry-After", retry),)
            return _text(429, "rate limit exceeded", *extra), {"fault": "throttle"}
        if self._roll(f.error_rate, counter, _ERROR):
            status = (500, 502, 503)[counter % 3]
            return _text(status, "upstream error"), {"fault": f"error_{status}"}
        if self._roll(f.html_rate, counter, _HTML_T):
            html = SimResponse(200, (("Content-Type", "text/html; charset=utf-8"),), _HTML)
            return html, {"fault": "html"}
        if self._roll(f.hang_rate, counter, _HANG):
            return SimResponse(200, (), b"", hang=True), {"fault": "hang"}
        if path == "/v1/descriptors":
            return self._descriptors(params), {}
        response, record = self._metrics(params, now, counter)
        if self._roll(f.echo_auth_rate, counter, _ECHO):
            echo = f'request_header{{authorization="{auth}" 1\n'.encode()
            response = replace(response, body=echo + response.body)
            record["fault"] = "echo_auth"
        if self._roll(f.trickle_rate, counter, _TRICKLE):
            response = replace(response, trickle_s=f.trickle_every_s)
            record["fault"] = "trickle"
        return response, record

    def _descriptors(self, params: tuple[tuple[str, str], ...]) -> SimResponse:
        values = dict(params)
        try:
            limit = int(values.get("limit", "100"))
            offset = int(values.get("offset", "0"))
        except ValueError:
            return _json(400, {"code": 3, "message": "limit and offset must be integers"})
        if not 1 <= limit <= 100 or offset < 0:
            return _json(400, {"code": 3, "message": "limit must be 1..100, offset >= 0"})
        items = self.account.descriptors()
        page = items[offset : offset + limit]
        meta = {"pagination": {"total": len(items), "limit": limit, "offset": offset}}
        return _json(200, {"meta": meta, "descriptors": page})

    def _metrics(
        self, params: tuple[tuple[str, str], ...], now: float, counter: int
    ) -> tuple[SimResponse, _Extra]:
        patterns = [v for k, v in params if k == "namespaces"]
        metrics = [v for k, v in params if k == "metrics"]
        labels = [v for k, v in params if k == "labels"]
        bad = [p for p in patterns if not _NAMESPACE_PATTERN.match(p)]
        if bad:
            message = f"invalid namespace filter {bad[0]!r}: use a-z, 0-9, '-', '.', '*'"
            return _json(422, {"code": 3, "message": message}), {}
        minute_ms = self.served_minute(now) * 60_000
        frame = self.window(minute_ms, labels)
        if patterns:
            regexes = [_pattern(p) for p in patterns]
            chosen = [ns for ns in self.account.namespaces if any(r.match(ns) for r in regexes)]
            frame = frame.filter(pl.col("namespace").is_in(chosen))
        if metrics:
            frame = frame.filter(pl.col("metric").is_in(metrics))

        f = self.faults
        fault: str | None = None
        completeness: str | None = "complete"
        if self._roll(f.unknown_rate, counter, _UNKNOWN):
            regions = sorted(
                set(frame.get_column("series").str.extract(r'region="([^"]*)"').drop_nulls())
            )
            if regions:
                gone = regions[int(self._unit(counter, _WHICH) * len(regions))]
                frame = frame.filter(
                    ~frame.get_column("series").str.contains(f'region="{gone}"', literal=True)
                )
            completeness, fault = "unknown", "unknown"
        if frame.height > self.point_cap:
            frame = frame.head(self.point_cap)
            completeness = "limited" if completeness == "complete" else completeness
        if self._roll(f.odd_header_rate, counter, _ODD):
            completeness = None if counter % 2 else "partial"
            fault = "odd_header"
        empty = [NEW_METRIC] if self._roll(f.empty_family_rate, counter, _EMPTY) else []
        body = render(
            _service_label_order(frame),
            helps=self._helps,
            ts_unit=self.ts_unit,
            help_first=self._roll(f.help_first_rate, counter, _HELP),
            space_after_comma=self._roll(f.space_after_comma_rate, counter, _SPACE),
            empty_families=empty,
        )
        cut_at = stall_at = None
        where = 0.2 + 0.6 * self._unit(counter, _WHERE)
        if self._roll(f.malformed_rate, counter, _BAD):
            lines = body.split(b"\n")
            at = max(1, int(len(lines) * where))
            body = b"\n".join([*lines[:at], _MALFORMED.rstrip(b"\n"), *lines[at:]])
            fault = "malformed"
        if self._roll(f.cut_rate, counter, _CUT):
            cut_at = min(int(len(body) * where), max(0, len(body) - len(b"# EOF\n") - 1))
            fault = "cut"
        elif self._roll(f.slow_rate, counter, _SLOW):
            stall_at, fault = int(len(body) * where), "slow"
        headers = [("Content-Type", CONTENT_TYPE)]
        if completeness is not None:
            headers.append(("X-Completeness", completeness))
        response = SimResponse(200, tuple(headers), body, cut_at, stall_at, f.slow_stall_s)
        record: _Extra = {
            "completeness": completeness,
            "window_ms": minute_ms,
            "samples": frame.height,
            "fault": fault,
        }
        return response, record

    def transport(self) -> httpx.BaseTransport:
        """An httpx transport that calls the handler in-process (no sockets).

        Slow bodies cannot stall without a real clock: the stream raises ``httpx.ReadTimeout``
        when the stall is longer than the request's read timeout, and otherwise completes at
        once. A cut body raises ``httpx.RemoteProtocolError`` after the bytes sent so far.
        """
        return _Transport(self)


#: Where the service writes a label in a label set (the reference's examples: namespace first,
#: the metric's own labels, region last); names not listed come between, alphabetically.
_SERVICE_ORDER = {"temporal_namespace": 0, "temporal_account": 1, "region": 3}


def _service_label_order(frame: pl.DataFrame) -> pl.DataFrame:
    """Each label set in the order the service writes it, which is not the sorted order the
    archive keeps (so a parser cannot count on it)."""
    key = pl.element().struct.field("key")
    place = key.replace_strict(_SERVICE_ORDER, default=2, return_dtype=pl.UInt8)
    return frame.with_columns(pl.col("labels").list.eval(pl.element().sort_by(place, key)))


def _text(status: int, text: str, *headers: tuple[str, str]) -> SimResponse:
    return SimResponse(
        status, (("Content-Type", "text/plain; charset=utf-8"), *headers), text.encode()
    )


def _json(status: int, payload: object) -> SimResponse:
    body = json.dumps(payload).encode()
    return SimResponse(status, (("Content-Type", "application/json"),), body)


def chunks(response: SimResponse) -> Iterator[tuple[bytes, bool]]:
    """The body in transport-sized pieces; the flag marks the piece after which it stalls."""
    end = len(response.body) if response.cut_at is None else response.cut_at
    marks = sorted({0, end, *range(_CHUNK, end, _CHUNK)} | {response.stall_at or 0})
    for start, stop in itertools.pairwise(marks):
        if stop > end:
            break
        yield response.body[start:stop], stop == response.stall_at


class _Stream(httpx.SyncByteStream):
    def __init__(self, response: SimResponse, request: httpx.Request) -> None:
        self.response = response
        self.request = request

    def __iter__(self) -> Iterator[bytes]:
        timeouts = self.request.extensions.get("timeout", {})
        read_timeout = timeouts.get("read") if isinstance(timeouts, dict) else None
        if self.response.hang:
            raise httpx.ReadTimeout("The read operation timed out", request=self.request)
        for piece, stalls in chunks(self.response):
            yield piece
            if stalls and read_timeout is not None and self.response.stall_s > read_timeout:
                raise httpx.ReadTimeout("The read operation timed out", request=self.request)
        if self.response.cut_at is not None:
            raise httpx.RemoteProtocolError(
                "peer closed connection without sending complete message body "
                "(incomplete chunked read)",
                request=self.request,
            )


class _Transport(httpx.BaseTransport):
    def __init__(self, simulator: Simulator) -> None:
        self.simulator = simulator

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        target = request.url.raw_path.decode("ascii")
        response = self.simulator.handle(request.method, target, dict(request.headers))
        return httpx.Response(
            response.status,
            headers=list(response.headers),
            stream=_Stream(response, request),
            request=request,
        )
