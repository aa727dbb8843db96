"""The simulator in-process: an httpx transport that hands each request to a handler (no
sockets); :mod:`archiver.simulator.httpd` serves the same handler on a socket."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping

import httpx

from archiver.simulator.responses import SimResponse, chunks

#: ``Simulator.handle``: (method, path with query, headers) -> response.
Handler = Callable[[str, str, Mapping[str, str]], SimResponse]


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


class Transport(httpx.BaseTransport):
    """An httpx transport that calls ``handle(method, target, headers)`` in-process.

    Slow bodies cannot stall without a real clock: the stream raises ``httpx.ReadTimeout``
    when the stall is longer than the request's read timeout, and otherwise completes at
    once. A cut body raises ``httpx.RemoteProtocolError`` after the bytes sent so far.
    """

    def __init__(self, handle: Handler) -> None:
        self.handle = handle

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        target = request.url.raw_path.decode("ascii")
        response = self.handle(request.method, target, dict(request.headers))
        return httpx.Response(
            response.status,
            headers=list(response.headers),
            stream=_Stream(response, request),
            request=request,
        )
