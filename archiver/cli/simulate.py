"""``archiver simulate``: the realistic Temporal Cloud simulator as a local server."""

from __future__ import annotations

import contextlib
import dataclasses
import signal
import sys
import threading
from collections.abc import Iterator
from types import FrameType
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from pathlib import Path

    from archiver.simulator import Faults

simulate = click.Group(
    "simulate",
    help="Run a realistic fake Temporal Cloud metrics API (for trials, tests and demos).",
)

#: the key a simulator accepts unless told otherwise: a test key, no secret
DEFAULT_KEY = "sim-key"
_RATE = click.FloatRange(0.0, 1.0)


def _faults(values: dict[str, float], extra: tuple[str, ...]) -> Faults:
    from archiver.simulator import Faults

    knobs = {f.name: f for f in dataclasses.fields(Faults)}
    for item in extra:
        name, sep, raw = item.partition("=")
        name = name.strip().replace("-", "_")
        if not sep or name not in knobs:
            raise click.BadParameter(
                f"{item!r}: expected KNOB=VALUE with KNOB one of {', '.join(sorted(knobs))}",
                param_hint="--fault",
            )
        try:
            whole = name in ("stall_minutes", "legacy_names_until_ms")
            values[name] = int(raw) if whole else float(raw)
        except ValueError as exc:
            raise click.BadParameter(
                f"{item!r}: {raw!r} is not a number", param_hint="--fault"
            ) from exc
    try:
        return Faults(**values)  # type: ignore[arg-type]
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--fault") from exc


@simulate.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind.")
@click.option("--port", default=8443, show_default=True, type=click.IntRange(0, 65535),
              help="Port to bind (0: any free port).")  # fmt: skip
@click.option("--seed", default=0, show_default=True, type=click.IntRange(min=0),
              help="Seed of the simulated account.")  # fmt: skip
@click.option("--preset", type=click.Choice(["small", "mid"]), default="small",
              show_default=True, help="small: hundreds of points; mid: over the cap.")  # fmt: skip
@click.option("--namespaces", type=click.IntRange(1, 200), default=None,
              help="Override the preset's number of namespaces.")  # fmt: skip
@click.option("--api-key", envvar="TEMPORAL_CLOUD_API_KEY", default=DEFAULT_KEY,
              show_default=False, show_envvar=True,
              help=f"Key the server accepts (default: {DEFAULT_KEY}).")  # fmt: skip
@click.option("--no-tls", is_flag=True, help="Plain HTTP (loopback hosts only).")
@click.option("--ms-timestamps", is_flag=True, help="Timestamps in ms, as the reference shows.")
@click.option("--point-cap", default=30_000, show_default=True, type=click.IntRange(min=1),
              help="Data points per response before it is truncated (limited).")  # fmt: skip
@click.option("--budget", default=180, show_default=True, type=click.IntRange(min=1),
              help="Requests per rolling hour before 429.")  # fmt: skip
@click.option("--error-rate", type=_RATE, default=0.0, help="Share of 500/502/503 answers.")
@click.option("--throttle-rate", type=_RATE, default=0.0, help="Share of spurious 429s.")
@click.option("--unknown-rate", type=_RATE, default=0.0, help="Share of region timeouts.")
@click.option("--cut-rate", type=_RATE, default=0.0, help="Share of bodies cut mid-way.")
@click.option("--slow-rate", type=_RATE, default=0.0, help="Share of bodies that stall.")
@click.option("--stall-rate", type=_RATE, default=0.0,
              help="Share of minute blocks that stall (repeat, then a gap).")  # fmt: skip
@click.option("--fault", "extra", multiple=True, metavar="KNOB=VALUE",
              help="Any other Faults knob, e.g. odd_labels_rate=0.1 (repeatable).")  # fmt: skip
def serve_command(
    host: str,
    port: int,
    seed: int,
    preset: str,
    namespaces: int | None,
    api_key: str,
    no_tls: bool,
    ms_timestamps: bool,
    point_cap: int,
    budget: int,
    error_rate: float,
    throttle_rate: float,
    unknown_rate: float,
    cut_rate: float,
    slow_rate: float,
    stall_rate: float,
    extra: tuple[str, ...],
) -> None:
    """Serve the simulator over HTTPS (a throwaway CA) until SIGINT or SIGTERM."""
    from archiver.simulator import Account, AccountSpec, Simulator, serve

    spec = AccountSpec.mid(seed) if preset == "mid" else AccountSpec.small(seed)
    if namespaces is not None:
        spec = dataclasses.replace(spec, namespaces=namespaces)
    faults = _faults(
        {
            "error_rate": error_rate,
            "throttle_rate": throttle_rate,
            "unknown_rate": unknown_rate,
            "cut_rate": cut_rate,
            "slow_rate": slow_rate,
            "stall_rate": stall_rate,
        },
        extra,
    )
    simulator = Simulator(
        Account(spec),
        api_key=api_key,
        faults=faults,
        point_cap=point_cap,
        budget_per_hour=budget,
        ts_unit="ms" if ms_timestamps else "s",
    )
    try:
        server = serve(simulator, host=host, port=port, tls=not no_tls)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--host/--no-tls") from exc
    except OSError as exc:
        raise click.ClickException(f"cannot listen on {host}:{port}: {exc}") from exc
    with _stopped_by_signal() as stop, server:
        _announce(server.url, server.ca_file, api_key)
        while not stop.wait(0.5):
            pass


def _announce(url: str, ca_file: Path | None, api_key: str) -> None:
    """The line a user (or a parent process) reads to point the archiver at the simulator."""
    ca = f" ARCHIVER_CA_FILE={ca_file}" if ca_file else ""
    # The default key is no secret (it is in --help); a key of the user's own is not echoed.
    key = api_key if api_key == DEFAULT_KEY else "<the key given to --api-key>"
    click.echo(
        f"simulator serving {url} (CA: {ca_file or 'none, plain HTTP'}); "
        f"point the archiver at it: ARCHIVER_ENDPOINT={url}{ca} "
        f"TEMPORAL_CLOUD_API_KEY={key} archiver scrape",
        nl=True,
    )
    sys.stdout.flush()  # a parent process waits for this line


@contextlib.contextmanager
def _stopped_by_signal() -> Iterator[threading.Event]:
    """An event SIGINT or SIGTERM sets while inside; the previous handlers come back after."""
    stop = threading.Event()

    def _stop(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, _stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield stop
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
