import json
from datetime import UTC, date, datetime
from pathlib import Path

import polars as pl
import pytest

from archiver.errors import ConfigError
from archiver.query.output import render, write


@pytest.fixture
def frame() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "namespace": ["alpha.acct1", "b"],
            "minutes": [12, None],
            "ratio": [0.5, 2 / 3],
            "start": [datetime(2025, 3, 3, 0, 30, tzinfo=UTC)] * 2,
            "day": [date(2025, 3, 3)] * 2,
            "seen": [["a", "b"], None],
        }
    )


def test_json_is_one_array_of_row_objects(frame: pl.DataFrame) -> None:
    rows = json.loads(render(frame, "json"))
    assert rows[0] == {
        "namespace": "alpha.acct1",
        "minutes": 12,
        "ratio": 0.5,
        "start": "2025-03-03T00:30:00+00:00",
        "day": "2025-03-03",
        "seen": ["a", "b"],
    }
    assert rows[1]["minutes"] is None


def test_csv_flattens_nested_columns(frame: pl.DataFrame) -> None:
    lines = render(frame, "csv").splitlines()
    assert lines[0] == "namespace,minutes,ratio,start,day,seen"
    assert lines[1].startswith("alpha.acct1,12,0.5,2025-03-03T00:30:00")
    assert lines[1].endswith(',2025-03-03,"[""a"", ""b""]"')


def test_table_aligns_columns(frame: pl.DataFrame) -> None:
    lines = render(frame, "table").splitlines()
    assert lines[0].split() == ["namespace", "minutes", "ratio", "start", "day", "seen"]
    assert set(lines[1].replace(" ", "")) == {"-"}
    assert lines[2].startswith("alpha.acct1       12")
    assert "2025-03-03 00:30:00Z" in lines[2]
    assert lines[2].index("2025-03-03 00:30") == lines[0].index("start")  # aligned
    assert render(frame.clear(), "table").endswith("(no rows)\n")


def test_parquet_needs_a_file(frame: pl.DataFrame, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="--output"):
        write(frame, "parquet")
    write(frame, "parquet", tmp_path / "r.parquet")
    assert pl.read_parquet(tmp_path / "r.parquet").equals(frame)


def test_write_to_file(frame: pl.DataFrame, tmp_path: Path) -> None:
    write(frame, "json", tmp_path / "r.json")
    assert len(json.loads((tmp_path / "r.json").read_text())) == 2
    with pytest.raises(ConfigError):
        write(frame, "xml")
