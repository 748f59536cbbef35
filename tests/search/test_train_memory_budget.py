"""A training memory budget in a search (issue 23 §3): `budget: {train_memory: ...}` with a fixed
`train.batch_size` or `batch_size: auto`; the config's refusals; feasibility against bytes measured
with torch (saved for backward, parameters) and hand arithmetic (the workspace); tiny searches
under the budget with the fake trainer; what a trial records."""

from __future__ import annotations

import optuna
import pytest
import torch

import archkit
from archkit import SpecError
from archkit.search.budget import feasible, fill_budget, measure
from archkit.search.confirm import confirm
from archkit.search.loader import load_search_config
from archkit.search.runner import run_worker
from archkit.search.storage import open_storage
from archkit.search.train_cost import TrainCost, power_of_two_at_most, train_cost, trial_precision
from archkit.search.trial import arch_key
from archkit.spec.resolve import resolved
from archkit.training.memory import measure_saved
from archkit.training.precision import resolve_precision

from .conftest import FakeTrainer, one_error_line

TINY = """\
name: tiny
input: {channels: 1, size: 8}
classes: 3
layers:
  - {name: conv1, conv: {out: 8, kernel: 3}}
  - {name: mix1, inception: {1x1: 4, 3x3_reduce: 4, 3x3: 8, 5x5_reduce: 2, 5x5: 4, pool_proj: 4}}
  - {name: mix2, inception: {1x1: 4, 3x3_reduce: 4, 3x3: 8, 5x5_reduce: 2, 5x5: 4, pool_proj: 4}}
  - {name: gap, global_avgpool: {}}
  - {name: fc, linear: {}}
"""
SPEC = archkit.spec_from_yaml(TINY)
# By hand: the largest op is mix2's 3x3 max pool, 20 channels of 8x8 in and out (2 x 1,280 elements);
# the workspace per image is the image (1x8x8 fp32 = 256 B) and that op's input and output once more
# at the activation precision (4 B in fp32, 2 B under bf16 autocast).
WORKSPACE_PER_IMAGE = {"fp32": 256 + 2_560 * 4, "bf16": 256 + 2_560 * 2}


def expected_peak(batch: int, precision: str) -> int:
    """One training step's predicted peak, from torch where torch can say it: every byte saved for
    backward (one real step, saved_tensors_hooks), the parameters (weights, gradients and SGD's
    momentum: 3 fp32 copies), and the workspace by hand."""
    params = sum(p.numel() for p in archkit.build(SPEC).parameters())
    return (3 * 4 * params + sum(measure_saved(SPEC, batch, precision).values())
            + batch * WORKSPACE_PER_IMAGE[precision])


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_a_fixed_batch_is_feasible_exactly_up_to_its_peak(precision):
    batch = 16
    peak = expected_peak(batch, precision)
    cost = TrainCost(batch=batch, precision=precision, device="cpu")
    assert cost.measure(resolved(SPEC)) == (batch, peak)
    m = measure(SPEC, train=cost)
    assert (m.train_memory, m.batch_size) == (peak, batch)
    assert feasible(m, {"train_memory": peak}) and not feasible(m, {"train_memory": peak - 1})


def test_batch_auto_is_the_largest_power_of_two_that_fits():
    peaks = {b: expected_peak(b, "fp32") for b in (1, 2, 4, 8, 16)}
    limit = peaks[8] + (peaks[16] - peaks[8]) // 2  # room for 8 images, not for 16
    cost = TrainCost(batch=None, precision="fp32", device="cpu", limit=limit)
    assert cost.measure(resolved(SPEC)) == (8, peaks[8])
    # at most max_batch (a power of two at most it)
    assert TrainCost(batch=None, precision="fp32", device="cpu", limit=limit, max_batch=6).measure(
        resolved(SPEC)) == (4, peaks[4])
    # not even one image: batch 1, over the limit (infeasible)
    tight = TrainCost(batch=None, precision="fp32", device="cpu", limit=peaks[1] - 1)
    batch, peak = tight.measure(resolved(SPEC))
    assert (batch, peak) == (1, peaks[1])
    assert not feasible(measure(SPEC, train=tight), {"train_memory": peaks[1] - 1})
    assert [power_of_two_at_most(n) for n in (1, 2, 3, 255, 256, 257)] == [1, 2, 2, 128, 256, 256]


