"""Search configs: what a valid one means, and bad ones named by file:line field.path."""

from __future__ import annotations

import pytest

import archkit
from archkit import SpecError
from archkit.search.config import FloatChoices, FloatRange, IntChoices, IntRange, SearchConfig
from archkit.search.loader import load_search_config

GOOD = """
name: demo
base: googlenet-32
space:
  width: [0.25, 1.0]
  stage_width: {low: 0.5, high: 1.5, log: true}
  depth: {stage3: [1, 3], stage4: {choices: [2, 5, 7]}}
  branch_shares: {choices: [0.5, 1.0, 2.0]}
  reduce_ratio: [0.5, 2]
  factorize_5x5: true
  divisor: 4
budget: {ops: 1.5G, params: 7M, activations: 800k}
objective: [accuracy, params]
data: digits
train: {epochs: 2, batch_size: 32, lr: 0.1}
sampler: nsga2
pruner: none
trials: 12
timeout: 30
seed: 3
"""


def test_a_full_config(write_config):
    loaded = load_search_config(write_config(GOOD))
    cfg = loaded.config
    assert loaded.base == archkit.load_spec("googlenet-32")
    assert loaded.study_name == "demo"
    assert cfg.space.width == FloatRange(low=0.25, high=1.0)
    assert cfg.space.stage_width == FloatRange(low=0.5, high=1.5, log=True)
    assert cfg.space.depth == {"stage3": IntRange(low=1, high=3), "stage4": IntChoices(choices=[2, 5, 7])}
    assert cfg.space.branch_shares == FloatChoices(choices=[0.5, 1.0, 2.0])
    assert cfg.space.reduce_ratio == FloatRange(low=0.5, high=2.0)
    assert cfg.space.factorize_5x5 is True and cfg.space.divisor == 4
    assert cfg.budget.limits() == {"ops": 1_500_000_000, "params": 7_000_000, "activations": 800_000}
    assert cfg.objectives == ("accuracy", "params") and cfg.multi_objective
    assert (cfg.train.epochs, cfg.train.batch_size, cfg.train.lr) == (2, 32, 0.1)
    assert (cfg.sampler, cfg.pruner, cfg.trials, cfg.timeout, cfg.seed) == ("nsga2", "none", 12, 30.0, 3)


def test_defaults_and_study_name_from_the_file(write_config):
    loaded = load_search_config(write_config("base: googlenet\nbudget: {ops: 500M}\n", "studies/tiny.yaml"))
    cfg = loaded.config
    assert loaded.study_name == "tiny"
    assert cfg.objectives == ("accuracy",) and not cfg.multi_objective
    assert cfg.fill_budget is True and cfg.space.divisor == 8
    assert cfg.space.width is None and cfg.space.depth is None
    assert cfg.budget.limits() == {"ops": 500_000_000}
    assert (cfg.sampler, cfg.pruner, cfg.data) == ("auto", "median", "digits")
    assert cfg.warm_start is True
    assert cfg.space.stage_width_growth is None and cfg.space.share_module_params == "none"


SMALL = """
base: googlenet-32
space:
  stage_width_growth: {low: 1.0, high: 2.5, log: true}
  depth: {stage4: [1, 5]}
  branch_shares: [0.5, 2.0]
  reduce_ratio: [0.5, 1.5]
  factorize_5x5: true
  share_module_params: stage
budget: {ops: 20M}
sampler: gp
warm_start: false
"""


def test_the_low_dimensional_space_keys(write_config):
    cfg = load_search_config(write_config(SMALL)).config
    assert cfg.space.stage_width_growth == FloatRange(low=1.0, high=2.5, log=True)
    assert cfg.space.stage_width is None and cfg.space.share_module_params == "stage"
    assert (cfg.sampler, cfg.warm_start) == ("gp", False)
    for share in ("none", "stage", "network"):
        text = SMALL.replace("share_module_params: stage", f"share_module_params: {share}")
        assert load_search_config(write_config(text)).config.space.share_module_params == share


