"""Pydantic models of the spec language: what a YAML spec may say, checked field by field.

The models check what can be checked locally (types, signs, unknown keys, exactly one kind per
layer). What needs the whole network (shapes, channel flow, names) is checked by `resolve`.
Every model forbids unknown keys, so a typo never silently falls back to a default.
"""

from __future__ import annotations

from typing import Annotated, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, model_validator

PositiveInt = Annotated[int, Field(gt=0, strict=True)]
NonNegativeInt = Annotated[int, Field(ge=0, strict=True)]
# A size given once (square) or as [height, width].
Pair = Union[PositiveInt, Annotated[list[PositiveInt], Field(min_length=2, max_length=2)]]
PadPair = Union[NonNegativeInt, Annotated[list[NonNegativeInt], Field(min_length=2, max_length=2)]]
Padding = Union[Literal["same", "valid"], PadPair]
Activation = Literal["relu", "none"]
Rounding = Literal["floor", "ceil"]


class _Model(BaseModel):
    # allow_inf_nan=False: YAML's .inf and .nan are floats, and one in a scale or a dropout rate would
    # only show as a NaN loss deep into training.
    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True, defer_build=True,
                              allow_inf_nan=False)


class Conv(_Model):
    """A convolution, followed by optional batch norm and the activation.

    `reduce` puts a 1x1 convolution with that many filters in front (Table 1's "#3x3 reduce" on the
    conv2 row, whose depth is 2). `padding: same` (the default) pads (k-1)//2 on each side.
    `groups` splits the channels into groups convolved apart (it must divide both channel counts).
    `separable: true` is a depthwise-separable conv (Xception's): a depthwise kxk conv (one filter
    per input channel, `multiplier` of them, no bias, no norm, no activation) then a pointwise 1x1
    conv to `out` that takes the bias, batch norm and activation.
    """

    out: PositiveInt
    kernel: Pair = 1
    stride: Pair = 1
    padding: Padding = "same"
    reduce: PositiveInt | None = None
    in_: PositiveInt | None = Field(default=None, alias="in")
    groups: PositiveInt = 1
    separable: bool = False
    multiplier: PositiveInt | None = None
    batch_norm: bool | None = None
    bias: bool | None = None
    activation: Activation | None = None

    @model_validator(mode="after")
    def _separable_or_grouped(self) -> Conv:
        if self.separable and self.groups != 1:
            raise ValueError("a separable conv sets its own groups (depthwise, then pointwise): drop groups")
        if self.multiplier is not None and not self.separable:
            raise ValueError("multiplier (depthwise filters per input channel) needs separable: true")
        return self


class Pool(_Model):
    """Max or average pooling; `rounding: ceil` gives Caffe's output sizes (112 -> 56 for 3x3/2)."""

    kernel: Pair
    stride: Pair = 1
    padding: PadPair = 0
    rounding: Rounding = "floor"
    count_include_pad: bool = True


class LRN(_Model):
    """Local response normalization across channels (PyTorch/Caffe semantics: alpha is divided by size)."""

    size: PositiveInt = 5
    alpha: Annotated[float, Field(gt=0)] = 1e-4
    beta: Annotated[float, Field(gt=0)] = 0.75
    k: Annotated[float, Field(gt=0)] = 1.0


class Dropout(_Model):
    p: Annotated[float, Field(ge=0, lt=1)] = 0.5


class Linear(_Model):
    """A fully connected layer; its input is flattened. `out` omitted means the spec's `classes`."""

    out: PositiveInt | None = None
    in_: PositiveInt | None = Field(default=None, alias="in")
    bias: bool | None = None
    activation: Activation = "none"


class Empty(_Model):
    """A layer kind with no settings, written `{global_avgpool: {}}`."""


