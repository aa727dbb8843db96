"""The README as a reader follows it, and every snippet in the README and docs/.

* Every ```console block of README.md is run, in order, in one simulated shell (``export`` lines
  carry over), in a folder holding a fresh demo archive (``archiver demo``, two days). Each
  command must exit 0 (a block shows another code by ending the command with ``; echo $?``);
  each table the README pastes must come back with the same columns in the same order. Console
  commands use relative dates (``--since 7d``): a fixed date goes stale a week later.
* Every ```python, ```sql and ```toml block of README.md and docs/*.md is run on the pinned
  versions (Python blocks as complete programs, SQL in plain DuckDB, TOML as an archiver.toml),
  from the same folder.

Convention (README authors): ```console only for commands that run offline against the demo
archive; ```sh for commands that need a real server, a key, S3 or a long time; ```text for
pasted output. ``make`` lines are checked against the Makefile's targets, not run (``make
demo`` is what the fixture runs).
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.system_tools import require

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"
DOCS = sorted((REPO / "docs").glob("*.md"))
BIN = Path(sys.executable).parent
RULE = re.compile(r"^-+( +-+)*$")
FIXED_DATE = re.compile(r"\b20\d\d-\d\d-\d\d\b")
TIMEOUT = 180  # the demo fixture; a README command gets COMMAND_TIMEOUT
COMMAND_TIMEOUT = 60


@dataclass
class Command:
    line: int
    text: str
    output: list[str] = field(default_factory=list)


@dataclass
class Block:
    path: Path
    line: int
    lang: str
    body: list[str] = field(default_factory=list)

    @property
    def where(self) -> str:
        return f"{self.path.relative_to(REPO)}:{self.line}"


def blocks(path: Path) -> list[Block]:
    """The fenced code blocks of a Markdown file."""
    out: list[Block] = []
    current: Block | None = None
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if current is None:
            if line.startswith("```"):
                current = Block(path, number, line[3:].strip())
        elif line.startswith("```"):
            out.append(current)
            current = None
        else:
            current.body.append(line)
    assert current is None, f"{path.name}: a code block opened at line {current.line} never closes"
    return out


def commands(block: Block) -> list[Command]:
    """``$ `` lines (continued by a trailing backslash) and the output pasted below each."""
    out: list[Command] = []
    continued = False
    for offset, line in enumerate(block.body, start=1):
        if continued:
            out[-1].text += "\n" + line
        elif line.startswith("$ "):
            out.append(Command(block.line + offset, line[2:]))
        else:
            assert out, f"{block.where}: output before the first '$ ' command"
            out[-1].output.append(line)
        continued = line.endswith("\\")
    return out


def tables(lines: list[str]) -> list[list[str]]:
    """The column names of every table (a header line above a rule of dashes)."""
    lines = [line.rstrip() for line in lines]
    return [
        lines[i].split()
        for i in range(len(lines) - 1)
        if RULE.match(lines[i + 1]) and lines[i].strip()
    ]


def make_targets() -> set[str]:
    text = (REPO / "Makefile").read_text()
    return set(re.findall(r"^([a-z][a-z0-9-]*):", text, flags=re.MULTILINE))


@dataclass
class Shell:
    """What a reader's terminal holds between commands: a folder and exported variables."""

    cwd: Path
    env: dict[str, str]
    demo_output: str

    def run(self, text: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["bash", "-c", text],
            cwd=self.cwd,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=COMMAND_TIMEOUT,
            check=False,
        )


