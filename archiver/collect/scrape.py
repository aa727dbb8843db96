"""One scrape end to end: plan -> requests (budgeted, retried) -> parse -> store -> scrape log.

The server offers only the latest minute, so a scrape aims at one window: the minute that was
``offset`` seconds ago when the scrape began (``target_window``). Truncated pieces are split
until complete or the budget or deadline says stop; every request becomes a scrape-log row, and
one summary row closes the run, so the gap audit can tell why any minute is missing.
"""

from __future__ import annotations

import logging
import math
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import filelock

from archiver.collect.budget import Budget
from archiver.collect.client import Attempt, Client
from archiver.collect.shards import Plan, Shard, split
from archiver.errors import ArchiverError, AuthError, ParseError
from archiver.store import write as store
from archiver.store.archive import Archive

if TYPE_CHECKING:
    import httpx
    import polars as pl

    from archiver.collect.descriptors import DescriptorResult
    from archiver.config import Settings

log = logging.getLogger(__name__)

PLAN = "shards.json"
STATE = "state.json"
#: Seconds into the minute at which a cron-started scrape sends its first request (the
#: ``phase`` setting's default): the server flips its window right at the minute plus its
#: offset, and a request at that instant can get the old window (and miss the new one for good).
PHASE = 20.0
#: How many times a stalled answer (an already-stored window) is asked again within one run.
STALL_RETRIES = 2

_ERROR_OUTCOMES: dict[type[ArchiverError], str] = {
    AuthError: "auth_error",
    ParseError: "parse_error",
}
# Overall run outcome -> exit code (the CLI's table covers raised errors).
EXIT_CODES = {
    "complete": 0,
    "skipped": 0,
    "limited": 3,
    "unknown": 3,
    "rate_limited": 4,
    "budget_exhausted": 4,
}


@dataclass
class PieceResult:
    """How one shard of the run ended."""

    shard: Shard
    outcome: str
    window: int | None = None  # epoch ms served
    samples: int = 0
    error: str | None = None


@dataclass
class ScrapeResult:
    """What one ``scrape_once`` achieved."""

    scrape_id: str
    target_window: int  # epoch ms
    outcome: str
    samples: int = 0
    new_samples: int = 0
    requests: int = 0
    pieces: list[PieceResult] = field(default_factory=list)
    message: str = ""

    @property
    def exit_code(self) -> int:
        return EXIT_CODES.get(self.outcome, 1)


def minute_floor(seconds: float) -> int:
    """The start of the minute containing ``seconds``, as epoch ms."""
    return int(math.floor(seconds / 60.0) * 60_000)


