"""A realistic fake Temporal Cloud metrics API, for tests, demos and benchmarks.

- :class:`AccountSpec` / :class:`Account` (``model``): a deterministic account from a seed; any
  minute's samples as a polars frame, built from the metrics catalog.
- :class:`Simulator` (``server``): the endpoint's behaviour (auth, budget, windows, filters,
  the data-point cap, :class:`Faults`) as a pure handler and an httpx transport.
- :func:`serve` (``httpd``): the same on a real HTTPS socket with a throwaway CA.
- :class:`SimulatedClock` (``clock``): time that moves only when slept on, for demos and tests.
"""

from archiver.simulator.clock import SimulatedClock
from archiver.simulator.faults import Faults
from archiver.simulator.httpd import Server, serve
from archiver.simulator.model import Account
from archiver.simulator.server import RequestRecord, SimResponse, Simulator
from archiver.simulator.spec import AccountSpec

__all__ = [
    "Account",
    "AccountSpec",
    "Faults",
    "RequestRecord",
    "Server",
    "SimResponse",
    "SimulatedClock",
    "Simulator",
    "serve",
]
