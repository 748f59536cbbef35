"""The `supernet` proxy of a search: candidates scored on the trained supernet instead of trained.

`open_scorer(loaded)` reads the supernet a config names (`supernet: DIR`, default where
`archkit supernet train` writes for that config), checks that it was trained for this config's base,
space and data and that the search's budget is within the one it was sized by, and returns
`score(spec) -> val top-1`: the candidate's slice loaded into `archkit.build(spec)`, its batch norms
recalibrated on a few training batches, scored on the val split. Seconds per candidate on a CPU.
"""

from __future__ import annotations

from pathlib import Path

from ..search.config import LoadedConfig
from ..spec.models import Spec
from . import checkpoint as ckpt
from .errors import SupernetError
from .support import check_expressible


def supernet_directory(loaded: LoadedConfig) -> Path:
    """`supernet:` of the config (relative to the config's folder when it is a relative path that
    exists there, else to the working directory), or the default of `archkit supernet train`."""
    from .sandwich import default_directory

    given = loaded.config.supernet
    if given is None:
        return default_directory(loaded)
    path = Path(given).expanduser()
    if not path.is_absolute() and loaded.path is not None and (loaded.path.parent / path).exists():
        return loaded.path.parent / path
    return path


class SupernetScorer:
    """`scorer(spec)` -> the candidate's val top-1 on the supernet; `last` the last `Score`."""

    def __init__(self, loaded: LoadedConfig, directory: Path, device: str | None = None,
                 calibration: int | None = None):
        import torch

        from ..training.api import pick_device
        from ..training.batches import make_batches
        from ..training.config import TrainConfig
        from ..training.data import load_data, parse_data, reduced
        from ..training.ddp import DistInfo
        from ..training.precision import resolve_precision
        from .calibrate import CALIBRATION_BATCHES, Scorer
        from .elastic import ElasticNet
        from .plan import Plan

        payload = ckpt.load(directory)
        if payload is None:
            raise SupernetError(f"proxy supernet: no supernet in {directory} (train it first: archkit supernet "
                                f"train {loaded.path or loaded.study_name}" + (f" -o {directory})" if
                                                                              loaded.config.supernet else ")"))
        ckpt.check_same(payload, loaded, directory)
        why = ckpt.covers(payload, loaded.config.budget.limits())
        if why:
            raise SupernetError(f"proxy supernet ({directory}): {why}")
        self.plan = Plan.from_dict(payload["plan"])
        config = self.config = TrainConfig(**payload["config"])
        self.device = pick_device(device or loaded.config.train.device, DistInfo())
        self.net = ElasticNet(self.plan)
        self.net.load_state_dict(payload["model"])
        self.net.to(self.device).eval()
        data = load_data(parse_data(config.data), channels=loaded.base.input.channels, hw=loaded.base.input.hw,
                         classes=loaded.base.classes, val_fraction=config.val_fraction,
                         batch_size=config.batch_size, download=config.download, test_fraction=config.test_fraction)
        data = reduced(data, config.train_fraction)
        self.batches = make_batches(data, workers=0, batch_size=config.batch_size, hw=loaded.base.input.hw,
                                    device=self.device, channels_last=config.channels_last, seed=config.seed)
        precision = resolve_precision(config.precision, self.device)
        with torch.random.fork_rng(devices=[]):
            self.scorer = Scorer(self.net, self.batches, self.device, precision,
                                 CALIBRATION_BATCHES if calibration is None else calibration)
        self.history = payload.get("history", [])
        self.seconds = float(payload.get("seconds", 0.0))  # the supernet's training, all sessions
        self.directory = directory
        self.last = None

    def attr(self) -> dict:
        """What a study's report shows of the supernet (the study attr `record.SUPERNET`, plain JSON):
        its folder, training time, steps and per-epoch history (numbers only: epoch, step, the
        largest's val top-1 as `val_top1`, the smallest's, the sampled sub-networks'...), so that the
        report needs no checkpoint."""
        history = [{k: v for k, v in entry.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
                   for entry in self.history]
        return {"directory": str(self.directory), "seconds": self.seconds,
                "step": history[-1].get("step") if history else None, "history": history}

    def __call__(self, spec: Spec) -> float:
        if spec.classes != self.plan.classes:
            spec = spec.with_classes(self.plan.classes)
        self.last = self.scorer(spec)
        return self.last.val_top1

    def close(self) -> None:
        self.batches.close()


def open_scorer(loaded: LoadedConfig, device: str | None = None) -> SupernetScorer:
    """The `supernet` proxy's scorer for a search config (see the module's docstring)."""
    check_expressible(loaded)
    return SupernetScorer(loaded, supernet_directory(loaded), device)
