"""The training cost model (`archkit.profile.training`, no torch) against torch: the bytes one real
training step saves for backward, counted per layer with `saved_tensors_hooks` (unique storages,
parameters and buffers left out), equal byte for byte on every built-in and on random specs, in
fp32 and bf16; hand-computed bytes for a small spec; training multiply-adds against torch's
FlopCounterMode over a forward and a backward pass."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch
import yaml
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import archkit
from archkit.profile.training import train_profile
from archkit.spec import spec_from_data
from archkit.training.memory import LOSS, compare_saved, measure_saved
from tests.builder.test_verify import small_specs

SMALL = """\
name: small
input: {channels: 3, size: 8}
classes: 10
layers:
  - {name: conv1, conv: {out: 16, kernel: 1}}
  - {name: drop, dropout: {p: 0.5}}
  - {name: gap, global_avgpool: {}}
  - {name: fc, linear: {}}
"""


def _mismatches(rows):
    return [(key, predicted, measured) for key, predicted, measured in rows if predicted != measured]


def test_small_spec_by_hand():
    spec = archkit.spec_from_yaml(SMALL)
    # fp32, batch 2: conv1 keeps the images (2*3*8*8 fp32 = 1,536 B) and its in-place ReLU's output
    # (2*16*8*8*4 = 8,192 B); dropout its noise (8,192 B); the global pool nothing; fc its 16 inputs
    # per image (2*16*4 = 128 B; the weights are parameters); the loss the log-softmax (2*10*4 = 80),
    # a scalar (4) and the targets (2 int64 = 16).
    fp32 = {("main", "conv1"): 9_728, ("main", "drop"): 8_192, ("main", "gap"): 0, ("main", "fc"): 128, LOSS: 100}
    assert measure_saved(spec, 2, "fp32") == fp32
    cost = train_profile(spec, 2, "fp32")
    assert {("main", r.name): r.saved_bytes for r in cost.rows} | {LOSS: cost.loss.saved_bytes} == fp32
    # bf16: conv1 a bf16 copy of the images (768) and of its 48 weights (96), its output in bf16 (4,096);
    # the noise in bf16 (4,096); fc its bf16 inputs (64) and its 160 weights in bf16 (320).
    bf16 = {("main", "conv1"): 4_960, ("main", "drop"): 4_096, ("main", "gap"): 0, ("main", "fc"): 384, LOSS: 100}
    assert measure_saved(spec, 2, "bf16") == bf16
    assert dict((k, p) for k, p, _ in compare_saved(spec, 2, "bf16")) == bf16
    # params: conv 48 + 16, fc 160 + 10 = 234; weights, gradients, momentum: 12 bytes each
    assert cost.params == 234 and cost.param_state_bytes == 234 * 12
    assert cost.saved_bytes == sum(fp32.values())
    assert cost.peak_bytes == cost.param_state_bytes + cost.saved_bytes + cost.workspace_bytes


def test_first_layer_needs_no_input_gradient():
    cost = train_profile(archkit.spec_from_yaml(SMALL), 3)
    conv1, fc = cost.rows[0], cost.rows[-1]
    # conv1: 3*16 weights at 64 positions = 3,072 multiply-adds per image; no gradient for the images
    assert (conv1.forward_ops, conv1.input_grad_ops, conv1.weight_grad_ops) == (3_072, 0, 3_072)
    assert (fc.forward_ops, fc.input_grad_ops, fc.weight_grad_ops) == (160, 160, 160)
    assert cost.train_ops == 3 * (2 * 3_072 + 3 * 160)


def _flop_counter_ops(spec: archkit.Spec, batch: int) -> int:
    from torch.utils.flop_counter import FlopCounterMode

    from archkit.training.engine import training_loss

    model = archkit.build(spec, seed=0).train()
    x = torch.randn(batch, spec.input.channels, *spec.input.hw)
    y = torch.randint(0, spec.classes, (batch,))
    with FlopCounterMode(display=False) as counter:
        loss, _ = training_loss(model(x), y, model.aux_weights)
        loss.backward()
    return counter.get_total_flops() // 2  # it counts a multiply-add as two flops


@pytest.mark.parametrize("name", ["googlenet-32"])
def test_train_ops_equal_torchs_flop_counter(name):
    spec = archkit.load_spec(name)
    assert train_profile(spec, 2).train_ops == _flop_counter_ops(spec, 2)


# Built-ins at the smallest input each takes (a batch of 2): what changes is the spatial size, not
# the rules. inception-v3, googlenet and bn-inception need their own size (a fixed pooling window).
SIZES = {"inception-v4": 75, "inception-resnet-v2": 75, "xception": 32}


def _builtin(name: str) -> archkit.Spec:
    spec = archkit.load_spec(name)
    if name not in SIZES:
        return spec
    data = spec.to_dict()
    data["input"] = {"channels": spec.input.channels, "size": SIZES[name]}
    return spec_from_data(data)


def test_every_builtin_is_checked():
    assert set(archkit.builtin_names()) == {"googlenet", "googlenet-32", "bn-inception", "inception-v3",
                                             "inception-v4", "inception-resnet-v2", "xception"}


# bf16 is emulated on most CPUs: the 224 and 299 pixel networks take 10-30 s each there (slow lane).
BUILTINS = [pytest.param(name, precision, marks=pytest.mark.slow)
            if precision == "bf16" and name in ("googlenet", "bn-inception", "inception-v3") else (name, precision)
            for name in ("googlenet", "googlenet-32", "bn-inception", "inception-v3", "inception-v4",
                         "inception-resnet-v2", "xception") for precision in ("fp32", "bf16")]


@pytest.mark.parametrize(("name", "precision"), BUILTINS)
def test_builtins_saved_bytes_equal_torchs(name, precision):
    rows = compare_saved(_builtin(name), 2, precision)
    assert _mismatches(rows) == []
    assert sum(m for *_, m in rows) > 0


# --- random specs ---------------------------------------------------------------------------------

@st.composite
def residual_layer(draw, channels: int):
    """A residual module on `channels` channels: pre-activation ReLUs, separable convs, a split, an
    optional projection and shortcut (so the addition's shapes agree)."""
    out = draw(st.integers(1, 8))
    ops = []
    if draw(st.booleans()):
        ops.append({"relu": {}})
    ops.append({"conv": {"out": out, "kernel": 3, "separable": draw(st.booleans()),
                         "activation": draw(st.sampled_from(["relu", "none"]))}})
    if draw(st.booleans()):
        ops.append({"split": [{"name": "a", "ops": [{"conv": {"out": draw(st.integers(1, 4)), "kernel": [1, 3]}}]},
                              {"name": "b", "ops": [{"maxpool": {"kernel": 3, "padding": 1}}]}]})
    branches = [{"name": "x", "ops": ops}]
    if draw(st.booleans()):
        branches.append({"name": "y", "ops": [{"avgpool": {"kernel": 3, "padding": 1}}]})
    residual = {"activation": draw(st.sampled_from(["relu", "none"])), "scale": draw(st.sampled_from([1.0, 0.2]))}
    shortcut = draw(st.booleans())
    target = draw(st.integers(1, 8)) if shortcut else channels
    residual["projection"] = {"out": target, "kernel": 1, "activation": "none"}
    if shortcut:
        residual["shortcut"] = {"out": target, "kernel": 1, "activation": "none"}
    return {"module": {"branches": branches, "residual": residual}}


@st.composite
def random_specs(draw):
    data = draw(small_specs())
    if draw(st.booleans()):  # a residual module after the first layer (its channels known from a conv)
        first = {"name": "stem", "conv": {"out": draw(st.integers(1, 6)), "kernel": 3, "padding": "same"}}
        data["layers"] = [first, {"name": "res", **draw(residual_layer(first["conv"]["out"]))}, *data["layers"]]
    return data


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=random_specs(), precision=st.sampled_from(["fp32", "bf16"]), channels_last=st.booleans(),
       smoothing=st.sampled_from([0.0, 0.1]))
