"""Training the supernet: the sandwich rule with in-place distillation (BigNAS, Yu et al. 2020).

Each step runs four sub-networks on the same batch and accumulates their gradients before one
optimizer step: the largest (every slot at its widest, every stage at its deepest: the whole
supernet) learns from the labels; the smallest and two random candidates, drawn as a trial draws
them (budget filling included), learn from the largest's soft predictions. Training the two ends
every step keeps the whole range of widths trained; distilling from the largest gives the small
ones a smoother target than the labels (BigNAS's in-place distillation).

The loop is archkit's training engine (`training.engine.Engine`): the same data pipeline, learning
rate schedule, precision and loss checks, evaluation after every epoch and checkpoint state; only
the step and the evaluation differ. Data parallel (`nproc`, or torchrun) without
DistributedDataParallel: every process draws the same sub-networks (seeded by (seed, step)) and runs
them on its share of the batch, and one all-reduce averages the four backward passes' gradients
before the optimizer step (`SandwichEngine._average_gradients`). Not here: torch.compile (a new
graph per sub-network).
"""

from __future__ import annotations

import functools
import math
import os
import random
import zlib
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch._utils import _flatten_dense_tensors, _unflatten_dense_tensors

from ..search.config import LoadedConfig
from ..spec.models import Spec
from ..training import ddp
from ..training.api import pick_device
from ..training.batches import make_batches, mix_seed
from ..training.config import TrainConfig, make_config
from ..training.data import load_data, parse_data, reduced
from ..training.ddp import DistInfo
from ..training.engine import Engine
from ..training.errors import ConfigError, ResumeError, TrainError
from ..training.precision import autocast, resolve_precision
from ..training.progress import Quiet, RichProgress
from . import checkpoint as ckpt
from .calibrate import Scorer
from .candidates import candidate_spec, random_params
from .elastic import ElasticNet
from .errors import SupernetError
from .plan import Plan
from .pool import plan_for
from .support import check_expressible, sizing_limits

RANDOM_PER_STEP = 2  # random sub-networks per step beside the largest and the smallest (BigNAS: 2)
MAX_REDRAWS = 100  # draws in a row outside the plan before a step gives up (the plan misses the space)
SAMPLE_STREAM = 11  # seeds the sub-networks' draws apart from the data order's and dropout's streams
EVAL_SAMPLED = 2  # sampled sub-networks scored at every evaluation beside the largest and smallest
EVAL_STREAM = 12  # seeds them: the same sub-networks at every epoch (their curves are comparable)


class Sandwich:
    """The sub-networks of step `n` (largest, smallest, random...), drawn from a generator seeded by
    (seed, n): a resumed run draws what the uninterrupted one would have."""

    def __init__(self, loaded: LoadedConfig, plan: Plan, seed: int, randoms: int = RANDOM_PER_STEP,
                 down_to: float | None = None):
        self.loaded = loaded
        self.plan = plan
        self.seed = seed
        self.randoms = randoms
        # With `down_to` (a fraction of the budget, < 1), each random sub-network is filled to the
        # config's budget times a factor drawn log-uniformly in [down_to, 1]: one supernet trains the
        # candidates of every budget in that range (the front of several budgets from one training).
        self.down_to = down_to
        self.outside = 0  # random draws outside the plan, redrawn (see __call__)

    def _limits(self, rng: random.Random) -> dict | None:
        """The budget a random sub-network is filled to: the config's, or a fraction of it (`down_to`)."""
        limits = sizing_limits(self.loaded.config.budget.limits())
        if self.down_to is None or not limits:
            return None
        factor = math.exp(rng.uniform(math.log(self.down_to), 0.0))
        return {key: value * factor for key, value in limits.items()}

    def _random(self, rng: random.Random) -> Spec:
        """A candidate drawn as a trial draws it. The plan covers mixes of 5x5 forms by construction
        (pool.widest_forms; plans made before it missed a rare mix: a stage-3 5x5 branch of 12 where the
        layout holds 8, once in about 2,000 draws); a draw outside the plan (a checkpoint's older
        plan) is redrawn and counted, never cut down, so training goes on."""
        for _ in range(MAX_REDRAWS):
            spec = candidate_spec(self.loaded, random_params(self.loaded, rng), limits=self._limits(rng),
                                  classes=self.plan.classes, name=f"{self.loaded.study_name[:80]}-sampled")
            try:
                self.plan.program(spec)
            except SupernetError:
                self.outside += 1
                continue
            return spec
        raise SupernetError(f"{MAX_REDRAWS} candidates in a row are outside the supernet's plan: it does not "
                            f"cover the config's space")

    def __call__(self, step: int) -> list[Spec]:
        rng = random.Random(mix_seed(self.seed, step, SAMPLE_STREAM))
        base = self.loaded.base
        # Where the plan holds both forms of a module's 5x5, each end of the sandwich draws one.
        largest = self.plan.extreme(base, True, factorize=lambda _: rng.random() < 0.5)
        smallest = self.plan.extreme(base, False, factorize=lambda _: rng.random() < 0.5)
        randoms = [self._random(rng) for _ in range(self.randoms)]
        return [largest, smallest, *randoms]


