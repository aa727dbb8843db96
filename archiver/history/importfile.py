"""``archiver import openmetrics``: OpenMetrics files of any size into the archive.

A file is read in blocks of whole lines (``block_bytes`` each, cut at the last newline), and
every block goes through the scrape's own parser, so memory is bounded by a block, never by the
file. Nothing of a file reaches the archive until all of it has parsed: each block is staged as
Arrow IPC under ``<archive>/_archiver/work/`` (where no ``samples/**`` glob reaches), split by
partition (date, namespace), and only then is each partition's staged rows handed to the
scrape's writer, which stores each (series, timestamp) once. Reading, parsing and staging
overlap (a block each, on their own threads), and two partitions are written at once, so both
cores work through the file. The imported minutes are recorded in the scrape log with the file
as their source.

>>> result = import_file(archive, "history.om.gz")          # doctest: +SKIP
>>> result.samples, result.new_samples                      # doctest: +SKIP
(2880000, 2880000)
"""

from __future__ import annotations

import gzip
import os
import shutil
import tempfile
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import IO, TYPE_CHECKING, cast

from archiver.errors import ConfigError, ParseError, StorageError
from archiver.history import provenance
from archiver.store import write as store

if TYPE_CHECKING:
    import polars as pl

    from archiver.store.archive import Archive

#: Bytes of text per parsed block. The parser's scratch columns are several times the text;
#: measured peak RSS on a day of 2,000 series (benchmarks/bench_import.py) stays far under 1 GB.
BLOCK_BYTES = 16 << 20
#: Samples of one partition handed to the writer at once (one file each). The writer holds
#: ~1.4 kB per sample of the simulator's series at its peak, times :data:`WRITERS`: measured
#: peak RSS of a day of the simulator 1,001-1,057 MB at 300,000, 852-945 at 150,000, 860 at
#: 100,000 (the parsed blocks' memory is still being returned when the writes start).
WRITE_ROWS = 100_000
#: Partitions written at once, each on a thread (pyarrow and polars release the GIL).
WRITERS = 2
_GZIP_MAGIC = b"\x1f\x8b"
#: The parser's columns staged per sample; the others are staged once per series.
_STAGED = ("series", "ts", "value")
_BY_SERIES = ("metric", "namespace", "labels")
#: (bytes of the file read so far, number of the block's first line, the block's lines)
_Block = tuple[int, int, bytes]


@dataclass(frozen=True)
class FileImport:
    """What importing one file did."""

    path: str
    samples: int  # sample lines read
    new_samples: int  # of those, not archived before
    minutes: int  # distinct minutes the file held
    first_ms: int | None = None
    last_ms: int | None = None


def import_file(
    archive: Archive,
    path: str,
    *,
    block_bytes: int = BLOCK_BYTES,
    progress: Callable[[int], None] | None = None,
    clock: Callable[[], float] = time.time,
    lock_timeout: float = 60.0,
) -> FileImport:
    """Import one OpenMetrics file (plain or gzip, by its magic bytes); see the module docstring.

    ``progress`` is called with the number of (compressed) bytes read so far. A file that is not
    OpenMetrics raises :class:`~archiver.errors.ParseError` naming the file and line, and leaves
    the archive as it was.
    """
    started = clock()
    name = os.path.basename(path)
    work = _work_dir(archive)
    try:
        staged = _stage(path, work, block_bytes, progress)
        new = _write(archive, staged, lock_timeout)
        counts = provenance.merge_counts(staged.counts)
        provenance.record_imported_minutes(
            archive,
            counts,
            import_id=uuid.uuid4().hex,
            source=f"openmetrics:{name}",
            started=started,
            finished=clock(),
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)
    minutes = counts.height
    first = counts.get_column("minute").min() if minutes else None
    last = counts.get_column("minute").max() if minutes else None
    return FileImport(
        path=path,
        samples=int(counts.get_column("samples").sum()) if minutes else 0,
        new_samples=new,
        minutes=minutes,
        first_ms=_ms(first),
        last_ms=_ms(last),
    )


