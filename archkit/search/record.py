"""A search trial as the study stores it: the user-attr keys, declared once, and a typed record.

The search writes these keys on each Optuna trial (`trial.py`, `studies.py`, `storage.py`); the
run summary, export, confirmation, the report and the benchmarks read them. Each key is spelled
here only, as Optuna spells its own (`_CONSTRAINTS_KEY`). `read_trial` turns a FrozenTrial into a
`StoredTrial`. Which trials count and how they rank is `results`'s business, not this module's.

Nothing here imports torch, optuna or another archkit module: report/ and bench/ read it too.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypedDict

# --- the candidate, before any training ----------------------------------------------------------
SPEC = "spec"  # the candidate's YAML (str)
OPS = "ops"  # multiply-adds for one image (int)
PARAMS = "params"  # weights (int)
ACTIVATIONS = "activations"  # output elements for one image (int)
WIDTH_SCALE = "width_scale"  # the uniform width scale budget filling chose (float; 1.0 without)
WIDTHS = "widths"  # output channels per module, a `Widths` (text 'stem 16/56 | 64,128 | ...' before)
ARCH = "arch"  # a hash of the network (str): two trials with the same one are the same network
FEASIBLE = "feasible"  # within the budget (bool)
CONSTRAINTS = "constraints"  # Optuna's constraint values, one per limit (<= 0: met)
LATENCY_MS = "latency_ms"  # predicted latency (ms; a study with a latency budget or objective)
TRAIN_MEMORY = "train_memory"  # predicted peak bytes of one training step at BATCH_SIZE and the trial's precision
BATCH_SIZE = "batch_size"  # the batch it trains at (int; `batch_size: auto`: the largest power of two that fits)
# --- how it came to be ---------------------------------------------------------------------------
REFERENCE = "reference"  # the uniform-width-scaling reference: why (str); absent on searched trials
PRIOR = "prior"  # an enqueued structured candidate: its description (str)
RETRY_OF = "retry_of"  # the trial whose worker died, retried once (int)
DUPLICATE_OF = "duplicate_of"  # the trial that trained the same network, whose results it took (int)
# --- its score -----------------------------------------------------------------------------------
PROXY = "proxy"  # the proxy it was scored by (str, a name of `proxies.PROXIES`)
SCORE = "proxy_score"  # that proxy's value, higher is better (float); see `results.score`
TRAINED = "trained"  # trained to the end (bool; False: over budget, or a zero-cost proxy)
VAL_TOP1 = "val_top1"  # validation top-1 after the short recipe (fraction); a pruned trial's when stopped
VAL_TOP5 = "val_top5"
PRUNED_AT_EPOCH = "pruned_at_epoch"
# --- where and how long --------------------------------------------------------------------------
DEVICE = "device"  # what it trained on ("cpu", "cuda", ...)
PRECISION = "precision"  # training precision ("fp32", "bf16", ...)
TRAIN_SECONDS = "train_seconds"  # the training loop (s)
TRAIN_CALL_SECONDS = "train_call_seconds"  # the whole train() call: data, model, loop, evaluation (s)
IMAGES_PER_S = "images_per_s"  # training throughput
OVERHEAD_SECONDS = "overhead_seconds"  # the trial's own work before training (s)
MEASURED_LATENCY_MS = "measured_latency_ms"  # timed after training: the fastest block of calls (ms)
MEASURED_LATENCY_MEDIAN_MS = "measured_latency_median_ms"
MEASURED_LATENCY_IQR_MS = "measured_latency_iqr_ms"
# torch.cuda.max_memory_allocated over the trial's train() call (bytes; trials on CUDA only): the step's
# peak and what else the run holds on the device (the data set, evaluation batches)
MEASURED_TRAIN_MEMORY = "measured_train_memory"
ERROR = "error"  # why it failed, one line (str)

# A study's (not a trial's) attr that `results` reads: the confirmation stage's verdict (`confirm`).
VERDICT = "verdict"
# A study's attr under `proxy: supernet`, set when a search starts: the supernet it scores on
# (`supernet.proxy.SupernetScorer.attr`: folder, training seconds, step, per-epoch val history), so
# the report draws its training curves without the checkpoint.
SUPERNET = "supernet"

# What a duplicate trial takes over from the trial that trained the same network.
TRAINED_KEYS = (VAL_TOP1, VAL_TOP5, TRAIN_SECONDS, IMAGES_PER_S, DEVICE, PRECISION, SCORE, TRAINED,
                MEASURED_LATENCY_MS, MEASURED_LATENCY_MEDIAN_MS, MEASURED_LATENCY_IQR_MS, MEASURED_TRAIN_MEMORY)


class Widths(TypedDict):
    """Output channels of a candidate: the stem's convs, then each stage's modules."""

    stem: list[int]
    stages: list[list[int]]  # one list per stage (modules between two grid reductions), a width per module


def widths_text(widths: Widths | None) -> str:
    """'stem 16/56 | 64,128 | 144,144,136 | 224' (the progress view's and the report's); '' for None."""
    if not widths:
        return ""
    parts = ["stem " + "/".join(map(str, widths["stem"]))] if widths["stem"] else []
    return " | ".join(parts + [",".join(map(str, stage)) for stage in widths["stages"]])


def read_widths(value: Any) -> Widths | None:
    """A stored `widths` attr as `Widths`; None when the trial has none (or it cannot be read).

    Studies written before widths were stored structured hold the text of `widths_text` instead:
    it is parsed back here, so those studies still load in the report."""
    if isinstance(value, dict):
        return Widths(stem=[int(w) for w in value.get("stem", [])],
                      stages=[[int(w) for w in stage] for stage in value.get("stages", [])])
    if not isinstance(value, str) or not value.strip():
        return None
    stem: list[int] = []
    stages: list[list[int]] = []
    try:
        for part in (p.strip() for p in value.split("|")):
            if part.startswith("stem"):
                stem = [int(w) for w in part[len("stem"):].split("/") if w.strip()]
            elif part:
                stages.append([int(w) for w in part.split(":")[-1].split(",")])  # 'stage3: 64,128' too
    except ValueError:
        return None
    return Widths(stem=stem, stages=stages)


@dataclass(frozen=True)
class StoredTrial:
    """One trial of a search study: Optuna's own fields and the user attrs above (None where absent)."""

    number: int
    state: str  # Optuna's state name: "COMPLETE", "PRUNED", "FAIL", "RUNNING", "WAITING"
    sampled: dict[str, Any] = field(default_factory=dict)  # Optuna's sampled parameters
    start: datetime | None = None
    seconds: float | None = None  # Optuna's duration
    spec: str | None = None
    ops: int | None = None
    params: int | None = None
    activations: int | None = None
    width_scale: float | None = None
    widths: Widths | None = None
    arch: str | None = None
    feasible: bool | None = None
    constraints: list[float] | None = None
    latency_ms: float | None = None
    train_memory: int | None = None
    batch_size: int | None = None
    reference: str | None = None
    prior: str | None = None
    retry_of: int | None = None
    duplicate_of: int | None = None
    proxy: str | None = None
    proxy_score: float | None = None  # the stored value; `results.score` also reads older studies
    trained: bool | None = None
    val_top1: float | None = None
    val_top5: float | None = None
    pruned_at_epoch: int | None = None
    device: str | None = None
    precision: str | None = None
    train_seconds: float | None = None
    train_call_seconds: float | None = None
    images_per_s: float | None = None
    overhead_seconds: float | None = None
    measured_latency_ms: float | None = None
    measured_latency_median_ms: float | None = None
    measured_latency_iqr_ms: float | None = None
    measured_train_memory: int | None = None
    error: str | None = None

    @property
    def depths(self) -> list[int]:
        """Modules per stage ([] without widths)."""
        return [len(stage) for stage in self.widths["stages"]] if self.widths else []


