"""Analytic memory traffic and intensity, checked by hand arithmetic (no torch involved)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from archkit import profile
from archkit.latency import LatencyError, layer_traffic, op_bytes
from archkit.latency.traffic import intensity, spec_traffic
from archkit.spec.resolve import ConvOp, DropoutOp, GlobalPoolOp, LinearOp, PoolOp, resolved

CONV = ConvOp("c", (16, 8, 8), (8, 8, 8), 8, (3, 3), (1, 1), (1, 1), False, False, "relu")
WEIGHTS, INPUT, OUTPUT = 16 * 9 * 8, 16 * 64, 8 * 64


def test_conv_fp32_is_weights_plus_input_plus_output_times_4():
    assert op_bytes(CONV, "fp32") == WEIGHTS * 4 + INPUT * 4 + OUTPUT * 4 == 10752


def test_bf16_halves_it():
    assert op_bytes(CONV, "bf16") == op_bytes(CONV, "fp32") // 2 == (WEIGHTS + INPUT + OUTPUT) * 2


def test_batch_scales_activations_not_weights():
    assert op_bytes(CONV, "fp32", batch=4) == (WEIGHTS + 4 * (INPUT + OUTPUT)) * 4
    assert op_bytes(CONV, "fp32", batch=4) < 4 * op_bytes(CONV, "fp32")


def test_bias_and_batch_norm_are_weights_read_once():
    with_both = CONV._replace(bias=True, batch_norm=True)
    # bias: one per output channel; batch norm: scale, shift, mean and variance per channel
    assert op_bytes(with_both, "fp32") - op_bytes(CONV, "fp32") == (8 + 4 * 8) * 4
    assert op_bytes(with_both, "fp32", 3) - op_bytes(CONV, "fp32", 3) == (8 + 4 * 8) * 4


def test_grouped_conv_reads_fewer_weights():
    grouped = CONV._replace(groups=8)
    assert op_bytes(grouped, "fp32") == (16 // 8 * 9 * 8 + INPUT + OUTPUT) * 4


def test_other_ops():
    linear = LinearOp("l", (32, 1, 1), (10, 1, 1), 32, 10, True, "none")
    assert op_bytes(linear, "fp32", 2) == (32 * 10 + 10 + 2 * (32 + 10)) * 4
    pool = PoolOp("p", (8, 8, 8), (8, 4, 4), "max", (2, 2), (2, 2), (0, 0), False, True)
    assert op_bytes(pool, "bf16") == (512 + 128) * 2
    assert op_bytes(GlobalPoolOp("g", (8, 4, 4), (8, 1, 1)), "fp32") == (128 + 8) * 4
    assert op_bytes(DropoutOp("d", (8, 1, 1), (8, 1, 1), 0.5), "fp32") == 0  # identity at inference


def test_layer_traffic_of_a_conv_layer_is_its_op(tiny):
    r = resolved(tiny)
    conv1 = r.layers[0]
    bytes_, ops = layer_traffic(conv1, "fp32", 1)
    assert bytes_ == op_bytes(conv1.branches[0].ops[0], "fp32")
    assert ops == profile(tiny).row("conv1").ops


def test_layer_traffic_of_an_inception_module_adds_the_concatenation(tiny):
    r = resolved(tiny)
    inc = next(layer for layer in r.layers if layer.name == "inc")
    ops_bytes = sum(op_bytes(op, "fp32", 2) for op in inc.ops)
    concat = 2 * 2 * (20 * 8 * 8) * 4  # read the parts and write the 20x8x8 joined tensor, batch 2
    t = layer_traffic(inc, "fp32", 2)
    assert t.bytes == ops_bytes + concat
    assert t.ops == 2 * profile(tiny).row("inc").ops
    assert t.intensity == t.ops / t.bytes


def test_layer_traffic_of_a_residual_module(tiny):
    r = resolved(tiny)
    res = next(layer for layer in r.layers if layer.name == "res")
    leaf = sum(op_bytes(op, "fp32") for op in res.ops)  # branches (split opened), projection, shortcut
    split_concat = 2 * (8 * 8 * 8) * 4  # the split's 4 + 4 channels
    concat = 2 * (36 * 8 * 8) * 4  # 8 + 8 + 20 channels joined
    add = 3 * (16 * 8 * 8) * 4  # read both terms, write the sum
    assert layer_traffic(res, "fp32").bytes == leaf + split_concat + concat + add
    assert layer_traffic(res, "fp32").ops == profile(tiny).row("res").ops


def test_spec_traffic_ops_add_up_to_the_profile(googlenet):
    rows = spec_traffic(resolved(googlenet), "fp32", 1)
    p = profile(googlenet)
    assert [t.name for t in rows] == [row.name for row in p.rows]
    assert sum(t.ops for t in rows) == p.total.ops
    assert all(t.bytes > 0 for t in rows if t.name != "dropout")
    assert intensity(0, 0) is None
    bf16 = spec_traffic(resolved(googlenet), "bf16", 1)
    assert all(b.bytes * 2 == f.bytes for b, f in zip(bf16, rows))


@pytest.mark.parametrize("precision", ["fp16", "int8", "FP32", ""])
def test_unknown_precision_is_one_line(precision):
    with pytest.raises(LatencyError) as info:
        op_bytes(CONV, precision)
    assert "\n" not in str(info.value)
    assert "unknown precision" in str(info.value)


def test_bad_batch():
    with pytest.raises(LatencyError):
        op_bytes(CONV, "fp32", batch=0)


def test_traffic_imports_no_torch():
    code = ("import json, sys, archkit\n"
            "from archkit.latency import layer_traffic\n"
            "from archkit.spec.resolve import resolved\n"
            "r = resolved(archkit.load_spec('googlenet'))\n"
            "b = sum(layer_traffic(layer, 'bf16', 2).bytes for layer in r.layers)\n"
            "print(json.dumps({'torch': 'torch' in sys.modules, 'bytes': b}))")
    result = subprocess.run([sys.executable, "-c", code], check=False, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["torch"] is False and data["bytes"] > 0
