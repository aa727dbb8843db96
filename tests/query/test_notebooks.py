"""Every notebook executes against a small simulator archive with a chart in every figure, and
still runs (saying what is missing) on an archive with one namespace, one day and no limits."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest

from archiver.cli import main
from archiver.query.notebooks import NOTEBOOKS, NotebookRun, execute_many
from archiver.store import write as store
from archiver.store.archive import Archive

pytest.importorskip("nbclient")
pytest.importorskip("jupytext")

DAY0 = datetime(2025, 3, 3, tzinfo=UTC)
HOURS = 2  # simulated per day: enough for hourly points, small enough to stay fast


def _simulated(root: Path, days: int, keep: pl.Expr | None = None) -> Path:
    from archiver.simulator.model import Account, AccountSpec

    account = Account(AccountSpec.small(seed=3))
    archive = Archive.open(str(root), durable=False)
    for day in range(days):
        start = DAY0 + timedelta(days=day)
        frame = account.windows(int(start.timestamp() * 1000), HOURS * 60)
        store.write_samples(archive, frame if keep is None else frame.filter(keep))
    return root


def _run_all(archive: Path, html: Path | None = None) -> dict[str, NotebookRun]:
    runs = execute_many(NOTEBOOKS, archive, html_dir=html, timeout=120)
    return {run.name: run for run in runs}


@pytest.fixture(scope="module")
def healthy(tmp_path_factory: pytest.TempPathFactory) -> dict[str, NotebookRun]:
    root = _simulated(tmp_path_factory.mktemp("nb-healthy"), days=3)
    return _run_all(root, html=root.parent / "html")


@pytest.fixture(scope="module")
def sparse(tmp_path_factory: pytest.TempPathFactory) -> dict[str, NotebookRun]:
    """One namespace, one day, no limit metrics."""
    from archiver.simulator.model import Account, AccountSpec

    first = Account(AccountSpec.small(seed=3)).namespaces[0]
    keep = (pl.col("namespace") == first) & ~pl.col("metric").str.ends_with("_limit")
    return _run_all(_simulated(tmp_path_factory.mktemp("nb-sparse"), days=1, keep=keep))


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_runs_with_every_chart_drawn(healthy: dict[str, NotebookRun], name: str) -> None:
    run = healthy[name]
    assert run.charts, f"{name} displayed no chart"
    assert run.empty_charts == [], f"{name}: charts without data: {run.empty_charts}"
    errors = [
        out
        for cell in run.notebook.cells
        if cell.cell_type == "code"
        for out in cell.outputs
        if out.output_type == "error" or out.get("name") == "stderr"
    ]
    assert errors == []
    assert run.html is not None and "<img" in run.html.read_text(encoding="utf-8")


def test_stored_notebooks_hold_no_outputs() -> None:
    from archiver.query.notebooks import notebook_dir

    for name in NOTEBOOKS:
        text = (notebook_dir() / f"{name}.py").read_text(encoding="utf-8")
        assert "# %%" in text and '"outputs"' not in text
        assert 'tags=["parameters"]' in text and "ARCHIVER_ARCHIVE" in text


def test_sparse_archive_runs_and_says_what_is_missing(sparse: dict[str, NotebookRun]) -> None:
    overview = sparse["capacity_overview"].text
    assert "1 namespace(s)" in overview
    for metric in ("action_limit", "service_request_limit", "operations_limit"):
        assert f"missing: no temporal_cloud_v1_{metric} samples" in overview
    assert "only 1 day(s) of data" in overview
    assert "only one day of data" in sparse["cardinality_planning"].text
    # charts without limits still draw usage; the headroom chart says why it is empty
    assert sparse["capacity_overview"].empty_charts == ["Peak usage as a share of each limit"]
    assert sparse["backlog_health"].empty_charts == []


def test_locate_archive_finds_the_repository_demo_archive_from_notebooks(tmp_path: Path) -> None:
    from archiver.query.notebooks import locate_archive

    (tmp_path / "demo-archive").mkdir()
    (tmp_path / "notebooks").mkdir()
    found = locate_archive("demo-archive", start=tmp_path / "notebooks")
    assert Path(found) == tmp_path / "demo-archive"
    assert locate_archive("demo-archive", start=tmp_path) == "demo-archive"
    assert locate_archive("elsewhere", start=tmp_path / "notebooks") == "elsewhere"
    assert locate_archive("s3://bucket/demo-archive", start=tmp_path) == "s3://bucket/demo-archive"


def test_kernel_prints_no_warning(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    """ipykernel warns on stderr when its sockets are unencrypted TCP; make notebooks must not."""
    execute_many(["backlog_health"], _simulated(tmp_path / "archive", days=1), timeout=120)
    _, err = capfd.readouterr()
    assert "WARNING" not in err, err


def test_the_cli_runs_a_notebook_and_writes_its_html(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = _simulated(tmp_path / "archive", days=1)
    html = tmp_path / "html"
    args = ["--archive", str(root), "--only", "backlog_health", "--html", str(html)]
    main(["notebooks", "run", *args])  # returns on success; errors exit
    out = capsys.readouterr().out.strip()
    line = r"backlog_health: [1-9][0-9]* chart\(s\) -> \S+backlog_health\.html"
    assert re.fullmatch(line, out), out
    assert "<img" in (html / "backlog_health.html").read_text(encoding="utf-8")


def test_the_cli_refuses_a_missing_archive_with_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as done:
        main(["notebooks", "run", "--archive", str(tmp_path / "nowhere")])
    assert done.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no archive at" in err[0] and "archiver demo" in err[0]
