"""The lock of an S3 archive: a lease object under ``<archive>/_archiver/locks/<name>``.

S3 has no rename and pyarrow cannot create-if-absent, but S3 itself can: a ``PutObject`` with
``If-None-Match: *`` succeeds for exactly one writer. The lease holds its owner and how long it
lasts; a holder renews it (a conditional put on its own ETag) while it works, and deletes it
when done. A lease whose holder died is taken over once it has expired, again with a put
conditional on the ETag that was read, so two machines that both see it expired cannot both win.

Expiry is judged on the server's clock (the object's ``Last-Modified`` against the ``Date`` of
the answer), so machines whose clocks disagree still agree on it. Same interface as the
``filelock`` locks of a local archive: ``acquire``/``release``, a context manager, reentrant in
one object, ``filelock.Timeout`` when ``timeout`` passes (``-1`` waits forever).
"""

from __future__ import annotations

import email.utils
import json
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable
from types import TracebackType
from typing import Any

import filelock

from archiver.errors import StorageError

__all__ = ["LEASE_SECONDS", "LeaseLock"]

#: How long a lease lasts without renewal; its holder renews it every third of that.
LEASE_SECONDS = 60.0
_POLL = 0.25  # seconds between tries while another holder has the lease
_CONTENDED = {"PreconditionFailed", "ConditionalRequestConflict", "412", "409"}


class LeaseLock:
    """An inter-process (and inter-machine) lock on S3 object ``bucket``/``key``.

    ``client`` is a boto3 S3 client. ``sleep`` is how the waiter waits between tries.
    """

    def __init__(
        self,
        client: Any,
        bucket: str,
        key: str,
        *,
        timeout: float = 10.0,
        lease_seconds: float = LEASE_SECONDS,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.client = client
        self.bucket = bucket
        self.key = key
        self.timeout = timeout
        self.lease_seconds = lease_seconds
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:12]}"
        self._sleep = sleep
        self._etag: str | None = None
        self._count = 0
        self._guard = threading.Lock()
        self._stop = threading.Event()
        self._renewer: threading.Thread | None = None

    @property
    def lock_file(self) -> str:
        """Where the lease lives, as ``s3://bucket/key``."""
        return f"s3://{self.bucket}/{self.key}"

    @property
    def is_locked(self) -> bool:
        """Whether this object holds the lease."""
        return self._count > 0

    def acquire(self, timeout: float | None = None) -> LeaseLock:
        """Take the lease, waiting up to ``timeout`` seconds (default: the lock's)."""
        with self._guard:
            if self._count:
                self._count += 1
                return self
        wait = self.timeout if timeout is None else timeout
        deadline = time.monotonic() + wait
        while True:
            etag = self._try_take()
            if etag is not None:
                with self._guard:
                    self._etag, self._count = etag, 1
                self._start_renewing()
                return self
            if wait >= 0 and time.monotonic() >= deadline:
                raise filelock.Timeout(self.lock_file)
            self._sleep(_POLL if wait < 0 else min(_POLL, max(0.0, deadline - time.monotonic())))

    def release(self, force: bool = False) -> None:
        """Give the lease back (delete it) once every ``acquire`` has been released."""
        with self._guard:
            if not self._count:
                return
            self._count = 0 if force else self._count - 1
            if self._count:
                return
            etag, self._etag = self._etag, None
        self._stop_renewing()
        try:
            self.client.delete_object(Bucket=self.bucket, Key=self.key, IfMatch=etag)
        except Exception as exc:
            if _code(exc) in _CONTENDED or _code(exc) in {"NoSuchKey", "404"}:
                return  # expired and taken over (or gone): nothing of ours to delete
            raise StorageError(f"cannot release the lock {self.lock_file}: {exc}") from exc

    def __enter__(self) -> LeaseLock:
        return self.acquire()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()

    # -- the lease ------------------------------------------------------------------------------

    def _body(self) -> bytes:
        return json.dumps({"owner": self.owner, "lease_seconds": self.lease_seconds}).encode()

    def _put(self, **condition: str) -> str | None:
        """A conditional put of our lease: its ETag, or None when the condition failed."""
        try:
            answer = self.client.put_object(
                Bucket=self.bucket, Key=self.key, Body=self._body(), **condition
            )
        except Exception as exc:
            if _code(exc) in _CONTENDED:
                return None
            raise StorageError(f"cannot take the lock {self.lock_file}: {exc}") from exc
        etag: str = answer["ETag"]
        return etag

    def _try_take(self) -> str | None:
        etag = self._put(IfNoneMatch="*")
        if etag is not None:
            return etag
        try:
            held = self.client.get_object(Bucket=self.bucket, Key=self.key)
        except Exception as exc:
            if _code(exc) in {"NoSuchKey", "404"}:
                return None  # released meanwhile: try again
            raise StorageError(f"cannot read the lock {self.lock_file}: {exc}") from exc
        try:
            lease = float(json.loads(held["Body"].read()).get("lease_seconds", LEASE_SECONDS))
        except (ValueError, AttributeError):
            lease = LEASE_SECONDS  # not one of ours: it still expires
        now = _server_now(held)
        if now is None or now < held["LastModified"].timestamp() + lease:
            return None
        return self._put(IfMatch=held["ETag"])  # expired: take it over, if nobody was faster

    def _start_renewing(self) -> None:
        self._stop = threading.Event()
        self._renewer = threading.Thread(target=self._renew, name=f"lease {self.key}", daemon=True)
        self._renewer.start()

    def _stop_renewing(self) -> None:
        self._stop.set()
        if self._renewer is not None and self._renewer is not threading.current_thread():
            self._renewer.join()
        self._renewer = None

    def _renew(self) -> None:
        while not self._stop.wait(self.lease_seconds / 3.0):
            with self._guard:
                etag = self._etag
            if etag is None:
                return
            try:
                renewed = self._put(IfMatch=etag)
            except StorageError:
                continue  # a passing failure: the lease still has two thirds of its time
            with self._guard:
                if self._etag == etag:
                    self._etag = renewed  # None: lost to a takeover; release is then a no-op


def _code(exc: Exception) -> str:
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        return str(response.get("Error", {}).get("Code", ""))
    return ""


def _server_now(answer: dict[str, Any]) -> float | None:
    headers = answer.get("ResponseMetadata", {}).get("HTTPHeaders", {})
    date = headers.get("date")
    if not date:
        return None
    return email.utils.parsedate_to_datetime(date).timestamp()
