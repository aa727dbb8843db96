"""Shared fixtures; the helpers they use live in :mod:`tests.helpers`."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from archiver.simulator import Account, AccountSpec
from tests.helpers import Plan, build_archive

# Jupyter moves its config/data paths to platformdirs; without this opt-in jupyter_core warns on
# import, which filterwarnings=error turns into a failure. The CLI sets it the same way.
os.environ.setdefault("JUPYTER_PLATFORM_DIRS", "1")


@pytest.fixture(autouse=True)
def _allocator_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    """``archiver scrape`` run in-process sets these for the allocators it loads; undo that, so
    that no later test's subprocess inherits them unasked."""
    for name in ("ARROW_DEFAULT_MEMORY_POOL", "_RJEM_MALLOC_CONF"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(scope="session")
def small() -> Account:
    """The simulator's small account (3 namespaces), shared by the simulator tests."""
    return Account(AccountSpec.small())


@pytest.fixture(scope="session")
def mid() -> Account:
    """The simulator's mid-size account (about 30,000 points a minute)."""
    return Account(AccountSpec.mid())


@pytest.fixture
def make_archive(tmp_path: Path) -> Callable[..., Plan]:
    """Factory: ``make_archive(**build_archive_kwargs)`` -> Plan (root under tmp_path)."""
    counter = iter(range(1_000))

    def factory(**kwargs: Any) -> Plan:
        return build_archive(tmp_path / f"archive{next(counter)}", **kwargs)

    return factory
