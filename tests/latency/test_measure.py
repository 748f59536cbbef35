"""Measured latency: one positive value per layer and a total; bad options are one-line errors
(through the command line: tests/latency/test_profile_measure.py). A network's values are only
checked positive, finite and ordered; the timing loop itself against a call of known length."""

from __future__ import annotations

import math

import pytest

from archkit.latency import LatencyError, measure_layers, measure_model, predict
from archkit.latency.timing import Timing, time_call, torch_device

NO_GPU = "no CUDA device: --device cuda needs a GPU (torch.cuda.is_available() is False)"


def _ordered(t: Timing) -> bool:
    return (0 < t.min_ms <= t.q1_ms <= t.median_ms <= t.q3_ms <= t.max_ms and math.isfinite(t.max_ms)
            and t.iqr_ms >= 0 and t.calls >= 1)


def test_measure_layers_gives_every_layer_and_the_total(tiny):
    m = measure_layers(tiny, repeats=3, warmup=1)
    assert list(m.layers) == [layer.name for layer in tiny.layers]
    assert all(_ordered(t) for t in m.layers.values())
    assert _ordered(m.total) and m.total_ms == m.total.median_ms > 0
    assert m.latency_ms("conv1") == m.layers["conv1"].median_ms
    assert m.total.repeats == 3
    d = m.to_dict()
    assert set(d["layers"]) == set(m.layers) and d["total"]["median_ms"] == m.total_ms
    assert d["batch"] == 1 and d["precision"] == "fp32" and d["device"] == "cpu" and d["threads"] >= 1


def test_measure_layers_bf16_batch_and_threads(tiny):
    import torch

    before = torch.get_num_threads()
    m = measure_layers(tiny, batch=2, precision="bf16", repeats=2, warmup=1, threads=1)
    assert m.threads == 1 and m.batch == 2 and m.precision == "bf16"
    assert all(_ordered(t) for t in m.layers.values())
    assert torch.get_num_threads() == before  # restored
    assert measure_model(tiny, repeats=2, warmup=1).median_ms > 0


@pytest.mark.skipif("__import__('torch').cuda.is_available()", reason="this machine has a GPU")
def test_cuda_without_a_gpu_is_one_line(tiny, cache):
    for call in (lambda: measure_layers(tiny, device="cuda"), lambda: measure_model(tiny, device="cuda"),
                 lambda: predict(tiny, device="cuda"), lambda: torch_device("cuda:0")):
        with pytest.raises(LatencyError) as info:
            call()
        assert str(info.value) == NO_GPU


@pytest.mark.parametrize("kwargs, words", [
    ({"precision": "fp16"}, "unknown precision 'fp16' (choose fp32 or bf16)"),
    ({"precision": "int8"}, "unknown precision"),
    ({"device": "tpu"}, "unknown device 'tpu' (choose cpu or cuda)"),
    ({"device": "cpu:1"}, "unknown device"),
    ({"batch": 0}, "--batch must be a whole number of at least 1"),
])
def test_bad_options_are_one_line(tiny, cache, kwargs, words):
    for call in (measure_layers, predict):
        with pytest.raises(LatencyError) as info:
            call(tiny, **kwargs)
        assert words in str(info.value) and "\n" not in str(info.value)


def test_time_call_times_a_call_of_known_length():
    import time

    import torch

    # A call sleeps at least 4 ms: blocks of 10 ms hold 3 calls, and the time is per call (a block
    # would read 12 ms); an overloaded machine only makes a sleep longer.
    t = time_call(lambda: time.sleep(0.004), torch.device("cpu"), warmup=1, repeats=3, block_s=0.010)
    assert t.calls == 3 and t.repeats == 3
    assert 4.0 <= t.min_ms <= t.median_ms < 8.0


def test_time_call_counts_calls_and_repeats():
    import torch

    calls = []
    t = time_call(lambda: calls.append(1), torch.device("cpu"), warmup=2, repeats=4, max_calls=5)
    assert t.repeats == 4 and 1 <= t.calls <= 5
    assert len(calls) == 2 + 1 + 4 * t.calls  # warm-up, the sizing call, the repeats' blocks
    with pytest.raises(LatencyError):
        time_call(lambda: None, torch.device("cpu"), repeats=0)
