"""The memory check's arithmetic (`archkit.profile.memory`), against hand-computed bytes."""

from __future__ import annotations

import pytest

import archkit
from archkit.profile import memory
from archkit.spec.errors import SpecError

SMALL = """\
name: small
input: {channels: 3, size: 8}
classes: 10
layers:
  - {name: conv1, conv: {out: 16, kernel: 1}}
  - {name: drop, dropout: {p: 0.5}}
  - {name: gap, global_avgpool: {}}
  - {name: fc, linear: {}}
"""


@pytest.fixture(scope="module")
def small() -> archkit.Spec:
    return archkit.spec_from_yaml(SMALL)


def test_forward_floor_by_hand(small):
    # params: conv 1x1 3->16: 3*16 weights + 16 biases = 64; linear 16->10: 160 + 10 = 170.
    # held at once, per image: conv1 input 3*8*8 = 192 + output 16*8*8 = 1024 -> 1216; dropout may
    # hand its input on: 1024 (not 2048); gap 1024 + 16; fc 16 + 10. The largest: 1216.
    assert memory.peak_activations(small) == 1216
    need = memory.forward_need(small)
    assert need.param_bytes == (64 + 170) * 4 == 936
    assert need.activation_bytes == 1216 * 4 == 4864
    assert need.total_bytes == 5800
    half = memory.forward_need(small, batch=3, precision="bf16")
    assert half.param_bytes == 936  # the weights stay fp32 under autocast
    assert half.activation_bytes == 3 * 1216 * 2 == 7296


def test_aux_heads_count(small):
    spec = archkit.spec_from_yaml(SMALL + "aux: [{after: conv1}]\n")
    # The paper's aux head on 16x8x8: 5x5/3 avg pool -> 16x2x2; conv 1x1 (128): 16*128 + 128 = 2,176;
    # FC 1024 on 128*2*2 = 512 features: 512*1024 + 1024 = 525,312; linear 1024 -> 10: 10,250.
    # Its FC holds 512 + 1024 = 1536 elements at once, more than the main path's 1216.
    assert memory.peak_activations(spec) == 1536
    need = memory.forward_need(spec)
    assert need.param_bytes == (234 + 2_176 + 525_312 + 10_250) * 4 == 2_151_888
    assert need.activation_bytes == 1536 * 4


def test_check_refuses_in_one_line_with_the_numbers(small):
    need = memory.forward_need(small)
    assert memory.check_fits(need, 5800) is need  # exactly enough
    assert memory.check_fits(need, None) is need  # unknown: nothing refused
    with pytest.raises(memory.DoesNotFitError) as info:
        memory.check_fits(need, 5799)
    assert str(info.value) == ("small: building it needs at least 5.8 kB (params 936 B + activations 4.9 kB at "
                               "batch 1, fp32) but this machine has 5.8 kB available")
    assert isinstance(info.value, SpecError)  # the CLI's one line, exit 2


def test_bytes_read_in_decimal_units():
    assert memory.fmt_bytes(0) == "0 B"
    assert memory.fmt_bytes(999) == "999 B"
    assert memory.fmt_bytes(1000) == "1.0 kB"
    assert memory.fmt_bytes(27_961_088) == "28.0 MB"
    assert memory.fmt_bytes(123_456_789) == "123 MB"
    assert memory.fmt_bytes(23_100_000_000) == "23.1 GB"
    assert memory.fmt_bytes(320_000 * 10**9) == "320,000 GB"


def test_available_memory_is_known_here():
    assert memory.cpu_available_bytes() > 0