def down_to_fraction(limits: dict[str, float], text: str) -> float:
    """`--down-to` (the smallest budget the supernet should serve well: "1M" multiply-adds or params)
    as a fraction of the config's sizing budget (`support.sizing_limits`) in the same unit."""
    from ..search.numbers import parse_count

    text = str(text).strip()
    if text.lower().endswith("ms"):
        # Training draws sub-networks by the counts the profiler gives exactly; predicting each one's
        # latency on the search's device is not part of a training step.
        raise SupernetError(f"--down-to {text}: a supernet's sub-networks are drawn by multiply-adds or params, "
                            "not latency; give the multiply-adds of the smallest latency target's networks "
                            "(e.g. --down-to 1M: `archkit profile` or a latency study's trials show them)")
    try:
        value = float(parse_count(text))
    except ValueError as exc:
        raise SupernetError(f"--down-to: {exc}") from None
    key = next((k for k in ("ops", "params", "activations") if k in limits), None)
    if key is None:
        raise SupernetError(f"--down-to {text}: the config's budget has no ops, params or activations limit to go "
                            f"down from (its budget: {limits or 'none'})")
    if not 0 < value < limits[key]:
        raise SupernetError(f"--down-to {text}: must be above 0 and below the config's {key} budget "
                            f"({limits[key]:,g})")
    return value / limits[key]


