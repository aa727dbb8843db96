"""The real Prometheus binaries for the history tests: where they are, and their output read
back as (series, ts ms, value) rows comparable with the archive's (:func:`archived`); a
network that goes away mid-run (:class:`CutAfter`)."""

from __future__ import annotations

import contextlib
import json
import re
import socket
import subprocess
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import polars as pl

from archiver.openmetrics import series_text
from archiver.query.connect import connect, run_sql
from archiver.store.archive import Archive
from tests.system_tools import require


def need(program: str) -> str:
    """The program's path; the test skips without it (fails in CI, see tests/system_tools)."""
    return require(program, "the history tests compare with a real Prometheus")


_PAIR = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def dump(tsdb: Path) -> pl.DataFrame:
    """``promtool tsdb dump`` of a TSDB directory as series, ts (ms), value."""
    (tsdb / "wal").mkdir(exist_ok=True)  # dump wants a WAL even for blocks made offline
    out = subprocess.run(
        [need("promtool"), "tsdb", "dump", str(tsdb)], capture_output=True, check=True, timeout=60
    ).stdout.decode()
    rows: list[tuple[str, int, float]] = []
    for line in out.splitlines():
        labels_text, value, ts = line.rsplit(" ", 2)
        labels = {k: v.encode().decode("unicode_escape") for k, v in _PAIR.findall(labels_text)}
        name = labels.pop("__name__")
        rows.append((series_text(name, labels), int(ts), float(value)))
    return pl.DataFrame(rows, schema=["series", "ts", "value"], orient="row").sort("series", "ts")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def prometheus(workdir: Path, scrape_configs: list[dict[str, Any]], *flags: str) -> Iterator[str]:
    """A real Prometheus on 127.0.0.1 with these scrape configs; yields its base URL."""
    binary = need("prometheus")
    workdir.mkdir(parents=True, exist_ok=True)
    config = workdir / "prometheus.yml"
    # JSON is YAML: no YAML library needed.
    config.write_text(json.dumps({"global": {}, "scrape_configs": scrape_configs}))
    port = free_port()
    log = (workdir / "prometheus.log").open("wb")
    proc = subprocess.Popen(
        [
            binary,
            f"--config.file={config}",
            f"--storage.tsdb.path={workdir / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            *flags,
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{url}/-/ready", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(
                    f"prometheus did not start: {(workdir / 'prometheus.log').read_text()[-2000:]}"
                )
            time.sleep(0.1)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
        log.close()


def wait_for_scrape(url: str, after: float, timeout: float = 10.0) -> None:
    """Until every target's last scrape began after ``after`` (wall-clock seconds) and was up."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        targets = httpx.get(f"{url}/api/v1/targets", timeout=2).json()["data"]["activeTargets"]
        if targets and all(
            t["health"] == "up" and _instant(t["lastScrape"]) > after for t in targets
        ):
            return
        time.sleep(0.05)
    raise TimeoutError(f"prometheus did not scrape its targets in {timeout} s: {targets}")


def _instant(text: str) -> float:
    """An RFC 3339 time with up to nanoseconds, as epoch seconds."""
    match = re.match(r"^(.*T\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)$", text)
    assert match, text
    zone = "+00:00" if match.group(3) == "Z" else match.group(3)
    whole = datetime.fromisoformat(match.group(1) + zone).timestamp()
    return whole + float("0." + (match.group(2) or "0"))


def archived(archive: Path | Archive, where: str = "true") -> pl.DataFrame:
    """The archive's samples (those ``where`` holds for) as series, ts (ms), value, sorted."""
    con = connect(archive if isinstance(archive, Archive) else str(archive))
    try:
        return run_sql(
            con,
            f"SELECT series, epoch_ms(ts) AS ts, value FROM samples WHERE {where} "
            "ORDER BY series, ts",
        )
    finally:
        con.close()


class CutAfter(httpx.BaseTransport):
    """The real network, cut for good after ``n`` requests (a server that went away)."""

    def __init__(self, n: int) -> None:
        self.left = n
        self.inner = httpx.HTTPTransport()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.left -= 1
        if self.left < 0:
            raise httpx.ConnectError("connection refused", request=request)
        return self.inner.handle_request(request)

    def close(self) -> None:
        self.inner.close()
