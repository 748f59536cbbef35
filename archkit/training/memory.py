"""Training memory: the guard that refuses a run before any tensor is allocated, and the measurement
that holds the model it uses to torch.

The guard reads `archkit.profile.training` (no torch: the bytes one training step saves for
backward, exact, plus parameters, gradients, optimizer state and an estimate of the rest) and goes
through the one memory check, `archkit.profile.memory.check_fits`. `measure_saved` runs one real
training step under `torch.autograd.graph.saved_tensors_hooks` and counts, per layer, the bytes of
every storage saved for backward (each once, parameters and buffers left out): what
`archkit profile --verify --train`, the tests and `archkit bench memory` compare the model with.
"""

from __future__ import annotations

from ..builder.memory import available_bytes, where
from ..profile.memory import check_fits as check_fits_memory
from ..profile.memory import train_need
from ..profile.training import TrainProfile
from ..spec.models import Spec

LOSS = ("loss", "loss")  # where the losses' saved tensors go (and anything outside the layers)


def check_fits(spec: Spec, batch_size: int, precision: str, device, free: int | None = None, *,
               momentum: float = 0.9, channels_last: bool = True, label_smoothing: float = 0.0) -> TrainProfile:
    """The training cost of one step of `spec` (one process's share of the batch) on `device`, or
    DoesNotFitError (the one memory check's) when its predicted peak exceeds the free memory (`free`,
    or the device's)."""
    free = available_bytes(device) if free is None else free
    need, cost = train_need(spec, batch_size, precision, momentum=momentum, channels_last=channels_last,
                            label_smoothing=label_smoothing, device="cuda" if device.type == "cuda" else "cpu",
                            memory=free)
    check_fits_memory(need, free, where(device))
    return cost


def row_keys(cost: TrainProfile) -> dict[tuple[str, str], int]:
    """The model's saved bytes keyed as `measure_saved` keys them: ("main", layer), (head, layer),
    and LOSS."""
    out = {("main", r.name): r.saved_bytes for r in cost.rows}
    for head, rows in cost.aux:
        out.update({(head, r.name): r.saved_bytes for r in rows})
    out[LOSS] = cost.loss.saved_bytes
    return out


def measure_saved(spec: Spec, batch: int, precision: str = "fp32", *, channels_last: bool = True,
                  label_smoothing: float = 0.0, seed: int = 0) -> dict[tuple[str, str], int]:
    """Bytes saved for backward by one training step of `spec` on `batch` random images on the CPU,
    per layer, as the trainer runs it (`fastops.accelerate`, channels-last memory, autocast, the aux
    heads' weighted losses), counted with `saved_tensors_hooks`: each storage once, where it is first
    saved (the layer whose forward is running; LOSS outside every layer), parameters and buffers
    (the model's state, not the step's) left out. The step's backward pass runs too."""
    import torch

    from ..builder import build
    from .engine import training_loss
    from .fastops import accelerate
    from .precision import autocast

    model = build(spec, seed=seed)
    accelerate(model)
    model.train()
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(batch, spec.input.channels, *spec.input.hw, generator=generator)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    y = torch.randint(0, spec.classes, (batch,), generator=generator)
    state = {t.untyped_storage().data_ptr() for t in (*model.parameters(), *model.buffers())}

    running = [LOSS]
    saved: dict[tuple[str, str], int] = {LOSS: 0}
    handles = []

    def watch(module, key) -> None:
        def enter(m, args) -> None:
            running.append(key)

        def leave(m, args, out) -> None:  # (returns None: the output stays the module's)
            running.pop()

        saved[key] = 0
        handles.append(module.register_forward_pre_hook(enter))
        handles.append(module.register_forward_hook(leave))

    for name in model.layer_names:
        watch(model[name], ("main", name))
    for head in model.aux_names:
        for name in model[head]:
            watch(model[head][name], (head, name))
    seen: set[int] = set()

    def pack(t: torch.Tensor) -> torch.Tensor:
        storage = t.untyped_storage()
        ptr = storage.data_ptr()
        if ptr not in state and ptr not in seen:
            seen.add(ptr)
            saved[running[-1]] += storage.nbytes()
        return t

    try:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)  # dropout's masks
            with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t), \
                    autocast(torch.device("cpu"), precision):
                output = model(x)
                loss, _ = training_loss(output, y, model.aux_weights, label_smoothing)
            loss.backward()
    finally:
        for h in handles:
            h.remove()
    return saved


def compare_saved(spec: Spec, batch: int, precision: str = "fp32", *, channels_last: bool = True,
                  label_smoothing: float = 0.0) -> list[tuple[tuple[str, str], int, int]]:
    """(row key, predicted bytes, measured bytes) for every layer, aux layer and the loss."""
    from ..profile.training import train_profile

    predicted = row_keys(train_profile(spec, batch, precision, channels_last=channels_last,
                                       label_smoothing=label_smoothing))
    measured = measure_saved(spec, batch, precision, channels_last=channels_last, label_smoothing=label_smoothing)
    keys = list(predicted) + [k for k in measured if k not in predicted]
    return [(k, predicted.get(k, 0), measured.get(k, 0)) for k in keys]
