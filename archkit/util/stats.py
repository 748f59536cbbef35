"""The few statistics archkit reports, one definition each (scipy underneath).

- `kendall_tau`: rank agreement of two lists (a proxy against the final recipe);
- `t_interval`: a mean and its Student's t interval (seeds of one network, or study seeds);
- `welch_interval`: a difference of two means and its Welch t interval (the confirmation verdict).
"""

from __future__ import annotations

import math
import statistics


def kendall_tau(x, y) -> float | None:
    """Kendall's tau-b (scipy.stats.kendalltau, ties handled); None where it is undefined (fewer
    than 2 points, or one side constant)."""
    from scipy.stats import kendalltau

    if len(x) < 2:
        return None
    tau = float(kendalltau(x, y).statistic)
    return None if math.isnan(tau) else tau


def t_interval(values: list[float], level: float = 0.95) -> tuple[float, float | None, float | None]:
    """(mean, lo, hi): the mean of `values` and its `level` interval by Student's t over them,
    mean ± t((1 + level) / 2, n - 1) · s / √n; (mean, None, None) for a single value."""
    m = sum(values) / len(values)
    if len(values) < 2:
        return m, None, None
    from scipy import stats

    half = stats.t.ppf(0.5 + level / 2, len(values) - 1) * statistics.stdev(values) / math.sqrt(len(values))
    return m, float(m - half), float(m + half)


def welch_interval(a: list[float], b: list[float], level: float = 0.95) -> tuple[float, float | None, float | None]:
    """mean(a) - mean(b) and its `level` interval by Welch's t (unequal variances); (delta, None,
    None) when either sample has a single value. Zero variance on both sides gives a point interval."""
    from scipy import stats

    delta = sum(a) / len(a) - sum(b) / len(b)
    if len(a) < 2 or len(b) < 2:
        return delta, None, None
    va, vb = statistics.variance(a) / len(a), statistics.variance(b) / len(b)
    se = math.sqrt(va + vb)
    if se == 0:
        return delta, delta, delta
    df = (va + vb) ** 2 / (va**2 / (len(a) - 1) + vb**2 / (len(b) - 1))
    half = stats.t.ppf(0.5 + level / 2, df) * se
    return delta, delta - half, delta + half
