"""Sampled parameters -> a spec: a pure function whose result is always a valid network.

Expected widths are derived here from the documented rules (multipliers, branch shares, reduce
ratios, rounding to a multiple of the divisor, at most 10% below the target), not from the code."""

from __future__ import annotations

import textwrap

import optuna
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import archkit
from archkit.search.config import Space
from archkit.search.loader import load_search_config
from archkit.search.space import candidate, describe, module_name, priors, round_width, stage_widths, stages_of, suggest

G32 = archkit.load_spec("googlenet-32")
G = archkit.load_spec("googlenet")
BASES = {"googlenet-32": G32, "googlenet": G}

# The paper's stages (Table 1): 3a-3b, 4a-4e, 5a-5b between the max pools.
PAPER_STAGES = {"stage3": ["inception3a", "inception3b"],
                "stage4": ["inception4a", "inception4b", "inception4c", "inception4d", "inception4e"],
                "stage5": ["inception5a", "inception5b"]}
WIDTH_KEYS = ("n1x1", "n3x3_reduce", "n3x3", "n5x5_reduce", "n5x5", "pool_proj")


def names_for(stage: str, depth: int) -> list[str]:
    """Module names of a stage with `depth` modules: the paper's, then the following letters."""
    base_names = PAPER_STAGES[stage]
    prefix, last = base_names[0][:-1], base_names[-1][-1]
    return [base_names[j] if j < len(base_names) else prefix + chr(ord(last) + j - len(base_names) + 1)
            for j in range(depth)]


def rounded_ok(n: int, target: float, divisor: int) -> bool:
    """n is a multiple of the divisor, at least the divisor, not more than 10% below the target and
    not more than one divisor above it."""
    return n % divisor == 0 and n >= divisor and n >= 0.9 * target - 1e-9 and n <= max(divisor, target + divisor)


def inception_rows(spec) -> list:
    return [layer for layer in spec.layers if layer.inception is not None]


def check_candidate(base, params: dict, divisor: int, scale: float, spec) -> None:
    """Everything the docs promise about `candidate(base, params, divisor, scale)`."""
    width = params.get("width", 1.0) * scale
    base_rows = {layer.name: layer for layer in base.layers}
    # Layer order: the base's non-inception rows in order, each stage replaced by its modules.
    expected_names = []
    seen_stage = set()
    stage_of = {name: stage for stage, names in PAPER_STAGES.items() for name in names}
    for layer in base.layers:
        if layer.inception is None:
            expected_names.append(layer.name)
        elif stage_of[layer.name] not in seen_stage:
            stage = stage_of[layer.name]
            seen_stage.add(stage)
            expected_names += names_for(stage, params.get(f"{stage}.depth", len(PAPER_STAGES[stage])))
    assert [layer.name for layer in spec.layers] == expected_names
    for layer in spec.layers:
        if layer.inception is not None:
            stage = next(s for s, names in PAPER_STAGES.items() if layer.name[:-1] == names[0][:-1])
            mult = width * params.get(f"{stage}.width", 1.0)
            original = PAPER_STAGES[stage]
            source = base_rows[layer.name if layer.name in base_rows else original[-1]].inception
            outs = [source.n1x1, source.n3x3, source.n5x5, source.pool_proj]
            if f"{layer.name}.share_1x1" in params:
                w = [params[f"{layer.name}.share_{b}"] for b in ("1x1", "3x3", "5x5", "pool")]
                outs = [sum(outs) * x / sum(w) for x in w]
            targets = [o * mult for o in outs]
            ratio = params.get(f"{layer.name}.reduce_ratio", 1.0)
            inc = layer.inception
            assert rounded_ok(inc.n1x1, targets[0], divisor)
            assert rounded_ok(inc.n3x3, targets[1], divisor)
            assert rounded_ok(inc.n5x5, targets[2], divisor)
            assert rounded_ok(inc.pool_proj, targets[3], divisor)
            assert rounded_ok(inc.n3x3_reduce, source.n3x3_reduce / source.n3x3 * ratio * targets[1], divisor)
            assert rounded_ok(inc.n5x5_reduce, source.n5x5_reduce / source.n5x5 * ratio * targets[2], divisor)
            assert inc.factorize_5x5 == params.get(f"{layer.name}.factorize_5x5", False)
        elif layer.conv is not None:
            conv = base_rows[layer.name].conv
            if width == 1.0:
                assert layer == base_rows[layer.name]
            else:
                assert rounded_ok(layer.conv.out, conv.out * width, divisor)
                if conv.reduce is not None:
                    assert rounded_ok(layer.conv.reduce, conv.reduce * width, divisor)
                assert (layer.conv.kernel, layer.conv.stride) == (conv.kernel, conv.stride)
        else:
            assert layer == base_rows[layer.name]  # pools, LRN, dropout, linear: untouched
    # Aux heads: same heads; one whose module was dropped moves to the last module of its stage.
    names = [layer.name for layer in spec.layers]
    assert [h.name for h in spec.aux] == [h.name for h in base.aux]
    for head, original in zip(spec.aux, base.aux):
        assert head.layers == original.layers and head.weight == original.weight
        if original.after in names:
            assert head.after == original.after
        else:
            stage = stage_of[original.after]
            assert head.after == names_for(stage, params[f"{stage}.depth"])[-1]
    assert (spec.input, spec.classes, spec.defaults) == (base.input, base.classes, base.defaults)


