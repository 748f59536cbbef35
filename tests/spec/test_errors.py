"""Bad specs and their messages: one line, `file:line field.path: message`, nothing executed."""

from __future__ import annotations

import subprocess
import sys

import pytest

import archkit
from archkit import SpecError

KINDS = "conv, maxpool, avgpool, lrn, inception, module, global_avgpool, dropout, linear"

CONV = "{name: conv1, conv: {out: 8, kernel: 3}}"
GAP = "{name: gap, global_avgpool: {}}"
FC = "{name: fc, linear: {}}"
INCEPTION = "{name: inc, inception: {1x1: 4, 3x3_reduce: 4, 3x3: 8, 5x5_reduce: 2, 5x5: 4, pool_proj: 4}}"


def doc(*layers: str, input: str = "{channels: 3, size: 32}", classes: str = "10", tail: str = "") -> str:
    """A spec whose lines are known: 1 name, 2 input, 3 classes, 4 `layers:`, 5.. one layer per line,
    then `tail`."""
    lines = ["name: t", f"input: {input}", f"classes: {classes}", "layers:"]
    lines += [f"  - {layer}" for layer in (layers or (CONV, GAP, FC))]
    return "\n".join(lines) + "\n" + tail


# (id, YAML text, expected message after "<file>:")
CASES = [
    # --- widths: sign, zero, type -------------------------------------------------------------
    ("negative-inception-width", doc(CONV, INCEPTION.replace("3x3: 8", "3x3: -3"), GAP, FC),
     "6 layers[1].inception.3x3: must be a positive integer, got -3"),
    ("zero-conv-width", doc(CONV.replace("out: 8", "out: 0"), GAP, FC),
     "5 layers[0].conv.out: must be a positive integer, got 0"),
    ("float-conv-width", doc(CONV.replace("out: 8", "out: 2.5"), GAP, FC),
     "5 layers[0].conv.out: must be an integer, got 2.5"),
    ("string-inception-width", doc(CONV, INCEPTION.replace("pool_proj: 4", "pool_proj: four"), GAP, FC),
     "6 layers[1].inception.pool_proj: must be an integer, got 'four'"),
    ("boolean-width", doc(CONV.replace("out: 8", "out: true"), GAP, FC),
     "5 layers[0].conv.out: must be an integer, got True"),
    ("negative-linear-out", doc(CONV, GAP, "{name: fc, linear: {out: -10}}"),
     "7 layers[2].linear.out: must be a positive integer, got -10"),
    ("zero-stride", doc(CONV.replace("kernel: 3", "kernel: 3, stride: 0"), GAP, FC),
     "5 layers[0].conv.stride: must be a positive integer, got 0"),
    ("kernel-pair-negative", doc(CONV.replace("kernel: 3", "kernel: [3, -1]"), GAP, FC),
     "5 layers[0].conv.kernel[1]: must be a positive integer, got -1"),
    ("kernel-of-one-number", doc(CONV.replace("kernel: 3", "kernel: [3]"), GAP, FC),
     "5 layers[0].conv.kernel: must be an integer or a [height, width] list, got [3]"),
    ("conv-padding-word", doc(CONV.replace("kernel: 3", "kernel: 3, padding: full"), GAP, FC),
     "5 layers[0].conv.padding: must be 'same', 'valid', an integer or a [height, width] list, got 'full'"),
    ("negative-padding", doc(CONV.replace("kernel: 3", "kernel: 3, padding: -1"), GAP, FC),
     "5 layers[0].conv.padding: must be an integer >= 0, got -1"),
    ("dropout-p-one", doc(CONV, GAP, "{name: drop, dropout: {p: 1}}", FC),
     "7 layers[2].dropout.p: must be < 1, got 1"),
    ("negative-lrn-alpha", doc(CONV, "{name: norm, lrn: {alpha: -0.5}}", GAP, FC),
     "6 layers[1].lrn.alpha: must be a positive number, got -0.5"),
    ("negative-aux-weight", doc(CONV, GAP, FC, tail="aux: [{after: conv1, weight: -1}]\n"),
     "8 aux[0].weight: must be a number >= 0, got -1"),
    # --- non-finite numbers: YAML's .inf and .nan are floats, refused where any number goes -----
    ("residual-scale-inf", doc(CONV, "{name: res, module: {branches: [[{conv: {out: 8}}]], residual: {scale: .inf}}}",
                               GAP, FC),
     "6 layers[1].module.residual.scale: must be a finite number, got inf"),
    ("dropout-p-nan", doc(CONV, GAP, "{name: drop, dropout: {p: .nan}}", FC),
     "7 layers[2].dropout.p: must be a finite number, got nan"),
    ("lrn-k-inf", doc(CONV, "{name: norm, lrn: {k: .Inf}}", GAP, FC),
     "6 layers[1].lrn.k: must be a finite number, got inf"),
    ("aux-weight-minus-inf", doc(CONV, GAP, FC, tail="aux: [{after: conv1, weight: -.inf}]\n"),
     "8 aux[0].weight: must be a finite number, got -inf"),
    ("batch-norm-eps-nan", doc(tail="defaults: {batch_norm_eps: .NaN}\n"),
     "8 defaults.batch_norm_eps: must be a finite number, got nan"),
    ("activation-unknown", doc(CONV.replace("kernel: 3", "kernel: 3, activation: gelu"), GAP, FC),
     "5 layers[0].conv.activation: must be one of 'relu' or 'none', got 'gelu'"),
    # --- keys ---------------------------------------------------------------------------------
    ("unknown-top-level-key", doc(tail="colour: red\n"), "8 colour: unknown key"),
    ("unknown-nested-key", doc(CONV.replace("kernel: 3", "kernal: 3"), GAP, FC),
     "5 layers[0].conv.kernal: unknown key (did you mean 'kernel'?)"),
    ("unknown-inception-column", doc(CONV, INCEPTION.replace("}}", ", 7x7: 3}}"), GAP, FC),
     "6 layers[1].inception.7x7: unknown key"),
    ("missing-top-level-key", "name: t\ninput: {size: 8}\nlayers:\n  - {name: fc, linear: {}}\n",
     "1 classes: required key is missing"),
    ("missing-nested-key", doc(CONV, INCEPTION.replace("3x3: 8, ", ""), GAP, FC),
     "6 layers[1].inception.3x3: required key is missing"),
    ("missing-conv-out", doc(CONV.replace("out: 8, ", ""), GAP, FC),
     "5 layers[0].conv.out: required key is missing"),
    ("duplicate-yaml-key", doc(tail="classes: 5\n"), "8 classes: duplicate key 'classes' (first on line 3)"),
    ("non-string-key", doc(CONV.replace("out: 8", "out: 8, 3: 3"), GAP, FC),
     "5 layers[0].conv: keys must be strings, got '3'"),
    ("complex-key", "? [a, b]\n: 1\n", "1: keys must be strings, got a list"),
    ("boolean-key", doc(tail="yes: 1\n"), "8: keys must be strings, got 'yes'"),
    # --- layer kinds and names ------------------------------------------------------------------
    ("two-kinds-in-one-layer", doc(CONV, "{name: gap, global_avgpool: {}, dropout: {p: 0.5}}", FC),
     f"6 layers[1]: a layer has several kinds (global_avgpool, dropout); give exactly one of: {KINDS}"),
    ("no-kind", doc(CONV, "{name: gap}", FC), f"6 layers[1]: a layer needs exactly one of: {KINDS}"),
    ("layer-not-a-mapping", doc(CONV, "global_avgpool", FC),
     "6 layers[1]: must be a mapping, got 'global_avgpool'"),
    ("layers-not-a-list", "name: t\ninput: {size: 8}\nclasses: 2\nlayers: {conv1: 3}\n",
     "4 layers: must be a list, got {'conv1': 3}"),
    ("no-layers", "name: t\ninput: {size: 8}\nclasses: 2\nlayers: []\n", "4 layers: must have at least 1 item, got 0"),
    ("duplicate-layer-name", doc(CONV, "{name: conv1, global_avgpool: {}}", FC),
     "6 layers[1].name: duplicate layer name 'conv1' (also layers[0])"),
    ("bad-layer-name", doc(CONV, "{name: 2nd, global_avgpool: {}}", FC),
     "6 layers[1].name: must be a name of letters, digits and underscores, got '2nd'"),
    ("empty-spec-name", doc().replace("name: t\n", "name: ''\n", 1), "1 name: must not be empty"),
    # --- shapes and channels ----------------------------------------------------------------------
    ("spatial-size-collapses", doc(CONV.replace("kernel: 3", "kernel: 7, padding: valid"), GAP, FC,
                                   input="{channels: 3, size: 4}"),
     ("5 layers[0].conv: spatial size collapses: a 7x7 window (stride 1, padding 0) does not fit the input "
      "height 4")),
    ("pooling-collapses", doc(CONV, "{name: pool, maxpool: {kernel: 5, stride: 2}}", GAP, FC,
                              input="{channels: 3, height: 32, width: 3}"),
     ("6 layers[1].maxpool: spatial size collapses: a 5x5 window (stride 2, padding 0) does not fit the "
      "input width 3")),
    ("conv-channel-mismatch", doc(CONV.replace("out: 8", "out: 8, in: 4"), GAP, FC),
     "5 layers[0].conv.in: channel mismatch: the conv expects 4 input channels, its input has 3"),
    ("linear-channel-mismatch", doc(CONV, GAP, "{name: fc, linear: {in: 16}}"),
     ("7 layers[2].linear.in: channel mismatch: the linear layer expects 16 inputs, its flattened input "
      "8x1x1 has 8")),
    ("branches-end-at-different-sizes",
     doc(CONV, ("{name: m, module: {branches: [[{conv: {out: 4, kernel: 3, stride: 2}}], "
                "[{conv: {out: 4, kernel: 1}}]]}}"), GAP, FC),
     ("6 layers[1].module: branches must end at the same spatial size to concatenate (branch0: 16x16, "
      "branch1: 32x32)")),
    ("pool-padding-more-than-half-the-kernel", doc(CONV, "{name: pool, maxpool: {kernel: 3, padding: 2}}", GAP, FC),
     "6 layers[1].maxpool.padding: padding 2 is more than half the kernel 3 (PyTorch refuses it)"),
    ("input-size-and-height", doc(input="{channels: 3, size: 32, height: 32}"),
     "2 input: give either size or height and width, not both"),
    ("input-height-without-width", doc(input="{channels: 3, height: 32}"),
     "2 input: give size, or both height and width"),
    # --- classifier and aux heads -----------------------------------------------------------------
    ("last-layer-not-linear", doc(CONV, GAP),
     "6 layers[1]: the last layer must be a linear classifier (it gives the logits)"),
    ("classes-differ-from-linear-out", doc(CONV, GAP, "{name: fc, linear: {out: 7}}"),
     "7 layers[2].linear.out: the last linear layer has 7 outputs but the spec has 10 classes"),
    ("aux-after-a-missing-layer", doc(tail="aux:\n  - {after: inception4a}\n"),
     "9 aux[0].after: aux head after 'inception4a', but there is no layer of that name"),
    ("aux-after-the-last-layer", doc(tail="aux: [{after: fc}]\n"),
     "8 aux[0].after: an aux head after the last layer would duplicate the classifier"),
    ("aux-name-taken", doc(tail="aux: [{after: conv1, name: gap}]\n"),
     "8 aux[0].name: aux head name 'gap' is already used by a layer or another head"),
    # --- documents ----------------------------------------------------------------------------------
    ("document-is-a-list", "- conv1\n- fc\n", "1: a spec must be a YAML mapping, got a list"),
    ("document-is-a-scalar", "googlenet\n", "1: a spec must be a YAML mapping, got a string"),
    ("document-is-null", "~\n", "1: a spec must be a YAML mapping, got null"),
    ("empty-file", "", "1: the file is empty; a spec is a YAML mapping"),
    ("only-comments", "# a spec\n\n# to come\n", "1: the file is empty; a spec is a YAML mapping"),
    ("invalid-yaml-syntax", doc(CONV, GAP, "{name: fc, linear: {}"), "8: YAML error: did not find expected ',' or '}'"),
    ("two-documents", doc() + "---\n" + doc(), "8: YAML error: but found another document"),
]


