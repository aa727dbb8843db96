"""Tests that need a program outside Python (Java for Spark, Prometheus' binaries).

On a machine with only Python and make they skip, with a one-line reason naming what to
install. CI (``.ci/run``) installs them and sets ``ARCHIVER_TEST_REQUIRE_TOOLS=1``, which turns
a missing program into a failure: there, a skip would hide a broken setup.
"""

from __future__ import annotations

import os
import shutil

import pytest

#: what to install for each program (Debian/Ubuntu package names; .ci/run installs them)
PACKAGES = {
    "java": "default-jre-headless",
    "prometheus": "prometheus",
    "promtool": "prometheus",
}


def require(program: str, why: str) -> str:
    """The path of ``program``; skips the test (fails it in CI) when it is not installed."""
    path = shutil.which(program)
    if path is not None:
        return path
    package = PACKAGES.get(program, program)
    message = f"{why}: {program} is not installed (apt-get install {package})"
    if os.environ.get("ARCHIVER_TEST_REQUIRE_TOOLS") == "1":
        pytest.fail(message)
    pytest.skip(message)
