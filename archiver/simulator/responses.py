"""A simulated response before it meets a transport: status, headers, body, and how the body
misbehaves on the way (cut, stalled, trickled, never sent)."""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from dataclasses import dataclass

_CHUNK = 16 * 1024


@dataclass(frozen=True)
class SimResponse:
    """A response before it meets a transport.

    ``cut_at``: the body stops at this byte offset and the connection drops (no end of body).
    ``stall_at``: the body pauses ``stall_s`` seconds at this byte offset.
    ``trickle_s``: the body comes one byte every this many seconds; ``hang``: nothing comes.
    """

    status: int
    headers: tuple[tuple[str, str], ...]
    body: bytes
    cut_at: int | None = None
    stall_at: int | None = None
    stall_s: float = 0.0
    trickle_s: float | None = None  # one byte every this many seconds
    hang: bool = False  # never answer

    def header(self, name: str) -> str | None:
        """The first header called ``name`` (case-insensitive), or None."""
        return next((v for k, v in self.headers if k.lower() == name.lower()), None)


def text_response(status: int, text: str, *headers: tuple[str, str]) -> SimResponse:
    return SimResponse(
        status, (("Content-Type", "text/plain; charset=utf-8"), *headers), text.encode()
    )


def json_response(status: int, payload: object) -> SimResponse:
    body = json.dumps(payload).encode()
    return SimResponse(status, (("Content-Type", "application/json"),), body)


def chunks(response: SimResponse) -> Iterator[tuple[bytes, bool]]:
    """The body in transport-sized pieces; the flag marks the piece after which it stalls."""
    end = len(response.body) if response.cut_at is None else response.cut_at
    marks = sorted({0, end, *range(_CHUNK, end, _CHUNK)} | {response.stall_at or 0})
    for start, stop in itertools.pairwise(marks):
        if stop > end:
            break
        yield response.body[start:stop], stop == response.stall_at
