"""The spec forms of the later Inception family, worked out by hand: nested splits (Inception-v3's
1x1 -> (1x3 | 3x1)), residual modules with a projection and a scale (Inception-ResNet) or a strided
shortcut (Xception), grouped and depthwise-separable convs, a standalone ReLU (pre-activation),
batch norm's epsilon and momentum. Counts by hand; the built model against plain torch.nn.functional;
bad input as one line naming the YAML line and the field path."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from typer.testing import CliRunner

import archkit
from archkit.builder.blocks import child
from archkit.builder.verify import verify
from archkit.cli import app

FORMS = """\
name: forms
input: {channels: 3, size: 17}
classes: 10
defaults: {batch_norm: true, bias: false, batch_norm_eps: 0.001, batch_norm_momentum: 0.01}
layers:
  - {name: stem, conv: {out: 16, kernel: 3, stride: 2, padding: valid}}       # 8x8x16
  - name: e                                                                    # 8x8x24
    module:
      branches:
        - name: b1
          ops: [{conv: {out: 8}}]
        - name: b3
          ops:
            - {conv: {out: 12}}
            - split:
                - [{conv: {out: 6, kernel: [1, 3]}}]
                - name: deep
                  ops:
                    - {conv: {out: 6, kernel: [3, 1]}}
                    - split: [[{conv: {out: 2}}], [{conv: {out: 4, groups: 2}}]]
        - name: pool
          ops: [{avgpool: {kernel: 3, padding: 1, count_include_pad: false}}, {conv: {out: 4}}]
  - name: res                                                                  # 8x8x24
    module:
      branches:
        - [{conv: {out: 8}}]
        - [{conv: {out: 8}}, {conv: {out: 8, kernel: 3}}]
      residual: {projection: {out: 24, bias: true, batch_norm: false, activation: none}, scale: 0.17}
  - name: x                                                                    # 4x4x40
    module:
      branches:
        - - {relu: {}}
          - {conv: {out: 40, kernel: 3, separable: true, activation: none}}
          - {relu: {}}
          - {conv: {out: 40, kernel: 3, separable: true, multiplier: 2, activation: none}}
          - {maxpool: {kernel: 3, stride: 2, padding: 1}}
      residual: {shortcut: {out: 40, stride: 2, activation: none}, activation: none}
  - {name: grouped, conv: {out: 24, kernel: 3, groups: 4}}                     # 4x4x24
  - {name: gap, global_avgpool: {}}
  - {name: fc, linear: {}}
