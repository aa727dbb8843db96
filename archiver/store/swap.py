"""Putting a merged set of files in place of a partition's files, atomically for readers.

Work happens under ``<root>/_archiver/work/<id>/`` (no ``samples/**`` glob reaches it, CONTRACT:
"work files never live where a samples/**/*.parquet glob reaches them"): ``inputs/`` holds hard
links to (or upgraded copies of) the inputs, ``out/`` the merged files. Locally ``out/`` and the
live partition directory are then swapped with one ``renameat2(RENAME_EXCHANGE)``: a reader
listing the partition sees the old set or the new set, never both, never neither. Where the
kernel or filesystem cannot exchange, two renames are used (the live directory moves to
``<id>/old``) and a reader can find the partition missing for the microseconds in between.
The replaced set is deleted a few seconds after the swap, not at once (:class:`Retired`).
``<id>.json`` (written once ``out/`` is verified) names the live directory, so that
:func:`archiver.store.repair.repair` can put a verified set in place after a crash between the
two renames, and otherwise just deletes the work folder.

On S3 there is no rename: the merged files are PUT (atomic), then the inputs deleted, with a
journal under ``_archiver/`` so that a crash between the two is finished by ``repair``. A reader
that lists in that window can see both sets; this is the documented S3 trade-off. An S3
archive's work folder is a local temporary directory.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import json
import os
import shutil
import tempfile
import time
import uuid
from dataclasses import dataclass

from archiver.errors import StorageError
from archiver.store.archive import JOURNAL, STATE_DIR, Archive, fsync_dir

#: ``<root>/_archiver/work/``: compaction's work folders and their manifests.
WORK = "work"
#: Where compaction's DuckDB spills, below the state folder (queries spill to its parent).
SPILL = (STATE_DIR, "tmp", "duckdb", "compact")


@dataclass(frozen=True)
class Work:
    """One compaction's work folder."""

    root: str
    manifest: str

    @property
    def inputs(self) -> str:
        return f"{self.root}/inputs"

    @property
    def out(self) -> str:
        return f"{self.root}/out"

    @property
    def old(self) -> str:
        return f"{self.root}/old"

    @classmethod
    def create(cls, archive: Archive) -> Work:
        if archive.is_local:
            parent = archive.path(STATE_DIR, WORK)
            os.makedirs(parent, exist_ok=True)
            root = f"{parent}/{uuid.uuid4().hex[:12]}"
            os.makedirs(root)
        else:
            root = tempfile.mkdtemp(prefix="archiver-compact-")
        work = cls(root, f"{root}.json")
        os.makedirs(work.inputs)
        os.makedirs(work.out)
        return work

    def remove(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.manifest)


#: Seconds a partition's replaced set outlives its swap (see :class:`Retired`).
RETIRE_AFTER = 5.0
#: The least it outlives it when compaction ends: the window it guards (a reader's opendir to
#: its readdir of one directory) is microseconds, and every compaction waits this long at most.
RETIRE_AT_END = 0.5


class Retired:
    """Work folders whose swap is done, holding the replaced set, deleted a little later.

    A reader that opened a partition directory just before the exchange reads that directory's
    entries after it: deleted at once, it would list no files (the partition "missing", which
    the swap promises never happens); kept a few seconds, it lists the old names, finds them
    gone when it opens them, and lists again. A crash leaves them to ``repair``.
    """

    def __init__(self) -> None:
        self._works: list[tuple[float, Work]] = []

    def add(self, work: Work) -> None:
        self._works.append((time.monotonic(), work))

    def close(self) -> None:
        """Delete them all once the youngest is :data:`RETIRE_AT_END` seconds old (compaction
        is ending: nothing would delete them later)."""
        if self._works:
            youngest = max(since for since, _ in self._works)
            time.sleep(max(0.0, youngest + RETIRE_AT_END - time.monotonic()))
        self.remove()

    def remove(self, older_than: float = 0.0) -> None:
        keep = []
        for since, work in self._works:
            if time.monotonic() - since >= older_than:
                work.remove()
            else:
                keep.append((since, work))
        self._works = keep


