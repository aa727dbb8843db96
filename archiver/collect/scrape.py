"""One scrape end to end: plan -> fetch -> parse -> store -> log.

The server offers only the latest minute, so a scrape aims at one window: the minute that was
``offset`` seconds ago when the scrape began (``target_window``). Truncated pieces are split
until complete or the budget or deadline says stop; every request becomes a scrape-log row, and
one summary row closes the run, so the gap audit can tell why any minute is missing.

Compaction and repair are not part of a scrape: ``archiver compact`` is its own cron job.
Descriptors are a named step (:func:`refresh_descriptors_if_due`) run after the samples.
"""

from __future__ import annotations

import json
import logging
import math
import os
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import filelock

from archiver.collect.backoff import Backoff
from archiver.collect.budget import Budget
from archiver.collect.client import Client
from archiver.collect.clock import Clock, Sleep
from archiver.collect.fetch import FUTURE_SLACK_MS, Fetch, PieceResult
from archiver.collect.outcome import Outcome
from archiver.collect.run import Run
from archiver.collect.scrapelog import ScrapeLog
from archiver.collect.shards import Plan, Shard
from archiver.collect.spool import Stored, store_frames
from archiver.collect.state import State, load_json
from archiver.errors import ArchiverError, AuthError, Interrupted, ParseError
from archiver.store.archive import Archive

if TYPE_CHECKING:
    import httpx

    from archiver.config import Settings

log = logging.getLogger(__name__)

#: Seconds into the minute at which a cron-started scrape sends its first request (the
#: ``phase`` setting's default): the server flips its window right at the minute plus its
#: offset, and a request at that instant can get the old window (and miss the new one for good).
PHASE = 20.0
#: Who holds the scrape lock, since when (``_archiver/scrape-holder.json``).
HOLDER = "scrape-holder.json"
#: Seconds past a scrape's phase and deadline before its lock counts as stuck.
STUCK_SLACK = 30.0

@dataclass
class ScrapeResult:
    """What one ``scrape_once`` achieved."""

    scrape_id: str
    target_window: int  # epoch ms
    outcome: Outcome
    samples: int = 0
    new_samples: int = 0
    requests: int = 0
    pieces: list[PieceResult] = field(default_factory=list)
    message: str = ""

    @property
    def exit_code(self) -> int:
        return self.outcome.exit_code

    def raise_for_outcome(self) -> None:
        """Raise the error this run's outcome stands for (the CLI's exit); quiet on success."""
        self.outcome.raise_for(f"scrape ended {self.outcome}: {self.message}")


def minute_floor(seconds: float) -> int:
    """The start of the minute containing ``seconds``, as epoch ms."""
    return int(math.floor(seconds / 60.0) * 60_000)


def phase_wait(now: float, phase: float) -> float:
    """Seconds a scrape started at ``now`` waits for ``phase`` seconds into its minute.

    >>> phase_wait(120.0, 20), phase_wait(145.0, 20)
    (20.0, 0.0)
    """
    return max(0.0, math.floor(now / 60.0) * 60.0 + phase - now) if phase > 0 else 0.0


