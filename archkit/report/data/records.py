"""The records the report data functions return: one declared shape per record, here and nowhere else.

Why `TypedDict` (and not frozen dataclasses or NamedTuples): the report data is plain data by design
(dicts, lists, strings, numbers) and stays so. It is serialized as it is (`archkit compare --format
json` dumps `compare_data`'s records with `json.dumps`; `StudyReport.data` hands a study's records
to the caller), and every consumer reads it by key: the figures (`figures.py`), the pages
(`api.py`, `page.table_html`), the compare text outputs and the tests (`d["layers"][0]["ops"]`). A
TypedDict is a dict at run time: nothing to convert before `json.dumps`, no consumer or test to
rewrite, while the shape of each record, its keys and the types and units of its values, is now
declared once: each producer builds its records by calling the TypedDict (`TrialRecord(number=...,
...)`), so the keys are spelt out where they are made and a type checker can hold them to the
declaration, and tests/report/test_records.py checks real data against it (every key declared, no
key undeclared, values of the declared types). Frozen dataclasses would have needed `asdict`
before every dump and every consumer and test rewritten to attribute access, for no gain in what
the data holds.

Keys are always present (a value that may be missing is `X | None`: a layer's `paper`, the
profile's `latency`), except `Fronts.latency_ms`, which exists only in a study that predicts
latency, and `Fronts.train_memory`, only in a study with a train_memory budget: the fronts are one
per cost the study has, and the page asks `"latency_ms" in fronts`.

Units follow the text tables: params are weights, ops are multiply-adds (one fused multiply-add
is one op), activations are output elements, all exact counts for one image unless a field says
otherwise (the measured latency's per batch); memory is bytes; latencies are milliseconds; accuracies are fractions
in [0, 1] (0.9 is 90%); shares are fractions of a total. Formatted text (`cells`, `*_text`) uses
the tables' units: params in K = 1024 weights, ops in M = 10^6 multiply-adds.
"""

# No `from __future__ import annotations` here: Python 3.11's TypedDict reads `NotRequired` only
# from evaluated annotations (a string hides it, and the key would count as required); the records
# are defined in dependency order, and a record that nests itself names itself in quotes.
from typing import Any, NotRequired, TypedDict

# A value an Optuna trial sampled (`trial.params`): a float, an int, or a categorical choice.
ParamValue = bool | int | float | str | None


# --- shared --------------------------------------------------------------------------------------


class Totals(TypedDict):
    """Summed costs of a network part (the inference path, or the aux heads): exact counts for one image."""

    params: int  # weights
    ops: int  # multiply-adds
    activations: int  # output elements


class TableRow(TypedDict):
    """A table row as the page draws it: its formatted cells (one per header) and `status`, the row's
    CSS class ("" for none): a Table 1 row's agreement with the paper ("match", "near", "disagrees"),
    a compare row's "only-a", "only-b" or "changed", a confirmation row's "reference"."""

    cells: list[str]
    status: str


# --- a profile's layers (profile_data, compare_data) ----------------------------------------------


class BranchRecord(TypedDict):
    """One part of a module (`archkit.profile.profiler.BranchRow`): a parallel branch, or a residual
    module's projection or shortcut, with the sub-branches of its splits nested the same way."""

    name: str  # its name in the spec (unique among its siblings but for split indices)
    label: str  # its name in the figures: the role of a projection or shortcut, else the name without `branch_`
    path: str  # dotted: the layer's name, then each enclosing branch's, then its own ("inception3a.branch_3x3")
    role: str  # "branch" | "projection" | "shortcut"
    at: int | None  # index of its split among the enclosing branch's ops; None for a module's own parts
    output: str  # output size, "height x width x channels" ("28x28x128")
    output_shape: list[int]  # [channels, height, width]
    depth: int  # layers along it, as Table 1 counts depth
    params: int  # weights, its sub-branches' included
    ops: int  # multiply-adds for one image, its sub-branches' included
    activations: int  # output elements for one image
    branches: list["BranchRecord"]  # the sub-branches of its splits, in spec order


class LayerPaper(TypedDict):
    """Table 1's published numbers for one layer, beside the computed ones (`compare_paper`)."""

    params: int  # the printed params (K) x 1024
    ops: int  # the printed ops (M) x 10^6
    params_status: str  # "match" | "near" (within 2%) | "disagrees"
    ops_status: str  # the same for ops
    status: str  # the worse of the two
    note: str  # why they differ, a sentence ("" for none)


