"""Figures without pyplot: made, told apart when empty, saved as PNG, shown in Jupyter.

Built without pyplot (no global figure registry, no interactive backend), so they render with
Agg anywhere. The charts themselves are in :mod:`archiver.query.plots`.
"""

from __future__ import annotations

import itertools
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import polars as pl
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = ["NO_DATA", "bar_width", "column", "has_data", "new_figure", "no_data", "save", "show"]

#: The label of a figure that had nothing to draw; its text starts the same way.
NO_DATA = "no data"


def new_figure(
    width: float = 10.0, height: float = 4.5, rows: int = 1, sharex: bool = True
) -> tuple[Figure, list[Axes]]:
    """A constrained-layout figure with ``rows`` axes stacked (x shared when several)."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height * rows), layout="constrained")
    axes = fig.subplots(rows, 1, squeeze=False, sharex=sharex and rows > 1)
    return fig, [a for row in axes for a in row]


def no_data(title: str, missing: str) -> Figure:
    """A figure that says what is missing, labelled so that :func:`has_data` is False."""
    fig, (ax,) = new_figure(height=2.5)
    ax.set_axis_off()
    ax.set_title(title)
    ax.text(
        0.5,
        0.5,
        f"{NO_DATA}: {missing}",
        ha="center",
        va="center",
        fontsize=12,
        wrap=True,
        transform=ax.transAxes,
    )
    fig.set_label(f"{NO_DATA}: {missing}")
    return fig


def has_data(fig: Figure) -> bool:
    """True when ``fig`` plots something: not a "no data" figure, and some axes hold artists."""
    if str(fig.get_label()).startswith(NO_DATA):
        return False
    return any(ax.lines or ax.collections or ax.patches or ax.images for ax in fig.axes)


def save(fig: Figure, path: str | Path) -> Path:
    """Write ``fig`` as a PNG at ``path`` (parent directories must exist); returns the path."""
    out = Path(path)
    fig.savefig(out, format="png", dpi=110)
    return out


def show(fig: Figure) -> None:
    """Display ``fig`` in Jupyter as a PNG, with ``archiver_chart`` metadata (title, empty).

    The metadata lets a test find charts that came out empty in an executed notebook.
    """
    import io

    from IPython.display import display  # type: ignore[import-untyped,unused-ignore]

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90)
    titles = [t for t in (fig.get_suptitle(), *(ax.get_title() for ax in fig.axes)) if t]
    meta = {"archiver_chart": {"empty": not has_data(fig), "title": titles[0] if titles else ""}}
    display(  # type: ignore[no-untyped-call,unused-ignore]
        {"image/png": buf.getvalue(), "text/plain": titles[0] if titles else "chart"},
        raw=True,
        metadata=meta,
    )


def column(frame: pl.DataFrame, name: str) -> list[Any]:
    """A frame's column as a list (what matplotlib takes)."""
    return frame.get_column(name).to_list()


def bar_width(ts: list[Any]) -> float:
    """A bar width in days (matplotlib date units) matching the spacing of ``ts``."""
    if len(ts) < 2:
        return 1 / 24
    step: timedelta = min(b - a for a, b in itertools.pairwise(ts) if b > a)
    return step.total_seconds() / 86400 * 0.9
