"""``archiver import openmetrics``: OpenMetrics files of any size into the archive.

A file is read in blocks of whole lines (``block_bytes`` each, cut at the last newline), and
every block goes through the scrape's own parser, so memory is bounded by a block, never by the
file. Nothing of a file reaches the archive until all of it has parsed: the blocks are staged
as Arrow IPC under ``<archive>/_archiver/work/`` (where no ``samples/**`` glob reaches), and only
then handed, a block at a time, to the scrape's writer, which stores each (series, timestamp)
once. The imported minutes are recorded in the scrape log with the file as their source.

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
from collections.abc import Callable, Iterator
from dataclasses import dataclass
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
#: Samples handed to the writer at once (one file per partition per batch).
WRITE_ROWS = 500_000
_GZIP_MAGIC = b"\x1f\x8b"


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
        staged, counts = _stage(path, work, block_bytes, progress)
        new = 0
        for batch in _batches(staged):
            with archive.lock("write", timeout=lock_timeout):
                new += store.write_samples(archive, batch)
            del batch
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


def _stage(
    path: str, work: str, block_bytes: int, progress: Callable[[int], None] | None
) -> tuple[list[str], pl.DataFrame]:
    """Parse every block of ``path`` into ``work``; the staged files and the minute counts."""
    from archiver.openmetrics import parse

    staged: list[str] = []
    counts: list[pl.DataFrame] = []
    eof_line: int | None = None
    for first_line, text in _blocks(path, block_bytes, progress):
        if eof_line is not None:
            if text.strip():
                raise ParseError(
                    f"{path}: line {_first_content_line(text) + first_line - 1}: content after "
                    f"# EOF (line {eof_line})",
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
        if parsed.samples.is_empty():
            continue
        block = os.path.join(work, f"block-{len(staged):06d}.arrow")
        try:
            parsed.samples.write_ipc(block, compression="lz4")
        except OSError as exc:
            raise StorageError(f"cannot stage {block}: {exc.strerror or exc}") from exc
        staged.append(block)
        counts.append(provenance.minute_counts(parsed.samples))
    return staged, provenance.merge_counts(counts)


def _batches(staged: list[str]) -> Iterator[pl.DataFrame]:
    """Staged blocks gathered into batches of about :data:`WRITE_ROWS` samples: fewer, larger
    files, and one duplicate check per batch instead of one per block."""
    import polars as pl

    pending: list[pl.DataFrame] = []
    rows = 0
    for block in staged:
        frame = pl.read_ipc(block)
        pending.append(frame)
        rows += frame.height
        if rows >= WRITE_ROWS:
            yield pl.concat(pending)
            pending, rows = [], 0
    if pending:
        yield pl.concat(pending)


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


def _blocks(
    path: str, block_bytes: int, progress: Callable[[int], None] | None
) -> Iterator[tuple[int, bytes]]:
    """(number of the block's first line, block of whole lines) over the file."""
    stream, raw = _open(path)
    line = 1
    carry = b""
    try:
        while True:
            try:
                chunk = stream.read(block_bytes)
            except (OSError, EOFError) as exc:
                raise ParseError(f"{path}: cannot decompress: {exc}") from None
            if progress is not None:
                progress(raw.tell())
            if not chunk:
                break
            data = carry + chunk
            cut = data.rfind(b"\n") + 1
            if cut == 0:  # one line longer than a block: keep reading until it ends
                carry = data
                continue
            carry = data[cut:]
            text = data[:cut]
            yield line, text
            line += text.count(b"\n")
        if carry:
            yield line, carry
    finally:
        stream.close()
        raw.close()
