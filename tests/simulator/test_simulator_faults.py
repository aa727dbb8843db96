"""The simulator's fault knobs added for issue 15, each on its own (the collector's handling of
them is tested in tests/collect/test_faults.py and tests/cli/test_cli_faults.py)."""

from __future__ import annotations

import socket
import time

import httpx
import pytest

from archiver.openmetrics import parse
from archiver.simulator import Account, AccountSpec, Faults, Simulator, serve
from archiver.simulator.variants import FAR_FUTURE_MS, LONG_NAMESPACE

T0 = 1_700_000_037.0
KEY = "sim-key"
AUTH = {"Authorization": f"Bearer {KEY}"}


def sim(faults: Faults) -> Simulator:
    return Simulator(
        Account(AccountSpec.small(seed=2)), api_key=KEY, clock=lambda: T0, faults=faults
    )


def test_far_future_adds_one_sample_a_century_ahead() -> None:
    s = sim(Faults(far_future_rate=1.0))
    response = s.handle("GET", "/v1/metrics", AUTH)
    ts = parse(response.body).samples.get_column("ts").dt.epoch("ms")
    window = s.requests[-1].window_ms or 0
    assert int(ts.max()) == window + FAR_FUTURE_MS  # type: ignore[arg-type]
    assert (ts == window).sum() == len(ts) - 1


def test_long_namespace_adds_a_series_whose_escaped_name_is_over_255_bytes() -> None:
    from urllib.parse import quote

    response = sim(Faults(long_namespace_rate=1.0)).handle("GET", "/v1/metrics", AUTH)
    namespaces = set(parse(response.body).samples.get_column("namespace"))
    assert LONG_NAMESPACE in namespaces and len(quote(LONG_NAMESPACE).encode()) > 255


def test_retry_after_sets_every_spurious_429s_header() -> None:
    s = sim(Faults(throttle_rate=1.0, retry_after="100000000"))
    for _ in range(4):  # the cycle of styles is replaced by the knob's value
        response = s.handle("GET", "/v1/metrics", AUTH)
        assert response.status == 429 and response.header("Retry-After") == "100000000"


def test_echo_auth_puts_the_authorization_header_in_a_bad_line() -> None:
    response = sim(Faults(echo_auth_rate=1.0)).handle("GET", "/v1/metrics", AUTH)
    assert response.body.startswith(f'request_header{{authorization="Bearer {KEY}"'.encode())


def test_hang_never_answers_in_process() -> None:
    client = httpx.Client(transport=sim(Faults(hang_rate=1.0)).transport(), base_url="http://sim")
    with pytest.raises(httpx.ReadTimeout):
        client.get("/v1/metrics", headers=AUTH)


def test_trickle_sends_one_byte_at_a_time_on_a_socket() -> None:
    s = Simulator(
        Account(AccountSpec.small(seed=2)),
        api_key=KEY,
        faults=Faults(trickle_rate=1.0, trickle_every_s=0.2),
    )
    with (
        serve(s, tls=False) as server,
        socket.create_connection((server.host, server.port), timeout=10) as conn,
    ):
        conn.sendall(f"GET /v1/metrics HTTP/1.1\r\nHost: x\r\n{_auth()}\r\n\r\n".encode())
        head = conn.recv(65536)
        assert b"Content-Length:" in head
        began, received = time.monotonic(), b""
        while len(received) < 3:  # bounded by the socket timeout
            received += conn.recv(65536)
        # three bytes need two pauses: a trickle, not a body
        assert time.monotonic() - began >= 0.3
        assert len(received) <= 4


def _auth() -> str:
    return f"Authorization: Bearer {KEY}"
