"""The CUDA paths, on a GPU: precision auto (bf16 where the GPU has it, else fp16 with loss
scaling), channels_last, torch.compile, device-resident data, a checkpoint moved between the GPU
and the CPU, the memory guard against the GPU's free memory, NCCL data parallel on 2+ GPUs.

Marked `cuda`: on a machine without CUDA every test here is reported as skipped with that reason
(never silently). `make gpu-check` runs them with the GPU benchmarks (scripts/gpu_check.py).
"""

from __future__ import annotations

import math

import pytest
import torch

import archkit
from archkit.training import DoesNotFitError, checkpoint
from archkit.training.batches import make_batches
from archkit.training.data import load_data, parse_data
from archkit.training.memory import check_fits

pytestmark = [
    pytest.mark.cuda,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device: the CUDA paths are checked by "
                                                              "`make gpu-check` on a GPU machine"),
]

G32 = "googlenet-32"


@pytest.fixture(scope="module")
def g32():
    return archkit.load_spec(G32)


def test_auto_precision_on_this_gpu(g32):
    result = archkit.train(g32, "digits", steps=4, batch_size=64, device="cuda")
    expected = "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    assert result.precision == expected and result.device.startswith("cuda")
    assert result.steps == 4 and math.isfinite(result.val_loss)


def test_fp16_with_loss_scaling_trains(g32):
    result = archkit.train(g32, "digits", steps=6, batch_size=64, device="cuda", precision="fp16")
    assert result.precision == "fp16" and math.isfinite(result.val_loss)
    first = archkit.build(g32, seed=0).state_dict()
    moved = result.model.state_dict()
    assert any(not torch.equal(first[k], moved[k].cpu()) for k in first)  # the scaler let steps through


def test_channels_last_and_compile(g32):
    result = archkit.train(g32, "digits", steps=3, batch_size=64, device="cuda", compile=True, channels_last=True)
    assert result.steps == 3 and math.isfinite(result.val_loss)


def test_small_data_lives_on_the_gpu(g32):
    device = torch.device("cuda", 0)
    data = load_data(parse_data("digits"), channels=3, hw=g32.input.hw, classes=10, val_fraction=0.2,
                     batch_size=64)
    batches = make_batches(data, workers=0, batch_size=64, hw=g32.input.hw, device=device, channels_last=True,
                           seed=0)
    x, y = next(iter(batches.epoch(0)))
    assert batches.train_images.device.type == "cuda" and x.device.type == "cuda" and y.device.type == "cuda"
    assert x.is_contiguous(memory_format=torch.channels_last)


def test_a_checkpoint_moves_from_the_gpu_to_the_cpu_and_back(g32, tmp_path):
    kw = dict(batch_size=64, seed=2, precision="fp32")
    archkit.train(g32, "digits", steps=4, device="cuda", checkpoint=tmp_path / "run", **kw)
    on_cpu = archkit.train(g32, "digits", steps=6, device="cpu", resume=tmp_path / "run")
    assert on_cpu.steps == 6 and on_cpu.device == "cpu" and checkpoint.load(tmp_path / "run")["step"] == 6
    back = archkit.train(g32, "digits", steps=8, device="cuda", resume=tmp_path / "run")
    assert back.steps == 8 and back.device.startswith("cuda") and math.isfinite(back.val_loss)


def test_the_memory_guard_reads_the_gpus_free_memory(g32):
    device = torch.device("cuda", 0)
    free, _ = torch.cuda.mem_get_info(device)
    check_fits(g32, 64, "fp32", device)  # a small batch fits
    with pytest.raises(DoesNotFitError, match="lower --batch-size"):
        check_fits(archkit.load_spec("googlenet"), 1 << 20, "fp32", device)  # a million 224x224 images do not
    assert free > 0


@pytest.mark.skipif(torch.cuda.device_count() < 2, reason="NCCL data parallel needs 2 or more GPUs")
def test_nccl_data_parallel_on_two_gpus(g32):
    result = archkit.train(g32, "digits", steps=4, batch_size=64, device="cuda", nproc=2, precision="fp32")
    assert result.world_size == 2 and result.steps == 4 and math.isfinite(result.val_loss)
