"""The Inception family's built-ins are the reference networks themselves: torchvision's
inception_v3 and timm's inception_v4, inception_resnet_v2 and legacy_xception (built here, no
weights downloaded). Same parameter count, same multiply-adds (torch's FlopCounterMode on the
reference model: half its flops), same output shape at every stage, and, with the reference's
weights copied into archkit's model tensor by tensor in order, the same logits."""

from __future__ import annotations

import pytest
import timm  # a test dependency (pyproject's test extra): its absence is a failure, not a skip
import torch
import torchvision

import archkit
from archkit.builder.blocks import child


def _v3():
    return torchvision.models.inception_v3(weights=None, aux_logits=True, init_weights=True)


def _timm(name):
    return lambda: timm.create_model(name, pretrained=False)


def _irv2_stages():
    pairs = [(n, n) for n in ("conv2d_1a", "conv2d_2a", "conv2d_2b", "maxpool_3a", "conv2d_3b", "conv2d_4a",
                              "maxpool_5a", "mixed_5b")]
    pairs += [(f"repeat.{i}", f"block35_{i + 1}") for i in range(10)] + [("mixed_6a", "mixed_6a")]
    pairs += [(f"repeat_1.{i}", f"block17_{i + 1}") for i in range(20)] + [("mixed_7a", "mixed_7a")]
    pairs += [(f"repeat_2.{i}", f"block8_{i + 1}") for i in range(9)]
    return pairs + [("block8", "block8"), ("conv2d_7b", "conv2d_7b")]


V4_LAYERS = (["stem_conv1", "stem_conv2", "stem_conv3", "mixed_3a", "mixed_4a", "mixed_5a"]
             + [f"inception_a{i}" for i in range(1, 5)] + ["reduction_a"] + [f"inception_b{i}" for i in range(1, 8)]
             + ["reduction_b"] + [f"inception_c{i}" for i in range(1, 4)])
V3_LAYERS = ["Conv2d_1a_3x3", "Conv2d_2a_3x3", "Conv2d_2b_3x3", "maxpool1", "Conv2d_3b_1x1", "Conv2d_4a_3x3",
             "maxpool2", "Mixed_5b", "Mixed_5c", "Mixed_5d", "Mixed_6a", "Mixed_6b", "Mixed_6c", "Mixed_6d",
             "Mixed_6e", "Mixed_7a", "Mixed_7b", "Mixed_7c"]
# Xception's stem convs are conv, bn, act modules in timm: a layer's output is its activation's.
XCEPTION_STAGES = ([("act1", "conv1"), ("act2", "conv2")] + [(f"block{i}", f"block{i}") for i in range(1, 13)]
                   + [("act3", "conv3"), ("act4", "conv4")])

# name: (reference factory, params without aux heads, with them, multiply-adds at 299x299 (the
# issue's numbers, from the reference libraries), [(reference module, archkit layer)] stages)
FAMILY = {
    "inception-v3": (_v3, 23_834_568, 27_161_264, 5_713_216_096, [(n, n) for n in V3_LAYERS]),
    "inception-v4": (_timm("inception_v4"), 42_679_816, 42_679_816, 12_253_974_624,
                     [(f"features.{i}", n) for i, n in enumerate(V4_LAYERS)]),
    "inception-resnet-v2": (_timm("inception_resnet_v2"), 55_843_464, 55_843_464, 13_155_794_016, _irv2_stages()),
    "xception": (_timm("legacy_xception"), 22_855_952, 22_855_952, 8_357_403_496, XCEPTION_STAGES),
}


@pytest.mark.parametrize("name", FAMILY)
def test_the_analytic_profile_gives_the_reference_networks_numbers(name):
    _, params, with_aux, ops, _ = FAMILY[name]
    p = archkit.profile(archkit.load_spec(name), "full")
    assert p.total.params == params and p.total.params + p.aux_total.params == with_aux
    assert p.total.ops == ops
    assert p.input == (3, 299, 299)


def _copy_in_order(reference: torch.nn.Module, ours: torch.nn.Module) -> int:
    """Every tensor of the reference's state dict into ours, pairing them in order (aux heads with
    aux heads: torchvision registers its aux head mid-network, archkit after the layers)."""
    def split(state):
        main = [(k, v) for k, v in state.items() if not k.startswith("AuxLogits.")]
        return main, [(k, v) for k, v in state.items() if k.startswith("AuxLogits.")]

    ref_main, ref_aux = split(reference.state_dict())
    our_main, our_aux = split(ours.state_dict())
    assert len(ref_main) == len(our_main) and len(ref_aux) == len(our_aux)
    new = {}
    for (rk, rv), (ok, ov) in zip(ref_main + ref_aux, our_main + our_aux, strict=True):
        assert rv.shape == ov.shape, f"{rk} {tuple(rv.shape)} -> {ok} {tuple(ov.shape)}"
        new[ok] = rv
    ours.load_state_dict(new, strict=True)
    return len(new)


def _outputs(model, paths, x, lookup):
    seen = {}
    hooks = [lookup(model, p).register_forward_hook(lambda m, i, o, p=p: seen.__setitem__(p, tuple(o.shape[1:])))
             for p in paths]
    try:
        with torch.no_grad():
            logits = model(x)
    finally:
        for h in hooks:
            h.remove()
    return logits, seen


@pytest.mark.slow
@pytest.mark.parametrize("name", FAMILY)
def test_the_built_model_is_the_reference_network(name):
    make, params, with_aux, ops, stages = FAMILY[name]
    torch.manual_seed(0)
    reference = make().eval()
    ours = archkit.build(archkit.load_spec(name), seed=0).eval()
    assert sum(p.numel() for p in reference.parameters()) == with_aux == sum(p.numel() for p in ours.parameters())
    x = torch.randn(1, 3, 299, 299)
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter, torch.no_grad():
        reference(x)
    assert counter.get_total_flops() == 2 * ops  # a multiply-add is two flops

    _copy_in_order(reference, ours)
    expected, ref_shapes = _outputs(reference, [r for r, _ in stages], x, lambda m, p: m.get_submodule(p))
    got, our_shapes = _outputs(ours, [o for _, o in stages], x, child)
    for r, o in stages:
        assert our_shapes[o] == ref_shapes[r], f"{o} vs the reference's {r}"
    assert got.shape == expected.shape == (1, 1000)
    assert (got - expected).abs().max().item() < 1e-4
    assert expected.abs().max().item() > 1e-3  # not two zero vectors agreeing
