"""The builder and the analytic profiler agree (torch parameters, fvcore multiply-adds, output shapes)
on every built-in spec and on random valid specs; the model's names and outputs are as documented."""

from __future__ import annotations

import pytest
import torch
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import archkit
from archkit.builder import InceptionOutput
from archkit.builder.verify import verify

# Per built-in, places the check must reach: a module, a (nested) part of one, the classifier.
CHECKED = {
    "googlenet": {"inception3a", "inception5b.branch_pool", "linear", "aux1.fc"},
    "googlenet-32": {"inception3a", "inception5b.branch_pool", "linear"},
    "bn-inception": {"inception_3a", "inception_3c", "inception_5b.branch_pool", "fc"},
    "inception-v3": {"Mixed_5b.branch_pool", "Mixed_7b.branch3x3dbl.b", "fc", "AuxLogits.conv1"},
    "inception-v4": {"mixed_3a.branch1", "inception_c3.branch2.branch1", "last_linear"},
    "inception-resnet-v2": {"block35_1.projection", "block8.branch1", "classif"},
    "xception": {"block1.shortcut", "block11.rep", "conv4", "fc"},
}
# The 299x299 family members take fvcore seconds each to trace: not in the fast lane.
FAST = ("googlenet", "googlenet-32", "bn-inception")


def test_every_builtin_is_listed_here():
    assert archkit.builtin_names() == sorted(CHECKED)


@pytest.mark.parametrize("name", [n if n in FAST else pytest.param(n, marks=pytest.mark.slow) for n in CHECKED])
def test_builtin_specs_verify(name):
    report = verify(archkit.load_spec(name))
    assert report.ok, [(c.where, c.quantity, c.analytic, c.measured) for c in report.failures]
    wheres = {c.where for c in report.checks}
    assert CHECKED[name] <= wheres
    quantities = {c.quantity for c in report.checks}
    assert {"params (full)", "params (paper)", "ops", "output shape"} <= quantities


def test_verify_catches_a_model_that_differs_from_the_spec(monkeypatch):
    # A check that cannot fail proves nothing: hand verify a model built from a slightly different
    # spec (c2 a 5x5 conv instead of 3x3, same output shape) and it must name that layer.
    spec = archkit.spec_from_yaml(AUX_ORDER)
    other = archkit.spec_from_yaml(AUX_ORDER.replace("{out: 6, kernel: 3, stride: 2}", "{out: 6, kernel: 5, stride: 2}"))
    import archkit.builder.verify as verify_module

    monkeypatch.setattr(verify_module, "build", lambda s, seed=None: archkit.build(other, seed=seed))
    report = verify(spec)
    assert not report.ok
    failed = {(c.where, c.quantity): (c.analytic, c.measured) for c in report.failures}
    assert failed.pop(("c2", "params (paper)")) == (4 * 9 * 6, 4 * 25 * 6)
    assert failed.pop(("c2", "params (full)")) == (4 * 9 * 6 + 6, 4 * 25 * 6 + 6)
    assert failed.pop(("c2", "ops")) == (4 * 9 * 6 * 36, 4 * 25 * 6 * 36)
    assert set(failed) == {("model", "params (full), all heads"), ("model", "ops, inference path")}


# --- random valid specs -------------------------------------------------------------------------

def _conv_size(size, k, s, p):
    return (size + 2 * p - k) // s + 1


