"""Run a command inside a memory cgroup: does it finish within a memory budget?

Peak RSS counts every page a process touched, the shared library code the kernel can drop and
read again included; a cron job on a small VM is held to a memory limit instead, which charges
the pages the job brings in and reclaims file-backed ones under pressure. This module measures
that: the command runs in a child cgroup (v1 ``memory`` controller or v2) with memory and swap
capped at the limit, after the page cache is dropped so that the libraries' code is read in,
and charged, afresh. Linux and root only; elsewhere :func:`available` says why not.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

ROOT = Path("/sys/fs/cgroup")


def _own_cgroup() -> tuple[Path, str, str] | None:
    """(this process's memory cgroup folder, limit file, swap-limit file), or None."""
    try:
        lines = Path("/proc/self/cgroup").read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        _, controllers, path = line.split(":", 2)
        if "memory" in controllers.split(","):  # v1
            return (
                ROOT / "memory" / path.lstrip("/"),
                "memory.limit_in_bytes",
                ("memory.memsw.limit_in_bytes"),
            )
    for line in lines:
        if line.startswith("0::"):  # v2
            return ROOT / line[3:].lstrip("/"), "memory.max", "memory.swap.max"
    return None


def available() -> str | None:
    """None when :func:`fits` can run here, else why not."""
    own = _own_cgroup()
    if own is None:
        return "no memory cgroup found in /proc/self/cgroup"
    if os.geteuid() != 0 or not os.access(own[0], os.W_OK):
        return f"cannot create a cgroup under {own[0]} (needs root)"
    return None


def fits(argv: list[str], env: dict[str, str], limit_mb: int) -> bool:
    """Whether ``argv`` exits 0 inside a fresh cgroup of ``limit_mb`` MB (memory and swap)."""
    own = _own_cgroup()
    assert own is not None, available()
    parent, limit_file, swap_file = own
    group = parent / f"archiver-bench-{os.getpid()}"
    group.mkdir()
    try:
        limit = str(limit_mb * 1024 * 1024)
        (group / limit_file).write_text(limit)
        if (group / swap_file).exists():
            # v1 caps memory + swap together (>= the memory limit); v2 caps swap alone
            (group / swap_file).write_text(limit if swap_file.startswith("memory.memsw") else "0")
        subprocess.run("sync; echo 3 > /proc/sys/vm/drop_caches", shell=True, check=False)
        enter = f'echo $$ > {group / "cgroup.procs"} && exec "$@"'
        done = subprocess.run(
            ["sh", "-c", enter, "sh", *argv], env=env, capture_output=True, check=False
        )
        return done.returncode == 0
    finally:
        group.rmdir()
