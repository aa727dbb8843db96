"""One scrape end to end: plan -> fetch -> parse -> store -> log.

The server offers only the latest minute, so a scrape aims at one window: the minute that was
``offset`` seconds ago when the scrape began (``target_window``). Truncated pieces are split
until complete or the budget or deadline says stop; every request becomes a scrape-log row, and
one summary row closes the run, so the gap audit can tell why any minute is missing.

Compaction and repair are not part of a scrape: ``archiver compact`` is its own cron job.
Descriptors are a named step (:func:`refresh_descriptors_if_due`) run after the samples.
"""

from __future__ import annotations

import logging
import math
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import filelock

from archiver.collect.attempt import Attempt
from archiver.collect.budget import Budget
from archiver.collect.client import Client
from archiver.collect.outcome import Outcome
from archiver.collect.scrapelog import ScrapeLog
from archiver.collect.shards import Plan, Shard, split
from archiver.collect.state import State
from archiver.errors import ArchiverError, AuthError, ParseError
from archiver.store import write as store
from archiver.store.archive import Archive

if TYPE_CHECKING:
    import httpx
    import polars as pl

    from archiver.config import Settings

log = logging.getLogger(__name__)

#: Seconds into the minute at which a cron-started scrape sends its first request (the
#: ``phase`` setting's default): the server flips its window right at the minute plus its
#: offset, and a request at that instant can get the old window (and miss the new one for good).
PHASE = 20.0
#: How many times a stalled answer (an already-stored window) is asked again within one run.
STALL_RETRIES = 2

Clock = Callable[[], float]
Sleep = Callable[[float], None]


@dataclass
class PieceResult:
    """How one shard of the run ended."""

    shard: Shard
    outcome: Outcome
    window: int | None = None  # epoch ms served
    samples: int = 0
    error: str | None = None
    split: bool = False  # truncated, and its children were fetched in its place


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


@dataclass
class _Run:
    """What every step of one run shares (kept out of the public API)."""

    settings: Settings
    archive: Archive
    client: Client
    budget: Budget
    clock: Clock
    sleep: Sleep
    started: float
    log: ScrapeLog
    state: State

    @property
    def deadline(self) -> float:
        return self.started + self.settings.deadline

    def on_attempt(self, shard: Shard | None) -> Callable[[Attempt], None]:
        def record(a: Attempt) -> None:
            self.log.attempt(a, shard)
            if a.outcome is not Outcome.COMPLETE:
                what = shard.describe() if shard else a.request
                log.warning("request %s attempt %d: %s", what, a.attempt, a.error or a.outcome)

        return record


def scrape_once(
    settings: Settings,
    *,
    clock: Clock = time.time,
    sleep: Sleep = time.sleep,
    transport: httpx.BaseTransport | None = None,
    lock_wait: float = 5.0,
    phase: float | None = None,
) -> ScrapeResult:
    """Scrape the current window once into the archive; see the module docstring.

    ``phase``: wait until this many seconds into the minute before the first request (cron
    starts us at second 0); default ``settings.phase``; 0 sends at once.
    """
    settings.require_key()
    archive = Archive.from_settings(settings)
    started = clock()
    scrape_id = uuid.uuid4().hex
    try:
        run_lock = archive.lock("scrape", timeout=lock_wait)
        run_lock.acquire()
    except filelock.Timeout:
        target = minute_floor(started - settings.offset)
        return ScrapeResult(scrape_id, target, Outcome.SKIPPED, message="another scrape is running")
    try:
        phase = settings.phase if phase is None else phase
        if phase > 0:
            minute_start = math.floor(started / 60.0) * 60.0
            if clock() < minute_start + phase:
                sleep(minute_start + phase - clock())
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
            run = _Run(
                settings, archive, client, budget, clock, sleep, started, scrape_log,
                State.load(archive),
            )  # fmt: skip
            return _scrape_window(run, target)
    finally:
        run_lock.release()


def _scrape_window(run: _Run, target: int) -> ScrapeResult:
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
    fetch = _Fetch(run)
    error: AuthError | ParseError | None = None
    try:
        fetch.all(plan)
    except (AuthError, ParseError) as exc:
        error = exc  # logged below; nothing of a run with a malformed answer is stored
    new = 0 if error else store_frames(run.archive, fetch.frames)
    outcome = _outcome_of(error) if error else overall(fetch.pieces)
    if outcome.answered:  # a failing endpoint gets no more requests from this run
        refresh_descriptors_if_due(run)
    if outcome is Outcome.COMPLETE:
        run.state.last_complete_window = target
    served = [p.window for p in fetch.pieces if p.window is not None]
    if served and error is None:
        run.state.last_served = max(run.state.last_served, *served)
    if fetch.next_plan and error is None:
        plan.shards = fetch.next_plan
    plan.save(run.archive)
    run.state.save(run.archive)
    result = _close(run, target, outcome, fetch.pieces, new_samples=new, error=error)
    if error is not None:
        raise error
    return result


def _outcome_of(error: ArchiverError) -> Outcome:
    return Outcome.AUTH_ERROR if isinstance(error, AuthError) else Outcome.PARSE_ERROR


