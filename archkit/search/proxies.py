"""Proxies: cheap scores meant to rank candidates as their final accuracy would.

A search can only afford a short look at each candidate. `PROXIES` names every look it could take,
from a short training run (`val_top1`, today's behaviour; `train_loss`) to scores of the freshly
built, untrained network (`synflow`, `naswot`). Which one ranks candidates faithfully is measured by
`archkit bench proxy` (Kendall's tau against the final recipe's accuracy); a proxy is only as good
as that measurement.

Every proxy is "higher is better". Torch is imported inside the functions: the registry itself is
importable without it (a config can name a proxy without loading torch).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..spec.models import Spec

NASWOT_BATCH = 128  # Mellor et al. score mini-batches of 128 images
_EXACT_FLOAT32 = 2**24  # integer sums up to this are exact in float32


# --- scores of a trained run -------------------------------------------------------------------


def val_top1_of(result: Any) -> float:
    """Validation top-1 of a finished run (a `TrainResult`): what a search trial scores today."""
    return float(result.val_top1)


def train_loss_of(result: Any) -> float | None:
    """Minus the sum of the per-epoch mean training losses of a run (Ru et al. 2020, "Revisiting the
    Train Loss: an Efficient Performance Estimator for Neural Architecture Search", the SoTL
    estimator): a network that trains faster has a smaller area under its loss curve, so the sign is
    flipped to make higher better. None when the run finished no whole epoch (a `steps` run shorter
    than an epoch records no per-epoch loss)."""
    losses = [float(entry["train_loss"]) for entry in result.history if "train_loss" in entry]
    if not losses:
        return None
    return -math.fsum(losses)


# --- zero-cost scores ----------------------------------------------------------------------------


def synflow(spec: Spec, *, seed: int = 0) -> float:
    """Synaptic flow of the network at initialization (Tanaka et al. 2020, "Pruning neural networks
    without any data by iteratively conserving synaptic flow", NeurIPS; used as a zero-cost NAS proxy
    by Abdelfattah et al. 2021, "Zero-Cost Proxies for Lightweight NAS", ICLR).

    The model is built with `archkit.build(spec, seed=seed)` and put in eval mode, as Tanaka et al.'s
    pruning loop does (no dropout, no aux heads; batch norm uses its initial running statistics,
    mean 0 and variance 1, so it only rescales by 1/sqrt(1 + eps)). Every parameter and buffer is
    replaced by its absolute value, the input is all ones (1 x C x H x W) and R = sum of the outputs;
    the score is the sum over conv and linear weights of |theta * dR/dtheta|. Computed in float64:
    the score is a product of weight magnitudes along paths and overflows float32 in deep networks.
    Deterministic given the seed.
    """
    import torch
    from torch import nn

    from ..builder import build

    with torch.random.fork_rng(devices=[]):
        model = build(spec, seed=seed).double().eval()
        with torch.no_grad():
            for tensor in model.state_dict().values():
                if tensor.is_floating_point():
                    tensor.abs_()
        x = torch.ones((1, spec.input.channels, *spec.input.hw), dtype=torch.float64)
        model.zero_grad(set_to_none=True)
        torch.sum(model(x)).backward()
        total = torch.zeros((), dtype=torch.float64)
        with torch.no_grad():
            for module in model.modules():
                if isinstance(module, (nn.Conv2d, nn.Linear)) and module.weight.grad is not None:
                    total += (module.weight * module.weight.grad).abs().sum()
    return float(total)


def naswot_kernel(spec: Spec, images, *, seed: int = 0):
    """The kernel of Mellor et al.'s score: K[i, j] = sum over the ReLUs of the main path of the
    number of units on which images i and j have the same binary code (both active or both inactive),
    i.e. K = c c^T + (1 - c)(1 - c)^T summed over ReLUs, c the (N, units) 0/1 codes. A float64 numpy
    array of shape (N, N). See `naswot`."""
    import numpy as np
    import torch
    from torch import nn

    from ..builder import build

    n = images.shape[0]
    kernel = np.zeros((n, n), dtype=np.float64)

    def hook(module, inputs, output) -> None:
        codes = (output.detach() > 0).reshape(n, -1)
        dtype = torch.float32 if codes.shape[1] < _EXACT_FLOAT32 else torch.float64  # exact counts
        c = codes.to(dtype)
        d = 1.0 - c
        kernel[...] += (c @ c.T + d @ d.T).double().numpy()

    with torch.random.fork_rng(devices=[]):
        model = build(spec, seed=seed).eval()
        # As in Mellor et al.'s code, which scores networks in training mode: batch norm normalizes
        # with the mini-batch's statistics (in eval mode, at initialization, it would do nothing).
        # Dropout and the aux heads stay off: only ReLUs on the path to the logits count (their code
        # keeps the ReLUs the backward pass visits).
        for module in model.modules():
            if isinstance(module, nn.modules.batchnorm._BatchNorm):
                module.train()
        handles = [module.register_forward_hook(hook)
                   for name in model.layer_names for module in model[name].modules()
                   if isinstance(module, nn.ReLU)]
        try:
            with torch.no_grad():
                model(images.to(torch.float32))
        finally:
            for handle in handles:
                handle.remove()
    return kernel


def naswot(spec: Spec, images, *, seed: int = 0) -> float:
    """NASWOT's score (Mellor et al. 2021, "Neural Architecture Search without Training", ICML):
    log |det K| of the kernel of binary ReLU activation codes of a mini-batch (`naswot_kernel`),
    computed with a sign-and-log determinant. Networks whose ReLUs already tell the images apart
    (codes far apart in Hamming distance) score higher. The model is `archkit.build(spec, seed=seed)`;
    `images` is a normalized float batch (N, C, H, W), N = 128 in the paper (`proxy_batch` draws one).
    -inf when K is singular (e.g. two images with the same codes). Deterministic given the seed and
    the images.
    """
    import numpy as np

    sign, logdet = np.linalg.slogdet(naswot_kernel(spec, images, seed=seed))
    return float(logdet) if sign != 0 else float("-inf")


def proxy_batch(spec: Spec, data: str = "digits", *, batch_size: int = NASWOT_BATCH, seed: int = 0,
                val_fraction: float = 0.2):
    """A mini-batch of training images as the training loop would see them (seeded order, crops and
    flips, resized to the spec's input and normalized), on the CPU. For `naswot`."""
    import torch

    from ..training.batches import make_batches
    from ..training.data import load_data, parse_data

    source = parse_data(data)
    loaded = load_data(source, channels=spec.input.channels, hw=spec.input.hw, classes=spec.classes,
                       val_fraction=val_fraction, batch_size=batch_size)
    batches = make_batches(loaded, workers=0, batch_size=min(batch_size, len(loaded.train)), hw=spec.input.hw,
                           device=torch.device("cpu"), channels_last=False, seed=seed)
    images, _ = next(iter(batches.epoch(0)))
    return images.contiguous()


# --- the registry --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Proxy:
    """A way to score a candidate, higher meaning better. `trains`: it needs the trial's short
    training run (and reads its `TrainResult`); otherwise it scores the untrained network built with
    the trial's seed (`images`: it also needs a mini-batch of training images)."""

    name: str
    description: str
    trains: bool
    images: bool = False
    shared: bool = False  # scored on a trained weight-sharing supernet (archkit.supernet.proxy)

    def score(self, spec: Spec, *, seed: int = 0, result: Any = None, images: Any = None) -> float | None:
        """The proxy's value for a candidate: from `result` (a `TrainResult` of the short recipe) for
        proxies that train, from `spec` built with `seed` (and `images`) for zero-cost ones."""
        if self.trains:
            if result is None:
                raise ValueError(f"proxy {self.name!r} needs the trial's training result")
            return _FROM_RESULT[self.name](result)
        if self.shared:
            raise ValueError(f"proxy {self.name!r} scores on a trained supernet: see archkit.supernet.proxy")
        if self.images:
            if images is None:
                raise ValueError(f"proxy {self.name!r} needs a mini-batch of images (see proxy_batch)")
            return naswot(spec, images, seed=seed)
        return synflow(spec, seed=seed)


_FROM_RESULT: dict[str, Callable[[Any], float | None]] = {"val_top1": val_top1_of, "train_loss": train_loss_of}

PROXIES: dict[str, Proxy] = {p.name: p for p in (
    Proxy("val_top1", "validation top-1 after the trial's short training recipe (the search's default today)",
          trains=True),
    Proxy("train_loss", "minus the sum of per-epoch mean training losses over the short run (Ru et al. 2020)",
          trains=True),
    Proxy("synflow", "synaptic flow of the untrained network, all-ones input, float64 (Tanaka et al. 2020)",
          trains=False),
    Proxy("naswot", "log|det| of the ReLU-code kernel of a training mini-batch, untrained (Mellor et al. 2021)",
          trains=False, images=True),
    Proxy("supernet", "val top-1 of the candidate's slice of the trained supernet, batch norm recalibrated "
          "(BigNAS; archkit supernet train)", trains=False, shared=True),
)}
