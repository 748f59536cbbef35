"""The general `module` form writes the rest of the Inception lineage: factorized convolutions (two 3x3
for a 5x5; 1x7 then 7x1), stride-2 grid reductions, per-conv batch norm and bias. Shapes and counts
are worked out by hand in the test."""

from __future__ import annotations

import pytest

import archkit
from archkit.builder.verify import verify
from archkit.spec import resolved

# An Inception-v3-flavoured network on a 35x35 grid (the size of v3's first inception stage).
V3_STYLE = """\
name: v3-style
source: "Szegedy et al. 2015, Rethinking the Inception Architecture (figures 5-7), scaled down"
input: {channels: 3, size: 35}
classes: 10
defaults: {activation: relu, batch_norm: true, bias: false}
layers:
  - {name: stem, conv: {out: 32, kernel: 3}}                    # 35x35x32
  - name: mixed_a                                               # figure 5: the 5x5 as two 3x3
    module:
      branches:
        - name: b1x1
          ops: [{conv: {out: 64, kernel: 1}}]
        - name: b5x5
          ops:
            - {conv: {out: 48, kernel: 1}}
            - {conv: {out: 64, kernel: 3}}
            - {conv: {out: 64, kernel: 3}}
        - name: pool
          ops:
            - {avgpool: {kernel: 3, padding: 1, count_include_pad: false}}
            - {conv: {out: 32, kernel: 1, batch_norm: false, bias: true}}
  - name: reduction_a                                           # grid 35 -> 17
    module:
      branches:
        - [{conv: {out: 96, kernel: 3, stride: 2, padding: valid}}]
        - - {conv: {out: 32, kernel: 1}}
          - {conv: {out: 48, kernel: 3}}
          - {conv: {out: 48, kernel: 3, stride: 2, padding: valid}}
        - [{maxpool: {kernel: 3, stride: 2}}]
  - name: mixed_b                                               # figure 6: 1x7 then 7x1
    module:
      branches:
        - [{conv: {out: 64, kernel: 1}}]
        - - {conv: {out: 32, kernel: 1}}
          - {conv: {out: 32, kernel: [1, 7], padding: [0, 3]}}
          - {conv: {out: 64, kernel: [7, 1], padding: [3, 0]}}
        - [{avgpool: {kernel: 3, padding: 1}}, {conv: {out: 64, kernel: 1}}]
  - {name: mixed_c, inception: {1x1: 16, 3x3_reduce: 16, 3x3: 24, 5x5_reduce: 8, 5x5: 16, pool_proj: 8,
                                factorize_5x5: true, pool: avg}}
  - {name: gap, global_avgpool: {}}
  - {name: dropout, dropout: {p: 0.2}}
  - {name: fc, linear: {}}
"""

# By hand: (output C, H, W), depth, weights ("paper"), multiply-adds, parameters of the built model.
STEM_W = 3 * 3 * 3 * 32
A_B1, A_B5, A_POOL = 32 * 64, 32 * 48 + 48 * 9 * 64 + 64 * 9 * 64, 32 * 32
A_W = A_B1 + A_B5 + A_POOL
R_B0 = 160 * 9 * 96  # at 17x17
R_B1_AT35, R_B1_AT17 = 160 * 32 + 32 * 9 * 48, 48 * 9 * 48
B_W = 304 * 64 + (304 * 32 + 32 * 1 * 7 * 32 + 32 * 7 * 1 * 64) + 304 * 64
C_W = 192 * 16 + (192 * 16 + 9 * 16 * 24) + (192 * 8 + 9 * 8 * 16 + 9 * 16 * 16) + 192 * 8
EXPECTED = {
    #            output           depth  weights                          ops
    "stem": ((32, 35, 35), 1, STEM_W, STEM_W * 35 * 35),
    "mixed_a": ((64 + 64 + 32, 35, 35), 3, A_W, A_W * 35 * 35),
    "reduction_a": ((96 + 48 + 160, 17, 17), 3, R_B0 + R_B1_AT35 + R_B1_AT17,
                    R_B0 * 17 * 17 + R_B1_AT35 * 35 * 35 + R_B1_AT17 * 17 * 17),
    "mixed_b": ((192, 17, 17), 3, B_W, B_W * 17 * 17),
    "mixed_c": ((16 + 24 + 16 + 8, 17, 17), 3, C_W, C_W * 17 * 17),
    "gap": ((64, 1, 1), 0, 0, 0),
    "dropout": ((64, 1, 1), 0, 0, 0),
    "fc": ((10, 1, 1), 1, 640, 640),
}
# Batch norm adds 2 per conv output channel; only mixed_a's pool projection has a bias instead.
BN = {
    "stem": 2 * 32,
    "mixed_a": 2 * (64 + 48 + 64 + 64) + 32,
    "reduction_a": 2 * (96 + 32 + 48 + 48),
    "mixed_b": 2 * (64 + 32 + 32 + 64 + 64),
    "mixed_c": 2 * (16 + 16 + 24 + 8 + 16 + 16 + 8),
    "gap": 0, "dropout": 0, "fc": 0,
}


@pytest.fixture(scope="module")
def spec():
    return archkit.spec_from_yaml(V3_STYLE, "v3-style.yaml")