class _Fetch:
    """Fetch and parse every piece of the plan for one window."""

    def __init__(self, run: _Run) -> None:
        self.run = run
        self.frames: list[pl.DataFrame] = []
        self.pieces: list[PieceResult] = []
        #: the pieces the next run should start from: the ones that worked, and the children
        #: of any split this run could not afford
        self.next_plan: list[Shard] = []

    def all(self, plan: Plan) -> None:
        """Fetch every piece of the plan, splitting truncated ones while the budget allows."""
        run = self.run
        queue = list(plan.shards)
        for _ in range(1_000):  # bounded: each split consumes budget, which runs out first
            if not queue:
                break
            shard = queue.pop(0)
            piece = self.one(shard, plan)
            self.pieces.append(piece)
            if piece.window is None and not piece.outcome.answered:
                # The fault was tried MAX_TRIES times (or cannot pass): the next piece would
                # meet it too, and spend the account's budget on it. Stop here.
                self.next_plan.append(shard)
                break
            if piece.outcome is not Outcome.LIMITED:
                self.next_plan.append(shard)
                continue
            children = split(shard, plan.sizes, run.state.known_metrics, run.settings.point_cap)
            if not children:
                piece.error = "cannot split further: one metric of one namespace exceeds the cap"
                self.next_plan.append(shard)
            elif len(children) + len(queue) > run.budget.remaining():
                piece.error = (
                    f"budget too short to split into {len(children)} pieces now; "
                    "the next scrape starts from them"
                )
                self.next_plan.extend(children)
            else:
                piece.split = True
                queue.extend(children)
        self.next_plan.extend(queue)

    def one(self, shard: Shard, plan: Plan) -> PieceResult:
        """One piece: fetched, parsed, asked again while the server stalls."""
        from archiver import openmetrics

        run = self.run
        params = shard.params(run.settings.labels)
        piece = PieceResult(shard, Outcome.NETWORK_ERROR)
        for ask in range(1 + STALL_RETRIES):
            attempt = run.client.fetch(
                "metrics", params, deadline=run.deadline, on_attempt=run.on_attempt(shard)
            )
            piece.outcome, piece.error = attempt.outcome, attempt.error
            if attempt.body is None or not attempt.outcome.answered:
                return piece
            try:
                parsed = openmetrics.parse(attempt.body)
            except ParseError as exc:
                # The snippet quotes the body, and a server may echo our headers into it.
                error = ParseError(run.settings.require_key().scrub(str(exc)), exc.line)
                run.log.amend_last(outcome=Outcome.PARSE_ERROR, error=str(error))
                raise error from None
            for name in parsed.families:
                run.state.note_metric(name)
            frame, ahead = _drop_future(parsed.samples, run.clock())
            window = _window_of(frame)
            piece.window, piece.samples = window, frame.height
            counts = _counts(frame)
            plan.sizes.add(counts)
            run.log.amend_last(
                served_window=window,
                sample_count=frame.height,
                namespaces_seen=sorted({ns for ns, _, _ in counts}),
                error=_ahead_warning(ahead) if ahead else None,
            )
            if ahead:
                log.warning("%s", _ahead_warning(ahead))
            self.frames.append(frame)
            # A stall is the same minute served twice. An older minute never served before is
            # new data from a server lagging more than `offset`: keep it, do not ask again.
            stalled = window is not None and window <= run.state.last_served
            if not stalled:
                return piece
            piece.error = "the server served an older window again (stall)"
            last_try = ask == STALL_RETRIES
            if last_try or run.clock() + 10.0 >= run.deadline or run.budget.remaining() < 1:
                return piece
            run.sleep(10.0)  # the backend stalls for a while; ask again a little later
        return piece


def store_frames(archive: Archive, frames: list[pl.DataFrame]) -> int:
    """Store the parsed frames under the write lock; how many samples were new."""
    import polars as pl

    if not frames:
        return 0
    samples = pl.concat(frames, how="vertical_relaxed")
    with archive.lock("write", timeout=60.0):
        return store.write_samples(archive, samples)


def refresh_descriptors_if_due(run: _Run) -> None:
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
    run: _Run,
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
    message = message or _short(pieces)
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


def _window_of(frame: pl.DataFrame) -> int | None:
    """The minute most samples carry (epoch ms): one odd timestamp cannot move it."""
    if frame.is_empty():
        return None
    minutes = frame.get_column("ts").dt.truncate("1m").dt.epoch("ms")
    counts = minutes.value_counts(sort=True)
    top = counts.get_column(counts.columns[-1]).max()
    modal = counts.filter(counts.get_column(counts.columns[-1]) == top).get_column(minutes.name)
    return int(modal.max())  # type: ignore[arg-type]


#: Samples further ahead of now than this are a server's clock or data gone wrong.
FUTURE_SLACK_MS = 3_600_000


def _drop_future(frame: pl.DataFrame, now: float) -> tuple[pl.DataFrame, int]:
    """The samples no more than an hour ahead of ``now``, and how many were dropped."""
    import polars as pl

    limit = int(now * 1000) + FUTURE_SLACK_MS
    kept = frame.filter(pl.col("ts").dt.epoch("ms") <= limit)
    return kept, frame.height - kept.height


def _ahead_warning(count: int) -> str:
    return f"{count} samples more than an hour ahead of now were not stored"


def _counts(frame: pl.DataFrame) -> list[tuple[str, str, int]]:
    import polars as pl

    grouped = frame.group_by("namespace", "metric").agg(pl.len())
    return [(ns or "", m, int(n)) for ns, m, n in grouped.iter_rows()]


def _short(pieces: list[PieceResult]) -> str:
    short = [p for p in pieces if not p.split and (p.error or p.outcome is not Outcome.COMPLETE)]
    return "; ".join(f"{p.shard.describe()}: {p.error or p.outcome}" for p in short)