class LayerRecord(TypedDict):
    """One spec layer, as a Table 1 row (`archkit.profile.profiler.Row`), with its stage and its parts."""

    name: str
    type: str  # Table 1's type label ("convolution", "inception", "max pool", ...)
    patch: str  # patch size / stride ("7x7/2"; "" for a module)
    output: str  # output size, "height x width x channels"
    output_shape: list[int]  # [channels, height, width]
    depth: int  # layers along it, as Table 1 counts depth
    filters: dict[str, int]  # Table 1's filter columns that apply (FILTER_COLUMNS: "1x1", "3x3_reduce", ...): filters
    params: int  # weights
    ops: int  # multiply-adds for one image
    activations: int  # output elements for one image
    stage: str  # "stem", a search stage ("stage3", ...), "head"; an aux head's layers: the head's name
    branches: list[BranchRecord]  # the module's parts ([] for a plain layer)
    paper: LayerPaper | None  # the published numbers; None without a paper comparison or where Table 1 has none


class BranchTableRow(TypedDict):
    """A row of the branches table (`branch_rows`): a module's own row, then its parts, each followed
    by its sub-branches; cells as BRANCH_HEADERS (params in K, ops in M)."""

    cells: list[str]
    status: str  # "module" for a module's own row, "" for a part
    level: int  # indentation of the first cell: 0 for a module, 1 for its parts, 2 for theirs, ...


class Sunburst(TypedDict):
    """Ops as a tree (stage -> layer -> branch -> sub-branch -> ...) for a Plotly sunburst: parallel
    lists, one entry per node; a parent's value is the sum of its children's."""

    ids: list[str]  # unique, "/"-separated from the stage ("stage3/inception3a/branch_3x3")
    labels: list[str]  # the name shown on the slice
    parents: list[str]  # the parent's id ("" for a stage)
    values: list[int]  # multiply-adds for one image


# --- profile_data -------------------------------------------------------------------------------


class AuxHeadRecord(TypedDict):
    """An auxiliary classifier head (training only; not in the inference path's totals)."""

    name: str
    after: str  # the layer whose output it reads
    weight: float  # its weight in the training loss
    layers: list[LayerRecord]  # stage: the head's name
    table: list[TableRow]  # Table 1's columns (HEADERS), status ""
    total: Totals


class PaperSummary(TypedDict):
    """The comparison with the paper's Table 1 as a whole (`compare_paper`)."""

    source: str  # the publication
    budget_ops: float  # the paper's multiply-add budget for inference (multiply-adds)
    flagged: list[str]  # layers whose params or ops are not an exact match
    disagrees: list[str]  # layers whose params or ops disagree (beyond 2%)
    summary: list[str]  # sentences for the report, the first one the headline


class MeasuredWhere(TypedDict):
    """Where and how a profile's latency was measured (`archkit.latency.LayerLatencies`)."""

    device: str  # "cpu" | "cuda" | "cuda:N"
    device_name: str  # the CPU's or GPU's model name
    batch: int  # images per forward pass
    precision: str  # "fp32" | "bf16" | ...
    threads: int  # torch's intra-op threads while measuring
    torch: str  # torch's version


class LatencyLayer(TypedDict):
    """One layer's measured latency beside its ops and memory traffic, for a batch of `batch` images."""

    name: str
    type: str  # Table 1's type label
    stage: str  # as LayerRecord.stage
    ops: int  # multiply-adds for the batch
    bytes: int  # memory traffic for the batch: weights + input + output (computed, not measured)
    intensity: float | None  # multiply-adds per byte; None when no byte moves
    latency_ms: float  # median over the repeats, ms per batch (the layer timed alone)
    latency_iqr_ms: float  # interquartile range, ms
    q1_ms: float  # first quartile, ms
    q3_ms: float  # third quartile, ms
    ops_share: float  # fraction of the layers' multiply-adds
    latency_share: float  # fraction of the layers' summed latency
    expected_ms: float | None  # its ops at the layers' mean rate (ms); None without ops
    slowdown: float | None  # latency_ms / expected_ms; None without ops
    bytes_text: str  # bytes with an SI prefix ("1.2MB")
    latency_text: str  # "0.412 ms (IQR 0.0100 ms: quartiles 0.405 .. 0.415 ms)"


