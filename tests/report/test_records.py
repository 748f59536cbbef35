"""The report data's records (archkit/report/data/records.py) hold what they declare, on real data.

Every record the data functions return is checked against its TypedDict, recursively (nested
records, list items, dict values): it has every declared key (those marked NotRequired may be
absent), no undeclared key, and values of the declared types. A key a producer adds without
declaring it, or a value of another type, fails here. The data: googlenet's profile (with and
without the paper's numbers; aux heads), modules with nested splits and residual parts, a spec
measured for real (`--measure`), googlenet vs googlenet-32, and the Optuna studies of conftest.py
(made by the search runner with a fake trainer: trained, pruned, over-budget, failed, confirmed,
empty), one of them copied with latency predictions and measurements added."""

from __future__ import annotations

import types
from typing import Any, Union, get_args, get_origin, get_type_hints, is_typeddict

import pytest
import yaml

import archkit
from archkit.profile import compare_paper
from archkit.report import data as D
from archkit.report.data import records as R
from archkit.spec import spec_from_data

from .conftest import load
from .test_nested_branches import TINY
from .test_profile_latency_report import ONE_CONV


class RecordError(AssertionError):
    pass


def _short(value) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def check(value, hint, where: str = "data") -> None:
    """Raise RecordError (naming the path, as `data.trials[3].ops`) where `value` is not of `hint`:
    a TypedDict, list[...], dict[...], tuple[...], a union (X | None), int, float (an int is a
    float, as in PEP 484), str, bool, None or Any. A bool is no int here."""
    if hint is Any:
        return
    if hint is None or hint is type(None):
        if value is not None:
            raise RecordError(f"{where}: {_short(value)} is not None")
        return
    if is_typeddict(hint):
        check_record(value, hint, where)
        return
    origin, args = get_origin(hint), get_args(hint)
    if origin in (Union, types.UnionType):
        errors = []
        for arg in args:
            try:
                check(value, arg, where)
                return
            except RecordError as exc:
                errors.append(str(exc))
        raise RecordError(f"{where}: {_short(value)} is none of {hint} ({'; '.join(errors)})")
    if origin is list:
        if type(value) is not list:
            raise RecordError(f"{where}: {type(value).__name__} {_short(value)} is not a list")
        for i, item in enumerate(value):
            check(item, args[0], f"{where}[{i}]")
        return
    if origin is dict:
        if type(value) is not dict:
            raise RecordError(f"{where}: {type(value).__name__} {_short(value)} is not a dict")
        for key, item in value.items():
            check(key, args[0], f"{where} key {key!r}")
            check(item, args[1], f"{where}[{key!r}]")
        return
    if origin is tuple:
        if type(value) is not tuple or len(value) != len(args):
            raise RecordError(f"{where}: {_short(value)} is not a {hint}")
        for i, (item, arg) in enumerate(zip(value, args, strict=True)):
            check(item, arg, f"{where}[{i}]")
        return
    if hint is float:
        if type(value) not in (float, int):
            raise RecordError(f"{where}: {type(value).__name__} {_short(value)} is not a float")
        return
    if hint in (int, str, bool):
        if type(value) is not hint:
            raise RecordError(f"{where}: {type(value).__name__} {_short(value)} is not a {hint.__name__}")
        return
    raise TypeError(f"{where}: the checker does not know {hint!r}")  # a new kind of hint: teach the checker


def check_record(value, record, where: str = "data") -> None:
    """`value` is a dict with `record`'s keys (NotRequired ones may be absent), no other, each
    value of its declared type."""
    if type(value) is not dict:
        raise RecordError(f"{where}: {type(value).__name__} is not a {record.__name__} (a dict)")
    hints = get_type_hints(record)
    undeclared = sorted(set(value) - set(hints))
    missing = sorted(record.__required_keys__ - set(value))
    if undeclared or missing:
        raise RecordError(f"{where}: not a {record.__name__}: undeclared keys {undeclared}, missing keys {missing}")
    for key, item in value.items():
        check(item, hints[key], f"{where}.{key}")


# --- the checker itself ----------------------------------------------------------------------------