def test_budget_filling_fills_training_memory():
    limit = expected_peak(16, "fp32") * 3
    cost = TrainCost(batch=16, precision="fp32", device="cpu", limit=limit)
    filled = fill_budget(SPEC, {}, {"train_memory": limit}, divisor=1, name="filled", train=cost)
    assert filled.feasible and filled.scale > 1
    batch, peak = cost.measure(resolved(filled.spec))
    assert filled.measured.train_memory == peak <= limit and batch == 16
    # the next width step would be over: the filling stops within a few percent of the budget
    assert peak > 0.9 * limit
    # without a TrainCost there is nothing to measure it with: the limit is left out (scale as for no limit)
    assert fill_budget(SPEC, {}, {"train_memory": limit}, divisor=1).scale == 1.0


def test_auto_precision_is_the_trainers():
    assert trial_precision("auto", "cpu") == resolve_precision("auto", torch.device("cpu"))
    assert trial_precision("bf16", "cpu") == "bf16" and trial_precision("fp32", "cuda") == "fp32"


# --- the config --------------------------------------------------------------------------------


def config(write_config, workdir, body: str):
    (workdir / "tiny.yaml").write_text(TINY, encoding="utf-8")
    return write_config("base: tiny.yaml\n" + body)


def test_config_reads_train_memory(write_config, workdir):
    for text, limit in (("8G", 8 * 10**9), ("16GiB", 16 * 2**30), ("512 MiB", 512 * 2**20), ("20000000", 2 * 10**7)):
        loaded = load_search_config(config(write_config, workdir, f"budget: {{ops: 5M, train_memory: {text}}}\n"))
        assert loaded.config.budget.train_memory == limit
        assert loaded.config.budget.limits() == {"ops": 5_000_000, "train_memory": limit}
    loaded = load_search_config(config(write_config, workdir, "budget: {train_memory: 1G}\n"
                                       "train: {batch_size: 32, precision: bf16, device: cpu}\n"))
    assert train_cost(loaded.config) == TrainCost(batch=32, precision="bf16", device="cpu", limit=10**9)
    loaded = load_search_config(config(write_config, workdir, "budget: {ops: 5M, train_memory: 1G}\n"
                                       "train: {batch_size: auto, max_batch_size: 64, precision: fp32}\n"))
    cost = train_cost(loaded.config)
    assert (cost.batch, cost.max_batch, cost.limit) == (None, 64, 10**9)


BAD = [
    ("not-a-size", "budget:\n  train_memory: lots\n",
     "search.yaml:3 budget.train_memory: must be a positive amount of memory like 8G (= 8 GB), 16GiB or 512MiB, "
     "got 'lots'"),
    ("zero", "budget:\n  train_memory: 0\n",
     "search.yaml:3 budget.train_memory: must be a positive amount of memory like 8G (= 8 GB), 16GiB or 512MiB, "
     "got 0"),
    ("zero-gb", "budget:\n  train_memory: 0GB\n",
     "search.yaml:3 budget.train_memory: must be a positive amount of memory like 8G (= 8 GB), 16GiB or 512MiB, "
     "got '0GB'"),
    ("auto-without-budget", "budget: {ops: 5M}\ntrain: {batch_size: auto}\n",
     "search.yaml:3 train: batch_size auto is the largest batch within budget.train_memory, which the budget "
     "lacks: give budget.train_memory or a batch size"),
    ("auto-fills-nothing", "budget: {train_memory: 1G}\ntrain: {batch_size: auto}\n",
     "search.yaml:3 train: with batch_size auto, budget.train_memory sets each candidate's batch, not its widths: "
     "budget filling needs another limit (ops, params, activations or latency_ms); give one, a batch size, or set "
     "fill_budget: false"),
    ("max-without-auto", "budget: {train_memory: 1G}\ntrain: {batch_size: 8, max_batch_size: 64}\n",
     "search.yaml:3 train: max_batch_size bounds batch_size auto only (the batch size is 8)"),
    ("batch-too-large", "budget: {train_memory: 10MB}\ntrain:\n  precision: fp32\n  batch_size: 4096\n",
     "search.yaml:5 train.batch_size: batch 4,096 cannot train within budget.train_memory 10.0 MB even on the "
     "smallest candidate (tiny at its lowest widths, fewest modules): it needs {need} (fp32 on {device}); its "
     "largest batch within the budget is {largest}"),
    ("not-one-image", "budget:\n  ops: 5M\n  train_memory: 2kB\ntrain: {batch_size: auto, precision: fp32}\n",
     "search.yaml:4 budget.train_memory: 2.0 kB cannot train even the smallest candidate (tiny at its lowest "
     "widths, fewest modules) at batch 1: it needs {need} (fp32 on {device})"),
]


