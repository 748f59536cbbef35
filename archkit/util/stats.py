"""The few statistics archkit reports, one definition each, scipy's underneath:

- `kendall_tau`: rank agreement of two lists (a proxy against the final recipe; predicted against
  measured latency), scipy's tau-b;
- `bootstrap_tau`: that tau with a paired bootstrap percentile interval (`scipy.stats.bootstrap`);
- `t_interval`: a mean and its Student's t interval (`scipy.stats.t.interval`: seeds of one
  network, or study seeds);
- `welch_interval`: a difference of two means and its Welch t interval (`scipy.stats.ttest_ind`
  with unequal variances: the confirmation verdict);
- `mape`: the mean absolute percentage error of predictions against measurements.
"""

from __future__ import annotations

import math
import statistics

BOOTSTRAP = 2000  # resamples behind a tau's interval


def _tau_b(x, y) -> float:
    """scipy's Kendall tau-b of (x, y), ties handled; NaN where either side is constant."""
    from scipy.stats import kendalltau

    return float(kendalltau(x, y).statistic)


def kendall_tau(x, y) -> float | None:
    """Kendall's tau-b (scipy.stats.kendalltau, ties handled); None where it is undefined (fewer
    than 2 points, or one side constant)."""
    if len(x) < 2:
        return None
    tau = _tau_b(x, y)
    return None if math.isnan(tau) else tau


def bootstrap_tau(x, y, resamples: int = BOOTSTRAP, seed: int = 0, level: float = 0.95) -> dict:
    """tau-b of (x, y) with a bootstrap percentile interval: the (x, y) pairs resampled with
    replacement `resamples` times (`scipy.stats.bootstrap`, paired, seeded with `seed`). Resamples
    where tau is undefined (a side constant) are dropped and counted: scipy's own interval would be
    NaN as soon as one is. {"tau", "low", "high", "n", "resamples"}; None where there is nothing to
    say (fewer than 3 pairs, tau undefined, or no resample defined)."""
    import warnings

    import numpy as np
    from scipy import stats

    n = len(x)
    result = {"tau": kendall_tau(x, y), "low": None, "high": None, "n": n, "resamples": 0}
    if n < 3 or result["tau"] is None:
        return result
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # scipy warns of the undefined resamples, dropped below
        boot = stats.bootstrap((np.asarray(x, dtype=float), np.asarray(y, dtype=float)), _tau_b, paired=True,
                               vectorized=False, n_resamples=resamples, confidence_level=level,
                               method="percentile", rng=np.random.default_rng(seed))
    taus = boot.bootstrap_distribution[~np.isnan(boot.bootstrap_distribution)]
    result["resamples"] = int(taus.size)
    if taus.size:
        tail = (1 - level) / 2 * 100
        result["low"], result["high"] = (float(v) for v in np.percentile(taus, [tail, 100 - tail]))
    return result


def t_interval(values: list[float], level: float = 0.95) -> tuple[float, float | None, float | None]:
    """(mean, lo, hi): the mean of `values` and its `level` interval by Student's t over them,
    mean ± t((1 + level) / 2, n - 1) · s / √n; (mean, None, None) for a single value. Equal
    values give a point interval."""
    m = statistics.fmean(values)
    if len(values) < 2:
        return m, None, None
    sem = statistics.stdev(values) / math.sqrt(len(values))
    if sem == 0:
        return m, m, m
    from scipy import stats

    lo, hi = stats.t.interval(level, len(values) - 1, loc=m, scale=sem)
    return m, float(lo), float(hi)


def welch_interval(a: list[float], b: list[float], level: float = 0.95) -> tuple[float, float | None, float | None]:
    """mean(a) - mean(b) and its `level` interval by Welch's t (unequal variances); (delta, None,
    None) when either sample has a single value. Zero variance on both sides gives a point interval
    (scipy's would be NaN)."""
    delta = statistics.fmean(a) - statistics.fmean(b)
    if len(a) < 2 or len(b) < 2:
        return delta, None, None
    if statistics.variance(a) == 0 and statistics.variance(b) == 0:
        return delta, delta, delta
    import warnings

    from scipy import stats

    with warnings.catch_warnings():
        # one side constant (every seed scored alike): scipy warns of precision loss in its variance
        warnings.simplefilter("ignore", RuntimeWarning)
        ci = stats.ttest_ind(a, b, equal_var=False).confidence_interval(level)
    return delta, float(ci.low), float(ci.high)


def mape(predicted, measured) -> float:
    """Mean absolute percentage error, as a fraction: mean(|p - m| / m) over the pairs."""
    return statistics.fmean(abs(p - m) / m for p, m in zip(predicted, measured, strict=True))