@pytest.mark.parametrize(("text", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_spec_message(write_spec, text, expected):
    path = write_spec(text, "bad.yaml")
    with pytest.raises(SpecError) as info:
        archkit.load_spec(str(path))
    message = str(info.value)
    assert message == f"{path}:{expected}"
    assert "\n" not in message
    assert info.value.source == str(path)


def test_there_are_many_cases():
    assert len(CASES) >= 20
    assert len({c[0] for c in CASES}) == len(CASES)


def test_every_base_document_is_valid(write_spec):
    # The cases above differ from a valid spec only in what they break.
    spec = archkit.load_spec(write_spec(doc(CONV, INCEPTION, GAP, FC, tail="aux: [{after: conv1}]\n")))
    assert [layer.name for layer in spec.layers] == ["conv1", "inc", "gap", "fc"]
    assert archkit.profile(spec).row("inc").output == (20, 32, 32)


@pytest.mark.parametrize("where", ["document", "value"])
def test_python_tags_are_refused_and_never_run(tmp_path, write_spec, where):
    marker = tmp_path / "pwned"
    payload = f"!!python/object/apply:os.system ['touch {marker}']"
    text = f"{payload}\n" if where == "document" else doc(classes=payload)
    path = write_spec(text)
    with pytest.raises(SpecError) as info:
        archkit.load_spec(path)
    line = 1 if where == "document" else 3
    assert str(info.value) == (
        f"{path}:{line}: YAML error: could not determine a constructor for the tag "
        "'tag:yaml.org,2002:python/object/apply:os.system' (YAML tags are refused: archkit reads YAML safely)"
    )
    assert not marker.exists()


def test_python_name_tag_is_refused(write_spec):
    path = write_spec(doc(classes="!!python/name:os.getcwd"))
    with pytest.raises(SpecError, match=r"^.*:3: YAML error: could not determine a constructor .*python/name"):
        archkit.load_spec(path)


def test_missing_file():
    with pytest.raises(SpecError) as info:
        archkit.load_spec("no-such-spec")
    assert str(info.value) == ("no-such-spec: no such file or built-in spec (built-in specs: bn-inception, googlenet, "
                               "googlenet-32, inception-resnet-v2, inception-v3, inception-v4, xception)")
    with pytest.raises(SpecError) as info:
        archkit.load_spec("missing/dir/spec.yaml")
    assert str(info.value) == "missing/dir/spec.yaml: no such file or built-in spec"


def test_directory(tmp_path):
    with pytest.raises(SpecError) as info:
        archkit.load_spec(tmp_path)
    assert str(info.value) == f"{tmp_path}: is a directory, not a spec file"


def test_not_utf8(tmp_path):
    path = tmp_path / "latin1.yaml"
    path.write_bytes("name: caf\xe9\n".encode("latin-1"))
    with pytest.raises(SpecError) as info:
        archkit.load_spec(path)
    assert str(info.value).startswith(f"{path}: cannot read the file: UnicodeDecodeError:")
    assert "\n" not in str(info.value)


def test_error_from_plain_data_names_the_path_without_a_line():
    data = {"name": "t", "input": {"size": 8}, "classes": 2,
            "layers": [{"name": "c", "conv": {"out": -1}}, {"name": "fc", "linear": {}}]}
    with pytest.raises(SpecError) as info:
        archkit.spec_from_data(data)
    assert str(info.value) == "layers[0].conv.out: must be a positive integer, got -1"
    assert info.value.path == ("layers", 0, "conv", "out")
    assert info.value.line is None


def test_spec_error_is_a_value_error_with_its_parts(write_spec):
    path = write_spec(doc(CONV, INCEPTION.replace("3x3: 8", "3x3: -3"), GAP, FC))
    with pytest.raises(ValueError) as info:
        archkit.load_spec(path)
    err = info.value
    assert isinstance(err, SpecError)
    assert (err.source, err.line, err.path) == (str(path), 6, ("layers", 1, "inception", "3x3"))
    assert err.message == "must be a positive integer, got -3"


def _laughs(levels: int = 9) -> list[str]:
    """Nested YAML aliases: 9 levels of 9 references expand to 9**9 (387 million) items."""
    lines = ["anchors:", "  a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    lines += [f"  a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, levels)]
    return lines


@pytest.mark.parametrize(("field", "expected"), [
    ("anchors", "1 anchors: unknown key"),
    ("source", "15 source: must be a string, got [[[[...], [...], [...], [...], ...], ..."),
    ("layers", "10 layers[0]: must be a mapping, got [[[[...], [...], [...], [...], ...], ..."),
], ids=["unknown-key", "string-field", "list-field"])
def test_nested_aliases_are_not_expanded(tmp_path, field, expected):
    # "Billion laughs": the document is small, its expansion is not. Loading must stay fast (it runs
    # in a child process with a time limit, so a regression fails instead of hanging the suite).
    # Lines: 1 anchors, 2-10 a0-a8, 11 name, 12 input, 13 classes, 14 layers, 15 source; a value reached
    # through an alias is reported at its anchor (a8, line 10).
    lines = _laughs() + ["name: t", "input: {size: 8}", "classes: 2"]
    if field == "layers":
        lines.append("layers: [*a8]")
    else:
        lines.append("layers: [{name: fc, linear: {}}]")
    if field == "source":
        lines.append("source: *a8")
    path = tmp_path / "laughs.yaml"
    path.write_text("\n".join(lines) + "\n")
    code = ("import sys, archkit\ntry:\n    archkit.load_spec(sys.argv[1])\nexcept archkit.SpecError as e:\n"
            "    print(e)\n")
    result = subprocess.run([sys.executable, "-c", code, str(path)], check=False, capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"{path}:{expected}\n"
