"""The simulator on a real local socket: HTTPS with the generated CA, chunked cuts and stalls."""

from __future__ import annotations

import ssl

import httpx
import pytest

from archiver.openmetrics import parse
from archiver.simulator import Account, AccountSpec, Faults, Simulator, serve

KEY = {"Authorization": "Bearer sim-key"}


def sim(**knobs: object) -> Simulator:
    faults = Faults(**knobs)  # type: ignore[arg-type]
    return Simulator(Account(AccountSpec.small()), clock=lambda: 1_700_000_000.0, faults=faults)


def test_https_with_the_generated_ca() -> None:
    with serve(sim()) as server:
        assert server.url.startswith("https://127.0.0.1:") and server.ca_file is not None
        ctx = ssl.create_default_context(cafile=str(server.ca_file))
        with httpx.Client(base_url=server.url, verify=ctx, headers=KEY) as client:
            r = client.get("/v1/metrics", params={"metrics": "temporal_cloud_v1_action_limit"})
            assert r.status_code == 200 and r.headers["x-completeness"] == "complete"
            assert parse(r.content).eof
            assert client.get("/v1/descriptors").json()["meta"]["pagination"]["total"] == 55
            assert client.get("/v1/metrics", headers={"Authorization": ""}).status_code == 401
        # Without the CA the certificate is not trusted.
        with httpx.Client(base_url=server.url) as client, pytest.raises(httpx.ConnectError):
            client.get("/v1/metrics")
        ca_file = server.ca_file
    assert not ca_file.exists()


def test_cut_body_on_the_socket() -> None:
    with (
        serve(sim(cut_rate=1.0), tls=False) as server,
        httpx.Client(base_url=server.url, headers=KEY) as client,
        pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)),
    ):
        client.get("/v1/metrics")


def test_slow_body_trips_the_read_timeout_and_close_is_prompt() -> None:
    with (
        serve(sim(slow_rate=1.0, slow_stall_s=30.0), tls=False) as server,
        httpx.Client(base_url=server.url, headers=KEY, timeout=0.2) as client,
        pytest.raises(httpx.ReadTimeout),
    ):
        client.get("/v1/metrics")


def test_plain_http_only_on_loopback() -> None:
    with pytest.raises(ValueError, match="loopback"):
        serve(sim(), host="0.0.0.0", tls=False)