# --- stages and names ----------------------------------------------------------------------------

@pytest.mark.parametrize("base", [G, G32], ids=["googlenet", "googlenet-32"])
def test_stages_of_the_paper(base):
    stages = stages_of(base)
    assert list(stages) == ["stage3", "stage4", "stage5"]
    for name, stage in stages.items():
        assert [base.layers[i].name for i in stage.indices] == PAPER_STAGES[name]
        assert stage.prefix == PAPER_STAGES[name][0][:-1]
        for j in range(9):
            assert module_name(stage, base, j) == names_for(name, 9)[j]


def test_stages_of_a_base_with_other_names(write_spec):
    spec = archkit.load_spec(write_spec("""
        name: other
        input: {size: 16}
        classes: 4
        layers:
          - {name: stem, conv: {out: 8, kernel: 3}}
          - {name: mixA, inception: {1x1: 4, 3x3_reduce: 4, 3x3: 8, 5x5_reduce: 2, 5x5: 4, pool_proj: 4}}
          - {name: mixB, inception: {1x1: 4, 3x3_reduce: 4, 3x3: 8, 5x5_reduce: 2, 5x5: 4, pool_proj: 4}}
          - {name: pool, maxpool: {kernel: 2, stride: 2}}
          - {name: mixC, inception: {1x1: 8, 3x3_reduce: 4, 3x3: 8, 5x5_reduce: 2, 5x5: 4, pool_proj: 4}}
          - {name: gap, global_avgpool: {}}
          - {name: fc, linear: {}}
        """))
    stages = stages_of(spec)
    assert list(stages) == ["stage1", "stage2"]
    assert [spec.layers[i].name for i in stages["stage1"].indices] == ["mixA", "mixB"]
    assert [spec.layers[i].name for i in stages["stage2"].indices] == ["mixC"]
    deeper = candidate(spec, {"stage1.depth": 4, "stage2.depth": 2}, divisor=2)
    names = [layer.name for layer in deeper.layers]
    assert names[1:5] == ["mixA", "mixB", "mixA_2", "mixA_3"]
    assert names[6:8] == ["mixC", "mixC_1"]
    assert len(set(names)) == len(names)
    archkit.spec_from_data(deeper.to_dict())


def test_no_params_is_the_base():
    for base in (G, G32):
        spec = candidate(base, {}, divisor=8, name="same")
        assert spec.name == "same"
        assert spec.layers == base.layers and spec.aux == base.aux
        assert archkit.profile(spec).total == archkit.profile(base).total


def test_dropping_modules_moves_aux_heads():
    spec = candidate(G, {"stage4.depth": 2}, divisor=8)
    assert [layer.name for layer in inception_rows(spec)] == [
        "inception3a", "inception3b", "inception4a", "inception4b", "inception5a", "inception5b"]
    assert [(h.name, h.after) for h in spec.aux] == [("aux1", "inception4a"), ("aux2", "inception4b")]
    archkit.spec_from_data(spec.to_dict())
    one = candidate(G, {"stage4.depth": 1}, divisor=8)
    assert [(h.name, h.after) for h in one.aux] == [("aux1", "inception4a"), ("aux2", "inception4a")]
    archkit.spec_from_data(one.to_dict())


