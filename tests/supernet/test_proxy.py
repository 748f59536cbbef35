"""`proxy: supernet`: a search scores its candidates on the trained supernet, nothing trained; a
budget above the supernet's is refused in one line."""

from __future__ import annotations

import optuna
import pytest
import torch
from typer.testing import CliRunner

import archkit
from archkit.cli import app
from archkit.search.loader import load_search_config

from .conftest import TINY, beside

SEARCH = TINY.replace("name: tiny\n", "name: tiny\nproxy: supernet\nsupernet: net\ntrials: 4\nfinal: null\n"
                      "sampler: random\npruner: none\n")


@pytest.fixture(scope="module")
def trained(tmp_path_factory, tiny_supernet):
    """The tiny supernet (2 steps) in <tmp>/net, and the search config next to it."""
    return beside(tiny_supernet, tmp_path_factory.mktemp("proxy"), SEARCH, "search.yaml")


def cli(folder, monkeypatch, *args):
    monkeypatch.chdir(folder)
    result = CliRunner().invoke(app, [str(a) for a in args])
    assert "Traceback" not in result.output, result.output
    return result


def test_a_search_scores_candidates_on_the_supernet(trained, monkeypatch):
    result = cli(trained, monkeypatch, "search", "search.yaml", "--no-progress")
    assert result.exit_code == 0, result.output
    trials = optuna.load_study(study_name="tiny", storage="sqlite:///studies/tiny.db").get_trials()
    assert len(trials) == 4 and all(t.state.name == "COMPLETE" for t in trials)
    scored = [t for t in trials if t.user_attrs.get("feasible")]  # (the reference may not fit)
    assert len(scored) >= 3, [(t.number, {k: v for k, v in t.user_attrs.items() if k != "spec"}) for t in trials]
    for t in scored:
        assert t.user_attrs["proxy"] == "supernet" and t.user_attrs["trained"] is False
        assert 0.0 <= t.value <= 1.0
        assert t.user_attrs["ops"] <= 1_000_000
    # The score is the candidate's own network, sliced: its val accuracy is a whole number of images.
    from archkit.supernet.proxy import open_scorer

    scorer = open_scorer(load_search_config(trained / "search.yaml"))
    spec = archkit.spec_from_yaml(scored[-1].user_attrs["spec"])
    assert scorer(spec) == pytest.approx(scored[-1].value)
    images = scorer.batches.data.split_sizes["val"]
    assert abs(round(scored[-1].value * images) - scored[-1].value * images) < 1e-6
    # The study keeps what its report draws of the supernet (training curves), without the checkpoint.
    attr = optuna.load_study(study_name="tiny", storage="sqlite:///studies/tiny.db").user_attrs["supernet"]
    assert attr["directory"].endswith("net") and attr["step"] == 2 and attr["seconds"] > 0
    assert {"epoch", "val_top1", "val_top1_smallest", "val_top1_sampled_1", "val_top1_sampled_2"} <= set(
        attr["history"][-1])
    result = cli(trained, monkeypatch, "report", "tiny", "-o", "tiny.html")
    assert result.exit_code == 0, result.output
    page = (trained / "tiny.html").read_text()
    assert 'id="supernet"' in page and "fig-supernet" in page


def test_a_smaller_budget_is_served_and_a_larger_refused(trained, monkeypatch):
    (trained / "small.yaml").write_text(SEARCH.replace("1M", "900K").replace("name: tiny", "name: small"))
    result = cli(trained, monkeypatch, "search", "small.yaml", "--no-progress")
    assert result.exit_code == 0, result.output
    (trained / "large.yaml").write_text(SEARCH.replace("1M", "1.5M").replace("name: tiny", "name: large"))
    result = cli(trained, monkeypatch, "search", "large.yaml", "--no-progress")
    assert result.exit_code == 2
    assert result.output.count("\n") == 1 and "above the supernet's largest network" in result.output


def test_without_a_trained_supernet_it_says_how_to_train_one(tmp_path, monkeypatch):
    (tmp_path / "search.yaml").write_text(SEARCH.replace("supernet: net\n", ""))
    result = cli(tmp_path, monkeypatch, "search", "search.yaml", "--no-progress")
    assert result.exit_code == 2 and "archkit supernet train" in result.output and "runs/tiny-supernet" in result.output


def test_supernet_needs_the_supernet_proxy(tmp_path):
    (tmp_path / "s.yaml").write_text(TINY + "supernet: net\n")
    with pytest.raises(archkit.SpecError, match="supernet: is read by `proxy: supernet` only"):
        load_search_config(tmp_path / "s.yaml")


def test_the_scorer_leaves_the_random_stream_alone(trained):
    scorer = __import__("archkit.supernet.proxy", fromlist=["open_scorer"]).open_scorer(
        load_search_config(trained / "search.yaml"))
    spec = scorer.plan.extreme(load_search_config(trained / "search.yaml").base, False)
    before = torch.get_rng_state()
    scorer(spec)
    assert torch.equal(before, torch.get_rng_state())
