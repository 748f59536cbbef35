"""Op signatures (the lookup table's keys) and how a network is cut into timed units."""

from __future__ import annotations

import json

import pytest

import archkit
from archkit.latency import LatencyError, op_signature
from archkit.latency.units import AddOp, ConcatOp, layer_units, spec_units
from archkit.spec.resolve import ConvOp, LinearOp, LRNOp, PoolOp, SplitOp, leaf_ops, resolved

CONV = ConvOp("c", (16, 8, 8), (8, 8, 8), 8, (3, 3), (1, 1), (1, 1), False, True, "relu")
POOL = PoolOp("p", (8, 8, 8), (8, 4, 4), "max", (3, 3), (2, 2), (1, 1), True, True)
LINEAR = LinearOp("l", (32, 1, 1), (10, 1, 1), 32, 10, True, "none")


def test_equal_ops_have_equal_signatures():
    twin = ConvOp("c", (16, 8, 8), (8, 8, 8), 8, (3, 3), (1, 1), (1, 1), False, True, "relu")
    assert op_signature(CONV) == op_signature(twin)
    assert hash(op_signature(CONV)) == hash(op_signature(twin))
    assert json.loads(json.dumps({op_signature(CONV): 1})) == {op_signature(CONV): 1}  # a JSON key


def test_what_does_not_change_latency_is_left_out():
    # the name, and batch norm's epsilon and momentum, do not change what is computed
    assert op_signature(CONV._replace(name="other", bn_eps=1e-3, bn_momentum=0.5)) == op_signature(CONV)


CONV_CHANGES = {
    "in_shape": (12, 8, 8), "out_channels": 4, "kernel": (1, 3), "stride": (2, 2), "padding": (0, 0),
    "bias": True, "batch_norm": False, "activation": "none", "groups": 2,
}


@pytest.mark.parametrize("field", sorted(CONV_CHANGES))
def test_conv_signature_differs_when_a_field_differs(field):
    assert op_signature(CONV._replace(**{field: CONV_CHANGES[field]})) != op_signature(CONV)


POOL_CHANGES = {"in_shape": (8, 9, 9), "mode": "avg", "kernel": (2, 2), "stride": (1, 1), "padding": (0, 0),
                "ceil_mode": False, "count_include_pad": False}


@pytest.mark.parametrize("field", sorted(POOL_CHANGES))
def test_pool_signature_differs_when_a_field_differs(field):
    assert op_signature(POOL._replace(**{field: POOL_CHANGES[field]})) != op_signature(POOL)


@pytest.mark.parametrize("change", [{"out_features": 11, "out_shape": (11, 1, 1)}, {"bias": False},
                                    {"activation": "relu"}, {"in_shape": (8, 2, 2)}])
def test_linear_signature_differs(change):
    assert op_signature(LINEAR._replace(**change)) != op_signature(LINEAR)


def test_precision_batch_and_input_dtype_are_part_of_the_key():
    keys = {op_signature(CONV, "fp32", 1), op_signature(CONV, "bf16", 1), op_signature(CONV, "fp32", 2),
            op_signature(CONV, "bf16", 1, "fp32")}
    assert len(keys) == 4
    assert op_signature(CONV, "bf16", 1) == op_signature(CONV, "bf16", 1, "bf16")  # bf16 input is the default


def test_concat_and_add_signatures():
    a = ConcatOp("x", (12, 4, 4), (12, 4, 4), (4, 8))
    assert op_signature(a) != op_signature(a._replace(parts=(8, 4)))  # the order of parts is kept
    add = AddOp("a", (16, 4, 4), (16, 4, 4), 0.17, "relu")
    assert op_signature(add) != op_signature(add._replace(scale=1.0))
    assert op_signature(add) != op_signature(add._replace(activation="none"))


def test_bad_input():
    with pytest.raises(LatencyError):
        op_signature(CONV, "fp8")
    with pytest.raises(LatencyError):
        op_signature(CONV, "fp32", 0)
    with pytest.raises(TypeError):
        op_signature(SplitOp("s", (4, 4, 4), (8, 4, 4), ()))


def test_every_op_of_a_network_is_a_unit_once(tiny):
    r = resolved(tiny)
    units = [op for _, lu in spec_units(r) for op, _ in lu.units]
    leaves = [op for layer in r.layers for op in layer.ops]
    assert [u for u in units if type(u) not in (ConcatOp, AddOp)] == leaves
    concats = [u for u in units if type(u) is ConcatOp]
    assert [c.parts for c in concats] == [(4, 8, 4, 4), (4, 4), (8, 8, 20)]  # inc, the split, res
    adds = [u for u in units if type(u) is AddOp]
    assert adds == [AddOp("add", (16, 8, 8), (16, 8, 8), 0.5, "relu")]  # the default activation


def test_container_calls_follow_the_builder(tiny):
    r = resolved(tiny)
    calls = {name: lu.containers for name, lu in spec_units(r)}
    assert calls["conv1"] == 0  # one op: the module itself
    assert calls["conv2"] == 1  # reduce + conv: a Chain
    assert calls["inc"] == 5  # the Concat and its four branches' Chains
    # the Residual, 3 branch Chains, the split's Concat and its 2 Chains (projection, shortcut: single ops)
    assert calls["res"] == 7


def test_every_built_in_is_covered():
    for name in archkit.builtin_names():
        r = resolved(archkit.load_spec(name))
        units = [op for _, lu in spec_units(r, "bf16") for op, _ in lu.units]
        for op in units:
            op_signature(op, "bf16", 1)
        assert len([u for u in units if type(u) not in (ConcatOp, AddOp)]) == sum(
            len(leaf_ops(layer.ops)) for layer in r.layers)


def test_dtypes_flow_under_bf16_autocast(googlenet):
    # autocast gives bf16 from convs and linear layers and fp32 from LRN: the op after LRN gets fp32
    r = resolved(googlenet)
    flow = [(type(op).__name__, dtype) for _, lu in spec_units(r, "bf16") for op, dtype in lu.units]
    assert flow[0] == ("ConvOp", "fp32")  # the image batch
    assert flow[1] == ("PoolOp", "bf16")
    assert flow[2] == ("LRNOp", "bf16")
    assert flow[3] == ("ConvOp", "fp32")  # after LRN
    assert all(dtype == "fp32" for _, dtype in ((n, d) for _, lu in spec_units(r, "fp32") for n, d in lu.units))
    conv2 = next(lu for name, lu in spec_units(r, "bf16") if name == "conv2")
    assert conv2.out_dtype == "bf16"
    assert layer_units(r.layers[2], "bf16", "bf16").out_dtype == "fp32"
    assert isinstance(r.layers[2].branches[0].ops[0], LRNOp)
