"""What ``import prometheus`` says about URLs that are not a working Prometheus API, over a real
local socket (a tiny HTTP server standing in for a proxy, a web page, a broken server)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from archiver.config import ImportAuth, Secret, import_auth
from archiver.errors import AuthError, ConfigError, ServerError
from archiver.history.promapi import PromAPI, display_url, metric_selector, split_selector
from archiver.history.prometheus import import_prometheus
from archiver.store.archive import Archive

ANSWERS: dict[str, tuple[int, str, bytes]] = {
    "/down": (503, "text/plain", b"upstream unavailable"),
    "/page": (200, "text/html", b"<html><body>Grafana</body></html>"),
    "/locked": (401, "application/json", b'{"status":"error","error":"unauthorized"}'),
    "/bad": (400, "application/json",
             b'{"status":"error","errorType":"bad_data","error":"parse error"}'),
}  # fmt: skip


class _Handler(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.server.seen.append(self.headers.get("Authorization"))  # type: ignore[attr-defined]
        prefix = "/" + self.path.strip("/").split("/")[0]
        status, kind, body = ANSWERS.get(prefix, (404, "text/plain", b"404 page not found"))
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def server() -> Iterator[tuple[str, list[str | None]]]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    httpd.seen = []  # type: ignore[attr-defined]
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", httpd.seen  # type: ignore[attr-defined]
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


def _import(url: str, auth: ImportAuth | None = None) -> None:
    with PromAPI(url, auth, sleep=lambda s: None) as api:
        import_prometheus(
            Archive.open("/nonexistent-archive-never-written", durable=False),
            api,
            "up",
            datetime(2025, 3, 3, tzinfo=UTC),
            datetime(2025, 3, 4, tzinfo=UTC),
        )


@pytest.mark.parametrize(
    ("path", "error", "says"),
    [
        ("/down", ServerError, r"/down/api/v1/series answered HTTP 503"),
        ("/page", ServerError, r"is not a Prometheus API \(the answer is not the API's JSON\)"),
        ("/nowhere", ServerError, r"HTTP 404 \(is --url the Prometheus API's base URL\?\)"),
        ("/locked", AuthError, r"HTTP 401: check ARCHIVER_IMPORT_BEARER_TOKEN"),
        ("/bad", ServerError, r"HTTP 400: bad_data: parse error"),
    ],
)
def test_failures_say_which(
    server: tuple[str, list[str | None]], path: str, error: type[Exception], says: str
) -> None:
    url, _ = server
    with pytest.raises(error, match=says):
        _import(url + path)


def test_credentials_are_sent_and_never_shown(server: tuple[str, list[str | None]]) -> None:
    url, seen = server
    with pytest.raises(AuthError) as caught:
        _import(url + "/locked", ImportAuth(bearer_token=Secret("tok-123")))
    assert seen == ["Bearer tok-123"]
    assert "tok-123" not in str(caught.value)
    basic = import_auth({"ARCHIVER_IMPORT_USERNAME": "u", "ARCHIVER_IMPORT_PASSWORD": "pw-9"})
    assert "pw-9" not in repr(basic)
    with pytest.raises(ConfigError, match="credentials travel only over https"):
        PromAPI("http://prometheus.example.com:9090", basic)
    assert display_url("https://u:pw-9@host:9090/prom/?x=1") == "https://host:9090/prom"


def test_selectors() -> None:
    assert (
        metric_selector('{__name__=~"t_.*",ns="a"}', "t_x")
        == '{__name__="t_x",__name__=~"t_.*",ns="a"}'
    )
    assert metric_selector('t_x{ns="a"}', "t_x") == 't_x{ns="a"}'
    assert split_selector("t_x") == ("t_x", "")
    with pytest.raises(ConfigError, match="not a series selector"):
        split_selector("rate(t_x[5m])")