def _ms(value: object) -> int | None:
    from datetime import datetime

    return int(value.timestamp() * 1000) if isinstance(value, datetime) else None


def _work_dir(archive: Archive) -> str:
    # A local archive stages under its own state folder (same disk, cleaned up with it); an S3
    # archive stages in a local temp dir, since staged blocks are read back right away.
    if archive.is_local:
        root = archive.state_path("work")
        os.makedirs(root, exist_ok=True)
        return tempfile.mkdtemp(prefix="import-", dir=root)
    return tempfile.mkdtemp(prefix="archiver-import-")


@dataclass
class _Staged:
    """A parsed file under the work folder: each partition's pieces (a block's (series, ts,
    value) rows of that (date, namespace), in file order, with their row counts), the distinct
    series with what their text determines (metric, namespace, labels: kept once, in memory, as
    compaction keeps them), and each block's minute counts. Staging three columns instead of
    six costs less than half as much to write and read back (measured on the simulator's
    series: 0.08 s instead of 0.18 s per 160,000 samples)."""

    work: str
    pieces: dict[tuple[object, object], list[tuple[str, int]]] = field(default_factory=dict)
    series: pl.DataFrame | None = None
    counts: list[pl.DataFrame] = field(default_factory=list)
    staged: int = 0

    def add(self, samples: pl.DataFrame) -> None:
        """Stage one parsed block (runs on the staging thread, one block at a time)."""
        import polars as pl

        self.counts.append(provenance.minute_counts(samples))
        # Through Arrow and back: a copy of just these strings, where polars' string views
        # would keep the whole block's string buffers alive (measured: 117 MB for 1.2 MB).
        distinct = samples.unique("series", keep="first").select("series", *_BY_SERIES)
        fresh = cast("pl.DataFrame", pl.from_arrow(distinct.to_arrow()))
        if self.series is not None:
            fresh = pl.concat([self.series, fresh.join(self.series, on="series", how="anti")])
        self.series = fresh
        keyed = samples.select(*_STAGED, "namespace", _date=pl.col("ts").dt.date())
        for key, part in keyed.partition_by("_date", "namespace", as_dict=True).items():
            pieces = self.pieces.setdefault(key, [])
            piece = os.path.join(self.work, f"piece-{self.staged:07d}.arrow")
            self.staged += 1
            try:
                part.select(_STAGED).write_ipc(piece, compression="lz4")
            except OSError as exc:
                raise StorageError(f"cannot stage {piece}: {exc.strerror or exc}") from exc
            pieces.append((piece, part.height))

    def chunks(self) -> list[deque[list[str]]]:
        """Per partition, its pieces gathered into writes of about :data:`WRITE_ROWS` rows."""
        partitions = []
        for pieces in self.pieces.values():
            chunks: deque[list[str]] = deque([[]])
            rows = 0
            for piece, height in pieces:
                if rows and rows + height > WRITE_ROWS:
                    chunks.append([])
                    rows = 0
                chunks[-1].append(piece)
                rows += height
            partitions.append(chunks)
        return partitions


def _stage(
    path: str, work: str, block_bytes: int, progress: Callable[[int], None] | None
) -> _Staged:
    """Parse every block of ``path`` into ``work``. Reading the next block (a thread ahead) and
    staging the previous one (on another) overlap the parse of this one."""
    from archiver.openmetrics import parse

    staged = _Staged(work)
    eof_line: int | None = None
    with ThreadPoolExecutor(1, thread_name_prefix="import-stage") as stager:
        pending: Future[None] | None = None
        for position, first_line, text in _ahead(_blocks(path, block_bytes)):
            if progress is not None:
                progress(position)
            if eof_line is not None:
                if text.strip():
                    raise ParseError(
                        f"{path}: line {_first_content_line(text) + first_line - 1}: content "
                        f"after # EOF (line {eof_line})",
                        line=eof_line,
                    )
                continue
            try:
                parsed = parse(text)
            except ParseError as exc:
                line = (exc.line or 1) + first_line - 1
                what = str(exc).split(": ", 1)[-1]
                raise ParseError(f"{path}: line {line}: {what}", line=line) from None
            if parsed.eof:
                eof_line = first_line + _eof_offset(text)
            del text
            if pending is not None:
                pending.result()  # one block staged at a time: memory stays at two blocks
                pending = None
            if not parsed.samples.is_empty():
                pending = stager.submit(staged.add, parsed.samples)
            del parsed
        if pending is not None:
            pending.result()
    return staged


