"""``archiver export remote-write``: archived samples into a TSDB over Prometheus remote-write 1.0.

Each request is a protobuf ``WriteRequest`` (encoded here: the message has four small types),
compressed with snappy's block format, sent with ``Content-Encoding: snappy``,
``Content-Type: application/x-protobuf`` and ``X-Prometheus-Remote-Write-Version: 0.1.0``.
Samples are sent in export order (metric, series, time), :data:`BATCH_SAMPLES` a request.
A 5xx, a 429 or no answer is retried with exponential backoff, a bounded number of times; any
other refusal stops at once. After every accepted request the last sample sent is kept under
``<archive>/_archiver/``, so a rerun with the same arguments resumes after it.

::

    WriteRequest { repeated TimeSeries timeseries = 1; }
    TimeSeries   { repeated Label labels = 1; repeated Sample samples = 2; }
    Label        { string name = 1; string value = 2; }
    Sample       { double value = 1; int64 timestamp = 2; }   // ms since 1970
"""

from __future__ import annotations

import hashlib
import json
import struct
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import httpx

from archiver.credentials import ImportAuth
from archiver.endpoints import is_loopback
from archiver.errors import ConfigError, ServerError
from archiver.history.export import Cursor, Selection, batches
from archiver.history.promapi import display_url

if TYPE_CHECKING:
    import polars as pl

    from archiver.store.archive import Archive

#: Samples per request (Prometheus' own senders use 2,000-10,000).
BATCH_SAMPLES = 5_000
RETRIES = 5
HEADERS = {
    "Content-Encoding": "snappy",
    "Content-Type": "application/x-protobuf",
    "X-Prometheus-Remote-Write-Version": "0.1.0",
    "User-Agent": "archiver",
}


@dataclass(frozen=True)
class WriteResult:
    url: str
    samples: int  # sent by this run
    requests: int
    resumed_after: Cursor | None  # where a previous, interrupted run had stopped


# --------------------------------------------------------------------------------------------
# protobuf, by hand


def _varint(value: int) -> bytes:
    out = bytearray()
    value &= (1 << 64) - 1  # int64 negatives are ten-byte two's complement
    while True:
        bits = value & 0x7F
        value >>= 7
        if value:
            out.append(bits | 0x80)
        else:
            out.append(bits)
            return bytes(out)


def _field(number: int, payload: bytes) -> bytes:
    """A length-delimited field (wire type 2)."""
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def encode_labels(metric: str, labels: list[dict[str, str]]) -> bytes:
    """A series' ``Label`` fields: ``__name__`` and the rest, sorted by name as receivers want."""
    pairs = sorted([("__name__", metric), *((p["key"], p["value"]) for p in labels)])
    return b"".join(
        _field(1, _field(1, name.encode()) + _field(2, value.encode())) for name, value in pairs
    )


def encode_series(labels: bytes, ts_ms: list[int], values: list[float]) -> bytes:
    """One ``TimeSeries`` message (as field 1 of the ``WriteRequest``)."""
    samples = b"".join(
        _field(2, b"\x09" + struct.pack("<d", v) + b"\x10" + _varint(t))
        for t, v in zip(ts_ms, values, strict=True)
    )
    return _field(1, labels + samples)


def write_request(frame: pl.DataFrame) -> bytes:
    """A snappy-compressed ``WriteRequest`` for a frame in export order (see export.batches)."""
    import cramjam
    import polars as pl

    grouped = (
        frame.with_columns(ts_ms=pl.col("ts").dt.epoch("ms"))
        .group_by("series", maintain_order=True)
        .agg(pl.col("metric").first(), pl.col("labels").first(), "ts_ms", "value")
    )
    body = b"".join(
        encode_series(encode_labels(metric, labels), ts, values)
        for _, metric, labels, ts, values in grouped.iter_rows()
    )
    return bytes(cramjam.snappy.compress_raw(body))


# --------------------------------------------------------------------------------------------
# sending


