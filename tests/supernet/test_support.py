"""Configs one supernet cannot express are refused in one line naming the key."""

from __future__ import annotations

import pytest

from archkit.search.loader import load_search_config
from archkit.supernet import SupernetError, check_expressible

from .conftest import STUDIES


def write(tmp_path, text: str):
    path = tmp_path / "study.yaml"
    path.write_text(text)
    return load_search_config(path)


def test_the_studies_spaces_are_expressible():
    for name in ("demo.yaml", "small-space.yaml"):
        check_expressible(load_search_config(STUDIES / name))


def test_a_latency_budget_alone_is_refused_naming_the_key():
    with pytest.raises(SupernetError) as info:
        check_expressible(load_search_config(STUDIES / "latency.yaml"))
    message = str(info.value)
    assert "budget.latency_ms" in message and "\n" not in message
    assert message.startswith(str(STUDIES / "latency.yaml") + ":")  # file and line


def test_a_base_with_aux_heads_is_refused(tmp_path):
    loaded = write(tmp_path, "base: googlenet\nspace: {width: [0.5, 1.0]}\nbudget: {ops: 100M}\n")
    with pytest.raises(SupernetError, match=r"study.yaml:1 base: googlenet has aux heads"):
        check_expressible(loaded)


def test_general_module_rows_are_refused(tmp_path):
    loaded = write(tmp_path, "base: inception-resnet-v2\nspace: {width: [0.5, 1.0]}\nbudget: {ops: 100M}\n")
    with pytest.raises(SupernetError, match="base: .*`module:` row"):
        check_expressible(loaded)
