"""How archkit prints numbers: one definition of each unit and format (a leaf module).

The conventions (README): Table 1's own units where a table prints the paper's columns, params in
K = 1024 weights (163,328 weights print as "159K") and ops in M = 10^6 multiply-adds (`fmt_k`,
`fmt_m` and their signed deltas); everywhere else decimal SI prefixes (K = 10^3, M = 10^6, G = 10^9:
budgets, search summaries, study figures) and decimal bytes (kB, MB, GB), except device memory,
quoted in GiB (2^30) as devices are sold.
"""

from __future__ import annotations

import math

PARAMS_K = 1024  # Table 1's K for params
SI = {"": 1, "K": 10**3, "M": 10**6, "G": 10**9, "T": 10**12}  # decimal prefixes (budgets, counts)


def fmt_k(params: int) -> str:
    """Params in Table 1's units: K = 1024, one decimal below 10K; the count itself below 1K (a tiny
    network's rows would all read 0.1K)."""
    if params == 0:
        return ""
    if params < PARAMS_K:
        return str(params)
    k = params / PARAMS_K
    return f"{k:.1f}K" if k < 10 else f"{k:,.0f}K"


def fmt_m(ops: int) -> str:
    """Ops (multiply-adds) in M = 10^6, one decimal below 10M; in K = 10^3 below 0.1M (so a
    38,500-multiply-add row reads 38.5K, not 0.0M)."""
    if ops == 0:
        return ""
    if ops < 100_000:
        return f"{ops / 1e3:.1f}K"
    m = ops / 1e6
    return f"{m:.1f}M" if m < 10 else f"{m:,.0f}M"


def signed_k(n: int) -> str:
    """A params delta in the units of `fmt_k` (the count itself below 1K)."""
    if not n:
        return "0"
    return f"{n:+,}" if abs(n) < PARAMS_K else f"{n / PARAMS_K:+,.1f}K"


def signed_m(n: int) -> str:
    """An ops delta in the units of `fmt_m` (K below 0.1M)."""
    if not n:
        return "0"
    return f"{n / 1e3:+,.1f}K" if abs(n) < 100_000 else f"{n / 1e6:+,.1f}M"


def fmt_si(n: int) -> str:
    """A count with a decimal prefix and two decimals: 6.80M, 1.58G; the count itself below 1,000."""
    for unit in ("G", "M", "K"):
        if abs(n) >= SI[unit]:
            return f"{n / SI[unit]:.2f}{unit}"
    return str(n)


def format_count(n: float) -> str:
    """1582671872 -> '1.58G' (a budget as people write it: three significant digits, decimal
    prefixes; 999_999 -> '1M')."""
    shown = float(f"{n:.3g}")  # round first, so that 999_999 is not printed as '1e+03K'
    for unit in ("T", "G", "M", "K"):
        if abs(shown) >= SI[unit]:
            return f"{shown / SI[unit]:.3g}{unit}"
    return f"{n:.3g}"


def fmt_bytes(n: int) -> str:
    """Bytes in decimal units, three digits or so: 648 B, 27.9 MB, 23.1 GB, 48,000 GB."""
    if n < 1000:
        return f"{n} B"
    for unit, size in (("kB", 1e3), ("MB", 1e6), ("GB", 1e9)):
        if n < size * 1000 or unit == "GB":
            x = n / size
            return f"{x:.1f} {unit}" if x < 100 else f"{x:,.0f} {unit}"
    raise AssertionError("unreachable")


def fmt_gib(n: int) -> str:
    """Bytes in GiB (2^30) with two decimals, as device memory is quoted: 3.42 GiB."""
    return f"{n / 2**30:,.2f} GiB"


def fmt_ms(x: float | None) -> str:
    """Milliseconds to three significant digits, never in exponent form (a layer that takes 4.1 µs
    reads 0.00412, not 0.004 or 4.12e-03)."""
    if x is None:
        return ""
    if x <= 0:
        return f"{x:.3f}"
    digits = max(0, 2 - math.floor(math.log10(x)))
    return f"{x:,.{digits}f}"


def num(x, scale: float, digits: int) -> str:
    """`x / scale` with thousands separators and `digits` decimals; "" for None (a table cell)."""
    return f"{x / scale:,.{digits}f}" if x is not None else ""