def export_remote_write(
    archive: Archive,
    url: str,
    selection: Selection | None = None,
    *,
    auth: ImportAuth | None = None,
    batch_samples: int = BATCH_SAMPLES,
    timeout: float = 30.0,
    verify: Any = True,
    transport: httpx.BaseTransport | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> WriteResult:
    """Send the selected samples to ``url``; see the module docstring.

    Raises :class:`~archiver.errors.ServerError` (exit 1) when the target refuses, saying how
    many samples it accepted and up to which one; a rerun resumes there.
    """
    from archiver.query.connect import connect

    selection = selection or Selection()
    headers = dict(HEADERS)
    basic = _auth(url, auth or ImportAuth(), headers)
    state = _state_name(url, selection)
    resume = _load_cursor(archive, state)
    shown = display_url(url)
    sent = requests = 0
    con = connect(archive)
    try:
        with httpx.Client(
            headers=headers, auth=basic, timeout=timeout, verify=verify, transport=transport
        ) as client:
            cursor = resume
            for batch in _requests(con, selection, resume, batch_samples):
                body = write_request(batch)
                requests += _post(client, url, shown, body, sleep, sent, cursor)
                sent += batch.height
                last = batch.row(batch.height - 1, named=True)
                cursor = Cursor(last["metric"], last["series"], _ms(last["ts"]))
                archive.write_state(state, json.dumps(cursor.__dict__).encode())
    finally:
        con.close()
    _forget(archive, state)
    return WriteResult(url=shown, samples=sent, requests=requests, resumed_after=resume)


def _requests(
    con: Any, selection: Selection, resume: Cursor | None, size: int
) -> Iterator[pl.DataFrame]:
    """The selected samples after ``resume``, ``size`` at a time."""
    yield from batches(con, selection, after=resume, batch_rows=size)


def _post(
    client: httpx.Client,
    url: str,
    shown: str,
    body: bytes,
    sleep: Callable[[float], None],
    sent: int,
    cursor: Cursor | None,
) -> int:
    """Send one request, retrying what may pass later; returns the attempts it took."""
    delay = 0.5
    problem = ""
    for attempt in range(1, RETRIES + 1):
        try:
            response = client.post(url, content=body)
        except httpx.TransportError as exc:
            problem = f"no answer ({exc})"
        else:
            if response.status_code < 300:
                return attempt
            problem = f"HTTP {response.status_code}: {response.text.strip()[:200]}"
            if response.status_code < 500 and response.status_code != 429:
                break  # refused for good: the same bytes will be refused again
        if attempt < RETRIES:
            sleep(delay)
            delay *= 2
    where = f", up to {cursor.series} at {_iso(cursor.ts_ms)}" if cursor else ""
    hint = "run the same command again to resume after them"
    if "out of order" in problem or "out of bounds" in problem:
        hint = (
            "the target holds newer samples of these series (an earlier export?) or refuses "
            "samples this old; narrow --since/--until, then " + hint
        )
    raise ServerError(
        f"remote write to {shown} failed: {problem}; {sent} samples were accepted by this run"
        f"{where}: {hint}"
    )


def _auth(url: str, auth: ImportAuth, headers: dict[str, str]) -> tuple[str, str] | None:
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(
            f"--url {url!r} is not an http(s) URL: use e.g. http://host:9090/api/v1/write"
        )
    if auth.is_set and parts.scheme == "http" and not is_loopback(parts.hostname):
        raise ConfigError(
            f"--url {display_url(url)} is plain http: credentials travel only over https "
            "(or to 127.0.0.1/localhost)"
        )
    if auth.bearer_token is not None:
        headers["Authorization"] = f"Bearer {auth.bearer_token.reveal()}"
    elif auth.username is not None and auth.password is not None:
        return (auth.username, auth.password.reveal())
    return None


def _iso(ms: int) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(ms / 1000, UTC).isoformat().replace("+00:00", "Z")


def _ms(value: Any) -> int:
    return int(value.timestamp() * 1000)


def _state_name(url: str, selection: Selection) -> str:
    key = json.dumps(
        [
            display_url(url),
            selection.since.isoformat() if selection.since else None,
            selection.until.isoformat() if selection.until else None,
            sorted(selection.namespaces),
            sorted(selection.metrics),
        ]
    )
    return f"export-remote-write-{hashlib.sha256(key.encode()).hexdigest()[:16]}.json"


def _load_cursor(archive: Archive, name: str) -> Cursor | None:
    data = archive.read_state(name)
    if not data:
        return None
    try:
        raw = json.loads(data)
        return Cursor(str(raw["metric"]), str(raw["series"]), int(raw["ts_ms"]))
    except (ValueError, KeyError, TypeError):
        return None  # an unreadable cursor only costs sending again (the TSDB dedups)


def _forget(archive: Archive, name: str) -> None:
    import contextlib

    with contextlib.suppress(FileNotFoundError, OSError):
        archive.fs.delete_file(archive.state_path(name))