@st.composite
def plain_conv(draw, size):
    k = draw(st.sampled_from([1, 2, 3, 5]))
    s = draw(st.sampled_from([1, 1, 2]))
    padding = draw(st.sampled_from(["same", "valid", 0, 1, 2]))
    p = {"same": (k - 1) // 2, "valid": 0}.get(padding, padding)
    if _conv_size(size, k, s, p) < 1:
        k, p = 1, 0
        padding = 0
    conv = {"out": draw(st.integers(1, 16)), "kernel": k, "stride": s, "padding": padding}
    if draw(st.booleans()):
        conv["reduce"] = draw(st.integers(1, 8))
    for key in ("batch_norm", "bias"):
        choice = draw(st.sampled_from([None, True, False]))
        if choice is not None:
            conv[key] = choice
    if draw(st.integers(0, 4)) == 0:
        conv["activation"] = "none"
    return {"conv": conv}, _conv_size(size, k, s, p)


@st.composite
def pool(draw, size):
    mode = draw(st.sampled_from(["maxpool", "avgpool"]))
    k = draw(st.integers(1, min(3, size)))
    s = draw(st.integers(1, 2))
    p = draw(st.integers(0, k // 2))
    ceil = draw(st.booleans())
    body = {"kernel": k, "stride": s, "padding": p, "rounding": "ceil" if ceil else "floor"}
    span = size + 2 * p - k
    out = (-(-span // s) if ceil else span // s) + 1
    if ceil and (out - 1) * s >= size + p:
        out -= 1
    return {mode: body}, out


@st.composite
def inception(draw, size):
    w = st.integers(1, 8)
    body = {"1x1": draw(w), "3x3_reduce": draw(w), "3x3": draw(w), "5x5_reduce": draw(w), "5x5": draw(w),
            "pool_proj": draw(w)}
    if draw(st.booleans()):
        body["factorize_5x5"] = True
    if draw(st.booleans()):
        body["pool"] = "avg"
    if draw(st.booleans()):
        body["batch_norm"] = draw(st.booleans())
    return {"inception": body}, size


@st.composite
def module(draw, size):
    """Branches that all end at the same grid: stride 1 ("same" ops) or one stride-2 valid 3x3 each."""
    reduce = size >= 3 and draw(st.booleans())
    branches = []
    for _ in range(draw(st.integers(1, 3))):
        ops = []
        for _ in range(draw(st.integers(0, 2))):
            shape = draw(st.sampled_from(["square", "1xn", "pool"]))
            if shape == "pool":
                ops.append({draw(st.sampled_from(["maxpool", "avgpool"])): {"kernel": 3, "padding": 1}})
            elif shape == "square":
                ops.append({"conv": {"out": draw(st.integers(1, 16)), "kernel": draw(st.sampled_from([1, 3, 5])),
                                     "batch_norm": draw(st.booleans()), "bias": draw(st.booleans())}})
            else:
                n = draw(st.sampled_from([3, 5, 7]))
                ops.append({"conv": {"out": draw(st.integers(1, 16)), "kernel": [1, n], "padding": [0, n // 2]}})
                ops.append({"conv": {"out": draw(st.integers(1, 16)), "kernel": [n, 1], "padding": [n // 2, 0]}})
        if reduce:
            if draw(st.booleans()):
                ops.append({"maxpool": {"kernel": 3, "stride": 2}})
            else:
                ops.append({"conv": {"out": draw(st.integers(1, 16)), "kernel": 3, "stride": 2, "padding": "valid"}})
        elif not ops:
            ops.append({"conv": {"out": draw(st.integers(1, 16))}})
        branches.append({"name": f"b{len(branches)}", "ops": ops} if draw(st.booleans()) else ops)
    return {"module": {"branches": branches}}, (_conv_size(size, 3, 2, 0) if reduce else size)


@st.composite
def small_specs(draw):
    channels = draw(st.integers(1, 3))
    height, width = draw(st.integers(8, 40)), draw(st.integers(8, 40))
    square = draw(st.booleans())
    if square:
        width = height
    size = min(height, width)
    layers = []
    for i in range(draw(st.integers(1, 4))):
        maker = draw(st.sampled_from([plain_conv, pool, inception, module, "lrn"]))
        if maker == "lrn":
            body, new = {"lrn": {"size": draw(st.integers(1, 5))}}, size
        else:
            body, new = draw(maker(size))
        # The tracked size is the smaller side; the other side is at least as large, so fits too.
        layers.append({"name": f"layer{i}", **body})
        size = new
    tail = [{"name": "gap", "global_avgpool": {}}]
    if draw(st.booleans()):
        tail.append({"name": "drop", "dropout": {"p": 0.5}})
    tail.append({"name": "fc", "linear": {}})
    classes = draw(st.integers(1, 10))
    data = {
        "name": "random",
        "input": {"channels": channels, "size": height} if square else
                 {"channels": channels, "height": height, "width": width},
        "classes": classes,
        "defaults": {"batch_norm": draw(st.booleans()), "bias": draw(st.booleans())},
        "layers": layers + tail,
    }
    if draw(st.booleans()):
        after = draw(st.sampled_from([layer["name"] for layer in layers]))
        data["aux"] = [{"after": after, "layers": [
            {"name": "pool", "global_avgpool": {}},
            {"name": "fc", "linear": {"out": draw(st.integers(1, 8)), "activation": "relu"}},
            {"name": "linear", "linear": {}},
        ]}]
    return data


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=small_specs())
def test_random_specs_verify(data):
    text = yaml.safe_dump(data, sort_keys=False)
    spec = archkit.spec_from_yaml(text, "random.yaml")
    report = verify(spec)
    assert report.ok, [(c.where, c.quantity, c.analytic, c.measured) for c in report.failures]
    model = archkit.build(spec, seed=0).eval()
    with torch.no_grad():
        out = model(torch.randn(2, data["input"]["channels"], *_hw(data["input"])))
    assert out.shape == (2, data["classes"])


def _hw(inp):
    return (inp["size"], inp["size"]) if "size" in inp else (inp["height"], inp["width"])


# --- the model: names and outputs ---------------------------------------------------------------

def test_module_names_follow_the_spec(googlenet, googlenet_model):
    names = [name for name, _ in googlenet_model.named_children()]
    assert names == [layer.name for layer in googlenet.layers] + ["aux1", "aux2"]
    inc = googlenet_model.get_submodule("inception3a")
    assert list(inc.branches) == ["branch_1x1", "branch_3x3", "branch_5x5", "branch_pool"]
    conv = googlenet_model.get_submodule("inception3a.branches.branch_5x5.1.conv")
    assert (conv.in_channels, conv.out_channels, conv.kernel_size) == (16, 32, (5, 5))
    assert googlenet_model.get_submodule("conv1.conv").stride == (2, 2)
    reduce, conv2 = googlenet_model.get_submodule("conv2.reduce.conv"), googlenet_model.get_submodule("conv2.conv.conv")
    assert (reduce.in_channels, reduce.out_channels, reduce.kernel_size) == (64, 64, (1, 1))
    assert (conv2.in_channels, conv2.out_channels, conv2.kernel_size) == (64, 192, (3, 3))
    pool1 = googlenet_model.get_submodule("pool1")
    assert pool1.ceil_mode is True
    fc = googlenet_model.get_submodule("aux1.fc.fc")
    assert (fc.in_features, fc.out_features) == (2048, 1024)
    assert googlenet_model.get_submodule("aux2.dropout").p == 0.7
    assert googlenet_model.get_submodule("dropout").p == 0.4
    assert googlenet_model.get_submodule("linear.fc").out_features == 1000


def test_googlenet_in_training_mode_returns_aux_logits(googlenet_model):
    googlenet_model.train()
    try:
        with torch.no_grad():
            out = googlenet_model(torch.randn(1, 3, 224, 224))
    finally:
        googlenet_model.eval()
    assert isinstance(out, InceptionOutput)
    assert out.logits.shape == (1, 1000)
    assert len(out.aux_logits) == 2 and all(a.shape == (1, 1000) for a in out.aux_logits)


AUX_ORDER = """\
name: aux-order
input: {channels: 2, size: 12}
classes: 5
layers:
  - {name: c1, conv: {out: 4, kernel: 3}}
  - {name: c2, conv: {out: 6, kernel: 3, stride: 2}}
  - {name: gap, global_avgpool: {}}
  - {name: fc, linear: {}}
aux:
  - {name: late, after: c2, weight: 0.5, layers: [{name: pool, global_avgpool: {}}, {name: fc, linear: {}}]}
  - {name: early, after: c1, layers: [{name: pool, global_avgpool: {}}, {name: fc, linear: {}}]}
"""


def test_aux_logits_come_in_spec_order_and_eval_returns_the_logits():
    spec = archkit.spec_from_yaml(AUX_ORDER)
    model = archkit.build(spec, seed=1).train()
    seen = {}
    for name in ("late", "early"):
        model.get_submodule(name).register_forward_hook(lambda m, i, o, name=name: seen.__setitem__(name, o))
    x = torch.randn(3, 2, 12, 12)
    out = model(x)
    assert isinstance(out, InceptionOutput)
    assert out.aux_logits[0] is seen["late"] and out.aux_logits[1] is seen["early"]
    assert [a.shape for a in out.aux_logits] == [(3, 5), (3, 5)]
    assert model.get_submodule("late.fc.fc").in_features == 6
    assert model.get_submodule("early.fc.fc").in_features == 4
    assert model.aux_weights == [0.5, 0.3]
    seen.clear()
    model.eval()
    with torch.no_grad():
        logits = model(x)
    assert type(logits) is torch.Tensor and logits.shape == (3, 5)
    assert seen == {}  # aux heads do not run at inference
    assert torch.allclose(logits, out.logits.detach())  # no dropout or BN here: same logits
    assert verify(spec).ok


NO_AUX = AUX_ORDER.split("aux:")[0].replace("name: aux-order", "name: no-aux").replace(
    "{name: c2, conv: {out: 6, kernel: 3, stride: 2}}", "{name: c2, conv: {out: 6, kernel: 3, stride: 2, batch_norm: true}}")


def test_no_aux_heads_returns_the_logits_in_training_too():
    model = archkit.build(archkit.spec_from_yaml(NO_AUX), seed=0).train()
    out = model(torch.randn(2, 2, 12, 12))
    assert type(out) is torch.Tensor and out.shape == (2, 5)


def test_seed_makes_the_weights_reproducible():
    spec = archkit.spec_from_yaml(NO_AUX)
    a, b = archkit.build(spec, seed=3), archkit.build(spec, seed=3)
    c = archkit.build(spec, seed=4)
    pa, pb, pc = (torch.cat([p.flatten() for p in m.parameters()]) for m in (a, b, c))
    assert torch.equal(pa, pb) and not torch.equal(pa, pc)
    torch.manual_seed(0)
    expected = torch.rand(1)
    torch.manual_seed(0)
    archkit.build(spec, seed=5)
    assert torch.equal(torch.rand(1), expected)  # a seeded build leaves the global generator alone
