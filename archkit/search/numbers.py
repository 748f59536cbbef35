"""Budget numbers as people write them: 1.5G, 7M, 50_000, 2.5e6, "800K"."""

from __future__ import annotations

import math
import re

from ..util.numbers import SI, format_count  # noqa: F401  (format_count: the inverse, printed)

# Decimal SI prefixes: a budget of "1.5G" multiply-adds is 1.5e9 (the paper's "1.5 billion").
# (Table 1 prints params with K = 1024; budgets are plain counts, so they use powers of ten.)
_PATTERN = re.compile(r"^\s*([0-9]+(?:\.[0-9]*)?(?:[eE][+-]?[0-9]+)?)\s*([KMGT]?)\s*$", re.IGNORECASE)


def parse_count(value: object) -> int:
    """An integer count from an int, a float or a string like "1.5G" / "7M" / "800k"."""
    if isinstance(value, bool):
        raise ValueError(f"expected a count like 1.5G or 7M, got {value!r}")
    if isinstance(value, int):
        count = value
    elif isinstance(value, float):
        count = _rounded(value, value)
    elif isinstance(value, str):
        match = _PATTERN.match(value.replace("_", ""))
        if not match:
            raise ValueError(f"expected a count like 1.5G, 7M or 50000, got {value!r}")
        count = _rounded(float(match.group(1)) * SI[match.group(2).upper()], value)
    else:
        raise ValueError(f"expected a count like 1.5G or 7M, got {value!r}")
    if count <= 0:
        raise ValueError(f"a budget must be positive, got {value!r}")
    return count


def _rounded(number: float, value: object) -> int:
    # YAML's .inf / .nan and "1e400" are floats that no count can be (round() raises OverflowError).
    if not math.isfinite(number):
        raise ValueError(f"expected a finite count like 1.5G or 7M, got {value!r}")
    return round(number)
