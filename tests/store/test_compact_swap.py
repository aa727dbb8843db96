"""Swapping a compacted partition in: readers see the old set or the new one, never both,
even when compaction is killed mid-way."""

from __future__ import annotations

import errno
import itertools
import json
import os
import threading
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from archiver.store import compact, repair, swap
from archiver.store.archive import Archive
from tests.store.compacting import (
    ACCOUNT,
    fill,
    plain_read,
    rows,
    sample_files,
    window,
)


def test_readers_see_old_set_or_new_set_never_both(tmp_path: Path) -> None:
    archive = Archive.open(str(tmp_path))
    fill(archive, range(4))
    # Row counts a reader may legitimately see: whole minutes, or a minute being written
    # namespace by namespace (any subset: a listing is no snapshot). A doubled partition (old
    # and new set at once) is none of these.
    allowed = set()
    for k in range(4, 8):
        base = sum(window(j).height for j in range(k))
        sizes = [p.height for p in window(k).partition_by("namespace")]
        for n in range(len(sizes) + 1):
            allowed |= {base + sum(c) for c in itertools.combinations(sizes, n)}
    seen: list[int] = []
    stop = threading.Event()

    def reader() -> None:
        while not stop.is_set():
            try:
                seen.append(sum(pq.read_metadata(f).num_rows for f in archive.files("samples")))
            except FileNotFoundError:
                continue  # listed before a swap, opened after: such a reader lists again

    thread = threading.Thread(target=reader)
    thread.start()
    try:
        for i in range(4, 8):
            fill(archive, range(i, i + 1))
            compact.compact(archive)
    finally:
        stop.set()
        thread.join()
    assert len(seen) > 10
    assert set(seen) <= allowed


def test_fallback_without_exchange_still_swaps(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_exchange(a: str, b: str) -> None:
        raise OSError(errno.EINVAL, "not supported here")

    monkeypatch.setattr(swap, "exchange", no_exchange)
    archive = Archive.open(str(tmp_path))
    fill(archive, range(4))
    before = rows(tmp_path)
    compact.compact(archive)
    assert rows(tmp_path) == before
    assert len(sample_files(tmp_path)) == len(ACCOUNT.namespaces)
    assert not list(tmp_path.rglob("_*-*"))


def test_running_or_killed_compaction_leaves_plain_reads_working(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    archive = Archive.open(str(tmp_path))
    written = fill(archive, range(4))
    seen: list[int] = []
    real_swap = compact.swap_local

    def swap_after_reading(*args: object, **kwargs: object) -> list[str]:
        # The merged files and staged inputs are on disk now (what a kill here leaves behind).
        work = args[2]
        assert isinstance(work, swap.Work)
        assert os.listdir(work.out) and os.listdir(work.inputs)
        assert work.root.startswith(str(tmp_path / "_archiver" / "work"))
        seen.append(plain_read(tmp_path))
        return real_swap(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(compact, "swap_local", swap_after_reading)
    compact.compact(archive)
    assert seen and all(n == written for n in seen)

    # Killed before the swap: the work folder stays until the next run; reads still work.
    fill(archive, range(4, 6))

    def killed(*args: object, **kwargs: object) -> list[str]:
        raise KeyboardInterrupt  # as far as the files are concerned, SIGKILL stops here

    monkeypatch.setattr(compact, "swap_local", killed)
    monkeypatch.setattr(swap.Work, "remove", lambda self: None)
    with pytest.raises(KeyboardInterrupt):
        compact.compact(archive)
    monkeypatch.undo()
    assert list((tmp_path / "_archiver" / "work").iterdir())
    total = written + sum(window(i).height for i in range(4, 6))
    assert plain_read(tmp_path) == total
    report = compact.compact(archive)
    assert any("work" in item for item in report.repaired)
    assert not list((tmp_path / "_archiver" / "work").iterdir())
    assert plain_read(tmp_path) == total


def test_interrupted_fallback_swap_is_finished_by_repair(tmp_path: Path) -> None:
    archive = Archive.open(str(tmp_path))
    fill(archive, range(3))
    before = rows(tmp_path)
    directory = archive.files("samples")[0].rsplit("/", 1)[0]
    # What the two-rename fallback leaves when killed between its renames: the live directory
    # moved to <work>/old, the verified merged set still in <work>/out, the manifest naming it.
    work = swap.Work.create(archive)
    for path in archive.files_in(directory):
        os.link(path, f"{work.out}/{os.path.basename(path)}")
    live = directory[len(archive.base) + 1 :]
    Path(work.manifest).write_text(json.dumps({"live": live}), encoding="utf-8")
    os.rename(directory, work.old)
    assert not os.path.exists(directory)
    done = repair.repair(archive)
    assert f"{work.out} -> {directory}" in done
    assert rows(tmp_path) == before
    assert not os.path.exists(work.root) and not os.path.exists(work.manifest)