"""


@pytest.fixture(scope="module")
def spec():
    return archkit.spec_from_yaml(FORMS, "forms.yaml")


def test_counts_by_hand(spec):
    p, full = archkit.profile(spec, "paper"), archkit.profile(spec, "full")
    rows = {r.name: r for r in p.rows}
    fulls = {r.name: r for r in full.rows}
    # e.b3 on the stem's 16 channels at 8x8
    b3_reduce = 16 * 12                      # 1x1, 16 -> 12
    b3_a = 12 * 1 * 3 * 6                    # 1x3, 12 -> 6 = 216
    b3_deep = 12 * 3 * 1 * 6                 # 3x1, 12 -> 6
    b3_deep_inner = 6 * 2 + (6 // 2) * 4     # 1x1 6 -> 2; grouped 1x1 6 -> 4 in 2 groups: 3 inputs per filter
    b3 = b3_reduce + b3_a + b3_deep + b3_deep_inner
    e = 16 * 8 + b3 + 16 * 4
    assert rows["e"].params == e and rows["e"].ops == e * 64
    assert rows["e"].output == (8 + 12 + 4, 8, 8)
    [b1, b3row, pool] = rows["e"].branches
    assert (b3row.name, b3row.params, b3row.ops, b3row.depth, b3row.output) == ("b3", b3, b3 * 64, 3, (12, 8, 8))
    a, deep = b3row.branches
    assert (a.name, a.at, a.params, a.ops) == ("branch0", 1, 216, 13_824)
    assert (deep.name, deep.depth, deep.output) == ("deep", 2, (6, 8, 8))
    assert [(x.name, x.params) for x in deep.branches] == [("branch0", 12), ("branch1", 12)]
    # depth: reduce, then the deeper sub-branch (3x1 then 1x1): 3
    assert rows["e"].depth == 3
    # the residual module: branches, then the projection (128 + 192 + 576 weights, then 16 -> 24 1x1)
    res = 24 * 8 + 24 * 8 + 8 * 9 * 8 + 16 * 24
    assert rows["res"].params == res and rows["res"].ops == res * 64  # the scale and the addition: 0
    assert [b.role for b in rows["res"].branches] == ["branch", "branch", "projection"]
    assert rows["res"].depth == 2 + 1
    # the projection's bias (24) and the branches' batch norms (2 x (8 + 8 + 8)) in the full count
    assert fulls["res"].params == res + 24 + 2 * (8 + 8 + 8)
    # Xception-style block: separable 24->40 (depthwise 24 x 3x3, pointwise 24 x 40) at 8x8, then
    # separable 40->40 with multiplier 2 (depthwise 80 x 3x3, pointwise 80 x 40) at 8x8, pool to 4x4;
    # shortcut 1x1/2 24->40 at 4x4
    sep1, sep2, short = 24 * 9 + 24 * 40, 80 * 9 + 80 * 40, 24 * 40
    assert rows["x"].params == sep1 + sep2 + short
    assert rows["x"].ops == (sep1 + sep2) * 64 + short * 16
    assert rows["x"].output == (40, 4, 4) and [b.role for b in rows["x"].branches] == ["branch", "shortcut"]
    assert rows["x"].depth == 4  # two separable convs of two convs each; the shortcut's 1 is shallower
    # batch norm on the two pointwise convs and the shortcut, none on the depthwise ones
    assert fulls["x"].params == rows["x"].params + 2 * (40 + 40 + 40)
    # grouped 3x3: 40 -> 24 in 4 groups: each filter sees 10 channels
    assert rows["grouped"].params == 10 * 9 * 24 and rows["grouped"].ops == 10 * 9 * 24 * 16
    assert rows["grouped"].type == "conv (4 groups)"


def test_the_built_model_is_what_the_spec_says(spec):
    model = archkit.build(spec, seed=0).eval()
    bns = [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert bns and all(m.eps == 0.001 and m.momentum == 0.01 for m in bns)
    x = torch.randn(2, 16, 8, 8)
    with torch.no_grad():
        # the split: sub-branch outputs concatenated in order, after the branch's 1x1
        b3 = child(model, "e")
        b3 = b3.branches["b3"]
        mid = b3["0"](x)
        split = b3["1"]
        expected = torch.cat([split.branches["branch0"](mid), split.branches["deep"](mid)], dim=1)
        assert torch.equal(b3(x), expected)
        # the residual module: relu(0.17 * (W cat(branches) + b) + x), with plain functional ops
        res = child(model, "res")
        y = torch.randn(2, 24, 8, 8)
        cat = torch.cat([res.branches["branch0"](y), res.branches["branch1"](y)], dim=1)
        conv = res.projection.conv
        expected = F.relu(0.17 * F.conv2d(cat, conv.weight, conv.bias) + y)
        assert torch.allclose(res(y), expected, atol=1e-6)
        # Xception's block: no activation after the addition; the shortcut is 1x1/2 conv + batch norm
        xb = child(model, "x")
        z = torch.randn(2, 24, 8, 8)
        z_before = z.clone()
        sc = xb.shortcut
        shortcut = F.batch_norm(F.conv2d(z, sc.conv.weight, stride=2), sc.bn.running_mean, sc.bn.running_var,
                                sc.bn.weight, sc.bn.bias, eps=0.001)
        out = xb(z)
        assert torch.allclose(out, xb.branches["branch0"](z) + shortcut, atol=1e-5)
        assert (out < 0).any()  # no ReLU after the sum
        assert torch.equal(z, z_before)  # the pre-activation ReLU did not overwrite the input
        # a separable conv: depthwise (groups = its input channels, no bias) then pointwise
        depthwise = xb.branches["branch0"]["1"].conv
        assert depthwise.groups == 24 and depthwise.bias is None and tuple(depthwise.weight.shape) == (24, 1, 3, 3)
        depthwise2 = xb.branches["branch0"]["4"].conv
        assert depthwise2.groups == 40 and tuple(depthwise2.weight.shape) == (80, 1, 3, 3)
        assert child(model, "grouped").conv.groups == 4


def test_torch_and_fvcore_agree_with_the_profile_on_every_form(spec):
    report = verify(spec)
    assert report.ok, [c for c in report.failures]
    checked = {c.where for c in report.checks}
    # the nested sub-branches, the projection and the shortcut are each checked
    assert {"e.b3.deep.branch1", "e.b3.branch0", "res.projection", "x.shortcut"} <= checked


@pytest.mark.parametrize("old, new, message", [
    ("    - split:\n                - [{conv: {out: 6, kernel: [1, 3]}}]",
     "    - split:\n                - [{conv: {out: 6, kernel: [1, 3], stride: 2}}]",
     "forms.yaml:15 layers[1].module.branches[1].ops[1].split: branches must end at the same spatial size "
     "to concatenate (branch0: 4x4, deep: 8x8)"),
    ("projection: {out: 24,", "projection: {out: 32,",
     "forms.yaml:28 layers[2].module.residual.projection: cannot add: the projection gives 8x8x32 but the "
     "module's input is 8x8x24 (the projection's out must be 24)"),
    ("shortcut: {out: 40, stride: 2,", "shortcut: {out: 40, stride: 1,",
     "forms.yaml:37 layers[3].module.residual.shortcut: cannot add: the branches give 4x4x40 but the "
     "shortcut gives 8x8x40 (add a projection or a shortcut that makes them agree)"),
    ("residual: {shortcut: {out: 40, stride: 2, activation: none}, activation: none}", "residual: {activation: none}",
     "forms.yaml:37 layers[3].module.residual: cannot add: the branches give 4x4x40 but the module's input is "
     "8x8x24 (add a projection or a shortcut that makes them agree)"),
    ("{out: 24, kernel: 3, groups: 4}", "{out: 24, kernel: 3, groups: 3}",
     "forms.yaml:38 layers[4].conv.groups: groups 3 does not divide the 40 input channels (each group needs a "
     "whole share of both)"),
    ("separable: true, multiplier: 2", "multiplier: 2",
     "forms.yaml:35 layers[3].module.branches[0].ops[3].conv: multiplier (depthwise filters per input channel) "
     "needs separable: true"),
    ("{conv: {out: 40, kernel: 3, separable: true, activation: none}}",
     "{conv: {out: 40, kernel: 3, separable: true, groups: 2, activation: none}}",
     "forms.yaml:33 layers[3].module.branches[0].ops[1].conv: a separable conv sets its own groups (depthwise, "
     "then pointwise): drop groups"),
    ("split: [[{conv: {out: 2}}], [{conv: {out: 4, groups: 2}}]]", "split: [[{conv: {out: 2}}]]",
     "forms.yaml:20 layers[1].module.branches[1].ops[1].split[1].ops[1].split: must have at least 2 items, got 1"),
])
def test_bad_input_is_one_line_with_the_yaml_line_and_the_field_path(tmp_path, old, new, message):
    assert FORMS.count(old) == 1
    path = tmp_path / "forms.yaml"
    path.write_text(FORMS.replace(old, new))
    with pytest.raises(archkit.SpecError) as info:
        archkit.load_spec(path)
    assert str(info.value).startswith(f"{tmp_path}/{message}")
    result = CliRunner().invoke(app, ["profile", str(path)])
    assert result.exit_code == 2 and result.stderr.count("\n") == 1 and "Traceback" not in result.output