def test_shapes_depths_and_counts(spec):
    prof = archkit.profile(spec)
    got = {r.name: (tuple(r.output), r.depth, r.params, r.ops) for r in prof.rows}
    assert got == EXPECTED
    assert prof.total.params == sum(e[2] for e in EXPECTED.values())
    assert prof.total.ops == sum(e[3] for e in EXPECTED.values())


def test_full_convention_counts_batch_norm_and_the_one_bias(spec):
    full = archkit.profile(spec, convention="full")
    assert {r.name: r.params for r in full.rows} == {n: e[2] + BN[n] for n, e in EXPECTED.items()}


def test_branch_rows(spec):
    prof = archkit.profile(spec)
    a = {b.name: (tuple(b.output), b.depth, b.params) for b in prof.row("mixed_a").branches}
    assert a == {"b1x1": ((64, 35, 35), 1, A_B1), "b5x5": ((64, 35, 35), 3, A_B5), "pool": ((32, 35, 35), 1, A_POOL)}
    r = {b.name: (tuple(b.output), b.depth, b.params, b.ops) for b in prof.row("reduction_a").branches}
    assert r == {
        "branch0": ((96, 17, 17), 1, R_B0, R_B0 * 289),
        "branch1": ((48, 17, 17), 3, R_B1_AT35 + R_B1_AT17, R_B1_AT35 * 1225 + R_B1_AT17 * 289),
        "branch2": ((160, 17, 17), 0, 0, 0),
    }


def test_factorized_convs_resolve_to_the_written_kernels(spec):
    layers = {layer.name: layer for layer in resolved(spec).layers}
    b5 = layers["mixed_a"].branches[1]
    assert [(op.kernel, op.padding, op.out_shape) for op in b5.ops] == [
        ((1, 1), (0, 0), (48, 35, 35)), ((3, 3), (1, 1), (64, 35, 35)), ((3, 3), (1, 1), (64, 35, 35))]
    b7 = layers["mixed_b"].branches[1]
    assert [(op.kernel, op.padding, op.out_shape) for op in b7.ops] == [
        ((1, 1), (0, 0), (32, 17, 17)), ((1, 7), (0, 3), (32, 17, 17)), ((7, 1), (3, 0), (64, 17, 17))]
    # factorize_5x5: the inception row's 5x5 becomes 1x1 reduce -> 3x3 -> 3x3, both at the 5x5 width.
    c5 = layers["mixed_c"].branches[2]
    assert c5.name == "branch_5x5"
    assert [(op.kernel, op.out_channels) for op in c5.ops] == [((1, 1), 8), ((3, 3), 16), ((3, 3), 16)]
    assert layers["mixed_c"].branches[3].ops[0].mode == "avg"


def test_grid_reduction(spec):
    red = {layer.name: layer for layer in resolved(spec).layers}["reduction_a"]
    pool = red.branches[2].ops[0]
    assert (pool.mode, pool.kernel, pool.stride, pool.padding, pool.ceil_mode) == ("max", (3, 3), (2, 2), (0, 0), False)
    assert [op.out_shape for op in red.branches[0].ops] == [(96, 17, 17)]  # (35 - 3) // 2 + 1 = 17
    assert red.in_shape == (160, 35, 35) and red.out_shape == (304, 17, 17)


def test_per_conv_switches_reach_the_model(spec):
    model = archkit.build(spec, seed=0)
    proj = model.get_submodule("mixed_a.branches.pool.1")
    assert proj.bn is None and proj.conv.bias is not None
    reduce = model.get_submodule("mixed_a.branches.b5x5.0")
    assert reduce.bn is not None and reduce.conv.bias is None
    assert model.get_submodule("mixed_b.branches.branch1.1").conv.kernel_size == (1, 7)
    assert model.get_submodule("mixed_b.branches.branch1.2").conv.padding == (3, 0)
    pool = model.get_submodule("mixed_a.branches.pool.0")
    assert type(pool).__name__ == "AvgPool2d" and pool.count_include_pad is False
    full = archkit.profile(spec, convention="full")
    assert full.total.params == sum(p.numel() for p in model.parameters())


def test_verify_agrees_with_torch_and_fvcore(spec):
    report = verify(spec)
    assert report.ok, report.failures


def test_bare_list_and_named_branches_are_the_same_network():
    named = V3_STYLE.replace("        - [{maxpool: {kernel: 3, stride: 2}}]",
                             "        - {name: branch2, ops: [{maxpool: {kernel: 3, stride: 2}}]}")
    assert named != V3_STYLE
    a = archkit.profile(archkit.spec_from_yaml(V3_STYLE))
    b = archkit.profile(archkit.spec_from_yaml(named))
    assert a.to_dict() == b.to_dict()


def test_conv_reduce_in_a_branch_is_two_ops():
    text = """\
name: r
input: {channels: 4, size: 9}
classes: 3
layers:
  - {name: m, module: {branches: [[{conv: {out: 6, kernel: 3, reduce: 2}}], [{conv: {out: 5, kernel: 1}}]]}}
  - {name: gap, global_avgpool: {}}
  - {name: fc, linear: {}}
"""
    spec = archkit.spec_from_yaml(text)
    row = archkit.profile(spec).row("m")
    assert tuple(row.output) == (11, 9, 9)
    assert row.depth == 2
    assert row.params == 4 * 2 + 2 * 9 * 6 + 4 * 5
    assert row.ops == row.params * 81
    assert verify(spec).ok
