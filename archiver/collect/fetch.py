"""Fetch and parse every piece of a scrape's plan for one window.

Truncated pieces are split while the budget allows; an answer for a minute already served is a
stall and is asked again a little later; samples more than an hour ahead of now are dropped
(counted in the scrape log), and the window an answer served is the minute most samples carry.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from archiver.collect.outcome import Outcome
from archiver.collect.shards import Plan, Shard, split
from archiver.errors import ParseError

if TYPE_CHECKING:
    import polars as pl

    from archiver.collect.run import Run

log = logging.getLogger(__name__)

#: How many times a stalled answer (an already-stored window) is asked again within one run.
STALL_RETRIES = 2
#: Samples further ahead of now than this are a server's clock or data gone wrong.
FUTURE_SLACK_MS = 3_600_000


@dataclass
class PieceResult:
    """How one shard of the run ended."""

    shard: Shard
    outcome: Outcome
    window: int | None = None  # epoch ms served
    samples: int = 0
    error: str | None = None
    split: bool = False  # truncated, and its children were fetched in its place


class Fetch:
    """Fetch and parse every piece of the plan for one window."""

    def __init__(self, run: Run) -> None:
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
            del attempt  # the body (megabytes) is parsed: free it before the write
            for name in parsed.families:
                run.state.note_metric(name)
            frame, ahead = _drop_future(parsed.samples, run.clock())
            del parsed  # a filtered frame is a copy: do not keep the parsed one beside it
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


def _window_of(frame: pl.DataFrame) -> int | None:
    """The minute most samples carry (epoch ms): one odd timestamp cannot move it."""
    if frame.is_empty():
        return None
    minutes = frame.get_column("ts").dt.truncate("1m").dt.epoch("ms")
    counts = minutes.value_counts(sort=True)
    top = counts.get_column(counts.columns[-1]).max()
    modal = counts.filter(counts.get_column(counts.columns[-1]) == top).get_column(minutes.name)
    return int(modal.max())  # type: ignore[arg-type]


def _drop_future(frame: pl.DataFrame, now: float) -> tuple[pl.DataFrame, int]:
    """The samples no more than an hour ahead of ``now``, and how many were dropped."""
    import polars as pl

    ahead = pl.col("ts").dt.epoch("ms") > int(now * 1000) + FUTURE_SLACK_MS
    count = int(frame.select(ahead.sum()).item())
    if not count:
        return frame, 0  # the usual case: no filtered copy of the minute (megabytes)
    return frame.filter(~ahead), count


def _ahead_warning(count: int) -> str:
    return f"{count} samples more than an hour ahead of now were not stored"


def _counts(frame: pl.DataFrame) -> list[tuple[str, str, int]]:
    import polars as pl

    grouped = frame.group_by("namespace", "metric").agg(pl.len())
    return [(ns or "", m, int(n)) for ns, m, n in grouped.iter_rows()]
