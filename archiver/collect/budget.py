"""The account's request budget: a ledger of requests sent, shared by every process on an archive.

Temporal Cloud allows 180 requests per rolling hour per account. The ledger lives at
``<archive>/_archiver/ledger.json``; every read-modify-write holds the ``ledger`` lock so two cron
runs (or a cron run and ``archiver descriptors``) never both take the last slot. A request is
recorded *before* it is sent: a crash after sending can only make the ledger pessimistic.
A ledger that cannot be read is rebuilt as "spent for the next hour", never trusted blindly.
"""

from __future__ import annotations

import contextlib
import json
import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from archiver.store.archive import Archive

HOUR = 3600.0
#: The longest a ``Retry-After`` may block the archive: a server asking for more (years, once)
#: is believed for an hour, then asked again.
MAX_RETRY_AFTER = HOUR
LEDGER = "ledger.json"
log = logging.getLogger(__name__)


@dataclass
class Ledger:
    """What the ledger file holds."""

    sent: list[float]  # epoch seconds of requests sent within the last hour
    blocked_until: float = 0.0  # the server said 429: nothing goes out before this


@dataclass(frozen=True)
class Refusal:
    """Why a slot was not granted: this run's ``share`` is used up, the account's shared
    ``ledger`` is spent, or the server ``blocked`` us with a 429; and seconds until a slot."""

    kind: Literal["share", "ledger", "blocked"]
    wait: float


class Budget:
    """Grants request slots against a rolling-hour limit, persisted under the archive.

    ``archive=None`` keeps the ledger in memory (one process on its own, e.g. a test).
    """

    def __init__(
        self,
        archive: Archive | None,
        *,
        per_hour: int = 180,
        per_run: int | None = None,
        clock: Callable[[], float] = time.time,
        lock_timeout: float = 10.0,
    ) -> None:
        self.per_hour = per_hour
        self.per_run = per_run
        self.used_this_run = 0
        self._archive = archive
        self._clock = clock
        self._memory = Ledger(sent=[])
        self._lock = archive.lock("ledger", timeout=lock_timeout) if archive else None

    def acquire(self) -> Refusal | None:
        """Take one slot. ``None`` when granted, else why not and for how long."""
        if self.per_run is not None and self.used_this_run >= self.per_run:
            return Refusal("share", HOUR / self.per_hour)
        with self._session() as ledger:
            now = self._clock()
            if ledger.blocked_until > now:
                return Refusal("blocked", ledger.blocked_until - now)
            if len(ledger.sent) >= self.per_hour:
                return Refusal("ledger", ledger.sent[len(ledger.sent) - self.per_hour] + HOUR - now)
            ledger.sent.append(now)
            self._save(ledger)
        self.used_this_run += 1
        return None

    def remaining(self) -> int:
        """Slots free right now for this run (0 while the server has us blocked)."""
        with self._session() as ledger:
            if ledger.blocked_until > self._clock():
                return 0
            free = self.per_hour - len(ledger.sent)
        if self.per_run is not None:
            free = min(free, self.per_run - self.used_this_run)
        return max(0, free)

    def server_refused(self, retry_after: float | None) -> None:
        """Remember a 429 so that no process on this archive asks again too soon."""
        with self._session() as ledger:
            pause = min(retry_after, MAX_RETRY_AFTER) if retry_after is not None else 60.0
            ledger.blocked_until = max(ledger.blocked_until, self._clock() + pause)
            self._save(ledger)

    @contextlib.contextmanager
    def _session(self) -> Iterator[Ledger]:
        """Hold the ledger lock for one read-modify-write."""
        with self._lock if self._lock is not None else contextlib.nullcontext():
            yield self._load()

    def _load(self) -> Ledger:
        now = self._clock()
        if self._archive is None:
            ledger = self._memory
        else:
            ledger, trusted = _decode(self._archive.read_state(LEDGER), now, self.per_hour)
            if not trusted:
                self._save(ledger)  # so the pessimistic hour starts now, once
        # Entries from the "future" come from a clock that jumped back; keep them (pessimistic).
        ledger.sent = sorted(t for t in ledger.sent if t > now - HOUR)
        return ledger

    def _save(self, ledger: Ledger) -> None:
        if self._archive is None:
            self._memory = ledger
            return
        data = {"version": 1, "sent": ledger.sent, "blocked_until": ledger.blocked_until}
        self._archive.write_state(LEDGER, json.dumps(data).encode())


def _decode(raw: bytes | None, now: float, per_hour: int) -> tuple[Ledger, bool]:
    """The ledger, and whether it could be trusted."""
    if raw is None:
        return Ledger(sent=[]), True
    try:
        data = json.loads(raw)
        ledger = Ledger(
            sent=[float(t) for t in data["sent"]],
            # A block stored by an older version may reach years ahead: cap it on read too.
            blocked_until=min(float(data.get("blocked_until", 0.0)), now + MAX_RETRY_AFTER),
        )
        return ledger, True
    except (ValueError, KeyError, TypeError) as exc:
        # We cannot know what was spent: assume everything, for one hour from now.
        log.warning(
            "the request ledger is unreadable (%s); assuming this hour's budget is spent", exc
        )
        return Ledger(sent=[now] * per_hour), False
