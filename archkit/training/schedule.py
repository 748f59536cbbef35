"""Learning-rate schedules as pure functions of the step: no optimizer, no state to checkpoint.

`lr_at(step, ...)` gives the learning rate for optimizer step `step` (0-based). Warm-up multiplies any
schedule by a linear ramp, so a deep net without a good init does not blow up in its first steps.
"""

from __future__ import annotations

import math

SCHEDULES = ("paper", "cosine", "onecycle", "constant")

# The paper (section 6): "decreasing the learning rate by 4% every 8 epochs".
PAPER_DECAY = 0.96
PAPER_EVERY_EPOCHS = 8
# One-cycle (Smith & Topin 2019, as torch's OneCycleLR defaults): start at lr/25, peak at 30% of the
# run, anneal (cosine) to lr/(25*1e4) at the end.
ONECYCLE_PEAK_AT = 0.3
ONECYCLE_DIV = 25.0
ONECYCLE_FINAL_DIV = 1e4


def paper(step: int, base_lr: float, steps_per_epoch: int) -> float:
    """base_lr * 0.96 ** (number of whole 8-epoch periods completed)."""
    epoch = step // steps_per_epoch
    return base_lr * PAPER_DECAY ** (epoch // PAPER_EVERY_EPOCHS)


def cosine(step: int, base_lr: float, total_steps: int, start: int = 0) -> float:
    """Half a cosine from base_lr at `start` down to 0 at `total_steps`."""
    span = max(1, total_steps - start)
    t = min(1.0, max(0.0, (step - start) / span))
    return base_lr * 0.5 * (1.0 + math.cos(math.pi * t))


def onecycle(step: int, base_lr: float, total_steps: int) -> float:
    """Linear rise from base_lr/25 to base_lr over the first 30% of steps, then cosine down to
    base_lr/(25*1e4) at the last step."""
    low = base_lr / ONECYCLE_DIV
    final = low / ONECYCLE_FINAL_DIV
    peak = max(1, round(ONECYCLE_PEAK_AT * total_steps))
    if step < peak:
        return low + (base_lr - low) * step / peak
    t = min(1.0, (step - peak) / max(1, total_steps - 1 - peak))
    return final + (base_lr - final) * 0.5 * (1.0 + math.cos(math.pi * t))


def warmup_factor(step: int, warmup_steps: int) -> float:
    """Linear ramp (step+1)/warmup_steps, 1 from step warmup_steps-1 on (1 throughout if no warm-up)."""
    if warmup_steps <= 0:
        return 1.0
    return min(1.0, (step + 1) / warmup_steps)


def lr_at(step: int, *, schedule: str, base_lr: float, total_steps: int, steps_per_epoch: int,
          warmup_steps: int = 0) -> float:
    """The learning rate of optimizer step `step` (0-based) for a named schedule, warm-up included.

    The cosine decay starts after the warm-up, so the run ends at lr 0 whatever the warm-up length.
    """
    if schedule not in SCHEDULES:
        raise ValueError(f"schedule must be one of {SCHEDULES}, but got {schedule=}")
    if steps_per_epoch < 1 or total_steps < 1:
        raise ValueError(f"need at least one step, but got {steps_per_epoch=} and {total_steps=}")
    if schedule == "paper":
        lr = paper(step, base_lr, steps_per_epoch)
    elif schedule == "cosine":
        lr = cosine(step, base_lr, total_steps, start=warmup_steps)
    elif schedule == "onecycle":
        lr = onecycle(step, base_lr, total_steps)
    else:
        lr = base_lr
    return lr * warmup_factor(step, warmup_steps)
