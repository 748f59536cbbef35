"""The search config: a YAML file validated like a spec (field paths and lines in every error)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    ValidationInfo,
    create_model,
    field_validator,
    model_validator,
)

from ..spec.models import Spec
from ..util.choices import TIMED_PRECISIONS
from .numbers import parse_count


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _range_shorthand(value: object) -> object:
    # `[0.25, 1.0]` is written for {low: 0.25, high: 1.0}.
    if isinstance(value, list) and len(value) == 2 and all(isinstance(v, (int, float)) for v in value):
        return {"low": value[0], "high": value[1]}
    return value


class FloatRange(_Model):
    """A continuous range, sampled uniformly (or log-uniformly with `log: true`)."""

    low: Annotated[float, Field(gt=0)]
    high: Annotated[float, Field(gt=0)]
    log: bool = False

    @model_validator(mode="after")
    def _ordered(self) -> FloatRange:
        if self.low > self.high:
            raise ValueError(f"low must not exceed high, got low={self.low:g}, high={self.high:g}")
        return self


class IntRange(_Model):
    low: Annotated[int, Field(ge=1, strict=True)]
    high: Annotated[int, Field(ge=1, strict=True)]

    @model_validator(mode="after")
    def _ordered(self) -> IntRange:
        if self.low > self.high:
            raise ValueError(f"low must not exceed high, got low={self.low}, high={self.high}")
        return self


class FloatChoices(_Model):
    choices: Annotated[list[Annotated[float, Field(gt=0)]], Field(min_length=1)]


class IntChoices(_Model):
    choices: Annotated[list[Annotated[int, Field(ge=1, strict=True)]], Field(min_length=1)]


def _form(value: object) -> str:
    # A mapping with `choices` is a choice list, anything else a range: only that form's errors are
    # reported ("low must not exceed high"), not the other form's ("choices: required key is missing").
    # (Called with plain data when validating, with the model when serializing.)
    if isinstance(value, dict):
        return "choices" if "choices" in value else "range"
    return "choices" if isinstance(value, (FloatChoices, IntChoices)) else "range"


FloatParam = Annotated[
    Annotated[FloatRange, Tag("FloatRange")] | Annotated[FloatChoices, Tag("FloatChoices")],
    Discriminator(lambda v: "FloatChoices" if _form(v) == "choices" else "FloatRange"),
    BeforeValidator(_range_shorthand),
]
IntParam = Annotated[
    Annotated[IntRange, Tag("IntRange")] | Annotated[IntChoices, Tag("IntChoices")],
    Discriminator(lambda v: "IntChoices" if _form(v) == "choices" else "IntRange"),
    BeforeValidator(_range_shorthand),
]
# The union tags appear in pydantic's error locations; they are not fields a user wrote.
_TAGS = frozenset(("FloatRange", "FloatChoices", "IntRange", "IntChoices", "ObjectiveName", "ObjectiveList"))


class Space(_Model):
    """What varies. Every entry is optional; what is left out stays as in the base spec.

    - width: one multiplier on every conv width (stem and modules).
    - stage_width: a multiplier per stage (a stage is a run of modules between pools; a module
      that shrinks the grid, such as Inception-v3's Mixed_6a, closes its stage), sampled separately
      for each stage from this range. It scales every conv of the stage's modules, `inception:` rows
      and general `module:` rows alike; a residual module's projection (or shortcut) follows the
      width it is added to.
    - depth: modules per stage, keyed by stage name (`stage3`, `stage4`, ...); fewer drops the last
      modules of the stage that keep its grid, more repeats the last of them (a closing grid
      reduction always stays).
    - branch_shares: per module, a weight for each of the 1x1 / 3x3 / 5x5 / pool proj branches
      (normalized): how the module's output channels split (`inception:` rows only).
    - reduce_ratio: per module, a multiplier on the base module's reduce-to-conv width ratios
      (`inception:` rows only).
    - factorize_5x5: per module, whether the 5x5 is written as two 3x3 convs (`inception:` rows only).
    - divisor: every width is rounded to a multiple of this (at least this).

    A low-dimensional space (after RegNet, Radosavovic et al. 2020: widths that grow across stages
    and fewer free parameters make the whole error distribution better):
    - stage_width_growth: one growth factor g for all stages instead of `stage_width`: stage k
      (k = 0 for the first) gets g**k times the first stage's width (a stage's width being the mean
      output channels of its base modules), the overall size set by budget filling or `width`.
      1.0: every stage as wide as the first; 2.0: each stage twice the one before.
    - share_module_params: `none` (default): branch_shares, reduce_ratio and factorize_5x5 are
      sampled for every module; `stage`: once per stage; `network`: once for the whole network.
    """

    width: FloatParam | None = None
    stage_width: FloatParam | None = None
    stage_width_growth: FloatParam | None = None
    depth: dict[str, IntParam] | None = None
    branch_shares: FloatParam | None = None
    reduce_ratio: FloatParam | None = None
    factorize_5x5: bool = False
    share_module_params: Literal["none", "stage", "network"] = "none"
    divisor: Annotated[int, Field(ge=1, le=64, strict=True)] = 8

    # Field validators (not a model validator), so that errors name the field and its YAML line.
    @field_validator("stage_width_growth")
    @classmethod
    def _one_stage_width_rule(cls, value, info: ValidationInfo):
        if value is not None and info.data.get("stage_width") is not None:
            raise ValueError("give either stage_width (a multiplier per stage) or stage_width_growth "
                             "(one growth factor across stages), not both")
        return value

    @field_validator("share_module_params")
    @classmethod
    def _something_to_share(cls, value: str, info: ValidationInfo) -> str:
        data = info.data
        if value != "none" and data.get("branch_shares") is None and data.get("reduce_ratio") is None \
                and not data.get("factorize_5x5"):
            raise ValueError(f"{value!r} shares nothing: the space has no branch_shares, reduce_ratio or "
                             "factorize_5x5")
        return value


Count = Annotated[int, BeforeValidator(parse_count)]


def _memory(value: object) -> int:
    """An amount of memory in bytes: 8G (= 8 GB), 512MiB, 80GiB, or a plain number of bytes."""
    import math

    from ..profile.memory import parse_bytes

    bad = ValueError(f"must be a positive amount of memory like 8G (= 8 GB), 16GiB or 512MiB, got {value!r}")
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise bad
    if isinstance(value, (int, float)):
        if not math.isfinite(value) or value < 1:
            raise bad
        return int(value)
    try:
        return parse_bytes(value)
    except ValueError:
        raise bad from None


Bytes = Annotated[int, BeforeValidator(_memory)]


class Budget(_Model):
    """Upper limits on a candidate. On the inference path (aux heads excluded): multiply-adds,
    params (weights, as Table 1 counts them), activations ("1.5G" and "7M" style numbers are
    accepted), and `latency_ms`: the predicted latency of one forward pass in milliseconds on the
    `latency:` section's device and settings (archkit.latency's model: a per-op table measured on
    the device). For training: `train_memory` ("8G" = 8 GB, "16GiB", "512MiB"), the predicted
    peak memory of one training step (archkit.profile.training: the bytes saved for backward
    exactly, weights, gradients, momentum, and an estimated workspace) at the trial's batch
    (`train.batch_size`, or with `batch_size: auto` the largest power of two that fits this
    budget) and precision (`train.precision`, `auto` resolved as the trainer resolves it on the
    trial's device)."""

    ops: Count | None = None
    params: Count | None = None
    activations: Count | None = None
    latency_ms: Annotated[float, Field(gt=0, allow_inf_nan=False)] | None = None
    train_memory: Bytes | None = None

    def limits(self) -> dict[str, float]:
        """The given limits, by the name of the cost they bound (a key of `budget.Measured`)."""
        return {k: v for k, v in (("ops", self.ops), ("params", self.params), ("activations", self.activations),
                                  ("latency_ms", self.latency_ms), ("train_memory", self.train_memory))
                if v is not None}


class LatencySettings(_Model):
    """`latency:` where and how a candidate's latency is predicted (and measured after training): the
    device, the batch of one forward pass, the precision (bf16: autocast, as `archkit train` runs
    it) and torch's intra-op threads on a CPU (default: torch's own count on this machine, the same
    in every worker of a parallel search). Without the section these defaults hold."""

    device: str = "cpu"
    batch: Annotated[int, Field(ge=1, strict=True)] = 1
    precision: Literal[TIMED_PRECISIONS] = "fp32"
    threads: Annotated[int, Field(ge=1, strict=True)] | None = None

    @field_validator("device")
    @classmethod
    def _known_device(cls, value: str) -> str:
        from ..latency.errors import LatencyError, check_device_name

        try:
            return check_device_name(value)
        except LatencyError as exc:
            raise ValueError(str(exc)) from None

    def describe(self) -> str:
        threads = f", {self.threads} thread{'s' if self.threads != 1 else ''}" if self.threads else ""
        return f"{self.device}, batch {self.batch}, {self.precision}{threads}"


# The search's training recipe is archkit.train's options, one definition (TrainConfig): its fields,
# defaults and checks, less what the search sets itself (the data from `data:`, a seed per trial,
# when the val split is scored: after every epoch of a trial, which the pruner reads, after the last
# of a confirmation run), plus where trials run. Only the length differs: a trial is short by default.
SEARCH_SETS = frozenset({"data", "seed", "eval_every"})
SEARCH_DEFAULTS = {"epochs": 3}


def _checked(name: str, value):
    """A recipe value checked by TrainConfig itself (its rule, said under the recipe's key)."""
    from ..training.config import TrainConfig
    from ..training.errors import ConfigError

    if value is None:
        return value
    try:
        TrainConfig(**{name: value})
    except ConfigError as exc:
        raise ValueError(exc.rule or str(exc)) from None
    return value


def _recipe_fields() -> dict:
    import dataclasses
    import functools
    import typing

    from ..training.config import TrainConfig

    hints = typing.get_type_hints(TrainConfig)
    fields = {}
    for f in dataclasses.fields(TrainConfig):
        if f.name not in SEARCH_SETS:
            kind = Annotated[hints[f.name], AfterValidator(functools.partial(_checked, f.name))]
            if f.name == "batch_size":  # or `auto`: the largest power of two within budget.train_memory
                kind = kind | Literal["auto"]
            fields[f.name] = (kind, SEARCH_DEFAULTS.get(f.name, f.default))
    fields["device"] = (str, "auto")  # where trials run: auto, cpu, cuda, cuda:N (not part of what is computed)
    # How large `batch_size: auto` may go (default train_cost.DEFAULT_MAX_BATCH); not a trainer option.
    fields["max_batch_size"] = (Annotated[int, Field(ge=1, strict=True)] | None, None)
    return fields


class _RecipeBase(_Model):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


TrainRecipe = create_model("TrainRecipe", __base__=_RecipeBase, __doc__=(
    "`train:` how each candidate is trained: archkit.train's options (TrainConfig: the same names, defaults "
    "and checks), but 3 epochs by default; `steps` instead of epochs for quick smoke trials (no per-epoch "
    "pruning then). `batch_size: auto` (with `budget.train_memory`): each candidate trains at the largest "
    "power of two, at most `max_batch_size` (default 256), whose predicted peak training memory fits the "
    "budget; the batch is recorded per trial (the learning rate is not scaled with it)."), **_recipe_fields())


def _as_overrides(recipe: type[BaseModel]) -> dict:
    """Every field of `recipe` as an optional override (None = as in `train:`), constraints kept."""
    def optional(field):
        kind = Annotated[(field.annotation, *field.metadata)] if field.metadata else field.annotation
        return (kind | None, None)

    return {name: optional(field) for name, field in recipe.model_fields.items()}


class _FinalBase(_Model):
    top: Annotated[int, Field(ge=1, strict=True)] = 3
    seeds: Annotated[int, Field(ge=1, strict=True)] = 3
    # A shortlist before the retraining, for a proxy that trains nothing (`supernet`, zero-cost):
    # the `rerank` best distinct candidates by the proxy are each trained once with the trials'
    # recipe (`train:`), as a trial of the default proxy would be, and the `top` best of them by that
    # val top-1 are retrained. The proxy's ranking is coarse; one short training each sorts its top.
    rerank: Annotated[int, Field(ge=1, strict=True)] | None = None

    @model_validator(mode="after")
    def _rerank_covers_top(self):
        if self.rerank is not None and self.rerank < self.top:
            raise ValueError(f"rerank ({self.rerank}) shortlists the candidates `top` ({self.top}) is taken from: "
                             f"give rerank >= top")
        return self


# The confirmation stage: the top candidates and the uniform-scaling reference retrained from
# scratch `seeds` times each under the final recipe, which is `train:` with these keys overridden.
# Without `epochs` (or `steps`), the final recipe trains FINAL_LENGTH times as long as a trial.
FinalRecipe = create_model("FinalRecipe", __base__=_FinalBase, __doc__=(
    "`final:` the confirmation stage: `top` candidates (by the search's score, `proxy:`; with `rerank: K`, the best "
    "`top` of the K best after one training each with the trials' recipe) and the uniform-scaling reference, each "
    "retrained `seeds` times under the final recipe (`train:` with any of its keys overridden here)."),
    **_as_overrides(TrainRecipe))
FINAL_LENGTH = 3


def final_recipe(train: TrainRecipe, final: BaseModel) -> dict:
    """The keyword arguments of `archkit.train` for a confirmation run: `train:` overridden by `final:`."""
    recipe = train.model_dump(exclude_none=True)
    given = {k: v for k, v in final.model_dump(exclude={"top", "seeds", "rerank"}).items() if v is not None}
    if "epochs" in given or "steps" in given:
        recipe.pop("epochs", None)
        recipe.pop("steps", None)
    elif "steps" in recipe:
        recipe["steps"] *= FINAL_LENGTH
        recipe.pop("epochs", None)
    else:
        recipe["epochs"] *= FINAL_LENGTH
    recipe.update(given)
    return recipe


# The second objective, minimized: a cost of `budget.Measured` (latency: the predicted latency_ms).
Objective = Literal["accuracy", "ops", "params", "latency"]


class SearchConfig(_Model):
    """A whole search: base spec, space, budget, objective, data, training recipe and study settings."""

    name: Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]+$", max_length=100)] | None = None
    base: str
    space: Space = Field(default_factory=Space)
    budget: Budget = Field(default_factory=Budget)
    latency: LatencySettings | None = None  # null: the defaults, when a latency is needed
    fill_budget: Annotated[bool, Field(validate_default=True)] = True
    objective: Annotated[
        Annotated[Objective, Tag("ObjectiveName")]
        | Annotated[list[Objective], Field(min_length=1, max_length=2), Tag("ObjectiveList")],
        Discriminator(lambda v: "ObjectiveList" if isinstance(v, list) else "ObjectiveName"),
    ] = "accuracy"
    data: str = "digits"
    train: TrainRecipe = Field(default_factory=TrainRecipe)
    # What ranks the trials (higher is better): see archkit.search.proxies.PROXIES and `archkit bench proxy`.
    proxy: str = "val_top1"
    # proxy: supernet scores on the supernet trained in this folder (default: where `archkit supernet
    # train` writes for this config, runs/<name>-supernet).
    supernet: str | None = None
    final: FinalRecipe | None = Field(default_factory=FinalRecipe)  # null: no confirmation stage
    # auto: GP for small studies, multivariate TPE above 50 trials, NSGA-II for two objectives and
    # 100+ trials (samplers.choose_sampler says why).
    sampler: Literal["auto", "gp", "tpe", "nsga2", "random", "qmc"] = "auto"
    # Enqueue a few structured candidates (widths growing across stages; fewer, wider modules; ...)
    # right after the reference, in studies of 6+ trials (studies.enqueue_priors).
    warm_start: bool = True
    pruner: Literal["median", "hyperband", "none"] = "median"
    trials: Annotated[int, Field(ge=1, strict=True)] = 20
    timeout: Annotated[float, Field(gt=0)] | None = None
    seed: Annotated[int, Field(ge=0, strict=True)] = 0

    # Field validators (not a model validator) so that errors name the field: `objective: ...`.
    @field_validator("fill_budget")
    @classmethod
    def _needs_budget(cls, value: bool, info: ValidationInfo) -> bool:
        budget = info.data.get("budget")  # absent when the budget itself failed validation
        if value and budget is not None and not budget.limits():
            raise ValueError("needs a budget (ops, params, activations, latency_ms or train_memory); give one or "
                             "set fill_budget: false")
        return value

    @field_validator("train")
    @classmethod
    def _batch_fits_a_budget(cls, value, info: ValidationInfo):
        budget = info.data.get("budget")
        if value.batch_size == "auto":
            if budget is not None and budget.train_memory is None:
                raise ValueError("batch_size auto is the largest batch within budget.train_memory, which the "
                                 "budget lacks: give budget.train_memory or a batch size")
            if info.data.get("fill_budget") and budget is not None and set(budget.limits()) == {"train_memory"}:
                raise ValueError("with batch_size auto, budget.train_memory sets each candidate's batch, not its "
                                 "widths: budget filling needs another limit (ops, params, activations or "
                                 "latency_ms); give one, a batch size, or set fill_budget: false")
        elif value.max_batch_size is not None:
            raise ValueError(f"max_batch_size bounds batch_size auto only (the batch size is {value.batch_size})")
        return value

    @field_validator("final")
    @classmethod
    def _final_batch(cls, value, info: ValidationInfo):
        budget = info.data.get("budget")
        if value is not None and value.batch_size == "auto" and budget is not None and budget.train_memory is None:
            raise ValueError("batch_size auto is the largest batch within budget.train_memory, which the budget "
                             "lacks: give budget.train_memory or a batch size")
        return value

    @field_validator("data")
    @classmethod
    def _known_data(cls, value: str) -> str:
        from ..training.errors import DataError
        from ..training.sources import parse_data

        try:
            parse_data(value)  # the name only: the files are read when the search starts
        except DataError as exc:
            raise ValueError(str(exc)) from None
        return value

    @field_validator("proxy")
    @classmethod
    def _known_proxy(cls, value: str, info: ValidationInfo) -> str:
        from .proxies import PROXIES

        if value not in PROXIES:
            raise ValueError(f"must be one of {', '.join(PROXIES)}, got {value!r}")
        train = info.data.get("train")
        if value == "train_loss" and train is not None and train.steps is not None:
            raise ValueError("train_loss sums per-epoch losses: give train.epochs, not train.steps")
        return value

    @field_validator("supernet")
    @classmethod
    def _supernet_proxy(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is not None and info.data.get("proxy", "supernet") != "supernet":
            raise ValueError(f"is read by `proxy: supernet` only (the proxy is {info.data.get('proxy')!r})")
        return value

    @field_validator("objective")
    @classmethod
    def _accuracy_first(cls, value):
        objectives = (value,) if isinstance(value, str) else tuple(value)
        if objectives[0] != "accuracy" or len(set(objectives)) != len(objectives):
            raise ValueError(f"must be accuracy, [accuracy, ops], [accuracy, params] or [accuracy, latency], "
                             f"got {value!r}")
        return value

    @property
    def objectives(self) -> tuple[str, ...]:
        return (self.objective,) if isinstance(self.objective, str) else tuple(self.objective)

    @property
    def multi_objective(self) -> bool:
        return len(self.objectives) > 1

    @property
    def needs_latency(self) -> bool:
        """Whether candidates need a predicted latency: a latency budget or a latency objective."""
        return self.budget.latency_ms is not None or "latency" in self.objectives

    @property
    def latency_settings(self) -> LatencySettings:
        """The `latency:` section, or its defaults when the config has none."""
        return self.latency or LatencySettings()


class LoadedConfig:
    """A validated config with its base spec loaded and the file it came from."""

    def __init__(self, config: SearchConfig, base: Spec, path: Path | None):
        self.config = config
        self.base = base
        self.path = path

    @property
    def study_name(self) -> str:
        if self.config.name:
            return self.config.name
        return self.path.stem if self.path else self.base.name