class Inception(_Model):
    """Table 1's inception row: four parallel branches concatenated along channels.

    1x1 | 1x1 reduce -> 3x3 | 1x1 reduce -> 5x5 | 3x3/1 pool -> 1x1 pool proj.
    `factorize_5x5` writes the 5x5 as two 3x3 convolutions (Inception-v2/v3), same receptive field.
    """

    n1x1: PositiveInt = Field(alias="1x1")
    n3x3_reduce: PositiveInt = Field(alias="3x3_reduce")
    n3x3: PositiveInt = Field(alias="3x3")
    n5x5_reduce: PositiveInt = Field(alias="5x5_reduce")
    n5x5: PositiveInt = Field(alias="5x5")
    pool_proj: PositiveInt
    pool: Literal["max", "avg"] = "max"
    factorize_5x5: bool = False
    batch_norm: bool | None = None
    bias: bool | None = None


BRANCH_OP_KINDS = ("conv", "maxpool", "avgpool", "relu", "split")


class BranchOp(_Model):
    """One op of a branch in the general module form: exactly one of conv, maxpool, avgpool, relu
    (a ReLU on its own: pre-activation, as Xception's ReLU before each separable conv) or split
    (parallel sub-branches on the op's input, concatenated along channels: Inception-v3's
    `1x1 -> (1x3 | 3x1)`; splits nest)."""

    conv: Conv | None = None
    maxpool: Pool | None = None
    avgpool: Pool | None = None
    relu: Empty | None = None
    split: Annotated[list[Branch], Field(min_length=2)] | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> BranchOp:
        _check_exactly_one(self, BRANCH_OP_KINDS, "a branch op")
        return self

    @property
    def kind(self) -> str:
        values = self.__dict__
        return next(kind for kind in BRANCH_OP_KINDS if values[kind] is not None)


class Branch(_Model):
    """A branch: a named sequence of ops. A bare list of ops is accepted as an unnamed branch."""

    name: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_]+$")
    ops: Annotated[list[BranchOp], Field(min_length=1)]

    @model_validator(mode="before")
    @classmethod
    def _from_list(cls, data: object) -> object:
        return {"ops": data} if isinstance(data, list) else data


class Residual(_Model):
    """Makes a module residual: out = activation(scale * projection(concat(branches)) + shortcut(x)).

    `projection` (a conv, usually 1x1 with a bias and no activation) maps the concatenated branches
    back to the shortcut's channels (Inception-ResNet's "1x1 conv (no activation)"); `shortcut` (a
    conv, usually 1x1 with a stride and batch norm) maps the input where its shape changes (Xception's
    blocks); without one the input is added as it is. Both shapes must agree. An addition or a
    scale costs no multiply-adds (the counting convention of convs and linear layers only).
    """

    projection: Conv | None = None
    shortcut: Conv | None = None
    scale: Annotated[float, Field(gt=0)] = 1.0
    activation: Activation = "relu"


class Module(_Model):
    """The general form of an inception module: parallel branches, concatenated along channels.

    Expresses factorized convolutions (1xn then nx1), stride-2 grid reductions (a branch that is
    only a max pool), nested splits, separable convs, per-conv batch norm and bias, and, with
    `residual`, Inception-ResNet's and Xception's residual blocks: the rest of the Inception lineage.
    """

    branches: Annotated[list[Branch], Field(min_length=1)]
    residual: Residual | None = None


LAYER_KINDS = (
    "conv",
    "maxpool",
    "avgpool",
    "lrn",
    "inception",
    "module",
    "global_avgpool",
    "dropout",
    "linear",
)


class Layer(_Model):
    """A row of the network: a name and exactly one kind."""

    name: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$", max_length=64)
    conv: Conv | None = None
    maxpool: Pool | None = None
    avgpool: Pool | None = None
    lrn: LRN | None = None
    inception: Inception | None = None
    module: Module | None = None
    global_avgpool: Empty | None = None
    dropout: Dropout | None = None
    linear: Linear | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> Layer:
        _check_exactly_one(self, LAYER_KINDS, "a layer")
        return self

    @property
    def kind(self) -> str:
        values = self.__dict__
        for kind in LAYER_KINDS:
            if values[kind] is not None:
                return kind
        raise ValueError("a layer needs exactly one kind")  # unreachable for a validated layer

    @property
    def body(self) -> _Model:
        return getattr(self, self.kind)


