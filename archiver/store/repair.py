"""Cleaning up after crashed processes: unfinished swaps, deletions, journals, temp files.

A crash at any point of a compaction leaves either the old or the new set of a partition live
plus a hidden leftover, which :func:`repair` removes (or renames into place when the live
directory is the one missing). On S3, a journal under ``_archiver/`` says whether to roll a
compaction forward (delete its inputs) or back (delete its unfinished outputs).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
from collections.abc import Callable, Iterator

import filelock

from archiver.store import tables
from archiver.store.archive import (
    DELETING,
    DELETING_DIR,
    JOURNAL,
    OLD,
    STAGING,
    STATE_DIR,
    TMP_PREFIX,
    TMP_SUFFIX,
    Archive,
)
from archiver.store.swap import SPILL, WORK

log = logging.getLogger(__name__)

#: Leftover temp files younger than this may belong to a writer still running.
STALE_AFTER = 300.0


def repair(
    archive: Archive,
    *,
    clock: Callable[[], float] = time.time,
    older_than: float = STALE_AFTER,
    lock_timeout: float = 60.0,
    compacting: bool = False,
) -> list[str]:
    """Clean up after crashed processes; returns what it removed or restored.

    Under the write lock (so no swap or retention is running): unfinished compaction
    swaps are completed or undone, half-deleted partitions finished, S3 compaction journals
    rolled forward or back. Compaction work folders (``_archiver/work/``) and DuckDB's spill
    files are cleaned only when no compaction is running (``compacting``: the caller holds the
    ``compact`` lock; otherwise it is tried without waiting). Temp files (``_tmp-*.partial``)
    older than ``older_than`` seconds are deleted: younger ones may belong to a writer of the
    scrape log that is still running.
    Locks need no repair: they are OS file locks, released when their holder dies.
    """
    done: list[str] = []
    with archive.lock("write", timeout=lock_timeout):
        if archive.is_local:
            for parent in _parents(archive):
                done += _repair_dir(parent)
            done += _finish_deletions(archive)
        else:
            done += _repair_journals(archive)
        done += _remove_stale_temps(archive, clock() - older_than)
        if archive.is_local:
            done += _repair_work_if_idle(archive, compacting)
    for item in done:
        log.warning("repaired leftover of an interrupted run: %s", item)
    return done


def _finish_deletions(archive: Archive) -> list[str]:
    """Delete what retention had moved to ``_archiver/deleting/`` when it was interrupted."""
    trash = archive.path(STATE_DIR, DELETING_DIR)
    if not os.path.isdir(trash):
        return []
    done = []
    for entry in sorted(os.scandir(trash), key=lambda e: e.name):
        shutil.rmtree(entry.path, ignore_errors=True)
        done.append(entry.path)
    return done


def _repair_work_if_idle(archive: Archive, compacting: bool) -> list[str]:
    if compacting:
        return _repair_work(archive)
    try:
        with archive.lock("compact", timeout=0):
            return _repair_work(archive)
    except filelock.Timeout:
        return []  # a compaction is running: its work folder is not a leftover


def _repair_work(archive: Archive) -> list[str]:
    """Finish or undo interrupted swaps recorded in ``_archiver/work/<id>.json``; remove every
    work folder and DuckDB's spill folder (nothing in them is needed once no compaction runs)."""
    done: list[str] = []
    parent = archive.path(STATE_DIR, WORK)
    if os.path.isdir(parent):
        for entry in sorted(os.scandir(parent), key=lambda e: e.name):
            if entry.name.endswith(".json") and entry.is_file():
                done += _finish_swap(archive, entry.path)
        for entry in sorted(os.scandir(parent), key=lambda e: e.name):
            if entry.is_dir():
                shutil.rmtree(entry.path, ignore_errors=True)
                done.append(entry.path)
    spill = archive.path(*SPILL)
    if os.path.isdir(spill) and os.listdir(spill):
        shutil.rmtree(spill, ignore_errors=True)
        done.append(spill)
    return done