def clean_env(home: Path) -> dict[str, str]:
    """A new reader's environment: no archiver or cloud settings, the project's venv on PATH."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("ARCHIVER_", "TEMPORAL_", "AWS_", "_RJEM", "ARROW_"))
    }
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    env["HOME"] = str(home)
    env["TZ"] = "UTC"
    return env


@pytest.fixture(scope="module")
def shell(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Shell]:
    """A folder with a fresh demo archive, as after the README's ``make demo``."""
    cwd = tmp_path_factory.mktemp("reader")
    env = clean_env(cwd)
    done = subprocess.run(
        [BIN / "archiver", "demo", "--archive", "demo-archive", "--days", "2", "--live-hours", "1"],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    yield Shell(cwd, env, done.stdout + done.stderr)


def console_commands() -> list[Command]:
    return [c for b in blocks(README) if b.lang == "console" for c in commands(b)]


def test_readme_console_blocks_have_commands() -> None:
    found = console_commands()
    assert len(found) >= 10, "the README's ```console blocks lost their '$ ' commands"
    stale = [f"README.md:{c.line}: {c.text}" for c in found if FIXED_DATE.search(c.text)]
    assert not stale, "use relative dates (--since 7d) in console blocks:\n" + "\n".join(stale)


def test_readme_console_blocks_run(shell: Shell) -> None:
    """Each command in order: exit 0 (or the code it echoes), and the pasted tables' columns."""
    targets = make_targets()
    problems: list[str] = []
    for command in console_commands():
        where = f"README.md:{command.line}: $ {command.text}"
        words = shlex.split(command.text, comments=True)
        if not words:
            continue
        if words[0] == "export":
            for assignment in words[1:]:
                name, _, value = assignment.partition("=")
                shell.env[name] = value
            continue
        if words[0] == "make":
            missing = [t for t in words[1:] if "=" not in t and t not in targets]
            if missing:
                problems.append(f"{where}: no such make target {missing}")
            if words[1:2] == ["demo"] and command.output:
                actual = shell.demo_output.splitlines()
                if tables(command.output) != tables(actual):
                    problems.append(f"{where}: columns differ from 'archiver demo':\n{actual}")
            continue
        try:
            done = shell.run(command.text)
        except subprocess.TimeoutExpired:
            problems.append(f"{where}: still running after {COMMAND_TIMEOUT}s (use ```sh)")
            continue
        actual = (done.stdout + done.stderr).splitlines()
        echoes_code = command.text.rstrip().endswith("echo $?")
        if echoes_code:
            want = command.output[-1].strip() if command.output else "?"
            printed = done.stdout.splitlines()
            got = printed[-1].strip() if printed else "nothing"
            if want != got:
                problems.append(f"{where}: exit code {got}, the README shows {want}")
        elif done.returncode != 0:
            tail = "\n".join(actual[-5:])
            problems.append(f"{where}: exit {done.returncode}:\n{tail}")
            continue
        want_tables, got_tables = tables(command.output), tables(actual)
        if want_tables != got_tables:
            problems.append(
                f"{where}: the README pastes tables with columns {want_tables}, "
                f"the command printed {got_tables}"
            )
    assert not problems, "\n\n".join(problems)


def snippets() -> list[Block]:
    langs = ("python", "sql", "toml")
    return [b for path in (README, *DOCS) for b in blocks(path) if b.lang in langs]


@pytest.mark.parametrize("block", snippets(), ids=lambda b: b.where)
def test_snippet_runs(block: Block, shell: Shell) -> None:
    """A reader pastes it into Python or DuckDB on the pinned versions; it must run."""
    code = "\n".join(block.body)
    if block.lang == "sql":
        program = f"import duckdb\nprint(duckdb.sql({code!r}).limit(3).fetchall())\n"
    elif block.lang == "toml":  # an archiver.toml: every key must be one the archiver takes
        program = (
            "import pathlib\nfrom archiver import config\n"
            f"path = pathlib.Path('snippet.toml')\npath.write_text({code!r})\n"
            "config.load({}, {}, path)\n"
        )
    else:
        if "pyspark" in code:
            require("java", "Spark snippets need Java")
        program = code
    done = subprocess.run(
        [sys.executable, "-c", program],
        cwd=shell.cwd,
        env=shell.env,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )
    assert done.returncode == 0, f"{block.where}:\n{done.stderr[-3000:]}"


def test_make_help_lists_every_target() -> None:
    make = shutil.which("make")
    if make is None:
        pytest.skip("make is not installed")
    done = subprocess.run([make, "-s", "help"], cwd=REPO, capture_output=True, text=True)
    listed = {line.split()[0] for line in done.stdout.splitlines() if line.strip()}
    assert make_targets() - {"help"} <= listed, done.stdout
