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
import math
import re
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Literal, TypedDict
from urllib.parse import parse_qsl, urlsplit

import httpx
import numpy as np
import polars as pl

from archiver.catalog import LEGACY_NAMES, load_catalog
from archiver.openmetrics import render
from archiver.simulator.faults import Faults
from archiver.simulator.hashing import mix, salt
from archiver.simulator.model import Account, AccountSpec
from archiver.simulator.responses import SimResponse, json_response, text_response
from archiver.simulator.transport import Transport
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
            message = "Forbidden: the key's service account lacks a metrics role"
            return text_response(403, message), {}
        if not key or not hmac.compare_digest(key.encode(), self._api_key.encode()):
            return text_response(401, "Jwt is missing"), {}
        if path not in ("/v1/metrics", "/v1/descriptors"):
            return json_response(404, {"code": 5, "message": f"no route for {path}"}), {}
        if method != "GET":
            return json_response(405, {"code": 12, "message": "only GET is supported"}), {}
        with self._lock:
            while self._admitted and self._admitted[0] <= now - 3600.0:
                self._admitted.popleft()
            if len(self._admitted) >= self.budget_per_hour:
                wait = max(1, math.ceil(self._admitted[0] + 3600.0 - now))
                return text_response(429, "rate limit exceeded", ("Retry-After", str(wait))), {}
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
            return text_response(429, "rate limit exceeded", *extra), {"fault": "throttle"}
        if self._roll(f.error_rate, counter, _ERROR):
            status = (500, 502, 503)[counter % 3]
            return text_response(status, "upstream error"), {"fault": f"error_{status}"}
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
            return json_response(400, {"code": 3, "message": "limit and offset must be integers"})
        if not 1 <= limit <= 100 or offset < 0:
            return json_response(400, {"code": 3, "message": "limit must be 1..100, offset >= 0"})
        items = self.account.descriptors()
        page = items[offset : offset + limit]
        meta = {"pagination": {"total": len(items), "limit": limit, "offset": offset}}
        return json_response(200, {"meta": meta, "descriptors": page})

    def _metrics(
        self, params: tuple[tuple[str, str], ...], now: float, counter: int
    ) -> tuple[SimResponse, _Extra]:
        patterns = [v for k, v in params if k == "namespaces"]
        bad = [p for p in patterns if not _NAMESPACE_PATTERN.match(p)]
        if bad:
            message = f"invalid namespace filter {bad[0]!r}: use a-z, 0-9, '-', '.', '*'"
            return json_response(422, {"code": 3, "message": message}), {}
        minute_ms = self.served_minute(now) * 60_000
        frame = self.window(minute_ms, [v for k, v in params if k == "labels"])
        if patterns:
            regexes = [_pattern(p) for p in patterns]
            chosen = [ns for ns in self.account.namespaces if any(r.match(ns) for r in regexes)]
            frame = frame.filter(pl.col("namespace").is_in(chosen))
        metrics = [v for k, v in params if k == "metrics"]
        if metrics:
            frame = frame.filter(pl.col("metric").is_in(metrics))
        frame, record = self._capped(frame, counter)
        record["window_ms"] = minute_ms
        f = self.faults
        empty = [NEW_METRIC] if self._roll(f.empty_family_rate, counter, _EMPTY) else []
        body = render(
            _service_label_order(frame),
            helps=self._helps,
            ts_unit=self.ts_unit,
            help_first=self._roll(f.help_first_rate, counter, _HELP),
            space_after_comma=self._roll(f.space_after_comma_rate, counter, _SPACE),
            empty_families=empty,
        )
        return self._damaged(body, counter, record), record

    def _capped(self, frame: pl.DataFrame, counter: int) -> tuple[pl.DataFrame, _Extra]:
        """The rows served (a region dropped for ``unknown``, the point cap) and the
        completeness header that says so."""
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
        return frame, {"completeness": completeness, "samples": frame.height, "fault": fault}

    def _damaged(self, body: bytes, counter: int, record: _Extra) -> SimResponse:
        """The response for ``body``, with the faults of the body's bytes (a malformed line,
        a cut, a stall) rolled in; ``record["fault"]`` names the last one."""
        f = self.faults
        cut_at = stall_at = None
        where = 0.2 + 0.6 * self._unit(counter, _WHERE)
        if self._roll(f.malformed_rate, counter, _BAD):
            lines = body.split(b"\n")
            at = max(1, int(len(lines) * where))
            body = b"\n".join([*lines[:at], _MALFORMED.rstrip(b"\n"), *lines[at:]])
            record["fault"] = "malformed"
        if self._roll(f.cut_rate, counter, _CUT):
            cut_at = min(int(len(body) * where), max(0, len(body) - len(b"# EOF\n") - 1))
            record["fault"] = "cut"
        elif self._roll(f.slow_rate, counter, _SLOW):
            stall_at, record["fault"] = int(len(body) * where), "slow"
        headers = [("Content-Type", CONTENT_TYPE)]
        completeness = record.get("completeness")
        if completeness is not None:
            headers.append(("X-Completeness", completeness))
        return SimResponse(200, tuple(headers), body, cut_at, stall_at, f.slow_stall_s)

    def transport(self) -> httpx.BaseTransport:
        """An httpx transport that calls the handler in-process (no sockets; see
        :class:`archiver.simulator.transport.Transport` for slow and cut bodies)."""
        return Transport(self.handle)


#: Where the service writes a label in a label set (the reference's examples: namespace first,
#: the metric's own labels, region last); names not listed come between, alphabetically.
_SERVICE_ORDER = {"temporal_namespace": 0, "temporal_account": 1, "region": 3}


def _service_label_order(frame: pl.DataFrame) -> pl.DataFrame:
    """Each label set in the order the service writes it, which is not the sorted order the
    archive keeps (so a parser cannot count on it)."""
    key = pl.element().struct.field("key")
    place = key.replace_strict(_SERVICE_ORDER, default=2, return_dtype=pl.UInt8)
    return frame.with_columns(pl.col("labels").list.eval(pl.element().sort_by(place, key)))