def test_the_shipped_small_space_config():
    """studies/small-space.yaml: demo.yaml's search with the low-dimensional space."""
    from pathlib import Path

    studies = Path(__file__).resolve().parents[2] / "studies"
    small, demo = load_search_config(studies / "small-space.yaml"), load_search_config(studies / "demo.yaml")
    assert small.study_name == "small-space" and small.base == demo.base
    same = ("budget", "fill_budget", "objective", "data", "train", "final", "sampler", "pruner", "trials", "seed")
    assert {k: getattr(small.config, k) for k in same} == {k: getattr(demo.config, k) for k in same}
    assert small.config.space.stage_width_growth is not None and small.config.space.share_module_params == "network"


def test_no_budget_is_fine_without_budget_filling(write_config):
    loaded = load_search_config(write_config("base: googlenet-32\nfill_budget: false\n"))
    assert loaded.config.budget.limits() == {}


def test_overrides_are_validated_like_the_file(write_config):
    path = write_config("base: googlenet-32\nbudget: {ops: 50M}\ntrials: 3\n")
    loaded = load_search_config(path, {"trials": 6, "train.epochs": 4, "budget.params": "2M", "budget.ops": "20M",
                                       "seed": 9})
    cfg = loaded.config
    assert (cfg.trials, cfg.train.epochs, cfg.seed) == (6, 4, 9)
    assert cfg.budget.limits() == {"ops": 20_000_000, "params": 2_000_000}
    with pytest.raises(SpecError) as info:
        load_search_config(path, {"budget.params": "12Q"})
    assert str(info.value) == "search.yaml:2 budget.params: expected a count like 1.5G, 7M or 50000, got '12Q'"
    with pytest.raises(SpecError) as info:
        load_search_config(path, {"trials": 0})
    assert str(info.value) == "search.yaml:3 trials: must be an integer >= 1, got 0"


def test_a_base_file_next_to_the_config(write_config, workdir):
    text = archkit.spec.builtin_text("googlenet-32").replace("name: googlenet-32", "name: mine")
    (workdir / "cfg").mkdir()
    (workdir / "cfg" / "mine.yaml").write_text(text)
    loaded = load_search_config(write_config("base: mine.yaml\nbudget: {ops: 50M}\n", "cfg/search.yaml"))
    assert loaded.base.name == "mine"
    assert loaded.base.layers == archkit.load_spec("googlenet-32").layers


def test_the_model_alone_checks_coherence():
    assert SearchConfig.model_validate({"base": "x", "fill_budget": False}).objectives == ("accuracy",)
    for bad in ({"base": "x"}, {"base": "x", "budget": {"ops": 5}, "objective": ["ops", "accuracy"]},
                {"base": "x", "budget": {"ops": 5}, "objective": ["accuracy", "accuracy"]}):
        with pytest.raises(ValueError):
            SearchConfig.model_validate(bad)


B = "base: googlenet-32\n"
BUDGET = "budget: {ops: 50M}\n"