def _finish_swap(archive: Archive, manifest: str) -> list[str]:
    done = []
    root = manifest[: -len(".json")]
    try:
        with open(manifest, encoding="utf-8") as fh:
            live = archive.path(json.load(fh)["live"])
    except (OSError, ValueError, KeyError, TypeError):
        live = None
    if live is not None and not os.path.exists(live):
        # Only the two-rename fallback leaves the partition missing, and only after the merged
        # set was verified (the manifest is written after): put it in place, or the old set.
        for source in (f"{root}/out", f"{root}/old"):
            if os.path.isdir(source):
                os.rename(source, live)
                done.append(f"{source} -> {live}")
                break
    os.unlink(manifest)
    return done


def _parents(archive: Archive) -> Iterator[str]:
    for table in tables.TABLES.values():
        root = archive.path(table.name)
        if not os.path.isdir(root):
            continue
        yield root
        if table.by_namespace:
            for entry in os.scandir(root):
                if entry.is_dir() and entry.name.startswith("date="):
                    yield entry.path


def _repair_dir(parent: str) -> list[str]:
    done = []
    for entry in sorted(os.scandir(parent), key=lambda e: e.name):
        if not entry.is_dir():
            continue
        name = entry.name
        if name.startswith(DELETING):
            shutil.rmtree(entry.path, ignore_errors=True)
            done.append(entry.path)
        elif name.startswith((STAGING, OLD)):
            _, token, live_name = name.split("-", 2)
            live = f"{parent}/{live_name}"
            old = f"{parent}/{OLD}{token}-{live_name}"
            staged = f"{parent}/{STAGING}{token}-{live_name}"
            if not os.path.exists(live) and os.path.isdir(old):
                # Only the two-rename fallback leaves the partition missing, and only after
                # the merged set was verified: put it in place (or the inputs, if it is gone).
                source = staged if os.path.isdir(staged) else old
                os.rename(source, live)
                done.append(f"{source} -> {live}")
            if os.path.isdir(entry.path):
                shutil.rmtree(entry.path, ignore_errors=True)
                done.append(entry.path)
    return done


def _repair_journals(archive: Archive) -> list[str]:
    import pyarrow.fs as pafs

    done: list[str] = []
    try:
        infos = archive.fs.get_file_info(pafs.FileSelector(archive.path(STATE_DIR)))
    except FileNotFoundError:
        return done
    for info in infos:
        if not (info.base_name.startswith(JOURNAL) and info.base_name.endswith(".json")):
            continue
        raw = archive.read_state(info.base_name)
        entry = json.loads(raw) if raw else {}
        inputs = list(entry.get("inputs") or [])
        outputs = entry.get("outputs")
        if outputs is not None:  # outputs verified: finish deleting the inputs
            archive.remove(inputs)
            done += inputs
        elif inputs:  # outputs unfinished: drop the compact-* files that were not inputs
            directory = inputs[0].rsplit("/", 1)[0]
            extra = [
                p
                for p in archive.files_in(directory)
                if p not in inputs and p.rsplit("/", 1)[1].startswith(f"{tables.COMPACTED}-")
            ]
            archive.remove(extra)
            done += extra
        archive.remove([info.path])
    return done


def _remove_stale_temps(archive: Archive, before: float) -> list[str]:
    import pyarrow.fs as pafs

    done = []
    candidates = list(archive.stale_temp_files())
    try:
        state = archive.fs.get_file_info(pafs.FileSelector(archive.path(STATE_DIR)))
    except FileNotFoundError:
        state = []
    candidates += [i.path for i in state if i.base_name.endswith(TMP_SUFFIX)]
    for info in archive.fs.get_file_info(candidates):
        if info.type != pafs.FileType.File:
            continue
        if not (info.base_name.startswith(TMP_PREFIX) or info.base_name.endswith(TMP_SUFFIX)):
            continue
        if info.mtime is not None and info.mtime.timestamp() > before:
            continue
        archive.remove([info.path])
        done.append(info.path)
    return done
