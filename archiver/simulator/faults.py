"""Fault knobs of the simulator: every failure the real endpoint has shown, or plausibly could.

Every knob is a probability in [0, 1] (0 = off, the default; 1 = every time). The dice are a hash
of (seed, request number) for faults of one response, and of (seed, minute) for faults of the
data itself (odd label values, a new metric), so that every request for the same window agrees
on the data and a split scrape still adds up. Runs are reproducible: same seed, same requests,
same faults.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

__all__ = ["Faults"]


@dataclass(frozen=True)
class Faults:
    """What can go wrong, and how often.

    Per request (``/v1/metrics`` and, for status faults, ``/v1/descriptors``):

    - ``error_rate``: a 500, 502 or 503.
    - ``throttle_rate``: a spurious 429 before the budget is spent; ``Retry-After`` cycles through
      seconds, an HTTP date, missing and garbage.
    - ``html_rate``: a 200 whose body is an HTML error page (``text/html``).
    - ``unknown_rate``: one region's series are dropped and ``X-Completeness: unknown``.
    - ``odd_header_rate``: ``X-Completeness`` missing or an undocumented value.
    - ``slow_rate``: the body stalls ``slow_stall_s`` seconds partway (real on a socket; through
      :meth:`Simulator.transport` it raises ``httpx.ReadTimeout`` when the stall exceeds the
      request's read timeout, and otherwise completes at once).
    - ``cut_rate``: the connection drops partway through the body (no ``# EOF``).
    - ``trickle_rate``: the body comes one byte every ``trickle_every_s`` seconds (real on a
      socket only: httpx's per-read timeouts never trip; in-process the body arrives at once).
    - ``hang_rate``: the request is read and never answered (on a socket, until the server
      closes; in-process it raises ``httpx.ReadTimeout``).
    - ``echo_auth_rate``: the body echoes the request's ``Authorization`` header in a line that
      is not OpenMetrics (a debugging proxy gone wrong): the parse error must not leak it.
    - ``retry_after``: the ``Retry-After`` value every spurious 429 carries (e.g. ``100000000``),
      instead of the cycle above.
    - ``malformed_rate``: one line of the body is not OpenMetrics.
    - ``help_first_rate``, ``empty_family_rate``, ``space_after_comma_rate``: legal but unusual
      text (HELP before TYPE, a declared family with no samples, ``, `` between labels).

    Per window (minute):

    - ``stall_rate``: the backend stalls: for ``stall_minutes`` minutes the previous window is
      served again, then it jumps ahead; the skipped windows are never offered (a gap).
    - ``odd_labels_rate``: one extra series whose label value holds quotes, backslashes, a
      newline and non-ASCII text.
    - ``new_metric_rate``: a family that is not in the catalog (nor in ``/v1/descriptors``).
    - ``far_future_rate``: one sample a century ahead of the window.
    - ``long_namespace_rate``: one series in a namespace of 60 Cyrillic letters (its escaped
      partition name is over 255 bytes).
    - ``legacy_names_until_ms``: windows before this instant use the preview's names
      (``frontend_service_request_count``, ``resource_exhausted_cause``, ...).
    """

    error_rate: float = 0.0
    throttle_rate: float = 0.0
    html_rate: float = 0.0
    unknown_rate: float = 0.0
    odd_header_rate: float = 0.0
    slow_rate: float = 0.0
    slow_stall_s: float = 20.0
    cut_rate: float = 0.0
    trickle_rate: float = 0.0
    trickle_every_s: float = 5.0
    hang_rate: float = 0.0
    echo_auth_rate: float = 0.0
    retry_after: str | None = None
    malformed_rate: float = 0.0
    help_first_rate: float = 0.0
    empty_family_rate: float = 0.0
    space_after_comma_rate: float = 0.0
    stall_rate: float = 0.0
    stall_minutes: int = 3
    odd_labels_rate: float = 0.0
    new_metric_rate: float = 0.0
    far_future_rate: float = 0.0
    long_namespace_rate: float = 0.0
    legacy_names_until_ms: int | None = None

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name.endswith("_rate") and not 0.0 <= value <= 1.0:
                raise ValueError(f"Faults.{f.name} must be within 0..1, not {value}")
        if self.stall_minutes < 1:
            raise ValueError("Faults.stall_minutes must be >= 1")
        if self.trickle_every_s <= 0:
            raise ValueError("Faults.trickle_every_s must be > 0")
        if self.slow_stall_s < 0:
            raise ValueError("Faults.slow_stall_s must be >= 0")
