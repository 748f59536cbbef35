"""The lookup table and the predictor: coverage, the roofline fallback, and a cache that survives
anything (round trip, corrupt file, stale key, unwritable folder). Behaviour only, never timings."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from archkit import spec_from_yaml
from archkit.latency import LatencyTable, cache_dir, predict
from archkit.latency.calibrate import Calibration
from archkit.latency.table import _OPEN
from archkit.latency.units import AddOp, ConcatOp, spec_units
from archkit.spec.resolve import resolved

from .conftest import TINY

IDENTITY = Calibration(1.0, 0.0, 0, None)


@pytest.fixture(autouse=True)
def _fresh_tables():
    # Each test opens its tables from its own folder; none stays open across tests.
    _OPEN.clear()
    yield
    _OPEN.clear()


def quick(table: LatencyTable, calibration: Calibration | None = IDENTITY) -> LatencyTable:
    """Light timing; the identity calibration (a test of calibrating sets None: probes then)."""
    table.warmup, table.rounds, table.repeats, table.block_s = 1, 1, 2, 0.0002
    table.probes, table.probe_rounds = 2, 1
    if table.calibration is None:
        table.calibration = calibration
    return table


def table_at(folder: Path, precision: str = "fp32", calibration: Calibration | None = IDENTITY) -> LatencyTable:
    return quick(LatencyTable.open("cpu", precision, cache_dir=folder), calibration)


def test_cache_dir_order(tmp_path, monkeypatch):
    monkeypatch.delenv("ARCHKIT_CACHE_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_dir() == tmp_path / "xdg" / "archkit"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert cache_dir() == Path.home() / ".cache" / "archkit"
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/cache")  # invalid by the XDG rules: ignored
    assert cache_dir() == Path.home() / ".cache" / "archkit"
    monkeypatch.setenv("ARCHKIT_CACHE_DIR", str(tmp_path / "env"))
    assert cache_dir() == tmp_path / "env"
    assert cache_dir(tmp_path / "arg") == tmp_path / "arg"


def test_measuring_what_is_missing_covers_everything(tiny, cache):
    table = table_at(cache)
    p = predict(tiny, table=table)
    units = sum(len(lu.units) for _, lu in spec_units(resolved(tiny)))
    assert p.covered_share == 1.0 and p.roofline_units == 0
    assert p.units == units and p.measured_now == units - _repeats(tiny) == len(table.entries)
    assert p.total_ms > 0 and math.isfinite(p.total_ms)
    assert list(p.per_layer_ms) == [layer.name for layer in tiny.layers]
    assert all(v > 0 for v in p.per_layer_ms.values())
    # the total is the layers plus the model's own forward pass (measured, never negative)
    assert p.total_ms >= sum(p.per_layer_ms.values())
    assert 0 <= p.overhead_ms < p.total_ms
    assert p.table_seconds > 0 and table.path.is_file() and table.path.parent == cache
    # everything is in the table now: a second prediction measures nothing and gives the same number
    again = predict(tiny, table=table)
    assert again.measured_now == 0 and again.table_seconds == 0 and again.total_ms == p.total_ms


def _repeats(spec) -> int:
    """Units whose signature occurs earlier in the same network (measured once)."""
    from archkit.latency import op_signature

    seen, repeats = set(), 0
    for _, lu in spec_units(resolved(spec)):
        for op, dtype in lu.units:
            key = op_signature(op, "fp32", 1, dtype)
            repeats += key in seen
            seen.add(key)
    return repeats


def test_round_trip_through_the_file(tiny, cache):
    first = predict(tiny, table=table_at(cache))
    reopened = LatencyTable.open("cpu", "fp32", cache_dir=cache)
    assert reopened.status == "loaded"
    assert reopened.constants is not None
    second = predict(tiny, table=reopened)
    assert second.measured_now == 0 and second.covered_share == 1.0
    assert second.total_ms == first.total_ms and second.per_layer_ms == first.per_layer_ms
    data = json.loads(reopened.path.read_text())
    assert data["key"] == reopened.key and len(data["entries"]) == len(reopened.entries)
    assert {"device_name", "torch", "archkit", "threads", "precision", "format"} <= set(data["key"])


def test_without_measuring_the_roofline_fills_in(tiny, cache):
    table = table_at(cache)
    p = predict(tiny, table=table, measure_missing=False)
    assert p.covered_share == 0.0 and p.roofline_units == p.units and p.measured_now == 0 and p.fitted_units == 0
    assert p.total_ms > 0 and math.isfinite(p.total_ms)
    assert all(v > 0 for v in p.per_layer_ms.values())
    assert table.entries == {}  # nothing was measured, only the device's constants
    c = table.constants
    assert c.peak_flops > 0 and c.bandwidth > 0 and c.launch_ms > 0
    assert min(c.container_ms, c.model_ms, c.layer_ms) >= 0


def test_partial_coverage(tiny, cache):
    table = table_at(cache)
    predict(tiny, table=table)
    wider = spec_from_yaml(TINY.replace("name: tiny", "name: wider").replace("{out: 8}", "{out: 12}"), "wider")
    p = predict(wider, table=table, measure_missing=False)
    assert 0 < p.covered_share < 1 and p.measured_now == 0
    # the tiny network put more than FIT_MIN convs in the table: the wider convs are fitted
    assert p.fitted_units > 0 and p.fitted_units + p.roofline_units < p.units
    assert p.total_ms > 0 and all(v > 0 for v in p.per_layer_ms.values())
    sources = {row["source"] for rows in p.per_layer_units.values() for row in rows}
    assert sources <= {"table", "fit", "roofline"} and {"table", "fit"} <= sources


def test_a_corrupt_file_is_rebuilt(tiny, cache):
    table = table_at(cache)
    table.path.parent.mkdir(parents=True, exist_ok=True)
    for garbage in ("{not json", "[]", json.dumps({"key": table.key, "entries": {"x": {"ms": -1}}}),
                    json.dumps({"key": table.key, "entries": {"x": "fast"}}), "\xff\xfe"):
        table.path.write_text(garbage, encoding="latin-1")
        rebuilt = table_at(cache)
        assert rebuilt.status.startswith("rebuilt: corrupt"), garbage
        assert rebuilt.entries == {}
        p = predict(tiny, table=rebuilt, measure_missing=False)
        assert p.total_ms > 0
    # a prediction that measures saves a sound file over the bad one
    predict(tiny, table=rebuilt)
    assert table_at(cache).status == "loaded"


@pytest.mark.parametrize("field, value", [("torch", "0.0.1"), ("archkit", "0.0.0"), ("format", -1),
                                          ("threads", 999), ("device_name", "another CPU")])
def test_a_stale_key_is_rebuilt(tiny, cache, field, value):
    table = table_at(cache)
    predict(tiny, table=table)
    data = json.loads(table.path.read_text())
    data["key"][field] = value
    table.path.write_text(json.dumps(data))
    stale = table_at(cache)
    assert stale.status.startswith("rebuilt: stale") and field in stale.status
    assert stale.entries == {} and stale.constants is None
    p = predict(tiny, table=stale)
    assert p.measured_now > 0 and p.covered_share == 1.0
    assert json.loads(stale.path.read_text())["key"] == stale.key  # written back with today's key


def test_an_unwritable_folder_never_fails_a_prediction(tiny, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    table = table_at(blocker / "cache")
    p = predict(tiny, table=table)
    assert p.total_ms > 0 and p.covered_share == 1.0
    assert table.save() is False and table.save_error


def test_save_merges_what_another_process_added(tiny, cache):
    a, b = table_at(cache), table_at(cache)
    predict(tiny, table=a)
    b.entries["conv made up | fp32 x=fp32 b=1"] = {"ms": 1.0}
    b.save()
    merged = json.loads(b.path.read_text())["entries"]
    assert "conv made up | fp32 x=fp32 b=1" in merged and set(a.entries) <= set(merged)


def test_one_file_per_precision(tiny, cache):
    fp32, bf16 = table_at(cache, "fp32"), table_at(cache, "bf16")
    assert fp32.path != bf16.path
    p = predict(tiny, precision="bf16", table=bf16)
    assert p.covered_share == 1.0 and p.precision == "bf16"
    assert all(" bf16 " in key for key in bf16.entries)
    with pytest.raises(ValueError):
        predict(tiny, precision="fp32", table=bf16)


def test_predict_opens_the_cached_table_by_itself(tiny, cache):
    # $ARCHKIT_CACHE_DIR (the fixture) is where it lives; no calibration asked: the identity
    p = predict(tiny, measure_missing=False, calibrate=False)
    assert p.total_ms > 0 and p.calibration == Calibration()
    assert any(cache.glob("latency-cpu-*-fp32-t*.json"))
    d = p.to_dict()
    assert d["total_ms"] == p.total_ms and d["covered_share"] == 0.0
    assert d["calibration"] == {"scale": 1.0, "unit_ms": 0.0, "probes": 0, "error": None}


def test_calibration_on_probes(tiny, cache):
    from archkit.latency.calibrate import probe_specs

    table = table_at(cache, calibration=None)
    p = predict(tiny, table=table)
    cal = table.calibration
    assert cal.probes == 2 and cal.scale >= 1.0 and cal.unit_ms >= 0 and math.isfinite(cal.error)
    assert p.calibration == cal
    # every unit counts scale x its table entry + unit_ms
    for rows in p.per_layer_units.values():
        for row in rows:
            assert row["ms"] == pytest.approx(cal.scale * row["table_ms"] + cal.unit_ms)
    # the probes' units joined the table; the calibration is kept in the file
    assert table_at(cache, calibration=None).calibration == cal
    # probes: the same networks every time, valid specs, none of them the network predicted
    names = [spec.name for spec in probe_specs(3)]
    assert names == [spec.name for spec in probe_specs(3)] == ["latency-probe-0", "latency-probe-1", "latency-probe-2"]


def test_units_of_a_residual_network_are_timed(cache):
    import torch

    from archkit.latency.table import _runner

    for op in (ConcatOp("c", (12, 4, 4), (12, 4, 4), (4, 8)), AddOp("a", (6, 4, 4), (6, 4, 4), 0.2, "relu")):
        out = _runner(op, 2, "fp32", torch.device("cpu"))()
        assert tuple(out.shape) == (2, *op.out_shape)


def test_the_table_fits_a_kind_once_it_has_enough_entries(cache):
    from archkit.latency.table import FIT_MIN
    from archkit.spec.resolve import ConvOp

    table = table_at(cache)
    a, b, c = 0.01, 2e-6, 3e-8  # a fixed cost, a time per multiply-add and one per byte
    for i in range(FIT_MIN + 2):
        ops, nbytes = 1000 * (i + 1) ** 2, 5000 * (i + 3)
        table.entries[f"conv {i}"] = {"ms": a + b * ops + c * nbytes, "kind": "conv", "ops": ops, "bytes": nbytes}
    fit = table.kind_fit("conv")
    assert fit == pytest.approx((a, b, c), rel=1e-6)
    assert table.kind_fit("maxpool") is None  # no entries of that kind: the roofline answers
    conv = ConvOp("c", (16, 8, 8), (8, 8, 8), 8, (3, 3), (1, 1), (1, 1), False, True, "relu")
    ms, how = table.estimate(conv, 1)
    assert how == "fit" and ms > 0 and math.isfinite(ms)
    grouped = conv._replace(groups=8)
    assert table.estimate(grouped, 1)[1] == "roofline"  # grouped convs are a kind of their own


def test_entries_keep_their_fit_features_through_the_file(tiny, cache):
    table = table_at(cache)
    predict(tiny, table=table)
    reopened = table_at(cache)
    assert reopened.entries == table.entries
    assert all({"kind", "ops", "bytes", "ms"} <= set(e) for e in reopened.entries.values())


def test_threads_key_the_table_and_are_checked(cache):
    import torch

    from archkit.latency import LatencyError

    before = torch.get_num_threads()
    one = LatencyTable.open("cpu", "fp32", threads=1, cache_dir=cache)
    assert one.threads == 1 and one.path.name.endswith("-t1.json")
    assert torch.get_num_threads() == before  # opening a table changes nothing global
    with pytest.raises(LatencyError):
        LatencyTable.open("cpu", "fp32", threads=0, cache_dir=cache)


def test_units_are_measured_in_groups_that_fit_memory(monkeypatch):
    import archkit.latency.table as table
    from archkit.latency.table import _groups
    from archkit.latency.units import unit_bytes

    op = ConcatOp("c", (12, 4, 4), (12, 4, 4), (4, 8))
    size = unit_bytes(op, "fp32", 1)
    items = [(f"sig{i}", (op, "fp32")) for i in range(7)]
    monkeypatch.setattr(table, "GROUP_BYTES", 3 * size)
    groups = _groups(items, "fp32", 1)
    assert [len(g) for g in groups] == [3, 3, 1] and sum(groups, []) == items
    monkeypatch.setattr(table, "GROUP_BYTES", size // 2)  # a unit larger than the budget still goes alone
    assert [len(g) for g in _groups(items, "fp32", 1)] == [1] * 7


def test_a_table_without_a_cache_folder_lives_in_memory():
    import torch

    table = LatencyTable(torch.device("cpu"), "fp32", 1, None)  # no home folder: no cache folder
    assert table.path is None and table.status == "new" and table.entries == {}
    assert table.save() is False and "no cache folder" in table.save_error