def test_repeating_modules_names_and_widths():
    spec = candidate(G, {"stage4.depth": 7, "stage3.depth": 3}, divisor=8)
    names = [layer.name for layer in inception_rows(spec)]
    assert names == ["inception3a", "inception3b", "inception3c", "inception4a", "inception4b", "inception4c",
                     "inception4d", "inception4e", "inception4f", "inception4g", "inception5a", "inception5b"]
    rows = {layer.name: layer.inception for layer in spec.layers}
    # A repeated module is the stage's last module again (same widths: 4e is already a multiple of 8).
    assert rows["inception4f"] == rows["inception4g"] == rows["inception4e"]
    assert rows["inception3c"] == rows["inception3b"]
    assert [(h.name, h.after) for h in spec.aux] == [("aux1", "inception4a"), ("aux2", "inception4d")]
    total = archkit.profile(archkit.spec_from_data(spec.to_dict())).total
    # Two more 4e modules (832 in, 832 out at 14x14) and one more 3b (480 in and out at 28x28).
    e4 = next(r for r in archkit.profile(G).rows if r.name == "inception4e")
    b3 = next(r for r in archkit.profile(G).rows if r.name == "inception3b")
    base = archkit.profile(G).total
    assert (spec.layers[9].name, spec.layers[10].name) == ("pool3", "inception4a")
    # A repeat reads its predecessor's output: 4f and 4g take 832 channels where 4e takes 528, 3c takes
    # 480 where 3b takes 256. The extra multiply-adds are those of the convs on the module input
    # (1x1, both reduces, pool proj: 256+160+32+128 outputs for 4e, 128+128+32+64 for 3b) per pixel.
    extra = 2 * (832 - 528) * (256 + 160 + 32 + 128) * 14 * 14 + (480 - 256) * (128 + 128 + 32 + 64) * 28 * 28
    assert total.ops == base.ops + 2 * e4.ops + b3.ops + extra
    assert total.activations == base.activations + 2 * e4.activations + b3.activations


def test_many_repeats_keep_names_unique_and_valid():
    spec = candidate(G32, {"stage4.depth": 30}, divisor=8, scale=0.25)
    names = [layer.name for layer in inception_rows(spec)]
    assert len(names) == 2 + 30 + 2 and len(set(names)) == len(names)
    assert names[2:2 + 26] == [f"inception4{chr(c)}" for c in range(ord("a"), ord("z") + 1)]
    archkit.spec_from_data(spec.to_dict())


def test_describe_is_table1_output_depths():
    assert describe(G32) == "stem 64/192 | 256,480 | 512,512,512,528,832 | 832,1024"
    assert describe(candidate(G32, {"stage4.depth": 2}, 8)) == "stem 64/192 | 256,480 | 512,512 | 832,1024"


# --- suggest: the parameter names Optuna stores ----------------------------------------------

def test_suggest_names_follow_the_depth():
    space = Space.model_validate({"width": [0.5, 1], "stage_width": [0.5, 2], "depth": {"stage4": [1, 8]},
                                  "branch_shares": [0.1, 1], "reduce_ratio": [0.5, 2], "factorize_5x5": True})
    fixed = {"width": 0.5, "stage3.width": 1.0, "stage4.width": 1.5, "stage4.depth": 6, "stage5.width": 0.75}
    for name in ["inception3a", "inception3b", *names_for("stage4", 6), "inception5a", "inception5b"]:
        fixed.update({f"{name}.share_1x1": 0.1, f"{name}.share_3x3": 0.2, f"{name}.share_5x5": 0.3,
                      f"{name}.share_pool": 0.4, f"{name}.reduce_ratio": 1.25, f"{name}.factorize_5x5": True})
    params = suggest(optuna.trial.FixedTrial(fixed), space, G32)
    assert params == fixed
    assert "inception4f.share_pool" in params and "inception4g.share_1x1" not in params
    spec = candidate(G32, params, divisor=8)
    check_candidate(G32, params, 8, 1.0, spec)
    assert inception_rows(spec)[7].name == "inception4f" and inception_rows(spec)[7].inception.factorize_5x5


def test_suggest_leaves_out_what_the_space_does_not_vary():
    fixed = {"stage4.depth": 2}
    params = suggest(optuna.trial.FixedTrial(fixed), Space.model_validate({"depth": {"stage4": [1, 3]}}), G)
    assert params == fixed
    assert suggest(optuna.trial.FixedTrial({}), Space(), G) == {}


