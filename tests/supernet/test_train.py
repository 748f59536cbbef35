"""`archkit supernet train`: the sandwich rule trains, a checkpoint continues bit for bit, and a
checkpoint of another config (or a corrupt one) is refused in one line."""

from __future__ import annotations

import pytest
import torch
from typer.testing import CliRunner

from archkit.cli import app

from .conftest import TINY


def config(tmp_path, text: str = TINY, name: str = "tiny.yaml"):
    path = tmp_path / name
    path.write_text(text)
    return path


def invoke(*args):
    result = CliRunner().invoke(app, ["supernet", "train", *[str(a) for a in args]])
    assert "Traceback" not in result.output, result.output
    return result


def state(directory):
    return torch.load(directory / "supernet.pt", map_location="cpu", weights_only=True)


def test_trains_and_continues_as_the_uninterrupted_run(tmp_path):
    # (A constant learning rate: a cosine schedule is stretched by a longer run, as in archkit train.)
    path = config(tmp_path)
    first = invoke(path, "-o", tmp_path / "a", "--steps", 2, "--device", "cpu", "-q")
    assert first.exit_code == 0, first.output
    assert "supernet of tiny" in first.output and "2 steps" in first.output
    assert state(tmp_path / "a")["step"] == 2
    resumed = invoke(path, "-o", tmp_path / "a", "--steps", 3, "--device", "cpu", "-q")
    assert resumed.exit_code == 0, resumed.output
    straight = invoke(path, "-o", tmp_path / "b", "--steps", 3, "--device", "cpu", "-q")
    assert straight.exit_code == 0, straight.output
    a, b = state(tmp_path / "a"), state(tmp_path / "b")
    assert a["step"] == b["step"] == 3
    assert a["model"].keys() == b["model"].keys()
    for key in a["model"]:
        assert torch.equal(a["model"][key], b["model"][key]), key
    # The checkpoint says what it was trained for: the plan, the config's identity and budget.
    assert a["limits"] == {"ops": 1_000_000} and a["identity"]["space"]["divisor"] == 4
    history = a["history"][-1]
    assert 0.0 <= history["val_top1"] <= 1.0 and 0.0 <= history["val_top1_smallest"] <= 1.0


def test_another_configs_checkpoint_is_refused_naming_what_differs(tmp_path):
    path = config(tmp_path)
    assert invoke(path, "-o", tmp_path / "s", "--steps", 1, "--device", "cpu", "-q").exit_code == 0
    other = config(tmp_path, TINY.replace("stage5: [1, 2]", "stage5: [1, 1]"), "other.yaml")
    result = invoke(other, "-o", tmp_path / "s", "--steps", 2, "--device", "cpu", "-q")
    assert result.exit_code == 2
    assert result.output.count("\n") == 1 and "another config" in result.output and "space.depth" in result.output
    bigger = config(tmp_path, TINY.replace("1M", "2M"), "bigger.yaml")
    result = invoke(bigger, "-o", tmp_path / "s", "--steps", 2, "--device", "cpu", "-q")
    assert result.exit_code == 2 and "budget" in result.output


def test_a_corrupt_checkpoint_is_one_line(tmp_path):
    (tmp_path / "c").mkdir()
    (tmp_path / "c" / "supernet.pt").write_bytes(b"not a checkpoint")
    result = invoke(config(tmp_path), "-o", tmp_path / "c", "--steps", 1, "--device", "cpu", "-q")
    assert result.exit_code == 2
    assert result.output.startswith("error: ") and result.output.count("\n") == 1
    assert "cannot read the supernet checkpoint" in result.output


@pytest.mark.parametrize("text, key", [
    (TINY.replace("budget: {ops: 1M}", "budget: {latency_ms: 2}"), "budget.latency_ms"),
    (TINY.replace("base: googlenet-32", "base: googlenet"), "base"),
])
def test_a_space_it_cannot_express_is_refused(tmp_path, text, key):
    result = invoke(config(tmp_path, text), "-o", tmp_path / "x", "--steps", 1, "--device", "cpu", "-q")
    assert result.exit_code == 2 and key in result.output and result.output.count("\n") == 1


