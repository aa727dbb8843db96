"""Execute the capacity-planning notebooks against an archive, and render them as HTML.

The notebooks are stored as jupytext percent-format text (``notebooks/*.py``: diffable, no
outputs). Each run converts one to a notebook, adds a cell after its ``parameters`` cell that
sets ``ARCHIVE``, executes it in a ``python3`` kernel (ipykernel's own kernelspec, which runs
the interpreter running this module) and, with ``html_dir``, writes ``<name>.html``.
From the shell: ``archiver notebooks run --archive demo-archive --html build/notebooks``.

Jupyter warns on import unless ``JUPYTER_PLATFORM_DIRS=1`` is in the environment; library code
leaves the environment alone, so the CLI and the tests set it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = [
    "NOTEBOOKS",
    "NotebookRun",
    "chart_outputs",
    "execute",
    "execute_many",
    "kernel_config",
    "locate_archive",
    "notebook_dir",
]

#: The notebooks, in the order a reader would open them.
NOTEBOOKS = ("capacity_overview", "cardinality_planning", "backlog_health")


@dataclass
class NotebookRun:
    """One executed notebook: the notebook node, its charts and the HTML written, if any."""

    name: str
    notebook: Any
    charts: list[dict[str, Any]] = field(default_factory=list)
    html: Path | None = None

    @property
    def empty_charts(self) -> list[str]:
        """Titles of the charts that had nothing to draw."""
        return [c.get("title", "") for c in self.charts if c.get("empty")]

    @property
    def text(self) -> str:
        """Everything the notebook printed (stream outputs), for checking its messages."""
        return "".join(
            out.get("text", "")
            for cell in self.notebook.cells
            if cell.cell_type == "code"
            for out in cell.get("outputs", [])
            if out.get("output_type") == "stream"
        )


def notebook_dir() -> Path:
    """The directory holding the stored notebooks (the repository's ``notebooks/``)."""
    import archiver

    return Path(archiver.__file__).resolve().parent.parent / "notebooks"


def kernel_config() -> Any:
    """Kernels talk to their client over CurveZMQ-encrypted sockets (the kernelspec declares
    support); over plain TCP ipykernel warns that everything is sent in plain text."""
    from traitlets.config import Config

    return Config({"KernelManager": {"transport_encryption": "auto"}})


def locate_archive(path: str, start: Path | None = None) -> str:
    """``path`` as given if it is a URL, absolute or exists from ``start`` (default: the current
    directory); else the first ``<parent>/<path>`` that exists above it, so that a notebook
    started in ``notebooks/`` finds the repository's ``demo-archive``. Unchanged if none does
    (the error then names what was asked for).

    >>> locate_archive("s3://bucket/prefix")
    's3://bucket/prefix'
    """
    if "://" in path or Path(path).is_absolute():
        return path
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / path).exists():
            return path if folder == here else str(folder / path)
    return path


def _with_archive(nb: Any, archive: str) -> Any:
    """Insert ``ARCHIVE = <archive>`` right after the cell tagged ``parameters``."""
    import nbformat

    cell = nbformat.v4.new_code_cell(  # type: ignore[no-untyped-call,unused-ignore]
        f"ARCHIVE = {archive!r}  # set by archiver.query.notebooks"
    )
    cell.metadata["tags"] = ["injected-parameters"]
    for i, existing in enumerate(nb.cells):
        if "parameters" in existing.metadata.get("tags", []):
            nb.cells.insert(i + 1, cell)
            return nb
    nb.cells.insert(0, cell)
    return nb


def chart_outputs(nb: Any) -> list[dict[str, Any]]:
    """The ``archiver_chart`` metadata of every chart that
    :func:`archiver.query.plots.show` displayed."""
    charts = []
    for cell in nb.cells:
        for out in cell.get("outputs", []) if cell.cell_type == "code" else []:
            meta = out.get("metadata", {}).get("archiver_chart")
            if meta is not None and "image/png" in out.get("data", {}):
                charts.append(dict(meta))
    return charts


def execute(
    name: str,
    archive: str | Path,
    *,
    html_dir: Path | None = None,
    timeout: int = 300,
    source_dir: Path | None = None,
) -> NotebookRun:
    """Execute notebook ``name`` against ``archive``; raises on the first failing cell.

    nbclient raises ``CellExecutionError`` naming the cell and the exception.
    """
    (run,) = execute_many(
        [name], archive, html_dir=html_dir, timeout=timeout, source_dir=source_dir
    )
    return run


def execute_many(
    names: Sequence[str],
    archive: str | Path,
    *,
    html_dir: Path | None = None,
    timeout: int = 300,
    source_dir: Path | None = None,
) -> list[NotebookRun]:
    """Execute several notebooks side by side (one kernel each, one event loop), in order.

    Kernel start-up dominates a small notebook's run time, so running them concurrently costs
    little more than the slowest one. Raises the first ``CellExecutionError``.
    """
    import asyncio

    async def run_all() -> list[NotebookRun]:
        jobs = [_execute(n, archive, html_dir, timeout, source_dir) for n in names]
        return list(await asyncio.gather(*jobs))

    return asyncio.run(run_all())


async def _execute(
    name: str,
    archive: str | Path,
    html_dir: Path | None,
    timeout: int,
    source_dir: Path | None,
) -> NotebookRun:
    import jupytext
    from nbclient import NotebookClient

    source = (source_dir or notebook_dir()) / f"{name}.py"
    nb = _with_archive(jupytext.read(source), str(Path(archive).resolve()))
    client = NotebookClient(
        nb,
        timeout=timeout,
        kernel_name="python3",
        resources={"metadata": {"path": str(source.parent)}},
        config=kernel_config(),
    )
    await client.async_execute()
    run = NotebookRun(name, nb, chart_outputs(nb))
    if html_dir is not None:
        from nbconvert import HTMLExporter

        html_dir.mkdir(parents=True, exist_ok=True)
        exporter = HTMLExporter()  # type: ignore[no-untyped-call,unused-ignore]
        body, _ = exporter.from_notebook_node(nb)
        run.html = html_dir / f"{name}.html"
        run.html.write_text(body, encoding="utf-8")
    return run
