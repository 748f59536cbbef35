"""`archkit supernet train --nproc N`: data-parallel supernet training, gloo processes on the CPU.

Each process runs the step's sub-networks on its half of the batch and the gradients are averaged
by hand (no DistributedDataParallel). Batch norm normalizes each half by its own statistics, so two
processes do not compute what one computes on the whole batch; the reference here is computed in
one process as two would: each half through the sub-networks apart, the gradients averaged.
"""

from __future__ import annotations

import os

import pytest
import torch
import torch.nn.functional as F

from archkit.training import ddp

from .conftest import TINY
from .test_train import config, invoke, state

pytestmark = pytest.mark.slow  # processes spawned: tens of seconds on a busy 2-core machine


def _train_in_process(path, directory, steps: int, skew: bool = False):
    """Run in each of `ddp.launch`'s processes: train the supernet, then every process's parameters
    and history (the process group is opened here, so `train_supernet` leaves it open for that).
    `skew`: the second process draws the next step's sub-networks instead of this step's."""
    from archkit.search.loader import load_search_config
    from archkit.supernet import sandwich

    info = ddp.from_env()
    ddp.init(info, torch.device("cpu"))
    try:
        if skew and info.rank == 1:
            draw = sandwich.Sandwich.__call__
            sandwich.Sandwich.__call__ = lambda self, step: draw(self, step + 1)
        run = sandwich.train_supernet(load_search_config(path), directory, steps=steps, device="cpu",
                                      pool_samples=0)
        params = {k: v.detach().clone() for k, v in run.net.named_parameters()}
        return ddp.gather({"params": params, "history": run.history, "step": run.step,
                           "resumed_from": run.resumed_from})
    finally:
        ddp.shutdown()


# Three steps an epoch (a tenth of digits' training images, 32 a batch): a short run crosses an epoch's end.
SHORT_EPOCHS = TINY.replace("precision: fp32}", "precision: fp32, train_fraction: 0.1}")