class Input(_Model):
    """Input image: channels and either `size` (square) or `height` and `width`."""

    channels: PositiveInt = 3
    size: PositiveInt | None = None
    height: PositiveInt | None = None
    width: PositiveInt | None = None

    @model_validator(mode="after")
    def _one_way_to_say_size(self) -> Input:
        if self.size is not None and (self.height is not None or self.width is not None):
            raise ValueError("give either size or height and width, not both")
        if self.size is None and (self.height is None or self.width is None):
            raise ValueError("give size, or both height and width")
        return self

    @property
    def hw(self) -> tuple[int, int]:
        if self.size is not None:
            return self.size, self.size
        return self.height, self.width  # type: ignore[return-value]


class Defaults(_Model):
    """Defaults every conv (and the bias of every linear) takes unless it says otherwise; batch norm's
    epsilon and momentum for every batch norm (PyTorch's defaults; TensorFlow-trained Inceptions use
    eps 0.001)."""

    activation: Activation = "relu"
    batch_norm: bool = False
    bias: bool = True
    batch_norm_eps: Annotated[float, Field(gt=0, lt=1)] = 1e-5
    batch_norm_momentum: Annotated[float, Field(gt=0, le=1)] = 0.1


def paper_aux_layers() -> list[Layer]:
    """The paper's auxiliary classifier (section 5): 5x5/3 avg pool, 1x1 conv (128), FC 1024 + ReLU,
    dropout 70%, linear to the classes."""
    return [
        Layer(name="pool", avgpool=Pool(kernel=5, stride=3)),
        Layer(name="conv", conv=Conv(out=128, kernel=1)),
        Layer(name="fc", linear=Linear(out=1024, activation="relu")),
        Layer(name="dropout", dropout=Dropout(p=0.7)),
        Layer(name="linear", linear=Linear()),
    ]


class AuxHead(_Model):
    """An auxiliary classifier fed by the output of layer `after`; used in training only.

    `layers` defaults to the paper's head; its loss is added with `weight` (the paper's 0.3).
    """

    after: str
    name: str | None = Field(default=None, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    weight: Annotated[float, Field(ge=0)] = 0.3
    layers: Annotated[list[Layer], Field(min_length=1)] = Field(default_factory=paper_aux_layers)


class Spec(_Model):
    """A whole network. Load one with `archkit.load_spec`; the spec is the single source of truth."""

    name: str = Field(min_length=1, max_length=100)
    source: str | None = None
    description: str | None = None
    input: Input
    classes: PositiveInt
    defaults: Defaults = Field(default_factory=Defaults)
    layers: Annotated[list[Layer], Field(min_length=1)]
    aux: list[AuxHead] = Field(default_factory=list)

    def with_classes(self, classes: int) -> Spec:
        """The same network with another class count (every `linear` without `out` follows it)."""
        if isinstance(classes, bool) or not isinstance(classes, int) or classes < 1:
            raise ValueError(f"classes must be a positive integer, but got {classes=}")
        return self.model_copy(update={"classes": classes})

    def to_dict(self) -> dict:
        """Plain data for YAML/JSON, with the spec's own key names (aliases) and no unset noise."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True, exclude_defaults=True)


def _check_exactly_one(model: BaseModel, kinds: tuple[str, ...], what: str) -> str:
    values = model.__dict__
    given = [k for k in kinds if values[k] is not None]
    if len(given) != 1:
        listed = ", ".join(kinds)
        if not given:
            raise ValueError(f"{what} needs exactly one of: {listed}")
        raise ValueError(f"{what} has several kinds ({', '.join(given)}); give exactly one of: {listed}")
    return given[0]
