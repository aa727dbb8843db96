"""The OpenMetrics text format, as Temporal Cloud serves it: :func:`parse` bytes into a
columnar batch (``parse.py``), and :func:`render` a batch back into bytes for the simulator and
the tests (``render.py``); the batch's schema and the label-escaping rule are in ``batch.py``.

>>> body = b'# TYPE m gauge\\nm{b="2",a="1"} 4.5 1609459200000\\n# EOF\\n'
>>> parse(body).samples.select("series", "value").row(0)
('m{a="1",b="2"}', 4.5)
"""

from archiver.openmetrics.batch import (
    SAMPLES_SCHEMA,
    ParsedScrape,
    escape_label_expr,
    escape_label_value,
    series_text,
)
from archiver.openmetrics.parse import parse
from archiver.openmetrics.render import render

__all__ = [
    "SAMPLES_SCHEMA",
    "ParsedScrape",
    "escape_label_expr",
    "escape_label_value",
    "parse",
    "render",
    "series_text",
]
