"""Scoring a candidate on the supernet: slice, recalibrate batch norm, evaluate on val.

The running statistics a supernet's batch norms collect while training belong to no network: every
step mixes the batches of four different sub-networks. So a candidate's statistics are computed
afresh on a few training batches before it is scored (BigNAS, OFA's `set_running_statistics`).
This runs on the candidate built by `archkit.build(spec)` with the sliced weights loaded, the spec's
own network: the supernet's own buffers are left as they are.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ..builder import build
from ..spec.models import Spec
from ..training.batches import Batches
from ..training.engine import topk_correct
from ..training.precision import autocast
from .elastic import ElasticNet

CALIBRATION_BATCHES = 8  # training batches whose statistics a candidate's batch norms take (BigNAS: ~2k images)


def recalibrate(model: nn.Module, batches: list[torch.Tensor]) -> None:
    """Every batch norm's running mean and variance replaced by those of `batches` (a cumulative
    average over them: momentum None), the model left in eval mode."""
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None
    model.train()
    with torch.no_grad():
        for x in batches:
            model(x)
    model.eval()


@dataclass(frozen=True)
class Score:
    val_top1: float
    val_top5: float
    val_loss: float
    seconds: float  # slicing, recalibration and evaluation


class Scorer:
    """Scores candidates on a supernet: `scorer(spec)` -> `Score` on the val split of `batches`."""

    def __init__(self, net: ElasticNet, batches: Batches, device: torch.device, precision: str,
                 calibration: int = CALIBRATION_BATCHES):
        self.net = net
        self.batches = batches
        self.device = device
        self.precision = precision
        self.channels_last = batches.memory_format == torch.channels_last
        # A fixed set of training batches (epoch 0's first, augmented as in training), for every candidate.
        self.calibration: list[torch.Tensor] = []
        for x, _ in batches.epoch(0):
            self.calibration.append(x)
            if len(self.calibration) >= calibration:
                break

    def model(self, spec: Spec) -> nn.Module:
        """The candidate built from its spec, with its slice of the supernet's weights."""
        model = build(spec)
        model.load_state_dict(self.net.sub_state_dict(spec), strict=True)
        model = model.to(self.device)
        return model.to(memory_format=torch.channels_last) if self.channels_last else model

    @torch.no_grad()
    def calibrated(self, spec: Spec) -> nn.Module:
        """The candidate with its slice of the weights and its batch norms recalibrated (eval mode)."""
        devices = [self.device.index or 0] if self.device.type == "cuda" else []
        with torch.random.fork_rng(devices=devices):
            model = self.model(spec)
            recalibrate(model, self.calibration)
        return model

    @torch.no_grad()
    def __call__(self, spec: Spec) -> Score:
        # Building the model (its initial weights) and recalibrating in train mode (dropout masks)
        # draw random numbers: from a forked RNG, so that scoring never shifts a training run's
        # stream (a resumed run must draw what the uninterrupted one drew).
        devices = [self.device.index or 0] if self.device.type == "cuda" else []
        with torch.random.fork_rng(devices=devices):
            return self._score(spec)

    def _score(self, spec: Spec) -> Score:
        started = time.perf_counter()
        model = self.model(spec)
        recalibrate(model, self.calibration)
        sums = torch.zeros(4, dtype=torch.float64, device=self.device)  # loss, top-1, top-5, images
        for x, y in self.batches.val():
            with autocast(self.device, self.precision):
                logits = model(x)
            top1, top5 = topk_correct(logits.float(), y)
            loss = F.cross_entropy(logits.float(), y, reduction="sum")
            sums += torch.stack([loss.double(), top1.double(), top5.double(),
                                 torch.tensor(float(len(y)), device=self.device, dtype=torch.float64)])
        loss, top1, top5, n = sums.tolist()
        n = max(n, 1.0)
        return Score(top1 / n, top5 / n, loss / n, time.perf_counter() - started)