def _reference(path, saved: dict, steps: int, halves: tuple[int, ...]):
    """The supernet's parameters after `steps` steps computed in this process as two processes compute
    them: the step's sub-networks on each half of the global batch apart (with that process's dropout
    stream), the gradients of the `halves` given averaged, one SGD step (momentum, weight decay).
    Also each step's largest sub-network's loss and correct top-1 count on each half."""
    from archkit.search.loader import load_search_config
    from archkit.training.config import make_config

    loaded = load_search_config(path)
    cfg = make_config({}, saved["config"])
    threads = torch.get_num_threads()
    # With the processes' thread count (train_supernet splits the cores among them): a conv's
    # gradient sums in another order with another count, and those last bits grow over the steps.
    torch.set_num_threads(max(1, (os.cpu_count() or 1) // 2))
    try:
        return _reference_steps(loaded, cfg, saved, steps, halves)
    finally:
        torch.set_num_threads(threads)


def _reference_steps(loaded, cfg, saved: dict, steps: int, halves: tuple[int, ...]):
    from archkit.supernet.elastic import ElasticNet
    from archkit.supernet.plan import Plan
    from archkit.supernet.sandwich import Sandwich
    from archkit.training.batches import make_batches, mix_seed
    from archkit.training.data import load_data, parse_data, reduced

    assert cfg.schedule == "constant" and cfg.warmup_epochs == 0 and cfg.precision == "fp32"
    plan = Plan.from_dict(saved["plan"])
    data = reduced(load_data(parse_data(cfg.data), channels=loaded.base.input.channels, hw=loaded.base.input.hw,
                             classes=loaded.base.classes, val_fraction=cfg.val_fraction,
                             batch_size=cfg.batch_size, test_fraction=cfg.test_fraction), cfg.train_fraction)
    batches = make_batches(data, workers=0, batch_size=cfg.batch_size, hw=loaded.base.input.hw,
                           device=torch.device("cpu"), channels_last=cfg.channels_last, seed=cfg.seed)
    every_batch = (b for epoch in range(steps) for b in batches.epoch(epoch))  # whole batches, epoch after epoch
    sandwich = Sandwich(loaded, plan, cfg.seed)
    losses, correct = [], []
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(mix_seed(cfg.seed, 0, 1))
        net = ElasticNet(plan)
        streams = [torch.get_rng_state()]  # each process's dropout stream
        torch.manual_seed(mix_seed(cfg.seed, 1, 1))
        streams.append(torch.get_rng_state())
        params = list(net.parameters())
        optimizer = torch.optim.SGD(
            [{"params": [p for p in params if p.ndim > 1], "weight_decay": cfg.weight_decay},
             {"params": [p for p in params if p.ndim <= 1], "weight_decay": 0.0}],
            lr=cfg.lr, momentum=cfg.momentum, foreach=False)
        half = cfg.batch_size // 2
        for step, (x, y) in zip(range(steps), every_batch, strict=False):
            largest, *students = sandwich(step)
            grads = []
            for rank in (0, 1):
                xs, ys = x[rank * half:(rank + 1) * half], y[rank * half:(rank + 1) * half]
                torch.set_rng_state(streams[rank])
                net.zero_grad(set_to_none=True)
                logits = net(xs, largest)
                loss = F.cross_entropy(logits, ys, label_smoothing=cfg.label_smoothing)
                loss.backward()
                losses.append(loss.item())
                correct.append(int((logits.argmax(1) == ys).sum()))
                soft = F.softmax(logits.detach(), dim=1)
                for spec in students:
                    (-(soft * F.log_softmax(net(xs, spec), dim=1)).sum(dim=1).mean()).backward()
                streams[rank] = torch.get_rng_state()
                grads.append([p.grad for p in params])
            for p, *gs in zip(params, *grads, strict=True):
                assert (gs[0] is None) == (gs[1] is None)
                p.grad = None if gs[0] is None else sum(gs[r] for r in halves) / len(halves)
            optimizer.step()
    return {k: v.detach() for k, v in net.named_parameters()}, losses, correct


def test_two_processes_compute_what_one_computes_half_by_half_and_continue_bit_for_bit(tmp_path):
    from archkit.search.loader import load_search_config
    from archkit.supernet.sandwich import train_supernet

    path, directory = config(tmp_path, SHORT_EPOCHS), tmp_path / "s"
    first = train_supernet(load_search_config(path), directory, steps=3, device="cpu", pool_samples=0, nproc=2)
    assert first.step == 3 and first.epochs == 1 and first.net is not None and state(directory)["world"] == 2
    # Continued by two processes: each takes back its own RNG state (dropout), the optimizer's momentum.
    out = ddp.launch(2, _train_in_process, (path, directory, 4))
    assert [o["step"] for o in out] == [4, 4] and out[0]["resumed_from"] == 3
    assert out[0]["history"] == out[1]["history"] and [h["step"] for h in out[0]["history"]] == [3, 4]
    for key, value in out[0]["params"].items():
        assert torch.equal(value, out[1]["params"][key]), key  # every process holds the same weights
    saved = state(directory)
    for key, value in saved["model"].items():
        if key in out[0]["params"]:
            assert torch.equal(value, out[0]["params"][key]), key  # the first process's, saved
    averaged, losses, correct = _reference(path, saved, 4, halves=(0, 1))
    alone, _, _ = _reference(path, saved, 4, halves=(0,))  # one process's half of the data only
    initial, _, _ = _reference(path, saved, 0, halves=(0, 1))
    far = 0.0
    for key, value in out[0]["params"].items():
        assert torch.allclose(value, averaged[key], rtol=1e-4, atol=1e-6), key
        far = max(far, (value - alone[key]).abs().max().item())
    moved = max((out[0]["params"][k] - initial[k]).abs().max().item() for k in initial)
    assert far > 1e-3 and moved > 1e-2  # the check can fail: the other half's gradients count, and it trained
    # The first epoch's (3 steps') train loss and top-1 are of the whole batches: both halves'.
    epoch = out[0]["history"][0]
    assert epoch["train_loss"] == pytest.approx(sum(losses[:6]) / 6, rel=1e-5)
    assert epoch["train_top1"] == pytest.approx(sum(correct[:6]) / 96)


def test_the_command_continues_a_run_with_another_process_count(tmp_path):
    from archkit.search.loader import load_search_config
    from archkit.supernet.sandwich import train_supernet

    path, directory = config(tmp_path), tmp_path / "s"
    single = train_supernet(load_search_config(path), directory, steps=2, device="cpu", pool_samples=0)
    before = state(directory)
    two = invoke(path, "-o", directory, "--steps", 4, "--device", "cpu", "--nproc", 2, "-q")
    assert two.exit_code == 0, two.output
    assert two.output.count("\n") == 1 and "supernet of tiny" in two.output and "(4 steps)" in two.output
    assert "2 processes" in two.output and f"{directory}/supernet.pt" in two.output
    assert f"{sum(p.numel() for p in single.net.parameters()):,} parameters" in two.output
    after = state(directory)
    assert after["step"] == 4 and after["world"] == 2 and len(after["rng"]) == 2
    assert [h["step"] for h in after["history"]] == [2, 4] and after["history"][0] == before["history"][0]
    assert any(not torch.equal(after["model"][k], before["model"][k]) for k in before["model"])
    # and back to one process
    one = invoke(path, "-o", directory, "--steps", 5, "--device", "cpu", "-q")
    assert one.exit_code == 0, one.output
    assert "(5 steps)" in one.output and "processes" not in one.output
    assert state(directory)["step"] == 5 and state(directory)["world"] == 1
    # A process's own refusal reaches the command as its one line, as in one process (after, at
    # times, torch's note that it stopped the other process).
    past = invoke(path, "-o", directory, "--steps", 3, "--device", "cpu", "--nproc", 2, "-q")
    assert past.exit_code == 2, past.output
    last = past.output.splitlines()[-1]
    assert last.startswith("error: ") and "is at step 5, past the run's end (3 steps)" in last


def test_processes_that_ran_different_sub_networks_stop_the_run(tmp_path):
    with pytest.raises(Exception, match="ran different sub-networks"):
        ddp.launch(2, _train_in_process, (config(tmp_path), tmp_path / "s", 2, True))


def test_every_process_draws_the_same_sub_networks_whatever_it_drew_before():
    """The sandwich's draws are a function of (seed, step): a process that resumed at step 3, or
    drew in another order, runs what the others run."""
    from archkit.supernet import plan_for
    from archkit.supernet.sandwich import Sandwich

    from .conftest import load

    loaded = load("demo.yaml")
    plan = plan_for(loaded, classes=10, samples=0)
    a, b = Sandwich(loaded, plan, 7), Sandwich(loaded, plan, 7)
    drawn = {step: a(step) for step in (0, 1, 2, 3)}
    for step in (3, 1, 0, 2):
        assert [s.model_dump() for s in b(step)] == [s.model_dump() for s in drawn[step]], step
    assert [s.model_dump() for s in drawn[0]] != [s.model_dump() for s in drawn[1]]


@pytest.mark.parametrize("gpus, args, message", [
    (0, ["--device", "cuda"], "--device cuda: CUDA is not available on this machine"),
    (1, ["--device", "cuda"], "--nproc 2 with --device cuda: there is only 1 GPU, one per process"),
    (1, [], "--nproc 2 with --device auto: there is only 1 GPU"),
    (2, ["--device", "cuda:1"], "--device cuda:1 with --nproc 2: each process takes a GPU of its own"),
])
def test_too_few_gpus_is_one_line_before_any_process_starts(tmp_path, monkeypatch, gpus, args, message):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: gpus > 0)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: gpus)
    monkeypatch.setattr(ddp, "launch", lambda *a: pytest.fail("processes started"))
    result = invoke(config(tmp_path), "-o", tmp_path / "s", "--steps", 1, "--nproc", 2, *args, "-q")
    assert result.exit_code == 2 and result.output.count("\n") == 1, result.output
    assert result.output.startswith("error: ") and message in result.output


def test_nproc_under_torchrun_is_refused(tmp_path, monkeypatch):
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "0")
    result = invoke(config(tmp_path), "-o", tmp_path / "s", "--steps", 1, "--device", "cpu", "--nproc", 2, "-q")
    assert result.exit_code == 2 and "under torchrun" in result.output and result.output.count("\n") == 1

