"""Table 1 of Szegedy et al. 2014, regenerated: every count here is computed inside the test from the
paper's filter counts (typed below as literal data), never from archkit's own arithmetic."""

from __future__ import annotations

import pytest

import archkit

# --- Table 1, as printed: the filter columns and output sizes --------------------------------------
# Inception rows: name -> (input channels, #1x1, #3x3 reduce, #3x3, #5x5 reduce, #5x5, pool proj,
#                          output size H=W, output depth C as printed)
INCEPTION = {
    "inception3a": (192, 64, 96, 128, 16, 32, 32, 28, 256),
    "inception3b": (256, 128, 128, 192, 32, 96, 64, 28, 480),
    "inception4a": (480, 192, 96, 208, 16, 48, 64, 14, 512),
    "inception4b": (512, 160, 112, 224, 24, 64, 64, 14, 512),
    "inception4c": (512, 128, 128, 256, 24, 64, 64, 14, 512),
    "inception4d": (512, 112, 144, 288, 32, 64, 64, 14, 528),
    "inception4e": (528, 256, 160, 320, 32, 128, 128, 14, 832),
    "inception5a": (832, 256, 160, 320, 32, 128, 128, 7, 832),
    "inception5b": (832, 384, 192, 384, 48, 128, 128, 7, 1024),
}

# Every row of Table 1 with its output size (C, H, W) and depth, in order, named as the spec names them.
OUTPUTS = [
    ("conv1", (64, 112, 112), 1),
    ("pool1", (64, 56, 56), 0),
    ("norm1", (64, 56, 56), 0),
    ("conv2", (192, 56, 56), 2),
    ("norm2", (192, 56, 56), 0),
    ("pool2", (192, 28, 28), 0),
    ("inception3a", (256, 28, 28), 2),
    ("inception3b", (480, 28, 28), 2),
    ("pool3", (480, 14, 14), 0),
    ("inception4a", (512, 14, 14), 2),
    ("inception4b", (512, 14, 14), 2),
    ("inception4c", (512, 14, 14), 2),
    ("inception4d", (528, 14, 14), 2),
    ("inception4e", (832, 14, 14), 2),
    ("pool4", (832, 7, 7), 0),
    ("inception5a", (832, 7, 7), 2),
    ("inception5b", (1024, 7, 7), 2),
    ("avgpool", (1024, 1, 1), 0),
    ("dropout", (1024, 1, 1), 0),
    ("linear", (1000, 1, 1), 1),
]


def conv_weights(cin: int, k: int, cout: int) -> int:
    return cin * k * k * cout


def inception_weights(cin, n1, r3, n3, r5, n5, pp) -> int:
    return (conv_weights(cin, 1, n1)
            + conv_weights(cin, 1, r3) + conv_weights(r3, 3, n3)
            + conv_weights(cin, 1, r5) + conv_weights(r5, 5, n5)
            + conv_weights(cin, 1, pp))


def expected_rows() -> dict[str, tuple[int, int]]:
    """name -> (params, ops) of every row with weights, from Table 1's columns alone."""
    rows = {}
    w = conv_weights(3, 7, 64)  # conv 7x7/2, 64 filters, on the RGB image
    rows["conv1"] = (w, w * 112 * 112)
    w = conv_weights(64, 1, 64) + conv_weights(64, 3, 192)  # 1x1 reduce (64) then 3x3 (192)
    rows["conv2"] = (w, w * 56 * 56)
    for name, (cin, n1, r3, n3, r5, n5, pp, hw, _) in INCEPTION.items():
        w = inception_weights(cin, n1, r3, n3, r5, n5, pp)
        rows[name] = (w, w * hw * hw)
    rows["linear"] = (1024 * 1000, 1024 * 1000)
    return rows


EXPECTED = expected_rows()


@pytest.fixture(scope="module")
def paper(googlenet):
    return archkit.profile(googlenet)


@pytest.fixture(scope="module")
def full(googlenet):
    return archkit.profile(googlenet, convention="full")


