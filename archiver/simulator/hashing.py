"""Counter-based hashes: the same inputs always give the same draw, and any minute's draw costs
the same, so the simulator needs no state to answer a window anywhere in time."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

I64 = NDArray[np.int64]
U64 = NDArray[np.uint64]

_G = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)


def mix(x: U64) -> U64:
    """splitmix64's finaliser: a counter-based hash, so any minute's draw costs the same."""
    x = x ^ (x >> np.uint64(30))  # a new array: the rest may work in place
    x *= _M1
    x ^= x >> np.uint64(27)
    x *= _M2
    x ^= x >> np.uint64(31)
    return x


def salt(*parts: int | I64) -> U64:
    """A hash of small non-negative integers: one element, or elementwise over array parts.

    Ints become one-element arrays (arrays avoid scalar overflow warnings); an array part, say a
    column of minutes, broadcasts, and each element hashes as that int alone would.
    """
    h = np.zeros(1, np.uint64)
    for part in parts:
        p = np.array([part % 2**64], np.uint64) if isinstance(part, int) else part.astype(np.uint64)
        h = mix((h ^ p) + _G)
    return h


def row_key(*parts: I64 | U64) -> U64:
    """A hash per row of equally long integer columns (a series' stable key)."""
    h = np.zeros(len(parts[0]), np.uint64)
    for part in parts:
        h = mix((h ^ part.astype(np.uint64)) + _G)
    return h