class LatencyTotal(TypedDict):
    """The whole forward pass, timed on its own, beside the layers' sums (one batch)."""

    ops: int  # the layers' multiply-adds for the batch
    bytes: int  # the layers' memory traffic for the batch
    latency_ms: float  # median over the repeats, ms per batch
    latency_iqr_ms: float  # interquartile range, ms
    q1_ms: float  # first quartile, ms
    q3_ms: float  # third quartile, ms
    repeats: int  # repeats timed (for each layer and for the whole pass)
    layers_ms: float  # the layers' latencies (each timed alone) summed, ms


class LatencyData(TypedDict):
    """What `archkit profile --measure` adds to a profile report (`latency_data`)."""

    where: MeasuredWhere
    headline: str  # one sentence: where, and the whole forward pass's latency
    facts: list[tuple[str, str]]  # (what, value) pairs for the facts table
    layers: list[LatencyLayer]  # spec order, as ProfileData.layers
    total: LatencyTotal
    rate: float | None  # the layers' mean rate: multiply-adds per ms of their summed latency; None without ops
    cells: dict[str, list[str]]  # by layer name: the table's COST_HEADERS cells
    total_cells: list[str]  # the total row's COST_HEADERS cells


class ProfileData(TypedDict):
    """A profile report's data (`profile_data`): the layers, Table 1 regenerated, the figures' inputs."""

    spec: str  # the spec's name
    convention: str  # the counting convention ("paper", ...)
    input: str  # input size, "height x width x channels"
    layers: list[LayerRecord]  # the inference path, spec order
    headers: list[str]  # HEADERS (+ PAPER_HEADERS with a paper comparison) (+ COST_HEADERS measured)
    table: list[TableRow]  # one per layer; status: the paper agreement ("" without)
    total_cells: list[str]  # the total row, as `headers`
    total: Totals  # the inference path
    aux: list[AuxHeadRecord]
    aux_total: Totals  # the aux heads together
    sunburst: Sunburst
    nested: bool  # whether any module's branch splits again
    branch_headers: list[str]  # BRANCH_HEADERS
    branch_table: list[BranchTableRow]  # the inference path's modules, then the aux heads' ("aux1." paths)
    paper: PaperSummary | None  # None without a paper comparison
    latency: LatencyData | None  # None unless measured (`archkit profile --measure`)


# --- compare_data -------------------------------------------------------------------------------


class CompareSide(TypedDict):
    """One of the two compared specs (A or B)."""

    spec: str  # the spec's name
    label: str  # its legend name ("googlenet (A)" when both have the same name)
    input: str  # input size, "height x width x channels"
    total: Totals


class CompareLayer(TypedDict):
    """One layer of either spec, aligned by name; a layer only one spec has counts 0 on the other side."""

    name: str
    in_a: bool  # spec A has it
    in_b: bool  # spec B has it
    params_a: int  # weights
    params_b: int
    params_delta: int  # B - A
    ops_a: int  # multiply-adds for one image
    ops_b: int
    ops_delta: int  # B - A
    activations_a: int  # output elements for one image
    activations_b: int
    activations_delta: int  # B - A
    output_a: str  # output size, "height x width x channels" ("" where absent)
    output_b: str


class CompareTotal(TypedDict):
    """Both specs' totals (inference path) and their deltas (B - A)."""

    params_a: int
    params_b: int
    ops_a: int
    ops_b: int
    activations_a: int
    activations_b: int
    params_delta: int
    ops_delta: int
    activations_delta: int


class CompareData(TypedDict):
    """A compare report's data (`compare_data`): two profiles layer by layer."""

    a: CompareSide
    b: CompareSide
    layers: list[CompareLayer]  # network order
    headers: list[str]  # COMPARE_HEADERS
    table: list[TableRow]  # one per layer; status "only-a", "only-b", "changed" or ""
    total_cells: list[str]
    total: CompareTotal
    only_a: list[str]  # layers only spec A has
    only_b: list[str]  # layers only spec B has
    changed: int  # rows that differ (only on one side, or a different output, params or ops)


# --- study_data ---------------------------------------------------------------------------------


