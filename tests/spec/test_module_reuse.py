"""One module body met several times in a network (Inception-ResNet-v2's 10 + 20 + 10 blocks) is
resolved and counted once per (body, input shape) in a call: the shared results must be exactly
what resolving and counting each layer on its own gives, and nothing may leak between two input
shapes of the same body, nor between two calls."""

from __future__ import annotations

import pytest

import archkit
from archkit.profile.profiler import profile_resolved
from archkit.spec import SpecError, load_spec, spec_from_data, spec_from_yaml
from archkit.spec.models import Conv, Defaults, Dropout, Empty, Input, Layer, Linear, Module, Spec
from archkit.spec.resolve import resolve

# Two parallel branches on one input: a 1x1 conv to 8 and a 3x3 conv to 4, concatenated (12 channels).
M = Module.model_validate({"branches": [[{"conv": {"out": 8}}], [{"conv": {"out": 4, "kernel": 3}}]]})


def module_spec(module: Module = M) -> Spec:
    """`module` (one object) at three input shapes, twice at the second one, and in an aux head."""
    return Spec(
        name="reuse", input=Input(channels=3, size=32), classes=10,
        layers=[
            Layer(name="m1", module=module),                           # 3x32x32 -> 12x32x32
            Layer(name="m2", module=module),                           # 12x32x32 -> 12x32x32
            Layer(name="m3", module=module),                           # 12x32x32 again
            Layer(name="down", conv=Conv(out=6, kernel=3, stride=2)),  # -> 6x16x16
            Layer(name="m4", module=module),                           # 6x16x16 -> 12x16x16
            Layer(name="pool", global_avgpool=Empty()),
            Layer(name="fc", linear=Linear()),
        ],
        aux=[{"after": "m2", "layers": [Layer(name="m", module=module), Layer(name="pool", global_avgpool=Empty()),
                                         Layer(name="linear", linear=Linear())]}],
    )


def unshared(spec: Spec) -> Spec:
    """The same network with a body of its own for every layer (plain data, validated again)."""
    return Spec.model_validate(spec.model_dump(by_alias=True))


def test_the_same_body_at_different_input_shapes_counts_by_hand():
    spec = module_spec()
    assert all(layer.module is M for layer in spec.layers if layer.kind == "module")
    p = archkit.profile(spec)
    # params: input channels x (8 x 1x1 + 4 x 3x3) weights; ops: params x output positions.
    by_hand = {"m1": (3 * 8 + 3 * 9 * 4, 32 * 32), "m2": (12 * 8 + 12 * 9 * 4, 32 * 32),
               "m3": (12 * 8 + 12 * 9 * 4, 32 * 32), "m4": (6 * 8 + 6 * 9 * 4, 16 * 16)}
    for name, (params, positions) in by_hand.items():
        row = p.row(name)
        assert (row.params, row.ops) == (params, params * positions), name
    assert [p.row(n).ops for n in ("m1", "m2", "m4")] == [135_168, 540_672, 67_584]  # all different
    assert [p.row(n).output for n in ("m1", "m2", "m3", "m4")] == [(12, 32, 32)] * 3 + [(12, 16, 16)]
    branches = {name: [(b.name, b.params, b.ops) for b in p.row(name).branches] for name in by_hand}
    assert branches["m1"] == [("branch0", 24, 24 * 1024), ("branch1", 108, 108 * 1024)]
    assert branches["m2"] == branches["m3"] == [("branch0", 96, 96 * 1024), ("branch1", 432, 432 * 1024)]
    assert branches["m4"] == [("branch0", 48, 48 * 256), ("branch1", 216, 216 * 256)]
    # the aux head's module sits at m2's shape: m2's counts
    assert (p.aux[0].rows[0].params, p.aux[0].rows[0].ops) == (528, 540_672)
    # "full": each conv's bias too (no batch norm by default)
    full = archkit.profile(spec, "full")
    assert [full.row(n).params for n in ("m1", "m2", "m3", "m4")] == [132 + 12, 528 + 12, 528 + 12, 264 + 12]


@pytest.mark.parametrize("convention", ["paper", "full"])
def test_shared_and_separate_bodies_give_the_same_resolution_and_profile(convention):
    spec, apart = module_spec(), unshared(module_spec())
    assert apart.layers[1].module is not apart.layers[2].module and apart.layers[1].module == M
    assert resolve(spec)._replace(spec=None) == resolve(apart)._replace(spec=None)
    assert (profile_resolved(resolve(spec), convention).to_dict()
            == profile_resolved(resolve(apart), convention).to_dict())


def test_layers_share_resolved_parts_only_at_the_same_input_shape():
    r = {layer.name: layer for layer in resolve(module_spec()).layers}
    assert r["m2"].branches is r["m3"].branches  # same body, same input: resolved once
    assert r["m1"].branches is not r["m2"].branches and r["m1"].branches != r["m2"].branches
    assert r["m2"].branches != r["m4"].branches
    assert [r[n].name for n in ("m1", "m2", "m3", "m4")] == ["m1", "m2", "m3", "m4"]
    assert r["m3"].in_shape == r["m2"].out_shape == (12, 32, 32) and r["m3"].layer.name == "m3"


def test_each_row_owns_its_branch_rows():
    p = archkit.profile(module_spec())
    m2, m3 = p.row("m2"), p.row("m3")
    assert m2.branches == m3.branches
    assert all(a is not b for a, b in zip(m2.branches, m3.branches, strict=True))
    m2.branches[0].ops = -1  # a caller changing one row's numbers leaves the other's alone
    assert m3.branches[0].ops == 96 * 1024


