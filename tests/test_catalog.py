"""The metrics catalog: the capacity limits name metrics the catalog holds, in their roles."""

from __future__ import annotations

import pytest

from archiver.catalog import LIMITS, limit, limit_roles, load_catalog


def test_every_limit_names_catalog_metrics_of_the_right_kind() -> None:
    kinds = {m.name: m.kind for m in load_catalog()}
    for one in LIMITS:
        assert kinds[one.used] == "rate"
        assert kinds[one.throttled] == "rate"
        assert kinds[one.limit] == "limit"
        assert kinds[one.envelope] == "limit"


def test_limits_in_report_order_and_as_sql_rows() -> None:
    assert [one.kind for one in LIMITS] == ["actions", "requests", "operations"]
    assert limit("requests").limit == "temporal_cloud_v1_service_request_limit"
    rows = limit_roles()
    assert len(rows) == 12
    assert ("operations", "throttled", "temporal_cloud_v1_operations_throttled_count") in rows
    with pytest.raises(KeyError):
        limit("pollers")