def test_a_draw_outside_the_plan_is_redrawn_not_a_crash(monkeypatch):
    """On the demo's plan as it was sized before mixes of 5x5 forms were covered (corners + 200
    pool samples, seed 0), step 463 of seed 0's sandwich drew a candidate whose stage-3 5x5 branch
    needs 12 channels where the layout holds 8; a 60-epoch training ended there in a traceback. The
    plan now holds it; a checkpoint's older plan still redraws such a draw and counts it."""
    from pathlib import Path

    from archkit.search.loader import load_search_config
    from archkit.supernet import pool
    from archkit.supernet.sandwich import Sandwich

    loaded = load_search_config(Path(__file__).parents[2] / "studies" / "demo.yaml")
    for old, outside in ((False, 0), (True, 1)):
        if old:
            monkeypatch.setattr(pool, "widest_forms", lambda *a, **k: [])  # the sizing before the fix
        plan = pool.plan_for(loaded, 10)
        sandwich = Sandwich(loaded, plan, 0)
        for step in (462, 463):
            for spec in sandwich(step):
                plan.program(spec)  # raises SupernetError for a candidate outside the plan
        assert sandwich.outside == outside


def test_down_to_spreads_the_sampled_budgets_over_the_range():
    """`--down-to`: the random sub-networks are filled to budgets between it and the config's, not
    all to the config's (profiled here, against the range's ends)."""
    import random

    import archkit
    from archkit.supernet import plan_for
    from archkit.supernet.sandwich import Sandwich, down_to_fraction

    from .conftest import load

    loaded = load("demo.yaml", "3M")
    plan = plan_for(loaded, classes=10, samples=0)
    assert down_to_fraction({"ops": 3_000_000}, "1M") == pytest.approx(1 / 3)

    def ops(sandwich, n=16):
        rng = random.Random(5)
        return [archkit.profile(sandwich._random(rng)).total.ops for _ in range(n)]

    plain, spread = ops(Sandwich(loaded, plan, 0)), ops(Sandwich(loaded, plan, 0, down_to=1 / 3))
    assert min(plain) > 2_500_000 and max(plain) <= 3_000_000  # filled to the budget, as a trial fills
    assert max(spread) <= 3_000_000 and min(spread) < 1_500_000  # spread down towards 1M
    assert sum(x < 2_000_000 for x in spread) >= 4  # log-uniform in [1M, 3M]: ~37% below 2M


def test_down_to_is_checked_and_kept_by_a_continued_run(tmp_path):
    path = config(tmp_path)
    for bad, message in (("5M", "below the config's ops budget"), ("fast", "expected a count"),
                         ("2ms", "drawn by multiply-adds or params, not latency")):
        result = invoke(path, "-o", tmp_path / "x", "--steps", 1, "--down-to", bad, "-q")
        assert result.exit_code == 2 and message in result.output, result.output
        assert result.output.count("\n") == 1
    first = invoke(path, "-o", tmp_path / "a", "--steps", 1, "--device", "cpu", "--down-to", "500K", "-q")
    assert first.exit_code == 0, first.output
    assert state(tmp_path / "a")["down_to"] == pytest.approx(0.5)
    again = invoke(path, "-o", tmp_path / "a", "--steps", 2, "--device", "cpu", "--down-to", "250K", "-q")
    assert again.exit_code == 2 and "was trained with --down-to 500K" in again.output
    kept = invoke(path, "-o", tmp_path / "a", "--steps", 2, "--device", "cpu", "-q")
    assert kept.exit_code == 0, kept.output
    assert state(tmp_path / "a")["down_to"] == pytest.approx(0.5) and state(tmp_path / "a")["step"] == 2
