"""The simulator on a real socket: HTTPS with a throwaway CA, chunked bodies, real stalls and cuts.

::

    with serve(Simulator(Account(AccountSpec.small()))) as server:
        ctx = ssl.create_default_context(cafile=server.ca_file)
        httpx.get(server.url + "/v1/metrics", verify=ctx, headers={"Authorization": ...})
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import ssl
import tempfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any

from archiver.endpoints import is_loopback
from archiver.simulator.responses import chunks
from archiver.simulator.server import Simulator

__all__ = ["Server", "serve"]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _HTTPServer

    def _serve(self) -> None:
        headers = {k: v for k, v in self.headers.items()}
        response = self.server.simulator.handle(self.command, self.path, headers)
        if response.hang:
            # Read, never answered: wait (bounded) until the server closes.
            self.server.stopping.wait(3600)
            self.close_connection = True
            return
        self.send_response(response.status)
        for name, value in response.headers:
            self.send_header(name, value)
        if response.trickle_s is not None:
            self._trickle(response.body, response.trickle_s)
            return
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        for piece, stalls in chunks(response):
            self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
            if stalls:
                self.wfile.flush()
                # An Event, not sleep: closing the server wakes stalled handlers at once.
                self.server.stopping.wait(response.stall_s)
        if response.cut_at is not None:
            # Drop the connection without the final chunk: the client sees a cut body.
            self.wfile.flush()
            self.close_connection = True
            return
        self.wfile.write(b"0\r\n\r\n")

    def _trickle(self, body: bytes, every_s: float) -> None:
        """The body one byte at a time, with its full Content-Length promised up front."""
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        for i in range(len(body)):
            self.wfile.write(body[i : i + 1])
            self.wfile.flush()
            if self.server.stopping.wait(every_s):
                break
        self.close_connection = True

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _serve

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the simulator keeps its own request record."""


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], simulator: Simulator, tls: ssl.SSLContext | None):
        self.simulator = simulator
        self.tls = tls
        self.stopping = threading.Event()
        self.connections: set[socket.socket] = set()
        self.connections_lock = threading.Lock()
        super().__init__(address, _Handler)

    def finish_request(self, request: Any, client_address: Any) -> None:
        conn: socket.socket = request
        conn.settimeout(30)
        try:
            # The TLS handshake runs here, in the connection's own thread, so a slow or broken
            # client cannot hold up accept().
            if self.tls is not None:
                conn = self.tls.wrap_socket(request, server_side=True)
            with self.connections_lock:
                self.connections.add(conn)
            _Handler(conn, client_address, self)
        except (OSError, ssl.SSLError):
            pass  # a client that went away mid-handshake or mid-body is not our problem
        finally:
            with self.connections_lock:
                self.connections.discard(conn)
            conn.close()

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Quiet: a client that disconnects is normal for a fault-injecting server."""

    def drop_connections(self) -> None:
        with self.connections_lock:
            live = list(self.connections)
        for conn in live:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)


class Server:
    """A running simulator server; a context manager. ``url`` has no trailing slash."""

    def __init__(self, simulator: Simulator, host: str, port: int, tls: bool) -> None:
        self.simulator = simulator
        self.ca_file: Path | None = None
        self._tmp: str | None = None
        context = None
        if tls:
            import trustme

            ca = trustme.CA()
            cert = ca.issue_cert("127.0.0.1", "localhost", "::1")
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            cert.configure_cert(context)
            self._tmp = tempfile.mkdtemp(prefix="archiver-sim-")
            self.ca_file = Path(self._tmp) / "ca.pem"
            ca.cert_pem.write_to_path(str(self.ca_file))
        self._httpd = _HTTPServer((host, port), simulator, context)
        bound_host, bound_port = self._httpd.server_address[:2]
        self.host = str(bound_host)
        self.port = int(bound_port)
        scheme = "https" if tls else "http"
        self.url = f"{scheme}://{self.host}:{self.port}"
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        self._closed = False

    def close(self) -> None:
        """Stop serving, wake stalled bodies, close every connection, remove the CA file."""
        if self._closed:
            return
        self._closed = True
        self._httpd.stopping.set()
        self._httpd.shutdown()
        self._httpd.drop_connections()
        self._httpd.server_close()
        self._thread.join(timeout=10)
        if self._tmp is not None:
            shutil.rmtree(self._tmp, ignore_errors=True)

    def __enter__(self) -> Server:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def serve(simulator: Simulator, host: str = "127.0.0.1", port: int = 0, tls: bool = True) -> Server:
    """Serve ``simulator`` from a background thread; returns the running :class:`Server`.

    With ``tls`` (the default) the certificate for 127.0.0.1/localhost is signed by a CA made
    at start-up; ``server.ca_file`` is its PEM for clients to trust. Plain HTTP is refused
    unless ``host`` is a loopback address, as the archiver itself refuses it.
    """
    if not tls and not is_loopback(host):
        raise ValueError(f"plain HTTP is only served on a loopback address, not {host!r}")
    return Server(simulator, host, port, tls)
