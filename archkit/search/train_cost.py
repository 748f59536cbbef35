"""Training memory as a search cost: the predicted peak of one training step of a candidate, as the
trial will train it (`archkit.profile.training`: no tensor is made), and the batch it trains at.

A trial trains at `train.batch_size`, or with `batch_size: auto` at the largest power of two (at
most `train.max_batch_size`) whose predicted peak fits `budget.train_memory`. Its precision is the
trainer's: `auto` resolved on the trial's device exactly as `archkit train` resolves it
(`archkit.training.precision.resolve_precision`: bf16 on GPUs and CPUs that compute it natively),
so the bytes budgeted are the bytes the trainer's own memory guard predicts.

The candidate is costed as written, like its ops and params: its classifier has the base spec's
classes, whereas the trainer gives it the data set's when they differ (a few bytes per class).
"""

from __future__ import annotations

from dataclasses import dataclass

from ..profile.training import TrainProfile, train_profile_resolved
from ..spec.resolve import ResolvedSpec

AUTO = "auto"  # `train: {batch_size: auto}`
DEFAULT_MAX_BATCH = 256  # `train.max_batch_size`'s default: what `batch_size: auto` may reach


def power_of_two_at_most(n: int) -> int:
    """The largest power of two <= n (n >= 1)."""
    return 1 << (n.bit_length() - 1)


@dataclass(frozen=True)
class TrainCost:
    """How trials train, as far as their memory goes: the batch (None: `auto`, up to `max_batch`),
    the resolved precision, the device kind ("cpu" or "cuda"), what the optimizer keeps and the
    memory budget (`limit`, bytes; None without one)."""

    batch: int | None
    precision: str
    device: str
    max_batch: int = DEFAULT_MAX_BATCH
    momentum: float = 0.9
    channels_last: bool = True
    label_smoothing: float = 0.0
    limit: int | None = None

    def profile(self, r: ResolvedSpec, batch: int = 1) -> TrainProfile:
        return train_profile_resolved(r, batch, self.precision, momentum=self.momentum,
                                      channels_last=self.channels_last, label_smoothing=self.label_smoothing,
                                      device=self.device)

    def measure(self, r: ResolvedSpec) -> tuple[int, int]:
        """(batch, predicted peak bytes at that batch) for the resolved candidate `r`. With `auto`:
        the largest power of two up to `max_batch` whose peak fits the limit; batch 1 (and its peak,
        over the limit) when not even one image fits."""
        cost = self.profile(r)
        batch = self.batch if self.batch is not None else self.auto_batch(cost)
        # The peak is linear in the batch: the part that grows with it, and the part that does not.
        return batch, cost.fixed_bytes() + cost.per_image_bytes() * batch

    def auto_batch(self, cost: TrainProfile) -> int:
        largest = min(cost.largest_batch(self.limit), self.max_batch) if self.limit is not None else self.max_batch
        return power_of_two_at_most(largest) if largest >= 1 else 1

    def batch_text(self) -> str:
        """'batch 64' or 'batch: the largest power of two up to 256 within the budget'."""
        if self.batch is not None:
            return f"batch {self.batch:,}"
        return f"batch: the largest power of two up to {self.max_batch:,} within the budget"

    def describe(self) -> str:
        """'batch 64, bf16 on cuda' (what the predicted peaks are for)."""
        return f"{self.batch_text()}, {self.precision} on {self.device}"

    def attr(self) -> dict:
        """Where and how a study's training memory is predicted (a study user attr)."""
        return {"batch_size": self.batch if self.batch is not None else AUTO, "max_batch_size": self.max_batch,
                "precision": self.precision, "device": self.device}


def device_kind(device: str) -> str:
    """The trial's device as the training model knows it: "cuda" or "cpu" (`auto`: CUDA when there is a GPU)."""
    if device == AUTO:
        import torch

        return "cuda" if torch.cuda.is_available() else "cpu"
    return "cuda" if device.startswith("cuda") else "cpu"


def trial_precision(requested: str, device: str) -> str:
    """The precision a trial on `device` trains in: `requested`, or what `auto` means there, as the
    trainer resolves it (torch is asked only for `auto`). A CUDA device this machine lacks: its
    trials cannot train here anyway; bf16 (what `auto` gives on every GPU since Ampere) is assumed."""
    if requested != AUTO:
        return requested
    import torch

    from ..training.precision import resolve_precision

    kind = device_kind(device)
    if kind == "cuda" and not torch.cuda.is_available():
        return "bf16"
    return resolve_precision(AUTO, torch.device(device if device != AUTO else kind))


def recipe_cost(recipe: dict, limit: int | None = None) -> TrainCost:
    """The `TrainCost` of runs of a recipe (`train:`'s keys, or the confirmation's final recipe) on
    this machine, within `limit` bytes (`budget.train_memory`)."""
    batch, device = recipe["batch_size"], recipe["device"]
    return TrainCost(batch=None if batch == AUTO else batch, precision=trial_precision(recipe["precision"], device),
                     device=device_kind(device), max_batch=recipe.get("max_batch_size") or DEFAULT_MAX_BATCH,
                     momentum=recipe["momentum"], channels_last=recipe["channels_last"],
                     label_smoothing=recipe["label_smoothing"], limit=limit)


def train_cost(config) -> TrainCost:
    """The `TrainCost` of a search config's trials (`config`: a SearchConfig) on this machine."""
    return recipe_cost(config.train.model_dump(), config.budget.train_memory)


# The recipe keys only the search reads: never passed to archkit.train.
SEARCH_ONLY = ("max_batch_size",)


def trial_recipe(train) -> dict:
    """The recipe a trial trains with: `train:` (a `config.TrainRecipe`) without its unset keys, its
    `epochs` left out when it gives `steps`."""
    recipe = train.model_dump(exclude_none=True)
    if "steps" in recipe:
        recipe.pop("epochs", None)
    return recipe


def trainer_recipe(recipe: dict, batch_size: int | None) -> dict:
    """A recipe as archkit.train's keyword arguments: the search's own keys left out, and the batch
    the candidate trains at (`batch_size: auto` resolved by `TrainCost.measure`) put in."""
    recipe = {k: v for k, v in recipe.items() if k not in SEARCH_ONLY}
    if batch_size is not None:
        recipe["batch_size"] = batch_size
    elif recipe.get("batch_size") == AUTO:
        raise ValueError("batch_size auto: the candidate's batch was not computed (no TrainCost)")
    return recipe


__all__ = ["AUTO", "DEFAULT_MAX_BATCH", "SEARCH_ONLY", "TrainCost", "device_kind", "power_of_two_at_most",
           "recipe_cost", "train_cost", "trainer_recipe", "trial_precision", "trial_recipe"]