RICH = {"width": [0.2, 2.0], "stage_width": [0.3, 2.5], "depth": {"stage3": [1, 4], "stage4": [1, 8],
        "stage5": {"choices": [1, 2, 3]}}, "branch_shares": {"low": 0.05, "high": 1.0, "log": True},
        "reduce_ratio": [0.1, 3.0], "factorize_5x5": True}


@pytest.mark.parametrize("base_name", list(BASES))
@pytest.mark.parametrize("sampler", ["random", "tpe", "gp"])
def test_optuna_trials_give_deterministic_valid_candidates(base_name, sampler):
    base = BASES[base_name]
    divisor = 4
    space = Space.model_validate({**RICH, "divisor": divisor})
    make = {"random": optuna.samplers.RandomSampler, "tpe": optuna.samplers.TPESampler,
            "gp": optuna.samplers.GPSampler}[sampler]
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    study = optuna.create_study(sampler=make(seed=11), direction="minimize")
    depths = set()

    def objective(trial):
        params = suggest(trial, space, base)
        assert params == trial.params
        scale = 0.5 if trial.number % 2 else 1.0
        spec = candidate(base, params, divisor, scale, name=f"t{trial.number}")
        assert candidate(base, dict(reversed(list(params.items()))), divisor, scale, name=f"t{trial.number}") == spec
        again = archkit.spec_from_data(spec.to_dict())  # validates and resolves every shape
        assert again == spec
        check_candidate(base, params, divisor, scale, spec)
        depths.add(params["stage4.depth"])
        return archkit.profile(spec).total.ops / 1e9

    study.optimize(objective, n_trials=12)
    assert len(depths) > 3  # the depth really varied
    assert base == archkit.spec_from_yaml(archkit.spec.builtin_text(base_name))  # the base is not changed


def _params(base_stages: dict, draw) -> dict:
    params: dict = {}
    if draw(st.booleans()):
        params["width"] = draw(st.floats(0.05, 3.0))
    for stage, names in base_stages.items():
        if draw(st.booleans()):
            params[f"{stage}.width"] = draw(st.floats(0.1, 3.0))
        depth = len(names)
        if draw(st.booleans()):
            depth = params[f"{stage}.depth"] = draw(st.integers(1, 8))
        for name in names_for(stage, depth):
            if draw(st.booleans()):
                for b in ("1x1", "3x3", "5x5", "pool"):
                    params[f"{name}.share_{b}"] = draw(st.floats(0.01, 1.0))
            if draw(st.booleans()):
                params[f"{name}.reduce_ratio"] = draw(st.floats(0.05, 4.0))
            if draw(st.booleans()):
                params[f"{name}.factorize_5x5"] = draw(st.booleans())
    return params


@st.composite
def cases(draw):
    base_name = draw(st.sampled_from(sorted(BASES)))
    params = _params(PAPER_STAGES, draw)
    return base_name, params, draw(st.sampled_from([1, 2, 8, 16, 64])), draw(st.floats(1 / 64, 4.0))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cases())
def test_any_params_give_a_valid_deterministic_candidate(case):
    base_name, params, divisor, scale = case
    base = BASES[base_name]
    spec = candidate(base, params, divisor, scale)
    assert candidate(base, dict(params), divisor, scale) == spec
    assert archkit.spec_from_data(spec.to_dict()) == spec
    check_candidate(base, params, divisor, scale, spec)


# --- the low-dimensional space: stage_width_growth, share_module_params ---------------------------

# One module per stage, each 32 channels wide (8 + 16 + 4 + 4): the base does not grow at all.
FLAT = """
name: flat
input: {size: 16}
classes: 4
layers:
  - {name: stem, conv: {out: 8, kernel: 3}}
  - {name: mix1a, inception: {1x1: 8, 3x3_reduce: 8, 3x3: 16, 5x5_reduce: 2, 5x5: 4, pool_proj: 4}}
  - {name: pool1, maxpool: {kernel: 2, stride: 2}}
  - {name: mix2a, inception: {1x1: 8, 3x3_reduce: 8, 3x3: 16, 5x5_reduce: 2, 5x5: 4, pool_proj: 4}}
  - {name: pool2, maxpool: {kernel: 2, stride: 2}}
  - {name: mix3a, inception: {1x1: 8, 3x3_reduce: 8, 3x3: 16, 5x5_reduce: 2, 5x5: 4, pool_proj: 4}}
  - {name: gap, global_avgpool: {}}
  - {name: fc, linear: {}}
"""