@pytest.mark.parametrize(("body", "message"), [c[1:] for c in BAD], ids=[c[0] for c in BAD])
def test_bad_train_memory(write_config, workdir, body, message):
    from archkit.profile.memory import fmt_bytes
    from archkit.search.config import SearchConfig
    from archkit.search.loader import smallest_candidate
    from archkit.search.train_cost import device_kind

    with pytest.raises(SpecError) as info:
        load_search_config(config(write_config, workdir, body))
    if "{need}" in message:
        # the smallest candidate: every width at the divisor (8), one module per stage as in the base
        smallest = smallest_candidate(SearchConfig.model_validate({"base": "tiny.yaml", "fill_budget": False}), SPEC)
        assert [layer.out_shape[0] for layer in resolved(smallest).layers] == [8, 32, 32, 32, 3]
        device = device_kind("auto")
        cost = TrainCost(batch=4096 if "4096" in body else 1, precision="fp32", device=device)
        message = message.format(need=fmt_bytes(cost.measure(resolved(smallest))[1]), device=device,
                                 largest=f"{cost.profile(resolved(smallest)).largest_batch(10**7):,}")
    assert str(info.value) == message


def test_the_command_line_refuses_in_one_line(write_config, workdir, cli):
    path = config(write_config, workdir, "budget: {ops: 5M}\ntrain: {batch_size: 8}\n")
    line = one_error_line(cli("search", path, "--max-train-memory", "plenty"))
    assert line == ("error: search.yaml:2 budget.train_memory: must be a positive amount of memory like 8G (= 8 GB), 16GiB "
                    "or 512MiB, got 'plenty'")
    path = config(write_config, workdir, "budget: {ops: 5M}\ntrain: {batch_size: 4096, precision: fp32}\n")
    line = one_error_line(cli("search", path, "--max-train-memory", "10MB"))
    assert line.startswith("error: search.yaml:3 train.batch_size: batch 4,096 cannot train within budget.train_memory "
                           "10.0 MB even on the smallest candidate")


# --- tiny searches under the budget --------------------------------------------------------------


def trials_of(name: str):
    return optuna.load_study(study_name=name, storage=open_storage(f"studies/{name}.journal")).get_trials()


def spec_of(trial) -> archkit.Spec:
    return archkit.spec_from_yaml(trial.user_attrs["spec"], f"trial {trial.number}")


def search(write_config, workdir, body: str, fake: FakeTrainer):
    loaded = load_search_config(config(write_config, workdir, body))
    run_worker(loaded, f"studies/{loaded.study_name}.journal", loaded.study_name, train=fake, progress=False)
    return loaded, trials_of(loaded.study_name)


