"""``export remote-write`` into a real Prometheus (``--web.enable-remote-write-receiver``), read
back through its query API and compared with the archive, sample for sample."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import cramjam
import httpx
import polars as pl
import pytest

from archiver.cli import main
from archiver.errors import ServerError
from archiver.history.importfile import import_file
from archiver.history.remotewrite import export_remote_write
from archiver.openmetrics import series_text
from archiver.store.archive import Archive
from tests.history import promtools
from tests.history.conftest import START_MS

MINUTES = 8
OmFile = Callable[..., tuple[Path, pl.DataFrame]]


@pytest.fixture(scope="module")
def receiver(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    promtools.need("prometheus")
    workdir = tmp_path_factory.mktemp("receiver")
    with promtools.prometheus(workdir, [], "--web.enable-remote-write-receiver") as url:
        yield url


@pytest.fixture
def archive(tmp_path: Path, om_file: OmFile) -> Archive:
    path, _ = om_file(MINUTES)
    archive = Archive.open(str(tmp_path / "archive"), durable=False)
    import_file(archive, str(path))
    return archive


def read_back(url: str) -> pl.DataFrame:
    """Every raw sample the receiver holds, through /api/v1/query with a range selector."""
    answer = httpx.post(
        f"{url}/api/v1/query",
        data={"query": '{__name__=~"temporal_cloud_v1_.*"}[1h]', "time": START_MS / 1000 + 3000},
        timeout=30,
    ).json()
    rows = []
    for item in answer["data"]["result"]:
        labels = dict(item["metric"])
        text = series_text(labels.pop("__name__"), labels)
        rows.extend((text, round(float(t) * 1000), float(v)) for t, v in item["values"])
    schema = {"series": pl.Utf8, "ts": pl.Int64, "value": pl.Float64}
    return pl.DataFrame(rows, schema=schema, orient="row").sort("series", "ts")


def test_remote_write_then_read_back_equals_the_archive_after_a_resume(
    receiver: str, archive: Archive
) -> None:
    want = promtools.archived(archive)
    with pytest.raises(ServerError, match=r"no answer .*samples were accepted by this run, up to"):
        export_remote_write(
            archive,
            f"{receiver}/api/v1/write",
            batch_samples=500,
            transport=promtools.CutAfter(3),
            sleep=lambda s: None,
        )
    assert 0 < read_back(receiver).height < want.height
    result = export_remote_write(archive, f"{receiver}/api/v1/write", batch_samples=500)
    assert result.resumed_after is not None
    assert result.samples == want.height - 3 * 500
    assert read_back(receiver).equals(want)


def test_a_target_that_refuses_exits_1_saying_how_far_it_got(
    receiver: str, archive: Archive, capsys: pytest.CaptureFixture[str]
) -> None:
    try:
        main(["export", "remote-write", "--archive", archive.uri, "--url", f"{receiver}/nowrite"])
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    _, err = capsys.readouterr()
    assert code == 1 and "HTTP 404" in err and "0 samples were accepted" in err
    assert len(err.strip().splitlines()) == 1


class _Flaky(BaseHTTPRequestHandler):
    """A receiver that answers 503 to the first two requests, then takes everything."""

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        seen: list[tuple[dict[str, str], bytes]] = self.server.seen  # type: ignore[attr-defined]
        seen.append((dict(self.headers.items()), body))
        self.send_response(503 if len(seen) <= 2 else 204)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


def test_5xx_is_retried_with_backoff_and_requests_are_remote_write_1_0(
    archive: Archive,
) -> None:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Flaky)
    httpd.seen = []  # type: ignore[attr-defined]
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    waits: list[float] = []
    try:
        url = f"http://127.0.0.1:{httpd.server_address[1]}/api/v1/write"
        result = export_remote_write(archive, url, batch_samples=100_000, sleep=waits.append)
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)
    seen = httpd.seen  # type: ignore[attr-defined]
    assert waits == [0.5, 1.0] and len(seen) == 3 and result.requests == 3
    headers, body = seen[-1]
    assert headers["Content-Encoding"] == "snappy"
    assert headers["Content-Type"] == "application/x-protobuf"
    assert headers["X-Prometheus-Remote-Write-Version"] == "0.1.0"
    raw = bytes(cramjam.snappy.decompress_raw(body))
    # WriteRequest field 1 (TimeSeries), then its first Label: __name__ sorts first.
    assert raw[0] == 0x0A and b"__name__" in raw[:40]
    assert result.samples == promtools.archived(archive).height
