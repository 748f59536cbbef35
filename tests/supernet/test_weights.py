"""Inherited weights (BigNAS): `archkit export --trial N --weights` writes the candidate's slice of the
supernet beside its YAML; `archkit.build(spec, weights=...)` and `archkit train --init-from` load it;
a file of another spec is refused in one line."""

from __future__ import annotations

import pytest
import torch
from typer.testing import CliRunner

import archkit
from archkit.builder.weights import WeightsError, read_weights
from archkit.cli import app
from archkit.supernet.elastic import ElasticNet
from archkit.supernet.plan import Plan

from .conftest import beside
from .test_proxy import SEARCH


@pytest.fixture(scope="module")
def study(tmp_path_factory, tiny_supernet):
    """The tiny supernet (2 steps) in <tmp>/net and a 3-trial `proxy: supernet` study of it."""
    folder = beside(tiny_supernet, tmp_path_factory.mktemp("weights"), SEARCH.replace("trials: 4", "trials: 3"),
                    "search.yaml")
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(folder)
        result = CliRunner().invoke(app, ["search", "search.yaml", "--no-progress"])
    assert result.exit_code == 0, result.output
    return folder


def invoke(folder, monkeypatch, *args):
    monkeypatch.chdir(folder)
    result = CliRunner().invoke(app, [str(a) for a in args])
    assert "Traceback" not in result.output, result.output
    return result


def test_export_writes_the_sliced_recalibrated_weights(study, monkeypatch):
    result = invoke(study, monkeypatch, "export", "tiny", "--trial", "1", "--weights", "-o", "out")
    assert result.exit_code == 0, result.output
    yaml_path, weights_path = (study / line for line in result.stdout.split())
    assert weights_path == yaml_path.with_suffix(".pt") and weights_path.is_file()
    spec = archkit.load_spec(str(yaml_path))
    model = archkit.build(spec, weights=weights_path)
    conv1 = next(layer for layer in spec.layers if layer.name == "conv1").conv.out
    # conv1's filters are the first `out` filters of the supernet's conv1 slot, all 3 input channels.
    saved = torch.load(study / "net" / "supernet.pt", map_location="cpu", weights_only=True)
    net = ElasticNet(Plan.from_dict(saved["plan"]))
    net.load_state_dict(saved["model"])
    (key,) = [k for k in net.keys if k.startswith("conv1")]
    assert torch.equal(model.state_dict()["conv1.conv.weight"], net.slot(key).weight[:conv1])
    # Batch norm recalibrated: a cumulative average over the 8 calibration batches, not the supernet's statistics.
    assert int(model.state_dict()["conv1.bn.num_batches_tracked"]) == 8
    assert not torch.equal(model.state_dict()["conv1.bn.running_mean"], net.slot(key).running_mean[:conv1])
    payload = read_weights(weights_path)
    assert payload["source"]["supernet_steps"] == 2 and payload["source"]["calibration_batches"] == 8
    # Its val top-1 on the supernet is the score the search stored for trial 1.
    import optuna

    trial = optuna.load_study(study_name="tiny", storage="sqlite:///studies/tiny.db").trials[1]
    assert payload["source"]["val_top1"] == pytest.approx(trial.value)


def test_training_starts_from_the_inherited_weights(study, monkeypatch):
    invoke(study, monkeypatch, "export", "tiny", "--trial", "2", "--weights", "-o", "out2")
    yaml_path = next((study / "out2").glob("*.yaml"))
    spec = archkit.load_spec(str(yaml_path))
    inherited = archkit.build(spec, weights=yaml_path.with_suffix(".pt")).state_dict()["conv1.conv.weight"]
    kwargs = dict(data="digits", steps=1, lr=1e-12, weight_decay=0.0, schedule="constant", warmup_epochs=0,
                  precision="fp32", device="cpu")
    warm = archkit.train(spec, init_from=yaml_path.with_suffix(".pt"), **kwargs)
    cold = archkit.train(spec, **kwargs)
    assert torch.allclose(warm.model.state_dict()["conv1.conv.weight"], inherited, atol=1e-9)
    assert not torch.allclose(cold.model.state_dict()["conv1.conv.weight"], inherited, atol=1e-3)


def test_a_file_of_another_spec_is_refused_in_one_line(study, monkeypatch):
    invoke(study, monkeypatch, "export", "tiny", "--trial", "1", "--weights", "-o", "out3")
    weights = next((study / "out3").glob("*.pt"))
    name = read_weights(weights)["name"]
    result = invoke(study, monkeypatch, "train", "googlenet-32", "--init-from", str(weights), "--steps", "1")
    assert result.exit_code == 2 and result.stderr.splitlines() == [
        f"error: {weights} holds the weights of another spec ({name!r}), not of 'googlenet-32'"]
    with pytest.raises(WeightsError, match="not of 'googlenet-32'"):
        archkit.build(archkit.load_spec("googlenet-32"), weights=weights)
    result = invoke(study, monkeypatch, "train", "googlenet-32", "--init-from", "nope.pt", "--steps", "1")
    assert result.exit_code == 2 and result.stderr.strip() == "error: nope.pt: no such weights file"
    result = invoke(study, monkeypatch, "export", "tiny", "--trial", "1", "--supernet", "net")
    assert result.exit_code == 2 and result.stderr.strip() == (
        "error: --supernet is the folder --weights reads; give --weights too")