def widths_of(spec) -> dict[str, tuple[int, ...]]:
    return {layer.name: tuple(getattr(layer.inception, k) for k in WIDTH_KEYS) for layer in inception_rows(spec)}


def test_growth_on_a_flat_base(write_spec):
    flat = archkit.load_spec(write_spec(FLAT))
    assert stage_widths(flat) == {"stage1": 32.0, "stage2": 32.0, "stage3": 32.0}
    assert widths_of(candidate(flat, {"stage_width_growth": 1.0}, divisor=1)) == widths_of(flat)
    # Growth 2: stage k is 2**k times as wide as the first (1x1, 3x3 reduce, 3x3, 5x5 reduce, 5x5, pool).
    assert widths_of(candidate(flat, {"stage_width_growth": 2.0}, divisor=1)) == {
        "mix1a": (8, 8, 16, 2, 4, 4), "mix2a": (16, 16, 32, 4, 8, 8), "mix3a": (32, 32, 64, 8, 16, 16)}
    # Growth 1.5: x1.5 and x2.25; 2 x 2.25 = 4.5 rounds to 5 (round_width: the nearest, halves up).
    assert widths_of(candidate(flat, {"stage_width_growth": 1.5}, divisor=1)) == {
        "mix1a": (8, 8, 16, 2, 4, 4), "mix2a": (12, 12, 24, 3, 6, 6), "mix3a": (18, 18, 36, 5, 9, 9)}
    # The global width and the scale (budget filling) multiply on top; the stem follows them only.
    spec = candidate(flat, {"stage_width_growth": 2.0, "width": 0.5}, divisor=1, scale=2.0)
    assert widths_of(spec)["mix3a"] == (32, 32, 64, 8, 16, 16) and spec.layers[0].conv.out == 8
    archkit.spec_from_data(candidate(flat, {"stage_width_growth": 3.0, "stage2.depth": 3}, divisor=2).to_dict())


def test_growth_on_googlenet():
    # Stage widths of googlenet-32 (mean module outputs, Table 1): 3a-3b 256, 480; 4a-4e 512, 512,
    # 512, 528, 832; 5a-5b 832, 1024. Its own growth is about 1.6 per stage.
    s3, s4, s5 = (256 + 480) / 2, (512 * 3 + 528 + 832) / 5, (832 + 1024) / 2
    assert (s3, s4, s5) == (368.0, 579.2, 928.0)
    assert stage_widths(G32) == {"stage3": s3, "stage4": s4, "stage5": s5}
    spec = candidate(G32, {"stage_width_growth": 2.0}, divisor=8)
    rows = widths_of(spec)
    base = widths_of(G32)
    assert rows["inception3a"] == base["inception3a"] and rows["inception3b"] == base["inception3b"]
    m4, m5 = 2 * s3 / s4, 4 * s3 / s5  # 1.2707..., 1.5862...
    # inception4a (1x1 192, 3x3 reduce 96, 3x3 208, 5x5 reduce 16, 5x5 48, pool 64) times m4:
    # 243.98 -> 240, 3x3 264.31 -> 264, its reduce 96/208 x 264.31 = 121.99 -> 120, 5x5 60.99 -> 64,
    # its reduce 16/48 x 60.99 = 20.33 -> 24, pool 81.33 -> 80 (multiples of 8, nearest).
    assert rows["inception4a"] == (240, 120, 264, 24, 64, 80)
    assert rows["inception4a"] == (round_width(192 * m4, 8), round_width(96 / 208 * 208 * m4, 8),
                                   round_width(208 * m4, 8), round_width(16 / 48 * 48 * m4, 8),
                                   round_width(48 * m4, 8), round_width(64 * m4, 8))
    # inception5b (384, 192, 384, 48, 128, 128) times m5 = 1.5862: 609.1 -> 608, 304.6 -> 304,
    # 609.1 -> 608, 76.1 -> 80, 203.0 -> 200, 203.0 -> 200.
    assert rows["inception5b"] == (608, 304, 608, 80, 200, 200)
    assert rows["inception5b"] == tuple(round_width(w, 8) for w in (384 * m5, 192 / 384 * 384 * m5, 384 * m5,
                                                                     48 / 128 * 128 * m5, 128 * m5, 128 * m5))
    # Stage means double from stage to stage (up to rounding by 1).
    fine = widths_of(candidate(G32, {"stage_width_growth": 2.0}, divisor=1))
    mean = {k: sum(sum(w[i] for i in (0, 2, 4, 5)) for n, w in fine.items() if n.startswith(f"inception{k}"))
            / len(PAPER_STAGES[f"stage{k}"]) for k in (3, 4, 5)}
    assert mean[3] == 368 and abs(mean[4] - 736) <= 2 and abs(mean[5] - 1472) <= 2