def test_random_specs_saved_bytes_equal_torchs(data, precision, channels_last, smoothing):
    spec = archkit.spec_from_yaml(yaml.safe_dump(data, sort_keys=False), "random.yaml")
    rows = compare_saved(spec, 2, precision, channels_last=channels_last, label_smoothing=smoothing)
    assert _mismatches(rows) == [], yaml.safe_dump(data, sort_keys=False)


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=random_specs())
def test_random_specs_train_ops_equal_torchs(data):
    text = yaml.safe_dump(data, sort_keys=False)
    # torch's counter ignores groups in a conv's weight gradient (counts it as if ungrouped, `groups`
    # times too many): grouped convs are checked by hand below instead.
    assume("separable: true" not in text)
    spec = archkit.spec_from_yaml(text, "random.yaml")
    assert train_profile(spec, 2).train_ops == _flop_counter_ops(spec, 2)


def test_separable_conv_train_ops_by_hand():
    spec = archkit.spec_from_yaml("""\
name: sep
input: {channels: 3, size: 8}
classes: 10
layers:
  - {name: stem, conv: {out: 4, kernel: 1}}
  - {name: sep, conv: {out: 6, kernel: 3, padding: same, separable: true}}
  - {name: gap, global_avgpool: {}}
  - {name: fc, linear: {}}
""")
    sep = train_profile(spec, 1).rows[1]
    # depthwise 3x3 on 4 channels: 4*9 weights at 64 positions = 2,304; pointwise 4 -> 6: 24 * 64 = 1,536.
    # The weight gradient of each weight sums one product per position, as the forward does.
    assert (sep.forward_ops, sep.input_grad_ops, sep.weight_grad_ops) == (3_840, 3_840, 3_840)


# --- the peak and the largest batch ---------------------------------------------------------------

def test_largest_batch_is_the_last_that_fits(googlenet32):
    for precision in ("fp32", "bf16"):
        memory = 3 * 10**9
        n = train_profile(googlenet32, 1, precision).largest_batch(memory)
        assert train_profile(googlenet32, n, precision).peak_bytes <= memory
        assert train_profile(googlenet32, n + 1, precision).peak_bytes > memory
    assert train_profile(googlenet32, 1).largest_batch(10**6) == 0  # its weights alone need more


def test_bad_options_name_the_value(googlenet32):
    with pytest.raises(ValueError, match="batch=0"):
        train_profile(googlenet32, 0)
    with pytest.raises(ValueError, match="precision='fp8'"):
        train_profile(googlenet32, 1, "fp8")
    with pytest.raises(ValueError, match="optimizer='lamb'"):
        train_profile(googlenet32, 1, optimizer="lamb")


def test_the_model_imports_no_torch():
    code = ("import json, sys, archkit\n"
            "from archkit.profile.memory import train_need\n"
            "need, cost = train_need(archkit.load_spec('googlenet'), 128, 'bf16', memory=80 * 2**30)\n"
            "print(json.dumps({'torch': 'torch' in sys.modules, 'saved': cost.saved_bytes}))")
    result = subprocess.run([sys.executable, "-c", code], check=False, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["torch"] is False and data["saved"] > 0
