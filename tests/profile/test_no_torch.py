"""Profiling is arithmetic on shapes: it imports neither torch nor pandas nor fvcore. `to_frame` is
the one place pandas comes in."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

import archkit

from .test_googlenet_table1 import EXPECTED, OUTPUTS

CHILD = """
import json, sys
import archkit
p = archkit.profile(archkit.load_spec("googlenet"))
full = archkit.profile(archkit.load_spec("googlenet-32"), convention="full")
from archkit.profile.memory import check_build
check_build(archkit.load_spec("googlenet"))  # the memory check made before a build: no torch either
heavy = sorted(m for m in ("torch", "pandas", "fvcore", "optuna", "plotly") if m in sys.modules)
print(json.dumps({"heavy": heavy, "ops": p.total.ops, "params": p.total.params}))
"""


def test_profile_imports_no_heavy_library():
    result = subprocess.run([sys.executable, "-c", CHILD], check=False, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data == {"heavy": [], "ops": 1_582_671_872, "params": 6_990_272}


def test_import_archkit_alone_is_light():
    code = "import sys, archkit; print(sorted(m for m in ('torch', 'pandas', 'fvcore') if m in sys.modules))"
    result = subprocess.run([sys.executable, "-c", code], check=False, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


@pytest.fixture(scope="module")
def frame(googlenet):
    return archkit.profile(googlenet).to_frame()


def test_to_frame_is_a_dataframe_indexed_by_layer(frame):
    import pandas as pd

    assert isinstance(frame, pd.DataFrame)
    assert frame.index.name == "name"
    assert list(frame.index) == [name for name, _, _ in OUTPUTS]


def test_to_frame_holds_exact_integers(frame):
    import pandas as pd

    for col in ("params", "ops", "activations", "depth"):
        assert pd.api.types.is_integer_dtype(frame[col]), col
    for name, (params, ops) in EXPECTED.items():
        assert int(frame.loc[name, "params"]) == params
        assert int(frame.loc[name, "ops"]) == ops
    assert int(frame["ops"].sum()) == 1_582_671_872
    assert int(frame["params"].sum()) == 6_990_272
    assert frame.loc["inception3a", "output"] == "256x28x28"
    assert frame.loc["conv2", "depth"] == 2
    assert frame.loc["inception4c", "3x3"] == 256
    assert pd.isna(frame.loc["conv1", "1x1"])


def test_to_frame_with_aux_heads(googlenet):
    frame = archkit.profile(googlenet).to_frame(aux=True)
    assert list(frame["section"].unique()) == ["main", "aux1", "aux2"]
    aux1 = frame[frame["section"] == "aux1"]
    assert list(aux1.index) == ["pool", "conv", "fc", "dropout", "linear"]
    assert int(aux1.loc["fc", "params"]) == 2048 * 1024