def test_the_inception_columns_add_up_to_the_printed_output_depth():
    # A consistency check on the literal data itself: the four branches concatenate to the printed C,
    # and each module's input is the previous module's output.
    previous = 192
    for name, (cin, n1, _, n3, _, n5, pp, _, cout) in INCEPTION.items():
        assert n1 + n3 + n5 + pp == cout, name
        assert cin == previous, name
        previous = cout


def test_row_names_output_shapes_and_depths(paper):
    assert [(r.name, tuple(r.output), r.depth) for r in paper.rows] == OUTPUTS


def test_table_1_sizes_need_ceil_rounding():
    # With floor rounding the max pools give 112 -> 55 -> 27 -> 13 -> 6, and the head's 7x7 average
    # pool no longer fits: Table 1's 56/28/14/7 are Caffe's ceil-rounded sizes.
    text = archkit.spec.builtin_text("googlenet")
    assert text.count("rounding: ceil") == 4
    with pytest.raises(archkit.SpecError) as info:
        archkit.spec_from_yaml(text.replace("rounding: ceil", "rounding: floor"), "floor.yaml")
    line = next(i for i, t in enumerate(text.splitlines(), 1) if "name: avgpool" in t)
    assert str(info.value) == (f"floor.yaml:{line} layers[17].avgpool: spatial size collapses: a 7x7 window "
                               "(stride 1, padding 0) does not fit the input height 6")


def test_input_shape(paper):
    assert tuple(paper.input) == (3, 224, 224)


@pytest.mark.parametrize("name", list(EXPECTED))
def test_params_and_ops_per_row(paper, name):
    params, ops = EXPECTED[name]
    row = paper.row(name)
    assert (row.params, row.ops) == (params, ops)


def test_rows_without_weights_count_nothing(paper):
    for row in paper.rows:
        if row.name not in EXPECTED:
            assert (row.params, row.ops) == (0, 0), row.name


def test_some_rows_by_hand(paper):
    # Spelled out, so a slip in the helpers above cannot hide one in the profiler.
    assert paper.row("conv1").params == 9_408 and paper.row("conv1").ops == 118_013_952
    assert paper.row("conv2").params == 114_688 and paper.row("conv2").ops == 359_661_568
    # 3a: 192*64 + 192*96 + 9*96*128 + 192*16 + 25*16*32 + 192*32
    assert paper.row("inception3a").params == 12_288 + 18_432 + 110_592 + 3_072 + 12_800 + 6_144 == 163_328
    assert paper.row("inception3a").ops == 163_328 * 784 == 128_049_152
    assert paper.row("linear").params == paper.row("linear").ops == 1_024_000


def test_inception_filter_columns(paper):
    keys = ("1x1", "3x3_reduce", "3x3", "5x5_reduce", "5x5", "pool_proj")
    for name, data in INCEPTION.items():
        assert paper.row(name).filters == dict(zip(keys, data[1:7])), name
    assert paper.row("conv2").filters == {"3x3_reduce": 64, "3x3": 192}


def test_inception_branches(paper):
    # Per-branch counts and depths of every module, from the filter columns.
    for name, (cin, n1, r3, n3, r5, n5, pp, hw, _) in INCEPTION.items():
        area = hw * hw
        expected = {
            "branch_1x1": ((n1, hw, hw), 1, cin * n1),
            "branch_3x3": ((n3, hw, hw), 2, cin * r3 + 9 * r3 * n3),
            "branch_5x5": ((n5, hw, hw), 2, cin * r5 + 25 * r5 * n5),
            "branch_pool": ((pp, hw, hw), 1, cin * pp),
        }
        got = {b.name: (tuple(b.output), b.depth, b.params) for b in paper.row(name).branches}
        assert got == expected, name
        for b in paper.row(name).branches:
            assert b.ops == b.params * area
            assert b.activations == b.output[0] * area


def test_totals(paper):
    assert paper.total.params == sum(p for p, _ in EXPECTED.values()) == 6_990_272
    assert paper.total.ops == sum(o for _, o in EXPECTED.values()) == 1_582_671_872
    assert paper.total.activations == sum(c * h * w for _, (c, h, w), _ in OUTPUTS)


def test_activations_are_output_elements(paper):
    for row, (_, (c, h, w), _) in zip(paper.rows, OUTPUTS):
        assert row.activations == c * h * w, row.name


