"""An OpenMetrics body that does not come from our simulator, for benchmarks.

Written line by line in plain Python from a seeded ``random.Random``: no polars, no catalog, no
:mod:`archiver.openmetrics.render`. What it does differently from the simulator, on purpose:

* values: noisy rates with three decimals, idle series left out of a minute (about a quarter),
  integer random-walk backlogs, constant limits;
* text: HELP before TYPE, labels in no sorted order (namespace last), millisecond timestamps,
  label values of very different lengths, some with quotes, backslashes and non-ASCII text.

>>> body = foreign_body(500, minute_ms=1_741_000_020_000, seed=1)
>>> body.count(b"\\n# EOF\\n"), sum(1 for line in body.splitlines() if not line.startswith(b"#"))
(1, 500)
"""

from __future__ import annotations

import random

__all__ = ["foreign_body"]

_V1 = "temporal_cloud_v1_"
_OPERATIONS = ("StartWorkflowExecution", "SignalWorkflowExecution", "PollWorkflowTaskQueue",
               "RespondActivityTaskCompleted", "QueryWorkflow", "DescribeNamespace")  # fmt: skip
_REGIONS = ("aws-us-east-1", "gcp-europe-west3", "aws-ap-south-1")


def _quote(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _names(rng: random.Random, prefix: str, n: int) -> list[str]:
    """Names of very different lengths; one in twenty carries a quote or a non-ASCII letter."""
    out = []
    for i in range(n):
        stem = f"{prefix}-{i}-" + "x" * rng.choice((0, 3, 12, 40))
        if i % 20 == 7:
            stem += ' "quoted" \\ überweisung'
        out.append(stem)
    return out


def foreign_body(points: int, *, minute_ms: int, seed: int = 0) -> bytes:
    """``points`` sample lines at ``minute_ms`` (epoch ms), then ``# EOF``."""
    rng = random.Random(seed)
    families: dict[str, list[str]] = {}
    emitted = 0
    namespace = 0
    while emitted < points:
        ns = f"tenant{namespace:03d}-{rng.choice(('prod', 'stage', 'dev'))}.acct{seed}"
        region = _REGIONS[namespace % len(_REGIONS)]
        namespace += 1
        # (family, labels without namespace, value)
        rows: list[tuple[str, str, str]] = []
        for wf in _names(rng, "wf", rng.randint(50, 200)):
            if rng.random() < 0.25:
                continue  # idle this minute: no sample, not zero
            rate = max(0.0, rng.gauss(2.0, 1.5)) * rng.choice((1, 10, 100))
            rows.append(
                ("workflow_success_count", f'temporal_workflow_type="{_quote(wf)}"', f"{rate:.3f}")
            )
        backlog = rng.randint(0, 5000)
        for queue in _names(rng, "tq", rng.randint(100, 400)):
            for task_type in ("workflow", "activity"):
                backlog = max(0, backlog + rng.randint(-40, 45))
                labels = f'task_type="{task_type}",temporal_task_queue="{_quote(queue)}"'
                rows.append(("approximate_backlog_count", labels, str(backlog)))
        for op in _OPERATIONS:
            if rng.random() < 0.25:
                continue
            rate = f"{rng.uniform(0, 300):.3f}"
            rows.append(("service_request_count", f'operation="{op}"', rate))
        for limit, value in (("action_limit", "500"), ("service_request_limit", "2000")):
            rows.append((limit, "", value))
        for family, labels, value in rows:
            if emitted == points:
                break
            sep = "," if labels else ""
            line = (
                f'{_V1}{family}{{region="{region}"{sep}{labels},temporal_namespace="{ns}"}} '
                f"{value} {minute_ms}"
            )
            families.setdefault(family, []).append(line)
            emitted += 1
    out: list[str] = []
    for family, lines in families.items():
        out.append(f"# HELP {_V1}{family} {family.replace('_', ' ')} (not from the simulator)")
        out.append(f"# TYPE {_V1}{family} gauge")
        out.extend(lines)
    out.append("# EOF")
    return ("\n".join(out) + "\n").encode()
