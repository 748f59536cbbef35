"""Loading specs: built-ins by name, files by path, YAML features that stay allowed, round trips."""

from __future__ import annotations

import pytest
import yaml

import archkit
from archkit.spec import builtin_text


def test_builtins_load_by_name(googlenet, googlenet32):
    assert googlenet.name == "googlenet" and googlenet.classes == 1000
    assert googlenet.input.hw == (224, 224) and googlenet.input.channels == 3
    assert [a.after for a in googlenet.aux] == ["inception4a", "inception4d"]
    assert all(a.weight == 0.3 for a in googlenet.aux)
    # The paper's aux head by default: 5x5/3 avg pool, 1x1 conv 128, FC 1024 + ReLU, dropout 70%, linear.
    head = googlenet.aux[0].layers
    assert [layer.kind for layer in head] == ["avgpool", "conv", "linear", "dropout", "linear"]
    assert (head[0].avgpool.kernel, head[0].avgpool.stride) == (5, 3)
    assert (head[1].conv.out, head[1].conv.kernel) == (128, 1)
    assert (head[2].linear.out, head[2].linear.activation) == (1024, "relu")
    assert head[3].dropout.p == 0.7
    assert googlenet32.classes == 10 and googlenet32.input.hw == (32, 32) and googlenet32.aux == []


def test_googlenet_32_keeps_the_nine_modules_filter_counts(googlenet, googlenet32):
    def modules(spec):
        return {layer.name: layer.inception for layer in spec.layers if layer.kind == "inception"}

    assert modules(googlenet32) == modules(googlenet)
    assert len(modules(googlenet)) == 9


def test_googlenet_has_the_paper_stem_and_head(googlenet):
    kinds = [(layer.name, layer.kind) for layer in googlenet.layers]
    assert kinds[:6] == [("conv1", "conv"), ("pool1", "maxpool"), ("norm1", "lrn"), ("conv2", "conv"),
                         ("norm2", "lrn"), ("pool2", "maxpool")]
    assert kinds[-3:] == [("avgpool", "avgpool"), ("dropout", "dropout"), ("linear", "linear")]
    assert googlenet.layers[-2].dropout.p == 0.4
    assert all(layer.maxpool.rounding == "ceil" for layer in googlenet.layers if layer.kind == "maxpool")


def test_a_file_and_its_text_give_the_same_spec(tmp_path):
    path = tmp_path / "g.yaml"
    path.write_text(builtin_text("googlenet"))
    assert archkit.load_spec(path) == archkit.load_spec("googlenet")
    assert archkit.load_spec(str(path)) == archkit.spec_from_yaml(builtin_text("googlenet"))


def test_round_trip_through_to_dict(googlenet, googlenet32):
    for spec in (googlenet, googlenet32):
        text = yaml.safe_dump(spec.to_dict(), sort_keys=False)
        again = archkit.spec_from_yaml(text)
        assert again == spec
        assert archkit.profile(again).to_dict() == archkit.profile(spec).to_dict()


def test_with_classes(googlenet32):
    spec = googlenet32.with_classes(100)
    prof = archkit.profile(spec)
    assert prof.rows[-1].output == (100, 1, 1)
    assert prof.rows[-1].params == 1024 * 100
    assert archkit.profile(googlenet32).rows[-1].params == 1024 * 10


def test_yaml_merge_keys_and_anchors_are_allowed(write_spec):
    spec = archkit.load_spec(write_spec("""\
        name: merged
        input: {channels: 3, size: 16}
        classes: 4
        layers:
          - {name: c1, conv: &bn {out: 8, kernel: 3, batch_norm: true, bias: false}}
          - {name: c2, conv: {<<: *bn, out: 12}}
          - {name: gap, global_avgpool: {}}
          - {name: fc, linear: {}}
    """))
    c2 = spec.layers[1].conv
    assert (c2.out, c2.kernel, c2.batch_norm, c2.bias) == (12, 3, True, False)
    assert archkit.profile(spec).row("c2").params == 8 * 9 * 12


def test_block_style_errors_point_at_the_line(write_spec):
    path = write_spec("""\
        name: block
        input:
          channels: 3
          size: 16
        classes: 4
        layers:
          - name: c1
            conv:
              out: 8
              kernel: 3
              stride: -2
          - name: fc
            linear: {}
    """)
    with pytest.raises(archkit.SpecError) as info:
        archkit.load_spec(path)
    assert str(info.value) == f"{path}:11 layers[0].conv.stride: must be a positive integer, got -2"


def test_height_and_width(write_spec):
    spec = archkit.load_spec(write_spec("""\
        name: wide
        input: {channels: 1, height: 20, width: 40}
        classes: 2
        layers:
          - {name: c1, conv: {out: 4, kernel: [3, 5], stride: [1, 2]}}
          - {name: p, maxpool: {kernel: 3, stride: 2, rounding: ceil}}
          - {name: fc, linear: {}}
    """))
    prof = archkit.profile(spec)
    # conv: height (20 + 2 - 3) // 1 + 1 = 20, width (40 + 4 - 5) // 2 + 1 = 20;
    # pool (ceil): (20 - 3) / 2 rounded up + 1 = 10 on both sides.
    assert [tuple(r.output) for r in prof.rows] == [(4, 20, 20), (4, 10, 10), (2, 1, 1)]
    assert prof.row("c1").params == 1 * 3 * 5 * 4
    assert prof.row("fc").params == 400 * 2


@pytest.mark.parametrize("bad", [0, -3, True, 2.0])
def test_with_classes_refuses_non_positive_counts(bad):
    spec = archkit.load_spec("googlenet-32")
    with pytest.raises(ValueError, match="classes must be a positive integer"):
        spec.with_classes(bad)


def test_with_classes_changes_the_classifier():
    spec = archkit.load_spec("googlenet-32").with_classes(3)
    assert archkit.profile(spec).row("linear").output == (3, 1, 1)