def test_budget_is_about_one_and_a_half_billion(paper):
    # "1.5 billion multiply-adds at inference": the filter counts give 1,582,671,872 (the sum of
    # Table 1's rows above), 5.51% more.
    assert paper.total.ops == 1_582_671_872
    assert paper.total.ops / 1.5e9 - 1 == pytest.approx(0.0551, abs=5e-5)


# --- aux heads (section 5): 5x5/3 avg pool, 1x1 conv 128, FC 1024, dropout 70%, linear ----------

AUX = {"aux1": ("inception4a", 512), "aux2": ("inception4d", 528)}


def aux_expected(cin: int) -> list[tuple[str, tuple[int, int, int], int, int]]:
    # 14x14 -> (14 - 5) // 3 + 1 = 4: the paper's "4x4x512" for the first head.
    side = (14 - 5) // 3 + 1
    conv = cin * 128
    fc = 128 * side * side * 1024
    return [
        ("pool", (cin, side, side), 0, 0),
        ("conv", (128, side, side), conv, conv * side * side),
        ("fc", (1024, 1, 1), fc, fc),
        ("dropout", (1024, 1, 1), 0, 0),
        ("linear", (1000, 1, 1), 1024 * 1000, 1024 * 1000),
    ]


def test_aux_heads(paper):
    assert [(a.name, a.after, a.weight) for a in paper.aux] == [
        ("aux1", "inception4a", 0.3), ("aux2", "inception4d", 0.3)]
    for head in paper.aux:
        _, cin = AUX[head.name]
        rows = [(r.name, tuple(r.output), r.params, r.ops) for r in head.rows]
        assert rows == aux_expected(cin), head.name
        assert head.rows[0].patch == "5x5/3"
        assert head.rows[2].params == 2048 * 1024  # FC 1024 from 4x4x128 = 2048 inputs
        assert head.total.params == sum(p for *_, p, _ in aux_expected(cin))
        assert head.total.ops == sum(o for *_, o in aux_expected(cin))
    assert paper.aux[0].total.params == 65_536 + 2_097_152 + 1_024_000
    assert paper.aux_total.params == sum(a.total.params for a in paper.aux) == 6_375_424
    assert paper.aux_total.ops == sum(a.total.ops for a in paper.aux)


def test_aux_heads_are_not_in_the_inference_total(paper, full):
    assert paper.total.params == sum(r.params for r in paper.rows)
    assert full.total.params == sum(r.params for r in full.rows)


# --- "full" convention: biases (and BN), what the built model holds ---------------------------------

def test_full_convention_adds_one_bias_per_output(paper, full):
    # googlenet: every conv and linear has a bias, no batch norm. Biases = output channels of each.
    biases = 64 + (64 + 192) + 1000
    for cin, n1, r3, n3, r5, n5, pp, *_ in INCEPTION.values():
        biases += n1 + r3 + n3 + r5 + n5 + pp
    assert full.total.params == paper.total.params + biases
    assert full.total.ops == paper.total.ops
    aux_biases = 2 * (128 + 1024 + 1000)
    assert full.aux_total.params == paper.aux_total.params + aux_biases


def test_full_convention_equals_the_built_model(googlenet, googlenet_model, full):
    measured = sum(p.numel() for p in googlenet_model.parameters())
    assert full.total.params + full.aux_total.params == measured


def test_full_convention_equals_the_built_model_with_batch_norm(googlenet32):
    # googlenet-32: batch norm (scale and shift per channel) after every conv and no biases anywhere
    # (defaults.bias is false). Counted by torch.
    model = archkit.build(googlenet32, seed=0)
    full = archkit.profile(googlenet32, convention="full")
    paper = archkit.profile(googlenet32)
    assert full.total.params + full.aux_total.params == sum(p.numel() for p in model.parameters())
    weights = sum(m.weight.numel() for m in model.modules() if type(m).__name__ in ("Conv2d", "Linear"))
    assert paper.total.params == weights
    assert paper.aux == [] and full.aux_total.params == 0


def test_unknown_convention_is_refused(googlenet):
    with pytest.raises(ValueError, match="convention"):
        archkit.profile(googlenet, convention="flops")
