"""The training loop: SGD with momentum, the aux heads' weighted loss, autocast, top-1/top-5 evaluation.

Short enough to read in one sitting. The loop synchronizes with the device only every few steps
(every step on the CPU, where it costs nothing), so a GPU is never left waiting for Python; the
loss of every step is still checked, and a NaN or infinite loss stops the run naming where it began.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from . import checkpoint as ckpt
from . import ddp
from .batches import Batches
from .config import TrainConfig
from .errors import DivergedError
from .fastops import accelerate
from .precision import autocast, grad_scaler
from .progress import Quiet
from .schedule import lr_at

TIMING_WARMUP_STEPS = 5  # steps of a session left out of img/s (allocator, autotuning, compilation)
CUDA_SYNC_EVERY = 25
EMPTY_SUMS = {"loss": 0.0, "correct": 0, "images": 0, "steps": 0}


def training_loss(output, target: torch.Tensor, aux_weights, label_smoothing: float = 0.0):
    """(loss, main logits). `output` is the logits, or (logits, aux logits) from a model with aux
    heads in training mode; each aux head adds its cross-entropy times its weight (the paper's 0.3)."""
    if isinstance(output, tuple):
        logits, aux_logits = output
    else:
        logits, aux_logits = output, ()
    loss = F.cross_entropy(logits, target, label_smoothing=label_smoothing)
    for weight, aux in zip(aux_weights, aux_logits, strict=True):
        loss = loss + weight * F.cross_entropy(aux, target, label_smoothing=label_smoothing)
    return loss, logits


def make_optimizer(model: nn.Module, config: TrainConfig) -> torch.optim.SGD:
    """SGD with momentum; weight decay on conv and linear weights only: decaying batch-norm scales and
    biases pulls them toward zero without regularizing anything. The fused implementation updates
    all parameters in one kernel instead of a few small ops per parameter tensor."""
    decay = [p for p in model.parameters() if p.ndim > 1]
    no_decay = [p for p in model.parameters() if p.ndim <= 1]
    groups = [{"params": decay, "weight_decay": config.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    fused = all(p.device.type in ("cpu", "cuda") and p.is_floating_point() for p in model.parameters())
    return torch.optim.SGD(groups, lr=config.lr, momentum=config.momentum, fused=fused or None)


def topk_correct(logits: torch.Tensor, target: torch.Tensor, k: int = 5) -> tuple[torch.Tensor, torch.Tensor]:
    """(top-1 hits, top-k hits) as 0-dim tensors (k capped at the class count)."""
    k = min(k, logits.shape[1])
    top = logits.topk(k, dim=1).indices
    hits = top == target[:, None]
    return hits[:, 0].sum(), hits.any(dim=1).sum()


@dataclass
class Timer:
    """Steady-state throughput: images and seconds of the windows after the first steps."""

    skip: int
    images: int = 0
    seconds: float = 0.0
    all_images: int = 0
    all_seconds: float = 0.0
    _mark: float | None = field(default=None, repr=False)
    _window_images: int = 0
    _counted: bool = False

    def start_window(self, session_step: int) -> None:
        self._mark = time.perf_counter()
        self._window_images = 0
        self._counted = session_step >= self.skip

    def add(self, images: int) -> None:
        self._window_images += images

    def end_window(self) -> None:
        if self._mark is None:
            return
        dt = time.perf_counter() - self._mark
        self.all_images += self._window_images
        self.all_seconds += dt
        if self._counted:
            self.images += self._window_images
            self.seconds += dt
        self._mark = None

    @property
    def images_per_s(self) -> float:
        if self.seconds > 0:
            return self.images / self.seconds
        return self.all_images / self.all_seconds if self.all_seconds > 0 else 0.0


class Engine:
    """Trains `model` on `batches` for a number of steps. `model` is the plain module (its state is
    what checkpoints hold); compilation and DistributedDataParallel wrap it for the forward pass.
    Slow modules in it are replaced by faster equivalents (`fastops.accelerate`)."""

    def __init__(self, model: nn.Module, batches: Batches, config: TrainConfig, *, device: torch.device,
                 precision: str, total_steps: int, info: ddp.DistInfo = ddp.DistInfo(), progress=None):
        self.model = model
        self.batches = batches
        self.config = config
        self.device = device
        self.precision = precision
        self.total_steps = total_steps
        self.info = info
        self.progress = progress or Quiet()
        self.aux_weights = list(getattr(model, "aux_weights", []))
        self.optimizer = make_optimizer(model, config)
        self.scaler = grad_scaler(device, precision)
        self.step = 0
        self.history: list[dict] = []
        self.seconds = 0.0  # wall time of training and evaluation, earlier sessions included
        self.epoch_sums = dict(EMPTY_SUMS)  # train loss and top-1 of the epoch so far
        self.warmup_steps = round(config.warmup_epochs * batches.steps_per_epoch)
        accelerate(model)  # same function, faster kernels (LRN); parameters and state dict unchanged
        forward = model
        if info.enabled:
            from torch.nn.parallel import DistributedDataParallel

            forward = DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)
        if config.compile:
            forward = torch.compile(forward)
        self.forward = forward
        self.eval_forward = torch.compile(model) if config.compile else model
        self.sync_every = 1 if device.type == "cpu" else CUDA_SYNC_EVERY

    # --- one step ----------------------------------------------------------------------------

    def lr(self, step: int) -> float:
        return lr_at(step, schedule=self.config.schedule, base_lr=self.config.lr, total_steps=self.total_steps,
                     steps_per_epoch=self.batches.steps_per_epoch, warmup_steps=self.warmup_steps)

    def train_step(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """One optimizer step; returns (loss, correct top-1 count) as device tensors (no sync)."""
        lr = self.lr(self.step)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        with autocast(self.device, self.precision):
            output = self.forward(x)
            loss, logits = training_loss(output, y, self.aux_weights, self.config.label_smoothing)
        self.optimizer.zero_grad(set_to_none=True)
        if self.scaler is not None:
            self.scaler.scale(loss).backward()
            self.scaler.step(self.optimizer)
            self.scaler.update()
        else:
            loss.backward()
            self.optimizer.step()
        self.step += 1
        return loss.detach(), (logits.detach().argmax(1) == y).sum()

    # --- evaluation --------------------------------------------------------------------------

    @torch.no_grad()
    def evaluate(self, split: str = "val") -> dict[str, float]:
        """Top-1, top-5 and loss on the "val" or "test" split (summed over processes), keyed by the split:
        `val_top1`, `val_top5`, `val_loss` (or `test_...`)."""
        if split not in ("val", "test"):
            raise ValueError(f"split must be 'val' or 'test', but got {split!r}")
        self.model.eval()
        sums = torch.zeros(4, dtype=torch.float64, device=self.device)  # loss, top-1, top-5, images
        for x, y in (self.batches.val() if split == "val" else self.batches.test()):
            with autocast(self.device, self.precision):
                logits = self.eval_forward(x)
            top1, top5 = topk_correct(logits.float(), y)
            loss = F.cross_entropy(logits.float(), y, reduction="sum")
            sums += torch.stack([loss.double(), top1.double(), top5.double(), torch.tensor(len(y), device=self.device,
                                                                                          dtype=torch.float64)])
        self.model.train()
        loss, top1, top5, n = ddp.all_sum(sums).tolist()
        n = max(n, 1.0)
        return {f"{split}_loss": loss / n, f"{split}_top1": top1 / n, f"{split}_top5": top5 / n}

    # --- the loop ----------------------------------------------------------------------------

    def _sync(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)

    def _check_finite(self, losses: list[torch.Tensor], first_step: int) -> list[float]:
        values = torch.stack(losses).float().cpu()
        bad = (~torch.isfinite(values)).nonzero()
        if len(bad):
            step = first_step + int(bad[0])  # 0-based global step of the first bad loss
            spe = self.batches.steps_per_epoch
            epoch = step // spe
            value = values[int(bad[0])].item()
            raise DivergedError(
                f"loss became {value} at epoch {epoch + 1}, step {step + 1} (step {step % spe + 1} of the epoch, "
                f"lr {self.lr(step):.4g}): lower --lr, add --warmup-epochs, or use --precision fp32",
                epoch=epoch + 1, step=step + 1)
        return values.tolist()

    def _evaluates(self, epoch: int) -> bool:
        """Whether the val split is scored after `epoch` (1-based): every `eval_every` epochs and
        after the run's last."""
        every = self.config.eval_every
        return self.step >= self.total_steps or (every > 0 and epoch % every == 0)

    def fit(self, on_epoch_end=None) -> Timer:
        """Train from `self.step` to `self.total_steps`, evaluating the val split after every
        `config.eval_every`-th epoch and the last (the history entries of the others have no val
        keys) and calling `on_epoch_end(self)` after each epoch (checkpoints). Returns the session's
        throughput timer."""
        spe = self.batches.steps_per_epoch
        session_start = self.step
        timer = Timer(skip=min(TIMING_WARMUP_STEPS, max(1, (self.total_steps - session_start) // 5)))
        self.model.train()
        self.progress.start(self.total_steps, self.step)
        wall = time.perf_counter()
        try:
            while self.step < self.total_steps:
                epoch, start = divmod(self.step, spe)
                if start == 0:
                    self.epoch_sums = dict(EMPTY_SUMS)
                sums = self.epoch_sums  # kept in checkpoints: a resumed epoch reports the whole epoch
                window: list[torch.Tensor] = []
                window_correct: list[torch.Tensor] = []
                window_first = self.step
                timer.start_window(self.step - session_start)
                for x, y in self.batches.epoch(epoch, start):
                    loss, hits = self.train_step(x, y)
                    window.append(loss)
                    window_correct.append(hits)
                    timer.add(len(y) * self.info.world)
                    session_step = self.step - session_start
                    at_end = self.step >= self.total_steps or self.step % spe == 0
                    if at_end or session_step % self.sync_every == 0 or session_step == timer.skip:
                        self._sync()
                        timer.end_window()
                        values = self._check_finite(window, window_first)
                        sums["loss"] += sum(values)
                        sums["correct"] += int(torch.stack(window_correct).sum())
                        sums["images"] += len(values) * len(y)
                        sums["steps"] += len(values)
                        self.progress.update(self.step, epoch, sums["loss"] / sums["steps"],
                                             sums["correct"] / sums["images"], timer.images_per_s)
                        window, window_correct, window_first = [], [], self.step
                        timer.start_window(self.step - session_start)
                    if self.step >= self.total_steps:
                        break
                timer.end_window()
                if self.step % spe:  # stopped mid-epoch (--steps)
                    self.seconds += time.perf_counter() - wall
                    break
                entry = {"epoch": self.step // spe, "step": self.step, "lr": self.lr(self.step - 1),
                         "train_loss": sums["loss"] / max(1, sums["steps"]),
                         "train_top1": sums["correct"] / max(1, sums["images"]),
                         **(self.evaluate() if self._evaluates(self.step // spe) else {}),
                         "images_per_s": timer.images_per_s}
                self.seconds += time.perf_counter() - wall  # evaluation included: the run's wall time
                wall = time.perf_counter()
                entry["seconds"] = self.seconds
                self.history.append(entry)
                self.progress.epoch_end(entry, self.total_steps // spe if self.total_steps % spe == 0 else None)
                if on_epoch_end is not None:
                    on_epoch_end(self)
        finally:
            self.progress.close()
        return timer

    # --- state -------------------------------------------------------------------------------

    def state_dict(self) -> dict:
        """What a checkpoint holds (the RNG states of all processes are gathered to each)."""
        return {
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scaler": self.scaler.state_dict() if self.scaler is not None else None,
            "step": self.step,
            "history": self.history,
            "seconds": self.seconds,
            "epoch_sums": dict(self.epoch_sums),
            "rng": ddp.gather(ckpt.rng_state(self.device)),
        }

    def load_state_dict(self, state: dict) -> None:
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        if self.scaler is not None and state.get("scaler") is not None:
            self.scaler.load_state_dict(state["scaler"])
        self.step = int(state["step"])
        self.history = list(state["history"])
        self.seconds = float(state["seconds"])
        self.epoch_sums = dict(state["epoch_sums"])
        rngs = state["rng"]
        if len(rngs) == self.info.world:
            ckpt.set_rng_state(rngs[self.info.rank], self.device)
        else:  # a different process count: continue, reproducibly but not bit-for-bit
            torch.manual_seed(self.config.seed + self.step + self.info.rank)
