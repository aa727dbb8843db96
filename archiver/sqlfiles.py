"""The SQL files: where they are (inside the wheel, or the repository's ``sql/``) and their text,
read once per process."""

from __future__ import annotations

from functools import cache
from pathlib import Path


def sql_dir() -> Path:
    """The directory holding the ``*.sql`` files (inside the wheel, or the repo's ``sql/``)."""
    from importlib import resources

    packaged = resources.files("archiver") / "sql"
    if packaged.is_dir():
        return Path(str(packaged))
    import archiver

    return Path(archiver.__file__).resolve().parent.parent / "sql"


@cache
def load_sql(name: str) -> str:
    """The text of ``sql/<name>``."""
    return (sql_dir() / name).read_text(encoding="utf-8")