def soft_cross_entropy(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Cross-entropy against soft labels (probabilities): the distillation loss."""
    return -(target * F.log_softmax(logits.float(), dim=1)).sum(dim=1).mean()


class SandwichEngine(Engine):
    """The training engine with the sandwich rule's step and an evaluation of the sandwich's ends.

    Data parallel (`info.world` > 1): every process runs the same sub-networks (`Sandwich` draws
    them from (seed, step) alone) on its share of the batch, and `_average_gradients` averages the
    four backward passes' gradients over the processes before the optimizer step, as
    DistributedDataParallel would (which this engine does not use: each sub-network uses another
    subset of the parameters). Evaluations score the whole val set in every process, on
    `eval_batches`: the data unsplit, as one process has it (`train_supernet` makes them), so that
    every process scores what one process would."""

    def __init__(self, net: ElasticNet, batches, config: TrainConfig, *, sandwich: Sandwich, device: torch.device,
                 precision: str, total_steps: int, progress=None, info: DistInfo = DistInfo(), eval_batches=None):
        # The engine wraps the model in DistributedDataParallel when given more than one process;
        # the sandwich's step never runs through that wrapper, so the engine is told of one process
        # and the real count is set after.
        super().__init__(net, batches, config, device=device, precision=precision, total_steps=total_steps,
                         info=DistInfo(), progress=progress)
        self.info = info
        # The training engine's optimizer groups, not fused: a step leaves slots it did not use
        # (the other form of a 5x5, modules past every sampled depth) without gradients, which
        # the fused kernel refuses and the for-each one skips (no decay, no momentum for them).
        for group in self.optimizer.param_groups:
            group["fused"] = False
        self.sandwich = sandwich
        self.eval_batches = batches if eval_batches is None else eval_batches
        self.scorer: Scorer | None = None  # made at the first evaluation (it holds calibration batches)
        self.sampled: list[Spec] | None = None  # the sub-networks evaluations score beside the ends
        self.params = list(net.parameters())
        self.agreement: list[torch.Tensor] = []  # data parallel: the processes' checksums of the steps not yet checked

    def _backward(self, loss: torch.Tensor) -> None:
        if self.scaler is not None:
            self.scaler.scale(loss).backward()
        else:
            loss.backward()

    def _average_gradients(self, specs: list[Spec]) -> None:
        """Every process's gradients summed by one all-reduce of one flat buffer and divided by the
        process count. A parameter that no sub-network of the step used has no gradient in any
        process: it is sent as zeros (the buffer has the same size in every process, whatever
        happens) and keeps none. Under fp16 these are the scaled gradients, scaled alike in every
        process (the scaler's state is the same everywhere); the scaler then unscales the average.

        Each process also sends a checksum of its sub-networks and of which parameters have
        gradients, in a slot of the buffer of its own; `_check_finite` compares them at the next
        sync with the device: processes that ran different sub-networks would average gradients
        of networks none of them computed."""
        world = self.info.world
        present = bytes(p.grad is not None for p in self.params)
        checksum = zlib.crc32(present + "".join(s.model_dump_json() for s in specs).encode()) & 0xFFFFF
        grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in self.params]
        marks = torch.zeros(world, dtype=grads[0].dtype, device=self.device)
        marks[self.info.rank] = checksum  # 20 bits: exact in float32, summed with zeros only
        flat = _flatten_dense_tensors([*grads, marks])
        ddp.all_sum(flat)
        self.agreement.append(flat[-world:].clone())
        flat.div_(world)
        for p, average in zip(self.params, _unflatten_dense_tensors(flat, grads), strict=True):
            if p.grad is not None:
                p.grad.copy_(average)

    def _check_finite(self, losses: list[torch.Tensor], first_step: int) -> list[float]:
        values = super()._check_finite(losses, first_step)
        if self.agreement:
            marks = torch.stack(self.agreement).cpu()
            self.agreement = []
            differ = (marks != marks[:, :1]).any(dim=1).nonzero()
            if len(differ):
                raise RuntimeError(f"step {first_step + int(differ[0]) + 1}: the data-parallel processes ran "
                                   f"different sub-networks (checksums {marks[int(differ[0])].tolist()})")
        return values

    def train_step(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """One optimizer step over the sandwich; returns the largest's (loss, correct top-1) on this
        process's share of the batch."""
        lr = self.lr(self.step)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        specs = self.sandwich(self.step)
        largest, *students = specs
        self.optimizer.zero_grad(set_to_none=True)
        with autocast(self.device, self.precision):
            logits = self.model(x, largest)
            loss = F.cross_entropy(logits.float(), y, label_smoothing=self.config.label_smoothing)
        self._backward(loss)
        soft = F.softmax(logits.detach().float(), dim=1)  # the teacher's predictions, no gradient through them
        for spec in students:
            with autocast(self.device, self.precision):
                student = self.model(x, spec)
            self._backward(soft_cross_entropy(student, soft))
        if self.info.enabled:
            self._average_gradients(specs)
        if self.scaler is not None:
            self.scaler.step(self.optimizer)
            self.scaler.update()
        else:
            self.optimizer.step()
        self.step += 1
        return loss.detach(), (logits.detach().argmax(1) == y).sum()

    @torch.no_grad()
    def evaluate(self, split: str = "val") -> dict[str, float]:
        """The largest's and the smallest's val scores, and the val top-1 of EVAL_SAMPLED sampled
        sub-networks (the same ones every epoch: `val_top1_sampled_1`, ...), each after batch-norm
        recalibration."""
        if split != "val":
            raise ValueError("the supernet is scored on val only; a candidate's test score comes from training it")
        if self.scorer is None:
            self.scorer = Scorer(self.model, self.eval_batches, self.device, self.precision)
        base = self.sandwich.loaded.base
        largest = self.scorer(self.sandwich.plan.extreme(base, True))
        smallest = self.scorer(self.sandwich.plan.extreme(base, False))
        if self.sampled is None:
            rng = random.Random(mix_seed(self.sandwich.seed, 0, EVAL_STREAM))
            self.sampled = [self.sandwich._random(rng) for _ in range(EVAL_SAMPLED)]
        sampled = {f"val_top1_sampled_{k + 1}": self.scorer(spec).val_top1 for k, spec in enumerate(self.sampled)}
        self.model.train()
        scores = {"val_top1": largest.val_top1, "val_top5": largest.val_top5, "val_loss": largest.val_loss,
                  "val_top1_smallest": smallest.val_top1, "val_top5_smallest": smallest.val_top5, **sampled}
        # Every process scored the same networks on the same images; the first's figures are
        # everyone's, so that the histories agree to the last bit whatever the kernels' rounding.
        return ddp.gather(scores)[0] if self.info.enabled else scores


@dataclass
class SupernetRun:
    directory: Path
    plan: Plan
    history: list[dict]
    seconds: float
    step: int
    epochs: float
    device: str
    precision: str
    resumed_from: int  # the step the run continued from (0: a fresh run)
    net: ElasticNet | None = None


def default_directory(loaded: LoadedConfig) -> Path:
    """Where `archkit supernet train CONFIG` writes, and where `proxy: supernet` looks by default."""
    return Path("runs") / f"{loaded.study_name}-supernet"


def recipe(loaded: LoadedConfig) -> dict:
    """The config's `train:` recipe as TrainConfig options (its data and seed; the device apart)."""
    cfg = loaded.config
    options = cfg.train.model_dump(exclude_none=True)
    options.pop("device", None)
    if "steps" in options:
        options.pop("epochs", None)
    return {**options, "data": cfg.data, "seed": cfg.seed, "compile": False}


def train_supernet(loaded: LoadedConfig, directory: Path | None = None, *, epochs: int | None = None,
                   steps: int | None = None, device: str | None = None, progress: bool = False,
                   pool_samples: int | None = None, down_to: str | None = None, nproc: int = 1) -> SupernetRun:
    """Train (or continue training) the config's supernet into `directory` (default
    `default_directory`). A checkpoint there is continued: the same config only (else refused,
    naming what differs), `epochs`/`steps` may extend it. `down_to` ("1M") spreads the
    random sub-networks' budgets from it up to the config's (see `Sandwich`); a continued run keeps
    the range it was started with.

    `nproc` > 1 trains data parallel in that many processes on this machine (gloo on the CPU, one
    GPU each with NCCL on CUDA) and returns the first one's run (its `net` on the CPU); under
    torchrun each of its processes calls this with `nproc` 1. Each process trains on its share of
    every batch (the global batch is the recipe's), the first writes the checkpoint, and a run with
    any other process count continues it."""
    if not isinstance(nproc, int) or isinstance(nproc, bool) or nproc < 1:
        raise ConfigError(f"--nproc must be a positive integer, but got {nproc!r}")
    check_expressible(loaded)
    cfg = loaded.config
    directory = Path(directory) if directory is not None else default_directory(loaded)
    # What each of launch's processes runs: this function as asked, with nproc 1 (checks included).
    worker = functools.partial(train_supernet, loaded, directory, epochs=epochs, steps=steps, device=device,
                               progress=progress, pool_samples=pool_samples, down_to=down_to)
    saved = ckpt.load(directory)
    limits = sizing_limits(cfg.budget.limits())
    if saved is not None:
        ckpt.check_same(saved, loaded, directory)
        if sizing_limits(saved.get("limits") or {}) != limits:
            raise SupernetError(f"{ckpt.path_in(directory)} was trained under the budget {saved.get('limits')}, the "
                                f"config has {limits}; train this budget's supernet into another folder (-o)")
    fraction = down_to_fraction(limits, down_to) if down_to is not None else None
    if saved is not None:
        if down_to is not None and saved.get("down_to") != fraction:
            raise SupernetError(f"{ckpt.path_in(directory)} was trained with --down-to "
                                f"{saved.get('down_to_text') or 'none'}; continue it with the same, or train "
                                f"another into another folder (-o)")
        fraction, down_to = saved.get("down_to"), saved.get("down_to_text")
    given = {"epochs": epochs, "steps": steps}
    try:
        if saved is None:
            options = recipe(loaded)
            if epochs is not None or steps is not None:  # a length given replaces the recipe's
                options.pop("epochs", None)
                options.pop("steps", None)
            config = make_config({**options, **given})
        else:
            config = make_config(given, saved["config"])
    except ResumeError as exc:
        raise SupernetError(f"{ckpt.path_in(directory)}: {exc}") from None
    info = ddp.from_env()
    if nproc > 1:
        if info.enabled:
            raise ConfigError(f"--nproc {nproc} under torchrun: torchrun already started the processes; "
                              f"leave --nproc out")
        asked = device or cfg.train.device
        gpus = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if asked.startswith("cuda") or (asked == "auto" and gpus):
            if not gpus:
                raise ConfigError(f"--device {asked}: CUDA is not available on this machine")
            if asked not in ("cuda", "auto"):  # every process would take that one GPU
                raise ConfigError(f"--device {asked} with --nproc {nproc}: each process takes a GPU of its own "
                                  f"(cuda:0 to cuda:{nproc - 1}); give --device cuda")
            if gpus < nproc:
                raise ConfigError(f"--nproc {nproc} with --device {asked}: there {'is' if gpus == 1 else 'are'} "
                                  f"only {gpus} GPU{'s' * (gpus != 1)}, one per process (give --nproc {gpus} or "
                                  f"fewer, or --device cpu)")
        try:
            return ddp.launch(nproc, worker, ())
        except TrainError as exc:
            if type(exc) is TrainError:  # a process's SupernetError, as it crossed (below)
                raise SupernetError(str(exc)) from None
            raise

    torch_device = pick_device(device or cfg.train.device, info)
    if info.enabled and info.local_world > 1 and torch_device.type == "cpu":
        # Processes sharing the CPU: split its cores instead of oversubscribing them.
        torch.set_num_threads(max(1, (os.cpu_count() or 1) // info.local_world))
    precision = resolve_precision(config.precision, torch_device)

    data = load_data(parse_data(config.data), channels=loaded.base.input.channels, hw=loaded.base.input.hw,
                     classes=loaded.base.classes, val_fraction=config.val_fraction, batch_size=config.batch_size,
                     download=config.download, test_fraction=config.test_fraction)
    data = reduced(data, config.train_fraction)
    batches = eval_batches = None
    created = ddp.init(info, torch_device)
    with torch.random.fork_rng(devices=[torch_device.index or 0] if torch_device.type == "cuda" else []):
        try:
            if saved is not None:
                plan = Plan.from_dict(saved["plan"])
            else:
                from .pool import POOL_SAMPLES

                plan = None
                if info.is_main:
                    plan = plan_for(loaded, data.classes, POOL_SAMPLES if pool_samples is None else pool_samples,
                                    seed=cfg.seed)
                if info.enabled:  # the first process's plan, for every process: the same weights' shapes
                    plan = Plan.from_dict(ddp.gather(plan.to_dict() if plan is not None else None)[0])
            torch.manual_seed(mix_seed(config.seed, 0, 1))
            net = ElasticNet(plan).to(torch_device)  # the same initial weights in every process
            if info.rank:  # the other processes' dropout masks apart from the first's
                torch.manual_seed(mix_seed(config.seed, info.rank, 1))
            batches = make_batches(data, workers=config.workers or 0, batch_size=config.batch_size,
                                   hw=loaded.base.input.hw, device=torch_device, channels_last=config.channels_last,
                                   seed=config.seed, skip_bad=config.skip_bad_images, rank=info.rank,
                                   world=info.world)
            eval_batches = batches if not info.enabled else make_batches(
                data, workers=config.workers or 0, batch_size=config.batch_size, hw=loaded.base.input.hw,
                device=torch_device, channels_last=config.channels_last, seed=config.seed,
                skip_bad=config.skip_bad_images)  # unsplit: every process scores as one process would
            spe = batches.steps_per_epoch
            total = config.steps if config.steps is not None else config.target_epochs * spe
            sandwich = Sandwich(loaded, plan, config.seed, down_to=fraction)
            shown = RichProgress() if progress and info.is_main else Quiet()
            engine = SandwichEngine(net, batches, config, sandwich=sandwich, device=torch_device, precision=precision,
                                    total_steps=total, progress=shown, info=info, eval_batches=eval_batches)
            resumed_from = 0
            if saved is not None:
                engine.load_state_dict(saved)  # each process's RNG state, or reseeded by rank for another count
                resumed_from = engine.step
                if engine.step > total:
                    raise SupernetError(f"{ckpt.path_in(directory)} is at step {engine.step}, past the run's end "
                                        f"({total} steps); give a larger --epochs or --steps")

            def save(e: Engine) -> None:
                state = e.state_dict()  # every process takes part: it gathers their RNG states
                if info.is_main:
                    ckpt.save(directory, {**state, "config": config.to_dict(), "plan": plan.to_dict(),
                                          "identity": ckpt.identity(loaded), "limits": limits,
                                          "down_to": fraction, "down_to_text": down_to, "study": loaded.study_name,
                                          "world": info.world})
                ddp.barrier()

            def on_epoch_end(e: Engine) -> None:
                if info.enabled:  # each process's figures are of its share of the batches: the epoch's are their mean
                    entry = e.history[-1]
                    shares = ddp.gather((entry["train_loss"], entry["train_top1"]))
                    entry["train_loss"] = sum(s[0] for s in shares) / len(shares)
                    entry["train_top1"] = sum(s[1] for s in shares) / len(shares)
                save(e)

            engine.fit(on_epoch_end=on_epoch_end)
            if engine.step != (engine.history[-1]["step"] if engine.history else -1):
                engine.history.append({"epoch": engine.step / spe, "step": engine.step, **engine.evaluate()})
                save(engine)
            return SupernetRun(directory, plan, engine.history, engine.seconds, engine.step, engine.step / spe,
                               str(torch_device), precision, resumed_from, net)
        except SupernetError as exc:
            if not info.enabled:
                raise
            # launch carries training errors (by their type's name) to the caller: this one goes as a
            # TrainError, raised there again as a SupernetError (above); under torchrun it prints alike.
            raise TrainError(str(exc)) from exc
        finally:
            if eval_batches is not None and eval_batches is not batches:
                eval_batches.close()
            if batches is not None:
                batches.close()
            if created:
                ddp.shutdown()
