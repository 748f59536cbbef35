import math

import pytest

from archkit.training.schedule import SCHEDULES, cosine, lr_at, onecycle, paper, warmup_factor


def test_paper_drops_four_percent_every_eight_epochs():
    # 10 steps per epoch: epochs 0-7 are steps 0-79.
    assert paper(0, 0.1, 10) == 0.1
    assert paper(79, 0.1, 10) == 0.1
    assert paper(80, 0.1, 10) == pytest.approx(0.096)
    assert paper(160, 0.1, 10) == pytest.approx(0.09216)
    assert paper(799, 0.1, 10) == pytest.approx(0.1 * 0.6925339442682435)  # epoch 79: 9 drops


def test_cosine_hand_values():
    assert cosine(0, 1.0, 100) == 1.0
    assert cosine(25, 1.0, 100) == pytest.approx(0.5 * (1 + math.cos(math.pi / 4)))
    assert cosine(50, 1.0, 100) == pytest.approx(0.5)
    assert cosine(100, 1.0, 100) == pytest.approx(0.0)
    assert cosine(150, 1.0, 100) == pytest.approx(0.0)  # past the end stays at 0


def test_onecycle_rises_to_the_peak_at_30_percent_then_anneals():
    assert onecycle(0, 1.0, 101) == pytest.approx(0.04)
    assert onecycle(15, 1.0, 101) == pytest.approx(0.04 + 0.96 * 0.5)
    assert onecycle(30, 1.0, 101) == pytest.approx(1.0)
    assert onecycle(65, 1.0, 101) == pytest.approx(4e-6 + (1 - 4e-6) * 0.5)
    assert onecycle(100, 1.0, 101) == pytest.approx(4e-6)


def test_warmup_ramps_linearly_and_cosine_starts_after_it():
    assert [warmup_factor(s, 4) for s in range(6)] == [0.25, 0.5, 0.75, 1.0, 1.0, 1.0]
    assert warmup_factor(0, 0) == 1.0
    kw = dict(schedule="cosine", base_lr=1.0, total_steps=110, steps_per_epoch=10, warmup_steps=10)
    assert lr_at(0, **kw) == pytest.approx(0.1)
    assert lr_at(4, **kw) == pytest.approx(0.5)
    assert lr_at(9, **kw) == pytest.approx(1.0)
    assert lr_at(60, **kw) == pytest.approx(0.5)  # halfway through the 100 steps after warm-up
    const = dict(schedule="constant", base_lr=0.3, total_steps=50, steps_per_epoch=5, warmup_steps=4)
    assert lr_at(1, **const) == pytest.approx(0.15)
    assert lr_at(30, **const) == pytest.approx(0.3)
    paper_kw = dict(schedule="paper", base_lr=0.1, total_steps=1000, steps_per_epoch=10, warmup_steps=0)
    assert lr_at(85, **paper_kw) == pytest.approx(0.096)


def test_lr_at_rejects_unknown_schedules_and_empty_runs():
    assert set(SCHEDULES) == {"paper", "cosine", "onecycle", "constant"}
    with pytest.raises(ValueError, match="schedule='step'"):
        lr_at(0, schedule="step", base_lr=0.1, total_steps=10, steps_per_epoch=1)
    with pytest.raises(ValueError, match="steps_per_epoch=0"):
        lr_at(0, schedule="cosine", base_lr=0.1, total_steps=10, steps_per_epoch=0)
