"""What one scrape leaves for the next, in ``<archive>/_archiver/``: the served-window state.

``state.json`` holds the last minute archived complete, the newest minute any answer carried
(to tell a stall from new data), when descriptors were last fetched, and the metric names seen.
A state file that is not what we wrote (``[]``, half a file, another program's JSON) is set
aside as ``<name>.corrupt-<time>`` with a warning and rebuilt: the worst a lost state costs is one
window fetched twice (stored once) and a relearned shard plan.
"""

from __future__ import annotations

import json
import logging
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from archiver.errors import StorageError

if TYPE_CHECKING:
    from archiver.store.archive import Archive

log = logging.getLogger(__name__)

STATE = "state.json"


def load_json(archive: Archive, name: str) -> dict[str, Any]:
    """A state file's JSON object; ``{}`` when missing, and when corrupt (set aside, warned)."""
    raw = archive.read_state(name)
    if raw is None:
        return {}
    try:
        data = json.loads(raw)
    except ValueError:
        data = None
    if isinstance(data, dict):
        return data
    aside = f"{archive.state_path(name)}.corrupt-{uuid.uuid4().hex[:8]}"
    try:
        archive.fs.move(archive.state_path(name), aside)
    except OSError as exc:
        raise StorageError(
            f"cannot set aside the corrupt {archive.state_path(name)}: {exc}"
        ) from exc
    log.warning(
        "%s was not a state file the archiver wrote: moved it to %s and rebuilt it", name, aside
    )
    return {}


@dataclass
class State:
    """Small facts a run leaves for the next."""

    last_complete_window: int = 0  # epoch ms
    last_served: int = 0  # epoch ms: the newest minute any answer has carried
    last_descriptors: float = 0.0  # epoch seconds
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
    def load(cls, archive: Archive) -> State:
        data = load_json(archive, STATE)
        try:
            return cls(
                int(data.get("last_complete_window", 0)),
                int(data.get("last_served", 0)),
                float(data.get("last_descriptors", 0.0)),
                {str(m) for m in data.get("metrics", [])},
            )
        except (ValueError, TypeError):
            log.warning("%s held values of the wrong type; rebuilt it", STATE)
            return cls()

    def save(self, archive: Archive) -> None:
        data = {
            "version": 1,
            "last_complete_window": self.last_complete_window,
            "last_served": self.last_served,
            "last_descriptors": self.last_descriptors,
            "metrics": sorted(self.metrics),
        }
        archive.write_state(STATE, json.dumps(data).encode())
