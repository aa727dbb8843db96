"""``archiver run``: scrape on a schedule aligned to the minute, until told to stop.

Each tick fires ``settings.phase`` seconds after a minute boundary (``ARCHIVER_PHASE``), so the
server has flipped to the new window before we ask. A stop request (SIGINT/SIGTERM, set by the
CLI on ``stop``) is honoured between scrapes and while waiting; mid-request the CLI's handler
raises :class:`~archiver.errors.Interrupted` (only while a request is on the wire, never during a
write), which ends the loop.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from archiver.collect.scrape import PHASE, ScrapeResult, scrape_once
from archiver.errors import ArchiverError, ConfigError, Interrupted

if TYPE_CHECKING:
    import httpx

    from archiver.config import Settings


def next_tick(now: float, interval: float, phase: float = PHASE) -> float:
    """The next instant after ``now`` that is ``phase`` seconds past a multiple of ``interval``.

    >>> next_tick(125.0, 60)
    140.0
    >>> next_tick(140.0, 60)
    200.0
    """
    base = math.floor((now - phase) / interval) * interval + phase
    return base + interval if base <= now else base


def run(
    settings: Settings,
    *,
    interval: float = 60.0,
    stop: threading.Event | None = None,
    count: int | None = None,
    clock: Callable[[], float] = time.time,
    sleep: Callable[[float], None] | None = None,
    transport: httpx.BaseTransport | None = None,
    on_result: Callable[[ScrapeResult], None] = lambda r: None,
    on_error: Callable[[ArchiverError], None] = lambda e: None,
) -> int:
    """Scrape every ``interval`` seconds until ``stop`` is set or ``count`` scrapes ran.

    Returns how many scrapes ran. Errors of one scrape are reported and the loop goes on,
    except configuration errors, which no retry can fix.
    """
    if interval < 1:
        raise ConfigError("--interval must be at least 1 second")
    stop = stop or threading.Event()

    def wait(seconds: float) -> None:
        if sleep is not None:
            sleep(seconds)
        else:
            stop.wait(seconds)

    def pause(seconds: float) -> None:
        """A scrape's own waits (retry backoff, a stall): a stop request ends the scrape."""
        wait(seconds)
        if stop.is_set():
            raise Interrupted("stop requested while the scrape waited to retry")

    done = 0
    while not stop.is_set() and (count is None or done < count):
        tick = next_tick(clock(), interval, settings.phase)
        wait(max(0.0, tick - clock()))
        if stop.is_set():
            break
        try:
            on_result(scrape_once(settings, clock=clock, sleep=pause, transport=transport, phase=0))
        except ConfigError:
            raise
        except Interrupted:
            break  # a stop request cut a request short: nothing half-written, just stop
        except ArchiverError as exc:
            on_error(exc)
        done += 1
    return done
