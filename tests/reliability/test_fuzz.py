"""Property-based fuzzing of specs and search configs: a mutated document is either valid or
refused with `SpecError` naming a field path — never another exception — and a valid one profiles."""

from __future__ import annotations

import copy

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import archkit
from archkit.search.loader import load_search_config
from archkit.spec import SpecError, spec_from_data

BASE_SPEC = archkit.load_spec("googlenet").to_dict()
BASE_SPEC["aux"] = [{"after": "inception4a"}, {"after": "inception4d", "weight": 0.3}]
BASE_CONFIG = yaml.safe_load("""
name: fuzz
base: googlenet-32
space:
  width: [0.25, 1.0]
  stage_width: [0.5, 1.5]
  depth: {stage3: [1, 3], stage4: [1, 5]}
  branch_shares: [0.5, 2.0]
  divisor: 4
budget: {ops: 20M, params: 600K}
objective: [accuracy, ops]
train: {epochs: 2, batch_size: 64}
trials: 5
""")

# The values a fuzzer swaps in: wrong types, negatives, zeros, huge numbers, odd strings.
ODD_VALUES = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70), st.sampled_from([0, -1, -3, 1, 2**31, 10**12]),
    st.floats(allow_nan=True, allow_infinity=True), st.booleans(), st.none(),
    st.text(max_size=12), st.sampled_from(["same", "valid", "ceil", "1.5G", "7M", "relu", "inception4a"]),
    st.lists(st.integers(min_value=-3, max_value=9), max_size=3), st.dictionaries(st.text(max_size=5), st.integers(),
                                                                                   max_size=2),
)


def _paths(node, prefix=()):
    yield prefix
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _paths(v, prefix + (k,))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _paths(v, prefix + (i,))


def _mutate(doc, data):
    doc = copy.deepcopy(doc)
    for _ in range(data.draw(st.integers(min_value=1, max_value=4))):
        paths = [p for p in _paths(doc) if p]
        path = data.draw(st.sampled_from(paths))
        parent = doc
        for key in path[:-1]:
            parent = parent[key]
        action = data.draw(st.sampled_from(["replace", "delete", "unknown", "duplicate"]))
        leaf = path[-1]
        if action == "replace":
            parent[leaf] = data.draw(ODD_VALUES)
        elif action == "delete":
            del parent[leaf]
        elif action == "unknown" and isinstance(parent, dict):
            parent[data.draw(st.sampled_from(["extra", "kernal", "widht", "inceptoin"]))] = 1
        elif action == "duplicate" and isinstance(parent, list):
            parent.append(copy.deepcopy(parent[leaf]))
    return doc


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_mutated_specs_are_valid_or_refused_with_a_field_path(data):
    doc = _mutate(BASE_SPEC, data)
    try:
        spec = spec_from_data(doc, source="fuzz.yaml")
    except SpecError as err:
        assert err.path or err.message.startswith("a spec must be a YAML mapping"), str(err)
        assert "\n" not in str(err)
        return
    prof = archkit.profile(spec)  # a valid spec always profiles
    assert prof.total.ops >= 0 and prof.rows


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                  HealthCheck.function_scoped_fixture])
@given(st.data())
def test_mutated_search_configs_are_valid_or_refused_with_a_field_path(tmp_path, data):
    doc = _mutate(BASE_CONFIG, data)
    path = tmp_path / "fuzz.yaml"
    path.write_text(yaml.safe_dump(doc), encoding="utf-8")
    try:
        loaded = load_search_config(path)
    except SpecError as err:
        assert str(err).startswith(str(path)), str(err)
        assert err.path, str(err)
        assert "\n" not in str(err)
        return
    assert loaded.config.trials >= 1