class TrialRecord(TypedDict):
    """One Optuna trial of a search study, from its state and user attrs (None where it has none)."""

    number: int  # Optuna's trial number
    state: str  # Optuna's state name: "COMPLETE", "PRUNED", "FAIL", "RUNNING", "WAITING"
    category: str  # how it is drawn: "reference", "trained", "scored", "pruned", "over budget", "failed", ...
    reference: bool  # the uniform-width-scaling reference
    feasible: bool | None  # within the budget; None when not measured
    trained: bool  # trained to the end (or its duplicate's accuracy)
    val_top1: float | None  # validation top-1 (fraction); a pruned trial's: when it was stopped
    val_top5: float | None  # validation top-5 (fraction)
    score: float | None  # the score the study ranks by (`archkit.search.results.score`; val top-1 by default)
    ops: int | None  # multiply-adds for one image
    params: int | None  # weights
    activations: int | None  # output elements for one image
    latency_ms: float | None  # predicted latency before training (ms; a study that predicts latency)
    measured_latency_ms: float | None  # timed after training: the fastest block of calls (ms)
    measured_latency_iqr_ms: float | None  # interquartile range of that timing (ms)
    train_memory: int | None  # predicted peak bytes of one training step at `batch_size` (studies since issue 23)
    measured_train_memory: int | None  # torch.cuda.max_memory_allocated over its training (bytes; CUDA trials)
    batch_size: int | None  # the batch it trains at (with `batch_size: auto`, its own)
    width_scale: float | None  # the uniform width scale
    widths: str  # output channels per module ("stem 16/56 | 64,128 | ..."; "" for none)
    depths: list[int]  # modules per stage
    depths_text: str  # "stage3 2, stage4 5, stage5 2"
    sampled: dict[str, ParamValue]  # Optuna's sampled parameters
    train_seconds: float | None  # training time (s)
    device: str | None  # what it was trained on ("cpu", "cuda", ...)
    precision: str | None  # training precision ("fp32", "bf16", ...)
    duplicate_of: int | None  # the trial with the same network, whose accuracy it took
    pruned_at_epoch: int | None
    error: str | None  # a failed trial's error, one line
    start: str | None  # when it started, "YYYY-MM-DD HH:MM:SS"
    seconds: float | None  # Optuna's duration (s)
    note: str  # a sentence for the table and the hover ("" for none)


class TrialTableRow(TypedDict):
    """A row of the sortable trial table (columns as `trial_headers`)."""

    cells: list[str]  # formatted (accuracies in %, ops and params in M, activations in K, latency in ms, memory in MB)
    sort: list[int | float | str]  # per cell, the value it sorts by ("" for none)
    status: str  # the trial's category (the row's CSS class)


class Fronts(TypedDict):
    """The Pareto fronts of the score the study ranks by vs each cost (`archkit.search.results.fronts`,
    `archkit export --pareto`'s): trial numbers, by increasing cost."""

    ops: list[int]
    params: list[int]
    latency_ms: NotRequired[list[int]]  # only in a study that predicts latency
    train_memory: NotRequired[list[int]]  # only in a study with a train_memory budget


class History(TypedDict):
    """The optimization history: parallel lists, one entry per finished trial with an accuracy, in order."""

    numbers: list[int]  # trial numbers
    values: list[float]  # the score the study ranks by (TrialRecord.score; a pruned trial's when it was stopped)
    categories: list[str]  # TrialRecord.category
    best: list[float | None]  # the best score so far of the trials that count (RANKED); None before the first


class Importances(TypedDict):
    """Hyperparameter importances for validation top-1 (fANOVA)."""

    values: dict[str, float]  # parameter -> importance (they sum to 1), largest first; {} for none
    note: str  # why there are none ("" when there are)


class Parallel(TypedDict):
    """The parallel-coordinates plot's axes and lines."""

    params: list[str]  # the sampled parameters drawn, most important first (at most MAX_PARALLEL)
    of: int  # how many parameters every searched trial sampled
    numbers: list[int]  # the trained, within-budget searched trials drawn


class StudyLatency(TypedDict):
    """Where a study's latencies are predicted (its `latency` user attr, `archkit.search.studies.latency_attr`);
    a key the stored attr lacks is None."""

    device: str | None  # "cpu" | "cuda" | "cuda:N"
    device_name: str | None  # the CPU's or GPU's model name
    batch: int | None  # images per forward pass
    precision: str | None  # "fp32" | "bf16" | ...
    threads: int | None  # torch's intra-op threads


class ConfirmedRow(TypedDict):
    """One confirmed trial of the confirmation stage: its retrainings under the final recipe, one per seed."""

    trial: int  # the trial's number
    role: str  # "reference" | "best" | "candidate"
    label: str  # "reference (trial 0)", "trial 7 (best)", "trial 3"
    seeds: list[int | None]  # per run; None where the runs were not stored with the verdict
    val_top1: list[float]  # per seed: validation top-1 (fraction)
    test_top1: list[float]  # per seed: test top-1 (fraction)
    val_mean: float  # mean val top-1 (fraction)
    test_mean: float  # mean test top-1 (fraction)
    test_ci95: list[float | None]  # [lo, hi]: the 95% t interval of the mean test top-1; [None, None] for one seed
    search_val_top1: float | None  # its val top-1 in the search (short recipe); None without the trials
    ops: int | None  # multiply-adds for one image; None without the trials
    params: int | None  # weights; None without the trials
    widths: str  # as TrialRecord.widths ("" without the trials)