def test_the_checker_catches_an_undeclared_key_a_missing_one_and_a_wrong_type():
    totals = R.Totals(params=1, ops=2, activations=3)
    check_record(totals, R.Totals)
    with pytest.raises(RecordError, match=r"undeclared keys \['extra'\]"):
        check_record({**totals, "extra": 0}, R.Totals)
    with pytest.raises(RecordError, match=r"missing keys \['ops'\]"):
        check_record({"params": 1, "activations": 3}, R.Totals)
    with pytest.raises(RecordError, match=r"data.ops: float 2.0 is not a int"):
        check_record({**totals, "ops": 2.0}, R.Totals)
    with pytest.raises(RecordError, match="is not a int"):
        check_record({**totals, "ops": True}, R.Totals)  # a bool is no count
    # nested: a list item's record, a union's members
    row = R.TableRow(cells=["a", 1], status="")
    with pytest.raises(RecordError, match=r"data.cells\[1\]: int 1 is not a str"):
        check_record(row, R.TableRow)
    history = R.History(numbers=[1], values=[0.5], categories=["trained"], best=[None])
    check_record(history, R.History)
    with pytest.raises(RecordError, match=r"data.best\[0\]"):
        check_record({**history, "best": ["0.5"]}, R.History)
    # NotRequired: may be absent, is checked when present
    check_record(R.Fronts(ops=[1], params=[1]), R.Fronts)
    with pytest.raises(RecordError, match="latency_ms"):
        check_record({"ops": [1], "params": [1], "latency_ms": None}, R.Fronts)


def test_every_record_is_documented_and_every_data_function_returns_one():
    records = [v for v in vars(R).values() if is_typeddict(v) and v.__module__ == R.__name__]
    assert len(records) >= 25
    for record in records:
        assert record.__doc__ and record.__doc__.strip(), f"{record.__name__} has no docstring"
        for hint in get_type_hints(record).values():  # every hint is one the checker knows
            _known(hint, record.__name__)
    # Each data function is annotated to return its record (read from the annotation: some name
    # types imported for type checkers only).
    returns = {D.profile_data: "ProfileData", D.compare_data: "CompareData", D.study_data: "StudyData",
               D.confirmation: "ConfirmationData", D.history: "History", D.importances: "Importances",
               D.branch_record: "BranchRecord", D.sunburst: "Sunburst", D.trial_table: "list[TrialTableRow]",
               D.branch_rows: "list[BranchTableRow]"}
    from archkit.report.data.layers import layer_record, totals_record
    from archkit.report.data.profile import latency_data

    returns |= {latency_data: "LatencyData", layer_record: "LayerRecord", totals_record: "Totals"}
    for function, name in returns.items():
        assert function.__annotations__["return"] == name, function.__name__
        _known(eval(name, vars(R)), name)


def _known(hint, where: str) -> None:
    if hint in (Any, int, float, str, bool, type(None)) or is_typeddict(hint):
        return
    origin = get_origin(hint)
    assert origin in (list, dict, tuple, Union, types.UnionType), f"{where}: {hint!r}"
    for arg in get_args(hint):
        _known(arg, where)


# --- profiles -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def googlenet_profile(googlenet):
    return archkit.profile(googlenet)


def test_profile_records(googlenet_profile):
    with_paper = D.profile_data(googlenet_profile, compare_paper(googlenet_profile))
    check_record(with_paper, R.ProfileData)
    assert with_paper["paper"] is not None and with_paper["aux"]  # the optional parts are there to check
    assert any(x["paper"] is not None for x in with_paper["layers"])
    assert any(x["paper"] is None for x in with_paper["layers"])  # rows Table 1 has no numbers for
    plain = D.profile_data(googlenet_profile)
    check_record(plain, R.ProfileData)
    assert plain["paper"] is None and plain["latency"] is None
    assert all(x["paper"] is None for x in plain["layers"])


@pytest.mark.parametrize("name", ["tiny", "inception-resnet-v2", "xception"])
def test_nested_branch_records(name):
    spec = spec_from_data(yaml.safe_load(TINY), "test") if name == "tiny" else archkit.load_spec(name)
    d = D.profile_data(archkit.profile(spec))
    check_record(d, R.ProfileData)
    parts = [b for x in d["layers"] for b in x["branches"]]
    assert parts and d["branch_table"]
    if name == "tiny":  # sub-branches (with their split index) and a residual module's parts
        assert d["nested"] and any(s["at"] is not None for b in parts for s in b["branches"])
        assert {"projection", "shortcut"} <= {b["role"] for b in parts}


