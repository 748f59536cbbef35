"""The search on any Inception-family base: stages are the modules that share a grid (a reduction
module opens its stage), widths scale every conv of a stage's modules with a residual module's
projection or shortcut following what it is added to, depth drops or repeats the modules that keep
the grid, and budget filling works as on GoogLeNet. Expected structures are read off the reference
networks (torchvision, timm, the papers), widths by hand."""

from __future__ import annotations

import pytest

import archkit
from archkit.search.budget import fill_budget, measure
from archkit.search.loader import load_search_config
from archkit.search.space import candidate, stages_of
from archkit.spec import resolved

from .conftest import FakeTrainer
from .test_runner import run, study_of

# name -> {stage: (its first module, modules, of which depth varies)} as the networks are drawn:
# v3: 35x35 Mixed_5b-d, 17x17 Mixed_6a (reduction) + 6b-e, 8x8 Mixed_7a (reduction) + 7b-c
STAGES = {
    "googlenet": {"stage3": ("inception3a", 2, 2), "stage4": ("inception4a", 5, 5), "stage5": ("inception5a", 2, 2)},
    "inception-v3": {"stage5": ("Mixed_5b", 3, 3), "stage6": ("Mixed_6a", 5, 4), "stage7": ("Mixed_7a", 3, 2)},
    "inception-resnet-v2": {"stage5": ("mixed_5b", 11, 11), "stage6": ("mixed_6a", 21, 20),
                            "stage7": ("mixed_7a", 11, 10)},
    # the stem's three grid-changing modules each a stage; names by position (reduction_a has no number)
    "inception-v4": {"stage1": ("mixed_3a", 1, 0), "stage2": ("mixed_4a", 1, 0), "stage3": ("mixed_5a", 5, 4),
                     "stage4": ("reduction_a", 8, 7), "stage5": ("reduction_b", 4, 3)},
    "xception": {"stage1": ("block1", 1, 0), "stage2": ("block2", 1, 0), "stage3": ("block3", 9, 8),
                 "stage4": ("block12", 1, 0)},
}


@pytest.mark.parametrize("name", STAGES)
def test_stages_are_the_modules_of_one_grid(name):
    base = archkit.load_spec(name)
    got = {k: (base.layers[s.indices[0]].name, len(s.indices), len(s.repeatable)) for k, s in stages_of(base).items()}
    assert got == STAGES[name]
    # the report draws the same stages
    from archkit.report.data import stage_names

    rows = archkit.profile(base).rows
    drawn = stage_names(rows)
    for stage in stages_of(base).values():
        assert {drawn[i] for i in stage.indices} == {stage.name}


def test_inception_resnet_v2_widths_and_depths_by_hand():
    base = archkit.load_spec("inception-resnet-v2")
    c = candidate(base, {"stage5.width": 0.5, "stage7.width": 2.0, "stage5.depth": 3, "stage6.depth": 22}, divisor=8)
    r = resolved(c)  # every shape check passes: each projection matches its input
    names = [layer.name for layer in c.layers]
    assert names[7:11] == ["mixed_5b", "block35_1", "block35_2", "mixed_6a"]
    assert names[11:33] == [f"block17_{i}" for i in range(1, 23)] and names[33] == "mixed_7a"
    by_name = {layer.name: layer for layer in r.layers}
    # mixed_5b at half width: 96, 64, 96, 64 -> 48, 32, 48, 32 = 160 channels
    assert by_name["mixed_5b"].out_shape == (160, 35, 35)
    block = by_name["block35_1"]
    assert [b.out_shape[0] for b in block.branches] == [16, 16, 32]  # 32, 32, 64 halved
    assert block.residual.projection[0].out_channels == 160 == block.out_shape[0]  # follows its input
    # mixed_6a at full width: 384 + 384 + the 160 passed through its max pool
    assert by_name["mixed_6a"].out_shape == (928, 17, 17)
    assert all(by_name[f"block17_{i}"].out_shape == (928, 17, 17) for i in (1, 21, 22))
    # stage 7 doubled: mixed_7a 2 x (384 + 288 + 320) + 928 passed through
    assert by_name["mixed_7a"].out_shape == (2 * 992 + 928, 8, 8)
    assert by_name["block8"].residual.projection[0].out_channels == 2912
    assert by_name["block8"].residual.scale == 1.0 and by_name["block8"].residual.activation == "none"