# (id, config text, the whole message); the file is search.yaml in the cwd.
CASES = [
    ("unknown-top-key", B + BUDGET + "trails: 5\n", "search.yaml:3 trails: unknown key (did you mean 'trials'?)"),
    ("unknown-space-key", B + BUDGET + "space:\n  width: [0.5, 1]\n  depht: {stage4: [1, 2]}\n",
     "search.yaml:5 space.depht: unknown key (did you mean 'depth'?)"),
    ("unknown-range-key", B + BUDGET + "space:\n  width: {low: 0.5, hi: 1}\n",
     "search.yaml:4 space.width.high: required key is missing"),
    ("range-low-above-high", B + BUDGET + "space:\n  width: [2, 1]\n",
     "search.yaml:4 space.width: low must not exceed high, got low=2, high=1"),
    ("range-mapping-low-above-high", B + BUDGET + "space:\n  stage_width: {low: 1.5, high: 0.5}\n",
     "search.yaml:4 space.stage_width: low must not exceed high, got low=1.5, high=0.5"),
    ("depth-low-above-high", B + BUDGET + "space:\n  depth:\n    stage4: [5, 2]\n",
     "search.yaml:5 space.depth.stage4: low must not exceed high, got low=5, high=2"),
    ("depth-zero", B + BUDGET + "space:\n  depth:\n    stage4: [0, 2]\n",
     "search.yaml:5 space.depth.stage4.low: must be an integer >= 1, got 0"),
    ("depth-fraction", B + BUDGET + "space:\n  depth:\n    stage4: [1.5, 2]\n",
     "search.yaml:5 space.depth.stage4.low: must be an integer, got 1.5"),
    ("depth-choice-zero", B + BUDGET + "space:\n  depth:\n    stage4: {choices: [2, 0]}\n",
     "search.yaml:5 space.depth.stage4.choices[1]: must be an integer >= 1, got 0"),
    ("unknown-stage", B + BUDGET + "space:\n  depth:\n    stage9: [1, 2]\n",
     "search.yaml:5 space.depth.stage9: no stage 'stage9' in googlenet-32 (stages: stage3, stage4, stage5)"),
    ("negative-width", B + BUDGET + "space:\n  width: [-1, 1]\n",
     "search.yaml:4 space.width.low: must be a positive number, got -1"),
    ("empty-choices", B + BUDGET + "space:\n  width: {choices: []}\n",
     "search.yaml:4 space.width.choices: must have at least 1 item, got 0"),
    ("divisor-zero", B + BUDGET + "space: {divisor: 0}\n",
     "search.yaml:3 space.divisor: must be an integer >= 1, got 0"),
    ("bad-budget-string", B + "budget:\n  ops: 12Q\n",
     "search.yaml:3 budget.ops: expected a count like 1.5G, 7M or 50000, got '12Q'"),
    ("infinite-budget", B + "budget:\n  params: .inf\n",
     "search.yaml:3 budget.params: expected a finite count like 1.5G or 7M, got inf"),
    ("zero-budget", B + "budget:\n  activations: 0\n",
     "search.yaml:3 budget.activations: a budget must be positive, got 0"),
    ("unknown-budget-key", B + "budget:\n  flops: 5M\n", "search.yaml:3 budget.flops: unknown key (did you mean 'ops'?)"),
    ("objective-ops-alone", B + BUDGET + "objective: [ops]\n",
     "search.yaml:3 objective: must be accuracy, [accuracy, ops], [accuracy, params] or [accuracy, latency], got ['ops']"),
    ("objective-twice", B + BUDGET + "objective: [accuracy, accuracy]\n",
     "search.yaml:3 objective: must be accuracy, [accuracy, ops], [accuracy, params] or [accuracy, latency], "
     "got ['accuracy', 'accuracy']"),
    ("objective-three", B + BUDGET + "objective: [accuracy, ops, params]\n",
     "search.yaml:3 objective: must have at most 2 items, got 3"),
    ("objective-unknown", B + BUDGET + "objective: speed\n",
     "search.yaml:3 objective: must be one of 'accuracy', 'ops', 'params' or 'latency', got 'speed'"),
    ("objective-unknown-second", B + BUDGET + "objective:\n  - accuracy\n  - flops\n",
     "search.yaml:5 objective[1]: must be one of 'accuracy', 'ops', 'params' or 'latency', got 'flops'"),
    ("fill-budget-without-budget", B + "fill_budget: true\n",
     "search.yaml:2 fill_budget: needs a budget (ops, params, activations, latency_ms or train_memory); give one or set fill_budget: false"),
    ("default-fill-budget-without-budget", B + "trials: 3\n",
     "search.yaml:1 fill_budget: needs a budget (ops, params, activations, latency_ms or train_memory); give one or set fill_budget: false"),
    ("unknown-sampler", B + BUDGET + "sampler: grid\n",
     "search.yaml:3 sampler: must be one of 'auto', 'gp', 'tpe', 'nsga2', 'random' or 'qmc', got 'grid'"),
    ("warm-start-not-bool", B + BUDGET + "warm_start: sometimes\n",
     "search.yaml:3 warm_start: must be true or false, got 'sometimes'"),
    ("stage-width-and-growth", B + BUDGET + "space:\n  stage_width: [0.5, 1.5]\n  stage_width_growth: [1, 2]\n",
     "search.yaml:5 space.stage_width_growth: give either stage_width (a multiplier per stage) or "
     "stage_width_growth (one growth factor across stages), not both"),
    ("growth-low-above-high", B + BUDGET + "space:\n  stage_width_growth: [2, 1]\n",
     "search.yaml:4 space.stage_width_growth: low must not exceed high, got low=2, high=1"),
    ("growth-zero-choice", B + BUDGET + "space:\n  stage_width_growth: {choices: [1, 0]}\n",
     "search.yaml:4 space.stage_width_growth.choices[1]: must be a positive number, got 0"),
    ("share-unknown", B + BUDGET + "space:\n  branch_shares: [0.5, 2]\n  share_module_params: layer\n",
     "search.yaml:5 space.share_module_params: must be one of 'none', 'stage' or 'network', got 'layer'"),
    ("share-nothing", B + BUDGET + "space:\n  width: [0.5, 1]\n  share_module_params: network\n",
     "search.yaml:5 space.share_module_params: 'network' shares nothing: the space has no branch_shares, "
     "reduce_ratio or factorize_5x5"),
    ("zero-trials", B + BUDGET + "trials: 0\n", "search.yaml:3 trials: must be an integer >= 1, got 0"),
    ("unknown-train-key", B + BUDGET + "train:\n  epochs: 2\n  lr_decay: 0.9\n",
     "search.yaml:5 train.lr_decay: unknown key (did you mean 'weight_decay'?)"),
    ("base-missing-file", "base: nowhere.yaml\n" + BUDGET, "search.yaml:1 base: no such file or built-in spec"),
    ("base-unknown-name", "trials: 2\nbase: alexnet\n" + BUDGET,
     "search.yaml:2 base: no such file or built-in spec (built-in specs: bn-inception, googlenet, googlenet-32, inception-resnet-v2, inception-v3, inception-v4, xception)"),
    ("base-required", BUDGET, "search.yaml:1 base: required key is missing"),
    ("python-tag", B + "budget: !!python/object/apply:os.system [echo hacked]\n",
     "search.yaml:2: YAML error: could not determine a constructor for the tag "
     "'tag:yaml.org,2002:python/object/apply:os.system' (YAML tags are refused: archkit reads YAML safely)"),
    ("duplicate-key", B + BUDGET + "trials: 3\ntrials: 4\n",
     "search.yaml:4 trials: duplicate key 'trials' (first on line 3)"),
    ("not-a-mapping", "- base: googlenet\n", "search.yaml:1: a search config must be a YAML mapping, got list"),
]