def test_shared_module_params_and_their_precedence():
    per_module = {}
    for name in [n for names in PAPER_STAGES.values() for n in names]:
        per_module.update({f"{name}.share_1x1": 1.0, f"{name}.share_3x3": 2.0, f"{name}.share_5x5": 0.5,
                           f"{name}.share_pool": 0.5, f"{name}.reduce_ratio": 1.5, f"{name}.factorize_5x5": True})
    network = {"share_1x1": 1.0, "share_3x3": 2.0, "share_5x5": 0.5, "share_pool": 0.5, "reduce_ratio": 1.5,
               "factorize_5x5": True}
    by_stage = {f"{stage}.{k}": v for stage in PAPER_STAGES for k, v in network.items()}
    expected = candidate(G32, per_module, divisor=8)
    assert candidate(G32, network, divisor=8).layers == expected.layers
    assert candidate(G32, by_stage, divisor=8).layers == expected.layers
    check_candidate(G32, per_module, 8, 1.0, expected)
    # A module's own value, else its stage's, else the network's.
    mixed = {**network, "stage4.reduce_ratio": 0.5, "inception4b.reduce_ratio": 1.0, "stage5.factorize_5x5": False}
    rows = {layer.name: layer.inception for layer in inception_rows(candidate(G32, mixed, divisor=1))}
    ratio = {name: round(rows[name].n3x3_reduce / rows[name].n3x3, 2) for name in rows}
    b4a, b4b, b3a = (G32.layers[i].inception for i in (stages_of(G32)["stage4"].indices[0],
                                                         stages_of(G32)["stage4"].indices[1],
                                                         stages_of(G32)["stage3"].indices[0]))
    assert ratio["inception4a"] == round(b4a.n3x3_reduce / b4a.n3x3 * 0.5, 2)
    assert ratio["inception4b"] == round(b4b.n3x3_reduce / b4b.n3x3 * 1.0, 2)
    assert ratio["inception3a"] == round(b3a.n3x3_reduce / b3a.n3x3 * 1.5, 2)
    assert [rows[n].factorize_5x5 for n in rows] == [True] * 7 + [False] * 2


SMALL = {"stage_width_growth": [1.0, 2.5], "depth": {"stage3": [1, 3], "stage4": [1, 5], "stage5": [1, 2]},
         "branch_shares": [0.5, 2.0], "reduce_ratio": [0.5, 1.5], "factorize_5x5": True}
SMALL_NAMES = ["stage_width_growth", "share_1x1", "share_3x3", "share_5x5", "share_pool", "reduce_ratio",
               "factorize_5x5", "stage3.depth", "stage4.depth", "stage5.depth"]


def test_suggest_names_of_the_shared_spaces():
    fixed = {"stage_width_growth": 1.5, "share_1x1": 1.0, "share_3x3": 1.5, "share_5x5": 0.5, "share_pool": 0.7,
             "reduce_ratio": 0.8, "factorize_5x5": True, "stage3.depth": 2, "stage4.depth": 4, "stage5.depth": 1}
    space = Space.model_validate({**SMALL, "share_module_params": "network"})
    params = suggest(optuna.trial.FixedTrial(fixed), space, G32)
    assert params == fixed and sorted(params) == sorted(SMALL_NAMES)
    spec = candidate(G32, params, divisor=4)
    assert archkit.spec_from_data(spec.to_dict()) == spec
    assert [layer.name for layer in inception_rows(spec)] == [*names_for("stage3", 2), *names_for("stage4", 4),
                                                               "inception5a"]
    per_stage = {k: v for k, v in fixed.items() if k == "stage_width_growth" or k.endswith(".depth")}
    for stage in PAPER_STAGES:
        per_stage.update({f"{stage}.{k}": fixed[k] for k in SMALL_NAMES[1:7]})
    space = Space.model_validate({**SMALL, "share_module_params": "stage"})
    assert suggest(optuna.trial.FixedTrial(per_stage), space, G32) == per_stage
    assert candidate(G32, per_stage, divisor=4) == spec


