"""`archkit bench profile`'s family rows: the analytic counts agree with fvcore on every member (the
timings themselves are the benchmark's, not a test's)."""

from __future__ import annotations

from archkit.bench.profile_bench import FAMILY, family_rows
from archkit.spec import builtin_names


def test_the_family_rows_cover_the_lineage_and_agree_with_fvcore():
    assert set(FAMILY) <= set(builtin_names())
    rows = family_rows(("googlenet-32", "bn-inception"), repeats=1)
    assert [r["spec"] for r in rows] == ["googlenet-32", "bn-inception"]
    for r in rows:
        assert r["counts_equal"] and r["analytic_ms"] > 0 and r["fvcore_ms"] > 0
    # bn-inception at 224x224: the total the spec's test derives by hand from the paper's figure
    assert rows[1]["input"] == [3, 224, 224] and rows[1]["ops"] == 1_948_605_440
