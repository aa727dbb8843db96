"""Data-level oddities the simulator can mix into a window: odd label values, a metric the
catalog does not know, and the names the preview used before the renames."""

from __future__ import annotations

import numpy as np
import polars as pl

from archiver.catalog import LEGACY_LABELS, LEGACY_NAMES
from archiver.openmetrics import escape_label_expr
from archiver.simulator.model import Account
from archiver.simulator.series import label_frame

__all__ = [
    "LONG_NAMESPACE",
    "NEW_METRIC",
    "ODD_VALUES",
    "far_future_rows",
    "legacy_names",
    "long_namespace_rows",
    "new_metric_rows",
    "odd_label_rows",
]

#: A family the catalog does not list (the archiver must keep it anyway).
NEW_METRIC = "temporal_cloud_v1_nexus_operation_success_count"

#: Label values a parser must survive: quotes, backslashes, a newline, non-ASCII.
ODD_VALUES = ('odd "quoted" queue \\ with\\backslash', "Zahlung\nÄnderung ✓ 日本")


#: A namespace whose percent-escaped name is over 255 bytes (60 Cyrillic letters).
LONG_NAMESPACE = "пространство" * 5 + ".acct1"
#: How far ahead a far-future sample lies: a century, as a broken exporter once sent.
FAR_FUTURE_MS = 100 * 365 * 86_400_000


def _rows(metric: str, account: Account, labels: dict[str, list[str]], ts_ms: int) -> pl.DataFrame:
    n = len(labels["temporal_namespace"])
    arrays = {k: np.array(v, dtype=np.str_) for k, v in labels.items()}
    arrays["temporal_account"] = np.full(n, account.spec.account)
    frame = label_frame(metric, arrays["temporal_namespace"], arrays)
    return frame.with_columns(
        ts=pl.lit(ts_ms, dtype=pl.Int64).cast(pl.Datetime("ms", "UTC")),
        value=pl.Series([(7 + i) / 60 for i in range(n)], dtype=pl.Float64),
    )


def odd_label_rows(account: Account, ts_ms: int) -> pl.DataFrame:
    """One ``workflow_success_count`` series with hostile label values, in namespace 0."""
    ns = account.namespaces[0]
    return _rows(
        "temporal_cloud_v1_workflow_success_count",
        account,
        {
            "temporal_namespace": [ns],
            "region": [account.regions(ns)[0]],
            "temporal_task_queue": [ODD_VALUES[0]],
            "temporal_workflow_type": [ODD_VALUES[1]],
        },
        ts_ms,
    )


def far_future_rows(account: Account, ts_ms: int) -> pl.DataFrame:
    """One ``workflow_success_count`` sample a century after the window, in namespace 0."""
    ns = account.namespaces[0]
    labels = {"temporal_namespace": [ns], "region": [account.regions(ns)[0]]}
    return _rows("temporal_cloud_v1_workflow_success_count", account, labels, ts_ms + FAR_FUTURE_MS)


def long_namespace_rows(account: Account, ts_ms: int) -> pl.DataFrame:
    """One ``workflow_success_count`` series in :data:`LONG_NAMESPACE`."""
    region = account.regions(account.namespaces[0])[0]
    labels = {"temporal_namespace": [LONG_NAMESPACE], "region": [region]}
    return _rows("temporal_cloud_v1_workflow_success_count", account, labels, ts_ms)


def new_metric_rows(account: Account, ts_ms: int) -> pl.DataFrame:
    """One series per namespace of :data:`NEW_METRIC`."""
    names = list(account.namespaces)
    regions = [account.regions(ns)[0] for ns in names]
    return _rows(NEW_METRIC, account, {"temporal_namespace": names, "region": regions}, ts_ms)


def legacy_names(frame: pl.DataFrame) -> pl.DataFrame:
    """The frame as the preview served it: old metric names and old label keys."""
    metric = pl.col("metric").replace(LEGACY_NAMES)
    key = pl.element().struct.field("key")
    renamed = pl.col("labels")
    for name, mapping in LEGACY_LABELS.items():
        new_labels = pl.col("labels").list.eval(
            pl.struct(key=key.replace(mapping), value=pl.element().struct.field("value")).sort()
        )
        renamed = pl.when(pl.col("metric") == name).then(new_labels).otherwise(renamed)
    escaped = escape_label_expr(pl.element().struct.field("value"))
    text = pl.col("labels").list.eval(key + '="' + escaped + '"').list.join(",")
    return frame.with_columns(metric=metric, labels=renamed).with_columns(
        series=pl.col("metric") + "{" + text + "}"
    )