def test_xception_middle_flow_follows_its_stream():
    base = archkit.load_spec("xception")
    c = candidate(base, {"stage3.width": 0.5, "stage3.depth": 2}, divisor=8)
    r = {layer.name: layer for layer in resolved(c).layers}
    assert [n for n in r if n.startswith("block")] == ["block1", "block2", "block3", "block4", "block5", "block12"]
    # 728 x 0.5 = 364 -> 368 (multiples of 8); the shortcut of block3 matches its branch
    assert r["block3"].out_shape[0] == 368 and r["block3"].residual.shortcut[0].out_channels == 368
    assert r["block4"].out_shape == r["block5"].out_shape == (368, 19, 19)
    assert r["block12"].out_shape == (1024, 10, 10)  # its own stage, at its own width


def test_dropping_the_module_an_aux_head_hangs_on_moves_the_head():
    base = archkit.load_spec("inception-v3")  # AuxLogits after Mixed_6e
    c = candidate(base, {"stage6.depth": 2}, divisor=8)
    assert [layer.name for layer in c.layers if layer.name.startswith("Mixed_6")] == ["Mixed_6a", "Mixed_6b", "Mixed_6c"]
    assert c.aux[0].after == "Mixed_6c"
    model = archkit.build(c)
    assert sum(p.numel() for p in model.parameters()) == (archkit.profile(c, "full").total.params
                                                          + archkit.profile(c, "full").aux_total.params)


@pytest.mark.parametrize("name, budget", [("inception-v3", 1_000_000_000), ("inception-resnet-v2", 2_000_000_000),
                                          ("xception", 500_000_000), ("inception-v4", 3_000_000_000)])
def test_budget_filling_works_on_the_family(name, budget):
    filled = fill_budget(archkit.load_spec(name), {}, {"ops": budget}, divisor=8)
    assert filled.feasible and filled.measured.ops <= budget
    assert filled.measured.ops >= 0.9 * budget  # the feasible step nearest the budget
    assert measure(filled.spec) == filled.measured


def test_a_search_on_inception_v3_runs_end_to_end(write_config):
    path = write_config("""
        base: inception-v3
        space: {stage_width: [0.5, 1.5], depth: {stage5: [1, 3], stage6: [1, 4], stage7: [1, 2]}, divisor: 8}
        budget: {ops: 800M}
        data: digits
        train: {epochs: 1}
        final: null
        pruner: none
        trials: 4
        seed: 0
    """)
    fake = FakeTrainer()
    run(path, fake)
    study = study_of("search")
    trials = [t for t in study.trials if t.state.name == "COMPLETE"]
    assert len(trials) == 4 and trials[0].user_attrs.get("reference")
    for t in trials:
        assert t.user_attrs["ops"] <= 800_000_000
    assert len(fake.specs) == 4 and all(s.input.hw == (299, 299) for s in fake.specs)


@pytest.mark.parametrize("space, message", [
    ("{branch_shares: [0.5, 2.0]}",
     "search.yaml:2 space.branch_shares: inception-resnet-v2 has no `inception:` rows (Table 1's shorthand), "
     "whose branches branch_shares varies; its modules are scaled by width and depth only"),
    ("{depth: {stage6: [1, 3], stage7: [1, 2], stage5: [2, 4]}}", None),
])
def test_what_a_family_base_cannot_vary_is_one_line(write_config, space, message):
    path = write_config(f"base: inception-resnet-v2\nspace: {space}\nbudget: {{ops: 1G}}\n")
    if message is None:
        load_search_config(path)  # every stage has modules that keep its grid
        return
    with pytest.raises(archkit.SpecError) as info:
        load_search_config(path)
    assert str(info.value) == message


def test_depth_of_a_stage_that_is_only_a_reduction_is_refused(write_config):
    path = write_config("base: xception\nspace:\n  depth: {stage1: [1, 2]}\nbudget: {ops: 1G}\n")
    with pytest.raises(archkit.SpecError) as info:
        load_search_config(path)
    assert str(info.value) == ("search.yaml:3 space.depth.stage1: stage1 of xception is only a grid reduction "
                               "(block1): no module to drop or repeat")


def test_googlenet_candidates_are_unchanged_by_the_family_search():
    # hand-worked: inception3a at stage width 2: every Table 1 width doubled, rounded to 8
    c = candidate(archkit.load_spec("googlenet"), {"stage3.width": 2.0, "stage4.depth": 6}, divisor=8)
    inc = c.layers[6].inception
    assert (inc.n1x1, inc.n3x3_reduce, inc.n3x3, inc.n5x5_reduce, inc.n5x5, inc.pool_proj) == (128, 192, 256, 32, 64, 64)
    assert [layer.name for layer in c.layers if layer.name.startswith("inception4")] == [
        "inception4a", "inception4b", "inception4c", "inception4d", "inception4e", "inception4f"]