def scrape_once(
    settings: Settings,
    *,
    clock: Clock = time.time,
    sleep: Sleep = time.sleep,
    transport: httpx.BaseTransport | None = None,
    lock_wait: float = 5.0,
    write_lock_wait: float = 60.0,
    phase: float | None = None,
) -> ScrapeResult:
    """Scrape the current window once into the archive; see the module docstring.

    ``phase``: wait until this many seconds into the minute before the first request (cron
    starts us at second 0); default ``settings.phase``; 0 sends at once. ``lock_wait``: how
    long another scrape may hold the archive before this one gives way; ``write_lock_wait``:
    how long to wait for the write lock before the minute is spooled for the next run.
    """
    settings.require_key()
    archive = Archive.from_settings(settings)
    started = clock()
    scrape_id = uuid.uuid4().hex
    try:
        run_lock = archive.lock("scrape", timeout=lock_wait)
        run_lock.acquire()
    except filelock.Timeout:
        return _held(settings, archive, scrape_id, started, clock)
    try:
        holder = {"pid": os.getpid(), "started": started}
        archive.write_state(HOLDER, json.dumps(holder).encode())
        wait = phase_wait(clock(), settings.phase if phase is None else phase)
        if wait > 0:
            sleep(wait)
        budget = Budget(
            archive,
            per_hour=settings.budget_per_hour,
            per_run=settings.max_requests_per_scrape,
            clock=clock,
        )
        target = minute_floor(clock() - settings.offset)
        scrape_log = ScrapeLog(archive, scrape_id, settings.labels, target)
        with Client.from_settings(
            settings, budget=budget, clock=clock, sleep=sleep, transport=transport
        ) as client:
            run = Run(
                settings, archive, client, budget, clock, sleep, started, scrape_log,
                State.load(archive), write_lock_wait,
            )  # fmt: skip
            return _scrape_window(run, target)
    finally:
        run_lock.release()