def test_nothing_carries_over_between_calls():
    first = archkit.profile(module_spec())
    wider = Module.model_validate({"branches": [[{"conv": {"out": 16}}], [{"conv": {"out": 4, "kernel": 3}}]]})
    other = profile_resolved(resolve(module_spec(wider)))
    assert other.row("m2").params == 20 * 16 + 20 * 9 * 4 != first.row("m2").params  # 16 + 4 channels in
    assert archkit.profile(module_spec()).to_dict() == first.to_dict()


def test_a_shared_body_that_fails_at_one_shape_names_that_layer():
    pinned = Module.model_validate({"branches": [[{"conv": {"out": 12, "in": 3}}]]})  # fits m1's input only
    with pytest.raises(SpecError) as err:
        resolve(module_spec(pinned))
    assert err.value.path == ("layers", 1, "module", "branches", 0, "ops", 0, "conv", "in")


def test_residual_and_inception_bodies_are_shared_too():
    block = {"branches": [[{"conv": {"out": 8}}], [{"conv": {"out": 8}}, {"conv": {"out": 8, "kernel": 3}}]],
             "residual": {"projection": {"out": 16, "activation": "none"}, "scale": 0.2}}
    inc = {"1x1": 4, "3x3_reduce": 4, "3x3": 4, "5x5_reduce": 2, "5x5": 4, "pool_proj": 4}
    data = {"name": "r", "input": {"size": 16, "channels": 16}, "classes": 5,
            "defaults": {"batch_norm": True, "bias": False},
            "layers": [{"name": "a", "module": block}, {"name": "b", "module": block},
                       {"name": "i1", "inception": inc}, {"name": "i2", "inception": inc},
                       {"name": "pool", "global_avgpool": {}}, {"name": "fc", "linear": {}}]}
    spec = spec_from_data(data)  # the same dicts twice: one validated body each
    assert spec.layers[0].module is spec.layers[1].module
    assert spec.layers[2].inception is spec.layers[3].inception
    r = resolve(spec)
    assert r.layers[0].residual is r.layers[1].residual and r.layers[0].branches is r.layers[1].branches
    assert r.layers[2].in_shape == r.layers[3].in_shape == (16, 16, 16)  # i1 gives 4 + 4 + 4 + 4 channels
    assert r.layers[2].branches is r.layers[3].branches and r.layers[2].residual is None
    apart = unshared(spec)
    for convention in ("paper", "full"):
        assert (profile_resolved(r, convention).to_dict()
                == profile_resolved(resolve(apart), convention).to_dict())
    p = profile_resolved(r)
    # a: 16 -> 8 | 16 -> 8 -> 3x3 8, projection 16 -> 16; params by hand, ops = params x 16x16
    params = 16 * 8 + 16 * 8 + 8 * 9 * 8 + 16 * 16
    assert [(p.row(n).params, p.row(n).ops) for n in "ab"] == [(params, params * 256)] * 2
    assert [b.role for b in p.row("b").branches] == ["branch", "branch", "projection"]


def test_yaml_aliases_give_one_body():
    text = """
name: aliased
input: {channels: 8, size: 8}
classes: 3
layers:
  - {name: a, module: &m {branches: [[{conv: {out: 4}}], [{conv: {out: 4, kernel: 3}}]]}}
  - {name: b, module: *m}
  - name: c
    module: {branches: [[{conv: {out: 4}}], [{conv: {out: 4, kernel: 3}}]]}
  - {name: pool, global_avgpool: {}}
  - {name: fc, linear: {}}
"""
    spec = spec_from_yaml(text)
    a, b, c = (layer.module for layer in spec.layers[:3])
    assert a is b and a == c and c is not a  # only what the document says is the same
    p = archkit.profile(spec)
    assert p.row("a").to_dict() | {"name": "b"} == p.row("b").to_dict()
    assert p.row("b").to_dict() | {"name": "c"} == p.row("c").to_dict()


def test_inception_resnet_v2_blocks_share_their_body_and_profile_as_written_out():
    spec = load_spec("inception-resnet-v2")  # (through the kept validated form: the sharing survives it)
    blocks = {layer.name: layer.module for layer in spec.layers if layer.kind == "module"}
    assert all(blocks[f"block35_{i}"] is blocks["block35_1"] for i in range(2, 11))
    assert all(blocks[f"block17_{i}"] is blocks["block17_1"] for i in range(2, 21))
    assert all(blocks[f"block8_{i}"] is blocks["block8_1"] for i in range(2, 10))
    assert blocks["block8"] is not blocks["block8_1"]  # its own residual (scale 1, no ReLU)
    fresh = spec_from_yaml(archkit.spec.builtin_text("inception-resnet-v2"))
    assert fresh == spec and fresh.layers[9].module is fresh.layers[8].module
    apart = unshared(spec)
    assert apart == spec and apart.layers[9].module is not apart.layers[8].module
    for convention in ("paper", "full"):
        assert (profile_resolved(resolve(spec), convention).to_dict()
                == profile_resolved(resolve(apart), convention).to_dict())
    assert profile_resolved(resolve(spec)).total.ops == 13_155_794_016  # the bench's figure, fvcore's too


def test_other_kinds_are_counted_as_before():
    spec = Spec(name="d", input=Input(channels=4, size=4), classes=2, defaults=Defaults(),
                layers=[Layer(name="m", module=M), Layer(name="drop", dropout=Dropout(p=0.1)),
                        Layer(name="fc", linear=Linear())])
    assert archkit.profile(spec).total.params == 4 * 8 + 4 * 9 * 4 + 12 * 4 * 4 * 2