# StoredTrial field -> user-attr key, for the fields that are attrs (all but Optuna's own).
_KEYS = {"spec": SPEC, "ops": OPS, "params": PARAMS, "activations": ACTIVATIONS, "width_scale": WIDTH_SCALE,
         "arch": ARCH, "feasible": FEASIBLE, "constraints": CONSTRAINTS, "latency_ms": LATENCY_MS,
         "train_memory": TRAIN_MEMORY, "batch_size": BATCH_SIZE, "reference": REFERENCE, "prior": PRIOR,
         "retry_of": RETRY_OF, "duplicate_of": DUPLICATE_OF,
         "proxy": PROXY, "proxy_score": SCORE, "trained": TRAINED, "val_top1": VAL_TOP1, "val_top5": VAL_TOP5,
         "pruned_at_epoch": PRUNED_AT_EPOCH, "device": DEVICE, "precision": PRECISION,
         "train_seconds": TRAIN_SECONDS, "train_call_seconds": TRAIN_CALL_SECONDS, "images_per_s": IMAGES_PER_S,
         "overhead_seconds": OVERHEAD_SECONDS, "measured_latency_ms": MEASURED_LATENCY_MS,
         "measured_latency_median_ms": MEASURED_LATENCY_MEDIAN_MS,
         "measured_latency_iqr_ms": MEASURED_LATENCY_IQR_MS, "measured_train_memory": MEASURED_TRAIN_MEMORY,
         "error": ERROR}


def read_trial(trial) -> StoredTrial:
    """A FrozenTrial (or anything with number, state, params and user_attrs) as a StoredTrial."""
    a = trial.user_attrs
    duration = getattr(trial, "duration", None)
    return StoredTrial(
        number=trial.number, state=trial.state.name, sampled=dict(trial.params),
        start=getattr(trial, "datetime_start", None), seconds=duration.total_seconds() if duration else None,
        widths=read_widths(a.get(WIDTHS)), **{name: a.get(key) for name, key in _KEYS.items()})


__all__ = [
    "ACTIVATIONS", "ARCH", "BATCH_SIZE", "CONSTRAINTS", "DEVICE", "DUPLICATE_OF", "ERROR", "FEASIBLE",
    "IMAGES_PER_S", "LATENCY_MS", "MEASURED_LATENCY_IQR_MS", "MEASURED_LATENCY_MEDIAN_MS", "MEASURED_LATENCY_MS",
    "MEASURED_TRAIN_MEMORY", "OPS", "OVERHEAD_SECONDS", "PARAMS", "PRECISION", "PRIOR", "PROXY", "PRUNED_AT_EPOCH",
    "REFERENCE", "RETRY_OF", "SCORE", "SPEC", "StoredTrial", "TRAINED", "TRAINED_KEYS", "TRAIN_CALL_SECONDS",
    "TRAIN_MEMORY", "TRAIN_SECONDS", "VAL_TOP1", "VAL_TOP5", "VERDICT", "WIDTHS", "WIDTH_SCALE", "Widths",
    "read_trial", "read_widths", "widths_text",
]
