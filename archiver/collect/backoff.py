"""Runs that meet the same persistent failure back off, so a broken endpoint, key or
certificate cannot spend the account's budget that the team's dashboards share.

The state lives in the archive (``<archive>/_archiver/backoff.json``), so cron runs, ``run``
and a second host on the same archive all see it. One failing run is a blip and changes
nothing; from the second run in a row that fails the same way (same outcome and kind of error),
the next request waits ``DELAYS[n-2]``. A run sends at most 3 requests for one fault, so in any
rolling hour a failure that lasts spends at most 6 runs x 3 = 18 requests (minutes 0, 1, 3, 7,
15, 31), 10% of 180. The first run that gets an answer resets it; a change of endpoint, key or
CA file starts afresh (the user fixed something: try at once). Runs in between send nothing and
still log why their minute is missing.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from archiver.collect.outcome import Outcome
from archiver.collect.state import load_json

if TYPE_CHECKING:
    from archiver.config import Settings
    from archiver.store.archive import Archive

BACKOFF = "backoff.json"
#: Seconds to wait after the 2nd, 3rd, ... failing run in a row (the last one repeats).
DELAYS = (120.0, 240.0, 480.0, 960.0, 1800.0, 3600.0)
#: Run outcomes that are the endpoint's, key's or certificate's fault, and will be again.
PERSISTENT = frozenset(
    {Outcome.NETWORK_ERROR, Outcome.SERVER_ERROR, Outcome.AUTH_ERROR, Outcome.PARSE_ERROR}
)


def fingerprint(settings: Settings) -> str:
    """Which configuration failed: endpoint, CA file and key, hashed (the key never stored)."""
    key = settings.api_key.reveal() if settings.api_key else ""
    text = "\0".join((settings.endpoint, settings.ca_file or "", key))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


@dataclass
class Backoff:
    """Consecutive failing runs, since when, until when nothing is sent, and the last error."""

    fingerprint: str = ""
    fault: str = ""  # outcome and kind of error of the failing runs, e.g. "server_error HTTP 5xx"
    failures: int = 0
    since: float = 0.0
    until: float = 0.0
    error: str = ""

    @classmethod
    def load(cls, archive: Archive, settings: Settings) -> Backoff:
        data = load_json(archive, BACKOFF)
        mine = fingerprint(settings)
        try:
            loaded = cls(
                str(data.get("fingerprint", "")),
                str(data.get("fault", "")),
                int(data.get("failures", 0)),
                float(data.get("since", 0.0)),
                float(data.get("until", 0.0)),
                str(data.get("error", "")),
            )
        except (TypeError, ValueError):
            loaded = cls()
        return loaded if loaded.fingerprint == mine else cls(fingerprint=mine)

    def waiting(self, now: float) -> bool:
        """Whether this run must not send anything yet."""
        return self.failures > 0 and now < self.until

    def message(self) -> str:
        return (
            f"the last {self.failures} scrape(s) failed the same way since {_iso(self.since)} "
            f"({self.error}); backing off, next try at {_iso(self.until)}: fix the cause, or "
            "change the endpoint, key or CA file to try at once"
        )

    def after_run(self, archive: Archive, outcome: Outcome, error: str, now: float) -> None:
        """Count a failing run (persistent outcomes only) or reset on an answer."""
        if outcome in PERSISTENT:
            fault = f"{outcome} {re.sub(r'[0-9]', 'x', error.split(':')[0])[:60]}"
            if fault != self.fault:  # a different failure starts a new count
                self.fault, self.failures, self.since = fault, 0, now
            self.failures += 1
            wait = DELAYS[min(self.failures - 1, len(DELAYS)) - 1] if self.failures > 1 else 0.0
            self.until = now + wait
            self.error = error[:300]
        elif outcome.answered:
            if self.failures == 0:
                return  # nothing to reset: no write on the happy path
            self.fault, self.failures, self.since, self.until, self.error = "", 0, 0.0, 0.0, ""
        else:
            return  # rate limiting, share, storage: not the endpoint's fault, no change
        archive.write_state(BACKOFF, json.dumps(asdict(self)).encode())


def _iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
