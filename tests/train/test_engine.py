import pytest
import torch
import torch.nn.functional as F

import archkit
from archkit.training import engine as engine_mod
from archkit.training.batches import make_batches
from archkit.training.config import TrainConfig
from archkit.training.data import load_data, parse_data
from archkit.training.engine import Engine, make_optimizer, topk_correct, training_loss
from archkit.training.errors import DivergedError

CPU = torch.device("cpu")


def test_aux_heads_add_their_loss_times_their_weight(tiny_aux):
    model = archkit.build(tiny_aux, seed=0).train()
    assert model.aux_weights == [0.3]
    x, y = torch.randn(6, 3, 16, 16, generator=torch.Generator().manual_seed(0)), torch.tensor([0, 1, 2, 3, 4, 5])
    out = model(x)
    logits, (aux,) = out
    loss, main = training_loss(out, y, model.aux_weights)
    assert main is logits
    assert loss.item() == pytest.approx((F.cross_entropy(logits, y) + 0.3 * F.cross_entropy(aux, y)).item())
    # the aux head's own weights get exactly 0.3 of the gradient its cross-entropy alone would give
    head = getattr(model, model.aux_names[0]).linear.fc.weight
    loss.backward(retain_graph=True)
    weighted = head.grad.clone()
    model.zero_grad()
    F.cross_entropy(aux, y).backward()
    assert torch.allclose(weighted, 0.3 * head.grad, rtol=1e-5, atol=1e-8)
    smoothed, _ = training_loss(out, y, [0.3], label_smoothing=0.1)
    assert smoothed.item() != pytest.approx(loss.item())
    # evaluation mode: logits only, the aux heads do not run
    assert isinstance(model.eval()(x), torch.Tensor)


def test_topk_counts_hits():
    logits = torch.tensor([[0.1, 0.9, 0.0], [0.8, 0.1, 0.05], [0.2, 0.3, 0.5]])
    top1, top5 = topk_correct(logits, torch.tensor([1, 2, 0]))
    assert (int(top1), int(top5)) == (1, 3)  # k is capped at the 3 classes
    top1, top2 = topk_correct(logits, torch.tensor([1, 1, 0]), k=2)
    assert (int(top1), int(top2)) == (1, 2)


def test_weight_decay_skips_norms_and_biases(tiny):
    model = archkit.build(tiny, seed=0)
    opt = make_optimizer(model, TrainConfig(weight_decay=1e-3, momentum=0.9))
    decay, no_decay = opt.param_groups
    assert decay["weight_decay"] == 1e-3 and no_decay["weight_decay"] == 0.0
    assert all(p.ndim > 1 for p in decay["params"]) and all(p.ndim == 1 for p in no_decay["params"])
    assert len(decay["params"]) + len(no_decay["params"]) == len(list(model.parameters()))
    assert opt.defaults["momentum"] == 0.9 and opt.defaults["fused"]


def small_engine(spec, sync_every=1, **cfg):
    config = TrainConfig(batch_size=128, **cfg)
    data = load_data(parse_data("digits"), channels=3, hw=spec.input.hw, classes=10, val_fraction=0.2,
                     batch_size=128)
    batches = make_batches(data, workers=0, batch_size=128, hw=spec.input.hw, device=CPU, channels_last=True,
                           seed=0)
    model = archkit.build(spec, seed=0).to(memory_format=torch.channels_last)
    e = Engine(model, batches, config, device=CPU, precision="fp32", total_steps=20)
    e.sync_every = sync_every
    return e


@pytest.mark.parametrize("sync_every", [1, 5])
def test_a_nan_loss_stops_the_run_naming_epoch_and_step(tiny, monkeypatch, sync_every):
    calls = []
    real = engine_mod.training_loss

    def poisoned(output, target, aux_weights, label_smoothing=0.0):
        loss, logits = real(output, target, aux_weights, label_smoothing)
        calls.append(1)
        return (loss * float("nan") if len(calls) == 13 else loss), logits

    monkeypatch.setattr(engine_mod, "training_loss", poisoned)
    e = small_engine(tiny, sync_every=sync_every)
    # 8 steps per epoch: digits' train split is 1,079 images (val and test 20% each) at batch 128
    assert e.batches.steps_per_epoch == 8
    with pytest.raises(DivergedError, match=r"loss became nan at epoch 2, step 13 \(step 5 of the epoch") as err:
        e.fit()
    assert (err.value.epoch, err.value.step) == (2, 13)
    assert len(calls) <= 15  # stopped at the first sync after the bad step, not at the end


def test_a_diverging_run_raises(tiny_aux):
    e = small_engine(tiny_aux, lr=1e8, warmup_epochs=0.0)
    with pytest.raises(DivergedError, match="lower --lr"):
        e.fit()


def test_fit_evaluates_every_epoch_and_times_the_steady_state(tiny):
    e = small_engine(tiny, lr=0.2)
    seen = []
    timer = e.fit(on_epoch_end=lambda eng: seen.append(eng.step))
    assert seen == [8, 16] and e.step == 20  # total 20 steps at 8 per epoch: two whole epochs, then 4 steps
    entry = e.history[0]
    assert entry["epoch"] == 1 and 0 <= entry["val_top1"] <= entry["val_top5"] <= 1
    assert entry["lr"] == pytest.approx(e.lr(7))
    assert timer.skip == 4 and timer.images == (20 - 4) * 128 and timer.images_per_s > 0
    assert e.seconds > 0


def test_evaluate_scores_either_held_out_split_keyed_by_its_name(tiny):
    e = small_engine(tiny)
    val, test = e.evaluate(), e.evaluate("test")
    assert set(val) == {"val_top1", "val_top5", "val_loss"} and set(test) == {"test_top1", "test_top5", "test_loss"}
    assert val == e.evaluate("val") and 0 <= test["test_top1"] <= test["test_top5"] <= 1
    with pytest.raises(ValueError, match="split must be 'val' or 'test', but got 'train'"):
        e.evaluate("train")
