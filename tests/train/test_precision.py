import pytest
import torch

from archkit.training import precision as prec


def cpuinfo_flags() -> set[str]:
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("flags"):
                return set(line.split(":", 1)[1].split())
    return set()


def test_native_bf16_detection_agrees_with_the_cpu_flags():
    flags = cpuinfo_flags()
    assert prec.cpu_has_native_bf16() == bool({"avx512_bf16", "amx_bf16"} & flags)


def test_auto_on_the_cpu_follows_native_bf16(monkeypatch):
    cpu = torch.device("cpu")
    monkeypatch.setattr(prec, "cpu_has_native_bf16", lambda: True)
    assert prec.resolve_precision("auto", cpu) == "bf16"
    monkeypatch.setattr(prec, "cpu_has_native_bf16", lambda: False)
    assert prec.resolve_precision("auto", cpu) == "fp32"
    assert prec.resolve_precision("bf16", cpu) == "bf16"  # asked for explicitly: given as asked
    assert prec.resolve_precision("auto", torch.device("mps")) == "fp32"


def test_auto_on_cuda_is_bf16_where_supported_else_fp16(monkeypatch):
    gpu = torch.device("cuda", 0)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: True)
    assert prec.resolve_precision("auto", gpu) == "bf16"
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: False)
    assert prec.resolve_precision("auto", gpu) == "fp16"
    assert prec.resolve_precision("fp32", gpu) == "fp32"


def test_autocast_lowers_matmuls_and_fp16_gets_a_scaler():
    cpu = torch.device("cpu")
    a = torch.randn(4, 4)
    with prec.autocast(cpu, "bf16"):
        assert (a @ a).dtype == torch.bfloat16
    with prec.autocast(cpu, "fp32"):
        assert (a @ a).dtype == torch.float32
    assert prec.grad_scaler(cpu, "fp32") is None and prec.grad_scaler(cpu, "bf16") is None
    assert isinstance(prec.grad_scaler(cpu, "fp16"), torch.amp.GradScaler)


@pytest.mark.parametrize("precision", ["bf16", "fp16"])
def test_reduced_precision_runs_train_on_the_cpu(tiny, precision):
    import archkit

    result = archkit.train(tiny, "synthetic", steps=2, batch_size=16, precision=precision)
    assert result.precision == precision and result.steps == 2


@pytest.mark.parametrize(("machine", "device", "gpu_capability", "cpu_bf16", "expected"), [
    ("A100 (Ampere, 8.0)", "cuda", (8, 0), False, "bf16"),
    ("H100/H200 (Hopper, 9.0)", "cuda", (9, 0), False, "bf16"),
    ("RTX 4090 (Ada, 8.9)", "cuda", (8, 9), False, "bf16"),
    ("V100 (Volta, 7.0)", "cuda", (7, 0), False, "fp16"),
    ("T4 (Turing, 7.5)", "cuda", (7, 5), False, "fp16"),
    ("EPYC with AVX-512-BF16", "cpu", None, True, "bf16"),
    ("Xeon with AMX", "cpu", None, True, "bf16"),
    ("EPYC with AVX2 only", "cpu", None, False, "fp32"),
    ("Apple GPU (mps)", "mps", None, False, "fp32"),
])
def test_what_auto_picks_on_each_kind_of_machine(machine, device, gpu_capability, cpu_bf16, expected):
    gpu_bf16 = prec.gpu_has_native_bf16(gpu_capability) if gpu_capability else False
    assert prec.auto_precision(device, gpu_bf16=gpu_bf16, cpu_bf16=cpu_bf16) == expected, machine


def test_device_auto_is_the_cpu_without_cuda(monkeypatch):
    from archkit.training import ConfigError
    from archkit.training.api import pick_device
    from archkit.training.ddp import DistInfo

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert pick_device("auto", DistInfo()) == torch.device("cpu")
    with pytest.raises(ConfigError, match="--device cuda: CUDA is not available on this machine"):
        pick_device("cuda", DistInfo())