def test_a_search_under_a_training_memory_budget(write_config, workdir):
    # Widths sampled, not filled: the wider candidates need more than the budget at batch 16.
    limit = expected_peak(16, "fp32") * 2
    fake = FakeTrainer()
    loaded, trials = search(write_config, workdir, f"""
name: mem
space: {{width: [0.5, 4.0], divisor: 1}}
budget: {{train_memory: {limit}}}
fill_budget: false
sampler: random
pruner: none
trials: 8
train: {{epochs: 1, batch_size: 16, precision: fp32, device: cpu}}
""", fake)
    cost = TrainCost(batch=16, precision="fp32", device="cpu", limit=limit)
    over = [t for t in trials if not t.user_attrs["feasible"]]
    within = [t for t in trials if t.user_attrs["feasible"]]
    assert over and within, [t.user_attrs["train_memory"] for t in trials]
    for t in trials:
        peak = cost.measure(resolved(spec_of(t)))[1]
        assert t.user_attrs["train_memory"] == peak and t.user_attrs["batch_size"] == 16
        assert t.user_attrs["feasible"] == (peak <= limit)
        assert t.user_attrs["constraints"] == [peak / limit - 1]
        assert "measured_train_memory" not in t.user_attrs  # measured on CUDA only
    # over budget: never trained; within it: trained at the recipe's batch
    assert len(fake.calls) == len({t.user_attrs["arch"] for t in within})
    assert all(call["batch_size"] == 16 and "max_batch_size" not in call for call in fake.calls)
    study = optuna.load_study(study_name="mem", storage=open_storage("studies/mem.journal"))
    assert study.user_attrs["budget"] == {"train_memory": limit}
    assert study.user_attrs["train_cost"] == {"batch_size": 16, "max_batch_size": 256, "precision": "fp32",
                                              "device": "cpu"}


def test_budget_filling_to_a_training_memory_budget(write_config, workdir):
    limit = expected_peak(16, "fp32") * 3
    fake = FakeTrainer()
    _, trials = search(write_config, workdir, f"""
name: filled
space: {{stage_width: [0.5, 2.0], divisor: 1}}
budget: {{train_memory: {limit}}}
sampler: random
pruner: none
trials: 4
train: {{epochs: 1, batch_size: 16, precision: fp32, device: cpu}}
""", fake)
    for t in trials:
        assert t.user_attrs["feasible"]
        assert 0.9 * limit < t.user_attrs["train_memory"] <= limit


def test_a_search_with_batch_auto_records_each_candidates_batch(write_config, workdir):
    fake = FakeTrainer()
    limit = expected_peak(8, "fp32") + 1
    loaded, trials = search(write_config, workdir, f"""
name: auto
space: {{width: [0.5, 2.0], divisor: 1}}
budget: {{ops: 1G, train_memory: {limit}}}
fill_budget: false
sampler: random
pruner: none
trials: 6
train: {{epochs: 1, batch_size: auto, max_batch_size: 64, precision: fp32, device: cpu}}
""", fake)
    cost = TrainCost(batch=None, precision="fp32", device="cpu", limit=limit, max_batch=64)
    batches = {}
    for t in trials:
        batch, peak = cost.measure(resolved(spec_of(t)))
        assert (t.user_attrs["batch_size"], t.user_attrs["train_memory"]) == (batch, peak) and peak <= limit
        # a power of two, and twice it would not fit (or is over max_batch_size)
        assert batch & (batch - 1) == 0
        assert batch == 64 or cost.profile(resolved(spec_of(t)), 2 * batch).peak_bytes > limit
        batches[t.user_attrs["arch"]] = batch
    assert len(set(batches.values())) > 1  # the batch follows the candidate
    for call in fake.calls:  # each trained at its own batch
        assert call["batch_size"] == cost.measure(resolved(call["spec"]))[0]


def test_the_confirmation_trains_each_candidate_at_its_batch(write_config, workdir):
    limit = expected_peak(8, "fp32") + 1
    loaded, trials = search(write_config, workdir, f"""
name: confirmed
space: {{width: [0.5, 2.0], divisor: 1}}
budget: {{ops: 1G, train_memory: {limit}}}
fill_budget: false
sampler: random
pruner: none
trials: 4
train: {{epochs: 1, batch_size: auto, precision: fp32, device: cpu}}
final: {{top: 2, seeds: 1}}
""", FakeTrainer())
    batch_of = {t.user_attrs["arch"]: t.user_attrs["batch_size"] for t in trials}
    fake = FakeTrainer()
    study = optuna.load_study(study_name="confirmed", storage=open_storage("studies/confirmed.journal"))
    confirm(study, loaded.config, loaded.config.final, fake)
    assert fake.calls
    for call in fake.calls:
        assert call["batch_size"] == batch_of[arch_key(call["spec"])] and "max_batch_size" not in call