def test_the_small_space_has_few_and_fixed_parameters():
    """The low-dimensional space: the same 10 parameters for every candidate. The per-module space
    of the same design choices has 22 to 64, their names depending on the sampled depths."""
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    keys = {}
    for share in ("network", "none"):
        space = Space.model_validate({**SMALL, "share_module_params": share})
        study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=3))
        study.optimize(lambda trial, space=space: len(suggest(trial, space, G32)), n_trials=30)
        keys[share] = [frozenset(t.params) for t in study.trials]
    assert set(keys["network"]) == {frozenset(SMALL_NAMES)}
    assert len(set(keys["none"])) > 5
    assert min(map(len, keys["none"])) >= 1 + 3 + 3 * 6 and max(map(len, keys["none"])) <= 1 + 3 + 10 * 6
    assert len(frozenset().union(*keys["none"])) > 40


# --- priors: structured candidates to try first ---------------------------------------------------

def test_priors_of_the_demo_space():
    space = Space.model_validate({"stage_width": [0.5, 1.5], "factorize_5x5": True,
                                  "depth": {"stage3": [1, 3], "stage4": [1, 5], "stage5": [1, 2]}})
    assert priors(space, G32) == [
        ("widths growing across stages", {"stage3.width": 0.5, "stage4.width": 1.0, "stage5.width": 1.5}),
        ("fewer, wider modules per stage", {"stage3.depth": 1, "stage4.depth": 1, "stage5.depth": 1,
                                            "stage3.width": 1.5, "stage4.width": 1.5, "stage5.width": 1.5}),
        ("more, narrower modules per stage", {"stage3.depth": 3, "stage4.depth": 5, "stage5.depth": 2,
                                              "stage3.width": 0.5, "stage4.width": 0.5, "stage5.width": 0.5}),
    ]


def test_priors_of_other_spaces():
    small = Space.model_validate({**SMALL, "share_module_params": "network"})
    assert priors(small, G32) == [("widths growing across stages", {"stage_width_growth": 2.5}),
                                  ("fewer, wider modules per stage", {"stage3.depth": 1, "stage4.depth": 1,
                                                                      "stage5.depth": 1}),
                                  ("more, narrower modules per stage", {"stage3.depth": 3, "stage4.depth": 5,
                                                                        "stage5.depth": 2})]
    # Choice lists: values from the list; a log range: geometric steps.
    choices = Space.model_validate({"stage_width": {"choices": [2.0, 0.75, 1.25, 1.0]},
                                    "depth": {"stage4": {"choices": [4, 2, 6]}}})
    assert priors(choices, G32)[0][1] == {"stage3.width": 0.75, "stage4.width": 1.25, "stage5.width": 2.0}
    assert priors(choices, G32)[1][1]["stage4.depth"] == 2 and priors(choices, G32)[2][1]["stage4.depth"] == 6
    log = Space.model_validate({"stage_width": {"low": 0.25, "high": 4.0, "log": True}})
    assert priors(log, G32) == [("widths growing across stages",
                                 {"stage3.width": 0.25, "stage4.width": pytest.approx(1.0), "stage5.width": 4.0})]
    # Nothing to say about widths or depths: no priors; one depth choice: one depth prior, not two.
    assert priors(Space.model_validate({"width": [0.5, 1], "branch_shares": [0.5, 2]}), G32) == []
    assert priors(Space.model_validate({"depth": {"stage4": [3, 3]}}), G32) == [
        ("fewer, wider modules per stage", {"stage4.depth": 3})]


# --- round_width -----------------------------------------------------------------------------------

@given(st.floats(0.0, 5000.0), st.sampled_from([1, 2, 3, 4, 8, 16, 32, 64]))
def test_round_width(value, divisor):
    n = round_width(value, divisor)
    assert isinstance(n, int)
    assert rounded_ok(n, value, divisor)
    if value >= divisor:
        assert abs(n - value) <= divisor  # a neighbouring multiple
    assert round_width(value * 1.5 + divisor, divisor) >= n  # never smaller for a larger value


