import json

import pytest
import torch

import archkit
from archkit.training import ResumeError, checkpoint


def same_state(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def test_resume_mid_epoch_continues_bit_for_bit(tiny_aux, tmp_path):
    # tiny-aux has dropout (RNG state) and an aux head; 8 steps per epoch at batch 128 (digits' train
    # split is 1,079 images: 20% each held out for val and test), so the first session (6 steps) stops
    # mid-epoch and the second crosses an epoch end (evaluation, checkpoint). The paper schedule
    # depends on the epoch only, so 6 steps then 12 is the same run as 12 straight.
    kw = dict(batch_size=128, lr=0.05, seed=3, schedule="paper")
    straight = archkit.train(tiny_aux, "digits", steps=12, score_test=True, **kw)
    first = archkit.train(tiny_aux, "digits", steps=6, checkpoint=tmp_path / "run", **kw)
    assert not same_state(first.model, straight.model)
    saved = checkpoint.load(tmp_path / "run")
    assert saved["step"] == 6 and saved["config"]["lr"] == 0.05 and set(saved["rng"][0]) == {"cpu"}
    assert first.test_top1 is None  # scored only when asked
    resumed = archkit.train(tiny_aux, "digits", steps=12, resume=tmp_path / "run", score_test=True)
    assert resumed.steps == 12 and same_state(resumed.model, straight.model)
    assert resumed.val_top1 == straight.val_top1
    # the test split, scored once at the end of a run that stopped mid-epoch, resumed or not
    assert resumed.test_top1 == straight.test_top1 is not None and resumed.test_loss == straight.test_loss
    timing = ("seconds", "images_per_s")
    assert [{k: v for k, v in h.items() if k not in timing} for h in resumed.history] == [
        {k: v for k, v in h.items() if k not in timing} for h in straight.history]
    assert resumed.seconds > first.seconds
    assert checkpoint.load(tmp_path / "run")["step"] == 12  # the resumed run checkpoints where it came from


def test_an_interrupted_run_resumes_from_its_last_epoch(tiny_aux, tmp_path):
    kw = dict(batch_size=128, lr=0.05, seed=1, epochs=2)  # cosine over 16 steps (8 per epoch on digits' 1,079)
    straight = archkit.train(tiny_aux, "digits", **kw)

    def interrupt(epoch, metrics):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        archkit.train(tiny_aux, "digits", checkpoint=tmp_path / "run", on_epoch=interrupt, **kw)
    assert checkpoint.load(tmp_path / "run")["step"] == 8
    resumed = archkit.train(tiny_aux, "digits", resume=tmp_path / "run", score_test=True)
    assert resumed.steps == 16 and same_state(resumed.model, straight.model)
    assert resumed.test_top1 is not None and straight.test_top1 is None
    assert [h["epoch"] for h in resumed.history] == [1, 2]


def test_resume_refuses_other_settings_specs_and_lengths(tiny, tiny_aux, tmp_path):
    archkit.train(tiny, "synthetic", steps=2, batch_size=16, checkpoint=tmp_path / "c")
    with pytest.raises(ResumeError, match="--lr 0.3 differs from the checkpoint's 0.05"):
        archkit.train(tiny, "synthetic", lr=0.3, resume=tmp_path / "c")
    with pytest.raises(ResumeError, match="the checkpoint is of another spec than tiny-aux"):
        archkit.train(tiny_aux, resume=tmp_path / "c")
    with pytest.raises(ResumeError, match="the checkpoint is at step 2, past the run's end"):
        archkit.train(tiny, resume=tmp_path / "c", steps=1)
    with pytest.raises(ResumeError, match="no checkpoint there"):
        archkit.train(tiny, resume=tmp_path / "nothing")
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "last.pt").write_bytes(b"garbage")
    with pytest.raises(ResumeError, match="cannot read"):
        archkit.train(tiny, resume=tmp_path / "bad")
    # same settings (taken from the checkpoint), longer: continues
    longer = archkit.train(tiny, resume=tmp_path / "c", steps=3, metrics_out=tmp_path / "m.json")
    assert longer.steps == 3 and longer.data == "synthetic"
    assert json.loads((tmp_path / "m.json").read_text())["steps"] == 3