def _held(
    settings: Settings, archive: Archive, scrape_id: str, started: float, clock: Clock
) -> ScrapeResult:
    """Another scrape holds the archive: fine while it is within its deadline (exit 0); past
    it, that scrape is stuck, and saying nothing would hide it from cron's alerting (exit 1)."""
    target = minute_floor(started - settings.offset)
    holder = load_json(archive, HOLDER)
    since = float(holder.get("started", 0.0) or 0.0)
    if not since or clock() - since <= settings.phase + settings.deadline + STUCK_SLACK:
        return ScrapeResult(scrape_id, target, Outcome.SKIPPED, message="another scrape is running")
    when = datetime.fromtimestamp(since, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    message = (
        f"previous scrape stuck since {when} (pid {holder.get('pid', '?')}): it has held the "
        f"archive past its {settings.deadline:.0f}s deadline; stop that process"
    )
    scrape_log = ScrapeLog(archive, scrape_id, settings.labels, target)
    scrape_log.close(
        outcome=Outcome.STUCK, started=started, finished=clock(), pieces=0,
        namespaces=settings.namespaces, metrics=settings.metrics, served_window=None,
        sample_count=0, new_samples=0, error=message,
    )  # fmt: skip
    return ScrapeResult(scrape_id, target, Outcome.STUCK, message=message)


def _scrape_window(run: Run, target: int) -> ScrapeResult:
    """plan -> fetch -> parse -> store -> (descriptors when due) -> log."""
    s = run.settings
    plan = Plan.load(run.archive, s.namespaces, s.metrics, s.labels)
    if run.state.last_served > target + FUTURE_SLACK_MS:
        # Left by an older version that believed a far-future sample: it would make every
        # later minute look like a stall.
        log.warning("the state's last served window was in the future; forgot it")
        run.state.last_served = 0
    if run.state.last_complete_window >= target:
        return _close(run, target, Outcome.SKIPPED, [], message="this window is archived already")
    backoff = Backoff.load(run.archive, s)
    if backoff.waiting(run.clock()):
        return _close(run, target, Outcome.BACKED_OFF, [], message=backoff.message())
    fetch = Fetch(run)
    error: AuthError | ParseError | Interrupted | None = None
    try:
        fetch.all(plan)
    except (AuthError, ParseError, Interrupted) as exc:
        error = exc  # logged below; nothing of a run with a malformed answer is stored
    stored = Stored() if error else store_frames(run.archive, fetch.frames, lock_wait=run.wait)
    outcome = _outcome_of(error) if error else overall(fetch.pieces)
    if stored.failed:
        outcome = Outcome.STORAGE_ERROR
    if outcome.answered:  # a failing endpoint gets no more requests from this run
        refresh_descriptors_if_due(run)
    failure = str(error) if error else _short(fetch.pieces)
    backoff.after_run(run.archive, outcome, failure, run.clock())
    if outcome is Outcome.COMPLETE:
        run.state.last_complete_window = target
    served = [p.window for p in fetch.pieces if p.window is not None]
    if served and error is None:
        run.state.last_served = max(run.state.last_served, *served)
    if fetch.next_plan and error is None:
        plan.shards = fetch.next_plan
    plan.save(run.archive)
    run.state.save(run.archive)
    result = _close(
        run, target, outcome, fetch.pieces, new_samples=stored.new, error=error,
        message=stored.problem(),
    )  # fmt: skip
    if error is not None:
        raise error
    return result


def _outcome_of(error: ArchiverError) -> Outcome:
    if isinstance(error, Interrupted):
        return Outcome.INTERRUPTED
    return Outcome.AUTH_ERROR if isinstance(error, AuthError) else Outcome.PARSE_ERROR


def refresh_descriptors_if_due(run: Run) -> None:
    """Once a day, when the budget and deadline leave room after the samples."""
    from archiver.collect import descriptors

    now = run.clock()
    due = now - run.state.last_descriptors >= run.settings.descriptors_every
    if not due or run.budget.remaining() < 1 or now + 5.0 >= run.deadline:
        return
    try:
        result = descriptors.refresh(
            run.archive,
            run.client,
            clock=run.clock,
            deadline=run.deadline,
            on_attempt=run.on_attempt(Shard()),
        )
    except ArchiverError as exc:
        # Try again in an hour, not every minute: each attempt costs budget.
        run.state.last_descriptors = now - run.settings.descriptors_every + 3600
        log.warning("descriptor refresh failed, will try again in an hour: %s", exc)
        return
    run.state.last_descriptors = now
    run.state.metrics.update(descriptors.latest(run.archive))
    for line in result.drift.lines() if result.drift.any else []:
        log.warning("descriptor drift: %s", line)


#: Failures that lost data outrank data that came back short.
_RANK = (
    Outcome.STORAGE_ERROR,
    Outcome.SERVER_ERROR,
    Outcome.NETWORK_ERROR,
    Outcome.BUDGET_EXHAUSTED,
    Outcome.RATE_LIMITED,
    Outcome.SHARE_SPENT,
    Outcome.LIMITED,
    Outcome.UNKNOWN,
)


def overall(pieces: list[PieceResult]) -> Outcome:
    """A run's outcome from its pieces' (the worst one wins)."""
    outcomes = {p.outcome for p in pieces if not p.split}
    if not outcomes:
        return Outcome.BUDGET_EXHAUSTED
    if outcomes == {Outcome.COMPLETE}:
        return Outcome.COMPLETE
    return next((o for o in _RANK if o in outcomes), Outcome.UNKNOWN)


def _close(
    run: Run,
    target: int,
    outcome: Outcome,
    pieces: list[PieceResult],
    *,
    message: str = "",
    new_samples: int = 0,
    error: Exception | None = None,
) -> ScrapeResult:
    """Write the run's summary row (and its attempt rows); the result for the caller."""
    windows = [p.window for p in pieces if p.window is not None]
    total = sum(p.samples for p in pieces)
    message = "; ".join(m for m in (message, _short(pieces)) if m)
    requests = run.log.requests
    run.log.close(
        outcome=outcome,
        started=run.started,
        finished=run.clock(),
        pieces=len(pieces),
        namespaces=run.settings.namespaces,
        metrics=run.settings.metrics,
        served_window=max(windows) if windows else None,
        sample_count=total,
        new_samples=new_samples,
        error=str(error) if error else message,
    )
    return ScrapeResult(
        run.log.scrape_id,
        target,
        outcome,
        samples=total,
        new_samples=new_samples,
        requests=requests,
        pieces=pieces,
        message=message,
    )


def _short(pieces: list[PieceResult]) -> str:
    short = [p for p in pieces if not p.split and (p.error or p.outcome is not Outcome.COMPLETE)]
    return "; ".join(f"{p.shard.describe()}: {p.error or p.outcome}" for p in short)