@pytest.mark.parametrize(("value", "divisor", "expected"), [
    (64, 8, 64), (60, 8, 64), (59.9, 8, 56), (3, 8, 8), (0.2, 8, 8), (12, 8, 16), (11.9, 8, 16),
    (20, 16, 32),  # nearest is 16, but 16 < 0.9 * 20: one divisor more
    (100, 1, 100), (100.4, 1, 100), (100.5, 1, 101),
])
def test_round_width_examples(value, divisor, expected):
    assert round_width(value, divisor) == expected


# --- a few candidates as real torch models ------------------------------------------------------

def test_small_candidates_build_and_run():
    import torch

    cases = [
        {"width": 0.25},
        {"width": 0.25, "stage4.depth": 2, "stage3.depth": 1, "inception3a.factorize_5x5": True},
        {"width": 0.2, "stage5.depth": 3, "inception5c.share_1x1": 0.1, "inception5c.share_3x3": 1.0,
         "inception5c.share_5x5": 0.5, "inception5c.share_pool": 0.2, "inception4a.reduce_ratio": 2.5},
    ]
    x = torch.randn(2, 3, 32, 32)
    for params in cases:
        spec = archkit.spec_from_data(candidate(G32, params, divisor=8).to_dict())
        model = archkit.build(spec, seed=0).eval()
        with torch.no_grad():
            assert model(x).shape == (2, 10)
        assert sum(p.numel() for p in model.parameters()) == archkit.profile(spec, "full").total.params
        assert model.layer_names == [layer.name for layer in spec.layers]


def test_googlenet_candidate_with_moved_aux_head_runs():
    import torch

    spec = archkit.spec_from_data(candidate(G, {"stage4.depth": 2}, divisor=8, scale=0.125).to_dict())
    model = archkit.build(spec, seed=0).train()
    out = model(torch.randn(1, 3, 224, 224))
    assert out.logits.shape == (1, 1000)
    assert [a.shape for a in out.aux_logits] == [(1, 1000), (1, 1000)]
    # aux2 reads inception4b's output (the module its 4d moved to).
    seen = {}
    model.inception4b.register_forward_hook(lambda m, i, o: seen.__setitem__("4b", o))
    model.aux2.register_forward_pre_hook(lambda m, i: seen.__setitem__("aux2", i[0]))
    model(torch.randn(1, 3, 224, 224))
    assert seen["aux2"] is seen["4b"]
    assert sum(p.numel() for p in model.parameters()) == archkit.profile(spec, "full").total.params \
        + archkit.profile(spec, "full").aux_total.params


def test_one_definition_of_stages_for_the_search_and_the_report(write_config):
    # a stage is a run of module rows, shorthand (`inception:`) or general (`module:`)
    base = """
    name: mixed
    input: {channels: 3, size: 16}
    classes: 10
    layers:
      - {name: conv1, conv: {out: 8, kernel: 3}}
      - {name: inception3a, inception: {1x1: 4, 3x3_reduce: 4, 3x3: 8, 5x5_reduce: 4, 5x5: 4, pool_proj: 4}}
      - {name: inception3b, module: {branches: [[{conv: {out: 8, kernel: 1}}], [{conv: {out: 4, kernel: 3}}]]}}
      - {name: pool3, maxpool: {kernel: 3, stride: 2}}
      - {name: inception4a, inception: {1x1: 4, 3x3_reduce: 4, 3x3: 8, 5x5_reduce: 4, 5x5: 4, pool_proj: 4}}
      - {name: gap, global_avgpool: {}}
      - {name: fc, linear: {}}
    """
    spec = archkit.spec_from_yaml(textwrap.dedent(base))
    assert {name: stage.indices for name, stage in stages_of(spec).items()} == {"stage3": (1, 2), "stage4": (4,)}
    from archkit.report.data import stage_names

    rows = archkit.profile(spec).rows
    assert stage_names(rows) == ["stem", "stage3", "stage3", "stage4", "stage4", "head", "head"]
    write_config(textwrap.dedent(base), "mixed.yaml")
    path = write_config("base: mixed.yaml\nbudget: {ops: 1M}\nspace: {stage_width: [0.5, 1.5]}\n")
    loaded = load_search_config(path)  # general-form modules are searched too (scaled conv by conv)
    wide = candidate(loaded.base, {"stage3.width": 2.0}, divisor=4)
    convs = [op.conv.out for b in wide.layers[2].module.branches for op in b.ops]
    assert convs == [16, 8] and wide.layers[1].inception.n1x1 == 8