def swap_local(
    archive: Archive, directory: str, work: Work, inputs: set[str], lock_timeout: float
) -> list[str]:
    """Make ``work.out``'s files the partition's files; returns their new paths."""
    relative = directory[len(archive.base) + 1 :]
    names = sorted(os.listdir(work.out))
    try:
        with open(work.manifest, "w", encoding="utf-8") as fh:
            json.dump({"live": relative}, fh)
            fh.flush()
            if archive.durable:
                os.fsync(fh.fileno())
        with archive.lock("write", timeout=lock_timeout):
            os.makedirs(directory, exist_ok=True)
            _adopt_newcomers(archive, directory, work.out, inputs)
            _swap_dirs(work.out, directory, work.old)
        fsync_dir(directory.rsplit("/", 1)[0])
    except OSError as exc:
        raise StorageError(f"cannot compact {directory}: {exc.strerror or exc}") from exc
    return [f"{directory}/{name}" for name in names]


def _adopt_newcomers(archive: Archive, directory: str, staging: str, inputs: set[str]) -> None:
    """Hard-link files that scrapes added while we merged into the new set, so none is lost."""
    current = set(archive.files_in(directory))
    if not inputs <= current:
        raise StorageError(
            f"{directory} changed under compaction (an input file vanished); "
            "run `archiver compact` again"
        )
    for path in sorted(current - inputs):
        os.link(path, f"{staging}/{path.rsplit('/', 1)[1]}")


def _swap_dirs(staging: str, directory: str, old: str) -> None:
    try:
        exchange(staging, directory)
    except OSError as exc:
        if exc.errno not in (errno.EINVAL, errno.ENOSYS, errno.ENOTSUP, errno.EPERM):
            raise
        # No atomic exchange here: two renames, the partition briefly absent (never doubled).
        os.rename(directory, old)
        os.rename(staging, directory)


def exchange(a: str, b: str) -> None:
    """Swap two directory entries atomically (Linux renameat2 with RENAME_EXCHANGE)."""
    libc = ctypes.CDLL(None, use_errno=True)
    renameat2 = getattr(libc, "renameat2", None)
    if renameat2 is None:
        raise OSError(errno.ENOSYS, "renameat2 is not available")
    at_fdcwd, rename_exchange = -100, 2
    if renameat2(at_fdcwd, a.encode(), at_fdcwd, b.encode(), rename_exchange) != 0:
        code = ctypes.get_errno()
        raise OSError(code, os.strerror(code))


def publish_s3(
    archive: Archive, directory: str, local: list[str], inputs: list[str]
) -> tuple[list[str], str]:
    """Upload the merged files under a journal; returns their paths and the journal's name.

    The caller holds the write lock, verifies the uploads, then calls :func:`finish_s3`.
    """
    journal = f"{JOURNAL}{uuid.uuid4().hex[:12]}.json"
    # Written before the outputs: after a crash, repair knows which compact-* files are
    # unfinished outputs (roll back) or that the inputs are due for deletion (roll forward).
    archive.write_state(journal, json.dumps({"inputs": inputs, "outputs": None}).encode())
    outputs = []
    try:
        for path in local:
            target = f"{directory}/{os.path.basename(path)}"
            with open(path, "rb") as src, archive.fs.open_output_stream(target) as dst:
                shutil.copyfileobj(src, dst, 1 << 22)
            outputs.append(target)
    except OSError as exc:
        raise StorageError(f"cannot write to {directory}: {exc}") from exc
    return outputs, journal


def finish_s3(archive: Archive, journal: str, inputs: list[str], outputs: list[str]) -> None:
    """After the uploads were verified: record it, delete the inputs, drop the journal."""
    archive.write_state(journal, json.dumps({"inputs": inputs, "outputs": outputs}).encode())
    archive.remove(inputs)
    archive.remove([archive.state_path(journal)])