@pytest.mark.parametrize(("text", "message"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_config(write_config, text, message):
    with pytest.raises(SpecError) as info:
        load_search_config(write_config(text))
    assert str(info.value) == message
    assert isinstance(info.value, archkit.SpecError) and "\n" not in str(info.value)


def test_a_bad_base_file_is_reported_in_its_own_file(write_config, workdir):
    (workdir / "broken.yaml").write_text("name: broken\ninput: {size: 32}\nclasses: 10\nlayers:\n  - {name: x}\n")
    with pytest.raises(SpecError) as info:
        load_search_config(write_config("base: broken.yaml\n" + BUDGET))
    assert str(info.value).startswith("broken.yaml:5 layers[0]: ")


def test_missing_config_file(workdir):
    with pytest.raises(SpecError) as info:
        load_search_config("nope.yaml")
    assert str(info.value) == "nope.yaml: no such search config file"


def test_a_base_without_inception_modules(write_config, workdir):
    (workdir / "plain.yaml").write_text(
        "name: plain\ninput: {size: 8}\nclasses: 3\nlayers:\n  - {name: c, conv: {out: 4, kernel: 3}}\n"
        "  - {name: g, global_avgpool: {}}\n  - {name: fc, linear: {}}\n")
    with pytest.raises(SpecError) as info:
        load_search_config(write_config("budget: {ops: 5M}\nbase: plain.yaml\n"))
    assert str(info.value) == "search.yaml:2 base: the base spec 'plain' has no inception modules to search over"