def test_measured_profile_records():
    from archkit.latency import measure_layers, spec_traffic
    from archkit.spec import resolved

    spec = spec_from_data(yaml.safe_load(ONE_CONV), "test")
    measured = measure_layers(spec, batch=2, repeats=3, warmup=1)  # timed for real: a tiny spec
    d = D.profile_data(archkit.profile(spec), measured=measured, traffic=spec_traffic(resolved(spec), "fp32", 2))
    check_record(d, R.ProfileData)
    lat = d["latency"]
    assert lat is not None and lat["rate"] is not None
    # a layer without multiply-adds (the pooling): no expected latency, no slowdown
    assert any(r["expected_ms"] is None and r["slowdown"] is None for r in lat["layers"])
    assert any(r["slowdown"] is not None for r in lat["layers"])


def test_compare_records(googlenet_profile, googlenet32):
    d = D.compare_data(googlenet_profile, archkit.profile(googlenet32))
    check_record(d, R.CompareData)
    assert d["only_a"] and d["changed"]
    check_record(D.compare_data(googlenet_profile, googlenet_profile), R.CompareData)


# --- studies ------------------------------------------------------------------------------------


def test_study_records(study, study_file):
    d = D.study_data(study, study_file.storage)
    check_record(d, R.StudyData)
    assert d["best"] is not None and d["best_layers"] is not None and d["importances"]["values"]
    assert {t["category"] for t in d["trials"]} >= {"reference", "trained", "pruned", "over budget"}
    assert d["latency"] is None and "latency_ms" not in d["fronts"]
    assert d["confirmation"] is None and d["confirm_hint"]
    # the functions a caller may use on their own, on the same trials
    check(D.trial_table(d["trials"], latency=True), list[R.TrialTableRow])
    check_record(D.history(d["trials"]), R.History)
    check_record(D.importances(d["trials"][:1]), R.Importances)  # too few: a note, no values


def test_confirmed_study_records(confirmed_study, confirmed_study_file):
    d = D.study_data(confirmed_study, confirmed_study_file.storage)
    check_record(d, R.StudyData)
    c = d["confirmation"]
    assert c is not None and c["recipe"] and c["split_sizes"]
    check_record(D.confirmation(confirmed_study.user_attrs["verdict"]), R.ConfirmationData)  # without the trials


def test_failed_and_empty_study_records(failed_study_file, empty_study_file):
    failed = D.study_data(load(failed_study_file))
    check_record(failed, R.StudyData)
    assert failed["message"] and all(t["error"] for t in failed["trials"])
    empty = D.study_data(load(empty_study_file))
    check_record(empty, R.StudyData)
    assert empty["trials"] == [] and empty["best"] is None


@pytest.fixture(scope="module")
def latency_study(study):
    """The demo study copied into memory as if it had predicted latency: its `latency` attr as the
    search stores it, each measured trial's predicted latency, each trained one's measured latency."""
    import optuna

    verbosity = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        copy = optuna.create_study(study_name="demo-latency", directions=study.directions)
    finally:
        optuna.logging.set_verbosity(verbosity)
    for key, value in study.user_attrs.items():
        copy.set_user_attr(key, value)
    copy.set_user_attr("latency", {"device": "cpu", "device_name": "a test CPU", "batch": 1, "precision": "fp32",
                                   "threads": 2})
    for t in study.get_trials(deepcopy=False):
        attrs = dict(t.user_attrs)
        if attrs.get("ops") is not None:
            attrs["latency_ms"] = attrs["ops"] / 1e7
            if attrs.get("trained") and attrs.get("duplicate_of") is None:
                attrs["measured_latency_ms"] = attrs["latency_ms"] * 1.05
                attrs["measured_latency_iqr_ms"] = 0.01
        copy.add_trial(optuna.trial.create_trial(
            state=t.state, values=t.values, params=t.params, distributions=t.distributions, user_attrs=attrs,
            intermediate_values=t.intermediate_values))
    return copy


def test_latency_study_records(latency_study):
    d = D.study_data(latency_study)
    check_record(d, R.StudyData)
    assert d["latency"] == {"device": "cpu", "device_name": "a test CPU", "batch": 1, "precision": "fp32",
                            "threads": 2}
    assert d["fronts"]["latency_ms"]  # the NotRequired key, there and checked
    assert any(t["measured_latency_ms"] is not None for t in d["trials"])
    assert "latency (ms, predicted)" in d["headers"]