def _write(archive: Archive, staged: _Staged, lock_timeout: float) -> int:
    """Hand the staged partitions to the scrape's writer, :data:`WRITERS` partitions at once
    under one hold of the write lock (a partition's own writes stay in file order, one after
    another, so a sample repeated in the file is stored once); returns how many were new."""
    partitions = staged.chunks()
    new = 0
    with ThreadPoolExecutor(WRITERS, thread_name_prefix="import-write") as writers:
        while partitions:
            now = partitions[:WRITERS]
            with archive.lock("write", timeout=lock_timeout):
                futures = [
                    writers.submit(_write_chunk, archive, staged.series, p.popleft()) for p in now
                ]
                wait(futures)  # every write has ended before the lock is released
                new += sum(f.result() for f in futures)
            partitions = [p for p in partitions if p]
    return new


def _write_chunk(archive: Archive, series: pl.DataFrame | None, pieces: list[str]) -> int:
    """One write of a partition: its staged rows, with what their series text determines."""
    import polars as pl

    rows = pl.concat([pl.read_ipc(p) for p in pieces])
    return store.write_samples(
        archive,
        rows.join(cast("pl.DataFrame", series), on="series", how="left", maintain_order="left"),
    )


def _first_content_line(text: bytes) -> int:
    for number, line in enumerate(text.split(b"\n"), start=1):
        if line.strip():
            return number
    return 1


def _eof_offset(text: bytes) -> int:
    """The 0-based line offset of the ``# EOF`` line inside a block."""
    for number, line in enumerate(text.split(b"\n")):
        if line.rstrip(b" \t\r") == b"# EOF":
            return number
    return 0


def _open(path: str) -> tuple[IO[bytes], IO[bytes]]:
    """The decompressed stream and the raw file under it (whose position is the progress)."""
    try:
        raw = open(path, "rb")  # noqa: SIM115 - closed by the caller
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}") from None
    if raw.read(2) == _GZIP_MAGIC:
        raw.seek(0)
        return cast(IO[bytes], gzip.GzipFile(fileobj=raw, mode="rb")), raw
    raw.seek(0)
    return raw, raw


def _ahead(items: Iterator[_Block]) -> Iterator[_Block]:
    """``items``, each produced on a thread while the previous one is consumed."""
    with ThreadPoolExecutor(1, thread_name_prefix="import-read") as reader:
        coming = reader.submit(next, items, None)
        try:
            while (item := coming.result()) is not None:
                coming = reader.submit(next, items, None)
                yield item
        finally:
            wait([coming])
            close = getattr(items, "close", None)
            if close is not None:
                close()


def _blocks(path: str, block_bytes: int) -> Iterator[_Block]:
    """(bytes of the file read so far, number of the block's first line, block of whole lines)
    over the file."""
    stream, raw = _open(path)
    line = 1
    carry = b""
    try:
        while True:
            try:
                chunk = stream.read(block_bytes)
            except (OSError, EOFError) as exc:
                raise ParseError(f"{path}: cannot decompress: {exc}") from None
            if not chunk:
                break
            data = carry + chunk
            cut = data.rfind(b"\n") + 1
            if cut == 0:  # one line longer than a block: keep reading until it ends
                carry = data
                continue
            carry = data[cut:]
            text = data[:cut]
            yield raw.tell(), line, text
            line += text.count(b"\n")
        if carry:
            yield raw.tell(), line, carry
    finally:
        stream.close()
        raw.close()