class PublishedResult(TypedDict):
    """A published test accuracy on the study's data set (`published.published_for`)."""

    label: str  # what was trained ("GoogLeNet", "2 conv, under 100K params")
    test_top1: float  # on the official test split (fraction)
    params: int | None  # parameters, where the source states them
    source: str  # where the number comes from


class ConfirmationData(TypedDict):
    """The confirmation stage's verdict (`confirmation`; the study's `verdict` attr, see archkit.search.confirm)."""

    headline: str  # the verdict in one sentence
    conclusion: str  # "better", "worse", "not distinguishable", ...
    delta: float  # mean test top-1 of the best minus the reference's (fraction)
    ci95: list[float | None]  # [lo, hi] of `delta`'s interval; [None, None] with one seed each
    interval: str  # which interval ("Welch's t (unequal variances), 95%"; "" when not stored)
    seeds: int  # seeds per trial
    best: int  # the confirmed best's trial number
    reference: int  # the reference's trial number
    rows: list[ConfirmedRow]  # the reference, the best, the other candidates
    headers: list[str]  # CONFIRM_HEADERS
    table: list[TableRow]  # one per row; status "reference" or ""
    notes: list[str]  # sentences: which split, how to read the figure, the verdict
    recipe: dict[str, Any] | None  # the final recipe as stored with the verdict (epochs or steps, lr, ...)
    split_sizes: dict[str, int] | None  # images per split ("train", "val", "test") as a run stored them
    published: list[PublishedResult]  # published test top-1 on the study's data set ([] when none is known)


class SupernetCurves(TypedDict):
    """The training curves of the supernet a `proxy: supernet` study scored on (`supernet_curves`,
    from the study attr `supernet`): val top-1 by evaluated epoch of the largest network, the
    smallest and each sampled sub-network (the same ones at every epoch); None where an
    evaluation did not score it (a checkpoint trained before the sampled ones were scored)."""

    directory: str  # the supernet's folder, as the search found it
    seconds: float  # its training's wall time, all sessions (s)
    step: int | None  # optimizer steps trained when the search started
    epochs: list[float]  # the evaluated epochs (a run stopped mid-epoch: a fraction)
    largest: list[float | None]  # val top-1 (fraction), one per epoch
    smallest: list[float | None]
    sampled: list[list[float | None]]  # one series per sampled sub-network, one value per epoch
    candidates: int  # the study's candidates scored on it (finished trials with a score)


class StudyData(TypedDict):
    """A study report's data (`study_data`)."""

    study: str  # the study's name
    message: str  # why there is nothing to plot ("" when there is)
    notes: list[str]  # sentences for the reader
    trials: list[TrialRecord]  # every trial, by number
    finished: list[int]  # the COMPLETE and PRUNED trials' numbers
    budget: dict[str, float]  # the budget's limits by cost ("ops": multiply-adds, "params", "latency_ms": ms, ...)
    fronts: Fronts
    reference: int | None  # the reference's trial number (finished); None without one
    history: History
    importances: Importances
    parallel: Parallel
    proxy: str  # the proxy the study ranks by ("val_top1", "train_loss", ...; `archkit.search.results.proxy_of`)
    score_label: str  # that score in words: "val top-1", "train_loss score", ...
    best: TrialRecord | None  # the search's best (`archkit.search.results.best`: by score); None before one
    best_layers: CompareData | None  # the base spec (A) vs the best trial's spec (B); None when one does not load
    latency: StudyLatency | None  # where latency is predicted; None in a study that predicts none
    table: list[TrialTableRow]  # one per trial
    headers: list[str]  # `trial_headers`
    facts: list[tuple[str, str]]  # (what, value) pairs for the run's facts table
    config: dict[str, Any] | None  # the search config as stored (`SearchConfig.model_dump(mode="json")`)
    confirmation: ConfirmationData | None  # None before the confirmation stage (or when its verdict cannot be read)
    confirm_hint: str  # how to run the confirmation stage ("" when confirmed or nothing to confirm)
    supernet: SupernetCurves | None  # a `proxy: supernet` study's supernet training curves; None in any other
