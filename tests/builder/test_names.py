"""Any name a spec may hold builds: layer, branch and aux-head names that collide with attributes of
the torch classes holding them (`keys`, `forward`, `training`, `_modules`, `aux_weights`, ...)."""

import re

import pytest
import torch
from torch import nn

import archkit
from archkit.builder import build
from archkit.builder.blocks import Chain, Concat, Named, child
from archkit.builder.verify import verify

LAYER_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")  # the spec's pattern for layer and aux names

PLAIN = """
name: plain
input: {channels: 3, size: 8}
classes: 4
layers:
  - {name: conv1, conv: {out: 4, kernel: 3}}
  - {name: avgpool, global_avgpool: {}}
  - {name: linear, linear: {}}
"""


def attribute_names() -> list[str]:
    """Every attribute of an instance of each class a spec's names become children of (found, not listed)."""
    model = build(archkit.spec_from_yaml(PLAIN))
    holders = [model, Chain({}), Concat({}), Named({}), nn.Module(), nn.Sequential(), nn.ModuleDict()]
    names = set()
    for holder in holders:
        names |= set(dir(holder)) | set(vars(holder))
    names -= {"conv1", "avgpool", "linear"}  # the children of PLAIN itself (dir() lists children too)
    return sorted(n for n in names if LAYER_NAME.match(n) and len(n) <= 64)


NAMES = attribute_names()


def test_the_names_cover_what_crashed_before():
    assert {"aux_weights", "_modules", "_parameters", "keys", "forward", "training", "spec", "layer_names",
            "branches", "state_dict"} <= set(NAMES)
    assert len(NAMES) > 100


def check_builds_and_trains(spec: archkit.Spec) -> tuple[nn.Module, set[str]]:
    model = build(spec, seed=0)
    model.train()
    model.eval()
    model.train()
    assert model.training and all(m.training for m in model.modules())
    out = model(torch.randn(2, 3, 8, 8))
    logits = out.logits if hasattr(out, "logits") else out
    assert logits.shape == (2, 4)
    logits.sum().backward()
    again = build(spec, seed=0)
    again.load_state_dict(model.state_dict())
    keys = {k.split(".")[0] for k in model.state_dict()}
    return model, keys


def test_layer_names_that_are_torch_attributes_build_and_train():
    layers = "\n".join(f"  - {{name: {n}, conv: {{out: 4, kernel: 1}}}}" for n in NAMES)
    spec = archkit.spec_from_yaml(PLAIN.replace("layers:\n", "layers:\n" + layers + "\n"))
    model, keys = check_builds_and_trains(spec)
    assert set(NAMES) <= keys  # state-dict keys are the spec's names
    assert isinstance(child(model, "keys").conv, nn.Conv2d) and model["aux_weights"] is child(model, "aux_weights")
    assert model.aux_weights == [] and model.training is True  # the model's own attributes are intact


def test_branch_names_that_are_torch_attributes_build():
    branches = ", ".join(f"{{name: {n}, ops: [{{conv: {{out: 1, kernel: 1}}}}]}}" for n in NAMES)
    module = f"  - {{name: mixed, module: {{branches: [{branches}]}}}}\n"
    spec = archkit.spec_from_yaml(PLAIN.replace("  - {name: avgpool", module + "  - {name: avgpool"))
    model, _ = check_builds_and_trains(spec)
    assert list(child(model, "mixed.branches")._modules) == NAMES
    assert child(model, "mixed").branches["keys"] is child(model, "mixed.branches.keys")


@pytest.mark.parametrize("name", ["aux_weights", "_modules", "_parameters", "keys", "training", "forward",
                                  "layer_names", "aux_names", "_aux_after", "spec"])
def test_aux_head_and_its_layer_names_that_are_attributes_build_and_verify(name):
    aux = (f"aux:\n  - after: conv1\n    name: {name}\n    weight: 0.3\n    layers:\n"
           f"      - {{name: {name}, global_avgpool: {{}}}}\n      - {{name: linear, linear: {{}}}}\n")
    spec = archkit.spec_from_yaml(PLAIN + aux)
    model, keys = check_builds_and_trains(spec)
    assert name in keys and model.aux_weights == [0.3]
    assert verify(spec).ok