def scrape_once(
    settings: Settings,
    *,
    clock: Callable[[], float] = time.time,
    sleep: Callable[[float], None] = time.sleep,
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
        return ScrapeResult(scrape_id, target, "skipped", message="another scrape is running")
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
        with Client.from_settings(
            settings, budget=budget, clock=clock, sleep=sleep, transport=transport
        ) as client:
            run = _Run(settings, archive, client, budget, clock, sleep, scrape_id, started)
            result = run.execute()
    finally:
        run_lock.release()
    # After the lock is released, so the next minute's scrape is never held up by it.
    compact_closed_days(archive, result.target_window, clock)
    return result


def compact_closed_days(archive: Archive, window_ms: int, clock: Callable[[], float]) -> None:
    """Compact the days before the scraped window's day, once, by one process at a time."""
    from archiver.store import compact

    day = datetime.fromtimestamp(window_ms / 1000, UTC).date()
    try:
        compact.compact_closed_days(archive, day, busy_timeout=0, clock=clock)
    except filelock.Timeout:
        pass  # another process is compacting; the marker tells the next scrape what is left
    except ArchiverError as exc:
        log.warning("compacting closed days failed (the next scrape tries again): %s", exc)


class _Run:
    """The state of one scrape run (kept out of the public API)."""

    def __init__(
        self,
        settings: Settings,
        archive: Archive,
        client: Client,
        budget: Budget,
        clock: Callable[[], float],
        sleep: Callable[[float], None],
        scrape_id: str,
        started: float,
    ) -> None:
        self.settings = settings
        self.archive = archive
        self.client = client
        self.budget = budget
        self.clock = clock
        self.sleep = sleep
        self.scrape_id = scrape_id
        self.started = started
        self.deadline = started + settings.deadline
        self.target = minute_floor(clock() - settings.offset)
        self.rows: list[dict[str, Any]] = []
        self.frames: list[pl.DataFrame] = []
        self.pieces: list[PieceResult] = []
        self.next_plan: list[Shard] = []
        self.state = _State.load(archive)

    # -- the run ---------------------------------------------------------------------------

    def execute(self) -> ScrapeResult:
        s = self.settings
        key = Plan.key_for(s.namespaces, s.metrics, s.labels)
        root = Shard(tuple(s.namespaces), tuple(s.metrics))
        plan = Plan.loads(self.archive.read_state(PLAN), key, root)
        if self.state.last_complete_window >= self.target:
            return self._finish("skipped", message="this window is archived already")
        error: AuthError | ParseError | None = None
        try:
            self._fetch_all(plan)
        except (AuthError, ParseError) as exc:
            error = exc  # logged below; nothing of a run with a malformed answer is stored
        new = 0 if error else self._store()
        if error is None:
            self._refresh_descriptors_if_due()
        outcome = _ERROR_OUTCOMES[type(error)] if error else self._overall()
        if outcome == "complete":
            self.state.last_complete_window = self.target
        served = [p.window for p in self.pieces if p.window is not None]
        if served and error is None:
            self.state.last_served = max(self.state.last_served, *served)
        if self.next_plan and error is None:
            plan.shards = self.next_plan
        self.archive.write_state(PLAN, plan.dumps())
        self.state.save(self.archive)
        result = self._finish(outcome, new_samples=new, error=error)
        if error is not None:
            raise error
        return result

    def _fetch_all(self, plan: Plan) -> None:
        """Fetch every piece of the plan, splitting truncated ones while the budget allows.

        ``self.next_plan`` collects the pieces the next run should start from: the ones that
        worked, and the children of any split this run could not afford.
        """
        queue = list(plan.shards)
        for _ in range(1_000):  # bounded: each split consumes budget, which runs out first
            if not queue:
                break
            shard = queue.pop(0)
            piece = self._fetch(shard, plan)
            self.pieces.append(piece)
            if piece.outcome != "limited":
                self.next_plan.append(shard)
                continue
            children = split(shard, plan.sizes, self.state.known_metrics, self.settings.point_cap)
            if not children:
                piece.error = "cannot split further: one metric of one namespace exceeds the cap"
                self.next_plan.append(shard)
            elif len(children) + len(queue) > self.budget.remaining():
                piece.error = (
                    f"budget too short to split into {len(children)} pieces now; "
                    "the next scrape starts from them"
                )
                self.next_plan.extend(children)
            else:
                piece.outcome = "split"
                queue.extend(children)
        self.next_plan.extend(queue)

    def _fetch(self, shard: Shard, plan: Plan) -> PieceResult:
        from archiver import openmetrics

        params = shard.params(self.settings.labels)
        piece = PieceResult(shard, "network_error")
        for ask in range(1 + STALL_RETRIES):
            attempt = self.client.fetch(
                "metrics", params, deadline=self.deadline, on_attempt=self._log(shard)
            )
            piece.outcome, piece.error = attempt.outcome, attempt.error
            if attempt.body is None or attempt.outcome not in ("complete", "limited", "unknown"):
                return piece
            try:
                parsed = openmetrics.parse(attempt.body)
            except ParseError as exc:
                self._amend_last(outcome="parse_error", error=str(exc))
                raise
            frame = parsed.samples
            for name in parsed.families:
                self.state.note_metric(name)
            window = _window_of(frame)
            piece.window, piece.samples = window, frame.height
            counts = _counts(frame)
            plan.sizes.add(counts)
            self._amend_last(
                served_window=window,
                sample_count=frame.height,
                namespaces_seen=sorted({ns for ns, _, _ in counts}),
            )
            self.frames.append(frame)
            # A stall is the same minute served twice. An older minute never served before is
            # new data from a server lagging more than `offset`: keep it, do not ask again.
            stalled = window is not None and window <= self.state.last_served
            if not stalled:
                return piece
            piece.error = "the server served an older window again (stall)"
            last_try = ask == STALL_RETRIES
            if last_try or self.clock() + 10.0 >= self.deadline or self.budget.remaining() < 1:
                return piece
            self.sleep(10.0)  # the backend stalls for a while; ask again a little later
        return piece

    def _refresh_descriptors_if_due(self) -> None:
        """Once a day, when the budget and deadline leave room after the samples."""
        from archiver.collect import descriptors

        now = self.clock()
        due = now - self.state.last_descriptors >= self.settings.descriptors_every
        if not due or self.budget.remaining() < 1 or now + 5.0 >= self.deadline:
            return
        try:
            result = descriptors.refresh(
                self.archive,
                self.client,
                clock=self.clock,
                deadline=self.deadline,
                on_attempt=self._log(Shard()),
            )
        except ArchiverError as exc:
            # Try again in an hour, not every minute: each attempt costs budget.
            self.state.last_descriptors = now - self.settings.descriptors_every + 3600
            log.warning("descriptor refresh failed, will try again in an hour: %s", exc)
            return
        self.state.last_descriptors = now
        self.state.metrics.update(descriptors.latest(self.archive))
        for line in result.drift.lines() if result.drift.any else []:
            log.warning("descriptor drift: %s", line)

    # -- scrape log --------------------------------------------------------------------------

    def _log(self, shard: Shard) -> Callable[[Attempt], None]:
        def record(a: Attempt) -> None:
            self.rows.append(
                attempt_row(self.scrape_id, a, shard, self.settings.labels, self.target)
            )
            if a.outcome != "complete":
                log.warning(
                    "request %s attempt %d: %s", shard.describe(), a.attempt, a.error or a.outcome
                )

        return record

    def _amend_last(self, **changes: Any) -> None:
        if "served_window" in changes:
            changes["served_window"] = _dt_ms(changes["served_window"])
        self.rows[-1].update(changes)

    def _store(self) -> int:
        import polars as pl

        if not self.frames:
            return 0
        samples = pl.concat(self.frames, how="vertical_relaxed")
        with self.archive.lock("write", timeout=60.0):
            return store.write_samples(self.archive, samples)

    def _overall(self) -> str:
        outcomes = [p.outcome for p in self.pieces if p.outcome != "split"]
        if not outcomes:
            return "budget_exhausted"
        if all(o == "complete" for o in outcomes):
            return "complete"
        # Failures that lost data outrank data that came back short.
        for o in (
            "server_error",
            "network_error",
            "budget_exhausted",
            "rate_limited",
            "limited",
            "unknown",
        ):
            if o in outcomes:
                return o
        return "unknown"

    def _finish(
        self,
        outcome: str,
        *,
        message: str = "",
        new_samples: int = 0,
        error: Exception | None = None,
    ) -> ScrapeResult:
        windows = [p.window for p in self.pieces if p.window is not None]
        total = sum(p.samples for p in self.pieces)
        seen = sorted({ns for r in self.rows for ns in (r["namespaces_seen"] or [])})
        summary = {
            "scrape_id": self.scrape_id,
            "request": "scrape",
            "shard": f"{len(self.pieces)} pieces",
            "namespaces": list(self.settings.namespaces),
            "metrics": list(self.settings.metrics),
            "labels": list(self.settings.labels),
            "attempt": len(self.rows),
            "started": _dt(self.started),
            "finished": _dt(self.clock()),
            "status": None,
            "completeness": outcome if outcome in ("complete", "limited", "unknown") else None,
            "outcome": outcome,
            "target_window": _dt_ms(self.target),
            "served_window": _dt_ms(max(windows)) if windows else None,
            "sample_count": total,
            "new_samples": new_samples,
            "namespaces_seen": seen,
            "bytes": sum(r["bytes"] or 0 for r in self.rows),
            "error": str(error) if error else (message or _short(self.pieces)),
        }
        store.write_rows(self.archive, "scrapes", [*self.rows, summary], date_field="started")
        result = ScrapeResult(
            self.scrape_id,
            self.target,
            outcome,
            samples=total,
            new_samples=new_samples,
            requests=len(self.rows),
            pieces=self.pieces,
            message=message or _short(self.pieces),
        )
        return result


@dataclass
class _State:
    """Small facts a run leaves for the next: the last window archived complete, metric names."""

    last_complete_window: int = 0
    last_served: int = 0  # the newest minute any answer has carried
    last_descriptors: float = 0.0
    metrics: set[str] = field(default_factory=set)

    @property
    def known_metrics(self) -> list[str]:
        """Metric names from descriptors, scrapes, and the catalog shipped with archiver.

        A metric split can only ask for names it knows; the catalog makes sure the very first
        split, before any descriptors were fetched, misses nothing documented.
        """
        from archiver.catalog import load_catalog

        return sorted(self.metrics | {m.name for m in load_catalog()})

    def note_metric(self, name: str) -> None:
        self.metrics.add(name)

    @classmethod
    def load(cls, archive: Archive) -> _State:
        import json

        raw = archive.read_state(STATE)
        try:
            data = json.loads(raw) if raw else {}
            return cls(
                int(data.get("last_complete_window", 0)),
                int(data.get("last_served", 0)),
                float(data.get("last_descriptors", 0.0)),
                set(data.get("metrics", [])),
            )
        except (ValueError, TypeError):
            return cls()  # worst case: one window fetched twice (stored once) and a relearned plan

    def save(self, archive: Archive) -> None:
        import json

        data = {
            "version": 1,
            "last_complete_window": self.last_complete_window,
            "last_served": self.last_served,
            "last_descriptors": self.last_descriptors,
            "metrics": sorted(self.metrics),
        }
        archive.write_state(STATE, json.dumps(data).encode())


def attempt_row(
    scrape_id: str,
    a: Attempt,
    shard: Shard | None,
    labels: Sequence[str] = (),
    target: int | None = None,
) -> dict[str, Any]:
    """The scrape-log row of one HTTP attempt (window and counts are filled in after parsing)."""
    return {
        "scrape_id": scrape_id,
        "request": a.request,
        "shard": shard.describe() if shard else None,
        "namespaces": list(shard.namespaces) if shard else [],
        "metrics": list(shard.metrics) if shard else [],
        "labels": list(labels),
        "attempt": a.attempt,
        "started": _dt(a.started),
        "finished": _dt(a.finished),
        "status": a.status,
        "completeness": a.completeness,
        "outcome": a.outcome,
        "target_window": _dt_ms(target),
        "served_window": None,
        "sample_count": None,
        "new_samples": None,
        "namespaces_seen": None,
        "bytes": None if a.body is None else len(a.body),
        "error": a.error,
    }


def _window_of(frame: pl.DataFrame) -> int | None:
    if frame.is_empty():
        return None
    value = frame.get_column("ts").dt.epoch("ms").max()
    return int(value) if value is not None else None  # type: ignore[arg-type]


def _counts(frame: pl.DataFrame) -> list[tuple[str, str, int]]:
    import polars as pl

    grouped = frame.group_by("namespace", "metric").agg(pl.len())
    return [(ns or "", m, int(n)) for ns, m, n in grouped.iter_rows()]


def _short(pieces: list[PieceResult]) -> str:
    short = [p for p in pieces if p.outcome != "split" and (p.error or p.outcome != "complete")]
    return "; ".join(f"{p.shard.describe()}: {p.error or p.outcome}" for p in short)


def _dt(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def _dt_ms(ms: int | None) -> datetime | None:
    return None if ms is None else datetime.fromtimestamp(ms / 1000, UTC)


def refresh_descriptors(
    settings: Settings,
    *,
    clock: Callable[[], float] = time.time,
    sleep: Callable[[float], None] = time.sleep,
    transport: httpx.BaseTransport | None = None,
) -> DescriptorResult:
    """``archiver descriptors``: fetch, archive and diff the descriptors, within the budget."""
    from archiver.collect import descriptors

    settings.require_key()
    archive = Archive.from_settings(settings)
    budget = Budget(archive, per_hour=settings.budget_per_hour, clock=clock)
    started = clock()
    scrape_id = uuid.uuid4().hex
    rows: list[dict[str, Any]] = []
    with Client.from_settings(
        settings, budget=budget, clock=clock, sleep=sleep, transport=transport
    ) as client:
        try:
            result = descriptors.refresh(
                archive,
                client,
                clock=clock,
                deadline=started + settings.deadline,
                on_attempt=lambda a: rows.append(attempt_row(scrape_id, a, None)),
            )
        finally:
            if rows:
                store.write_rows(archive, "scrapes", rows, date_field="started")
    state = _State.load(archive)
    state.last_descriptors = started
    state.metrics.update(descriptors.latest(archive))
    state.save(archive)
    return result
