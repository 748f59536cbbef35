"""`archkit bench memory`: the model against torch's saved tensors, summarized (a quick run)."""

from __future__ import annotations

import archkit
from archkit.bench.memory_bench import old_guard_bytes, run, summarize


def test_quick_run_is_exact_and_summarized():
    r = run(candidates=0, quick=True)
    assert {row["name"] for row in r["rows"]} == {"googlenet-32"}
    assert {row["precision"] for row in r["rows"]} == {"fp32", "bf16"}
    for row in r["rows"]:
        assert row["predicted_bytes"] == row["measured_bytes"] > 0
        assert row["exact_rows"] == row["rows"]
    s = r["summary"]["all"]
    assert s["cases"] == 2 and s["exact_cases"] == 2 and s["worst_abs_error"] == 0


def test_summary_errors_by_hand():
    rows = [{"kind": "builtin", "error": 0.1, "old_guard_error": -0.4, "predicted_bytes": 110, "measured_bytes": 100,
             "rows": 3, "exact_rows": 2, "predict_ms": 1.0},
            {"kind": "candidate", "error": -0.3, "old_guard_error": -0.2, "predicted_bytes": 70, "measured_bytes": 100,
             "rows": 2, "exact_rows": 2, "predict_ms": 2.0}]
    s = summarize(rows)["all"]
    assert (s["cases"], s["exact_cases"], s["rows"], s["exact_rows"]) == (2, 0, 5, 4)
    assert abs(s["mean_abs_error"] - 0.2) < 1e-12 and s["worst_abs_error"] == 0.3
    assert abs(s["old_guard_mean_abs_error"] - 0.3) < 1e-12


def test_old_guard_count_by_hand():
    spec = archkit.spec_from_yaml("""\
name: small
input: {channels: 3, size: 8}
classes: 10
layers:
  - {name: conv1, conv: {out: 16, kernel: 1, batch_norm: true}}
  - {name: gap, global_avgpool: {}}
  - {name: fc, linear: {}}
""")
    # conv1 with batch norm: 2 x 16*8*8 = 2,048; gap 16; fc 10 -> 2,074 elements per image
    assert old_guard_bytes(spec, 3, "fp32") == 3 * 2_074 * 4
    assert old_guard_bytes(spec, 3, "bf16") == 3 * 2_074 * 2
