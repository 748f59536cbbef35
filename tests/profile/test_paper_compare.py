"""Computed vs published (`--compare paper`): Table 1's printed params and ops beside the counts
its own filter columns imply; rows that disagree are flagged and explained."""

from __future__ import annotations

from decimal import Decimal

import pytest

import archkit
from archkit.profile import compare_paper, paper_numbers

from .test_googlenet_table1 import EXPECTED, INCEPTION

# Table 1's params (K) and ops (M) columns as printed, typed again here from the paper.
PRINTED = {
    "conv1": ("2.7", "34"),
    "conv2": ("112", "360"),
    "inception3a": ("159", "128"),
    "inception3b": ("380", "304"),
    "inception4a": ("364", "73"),
    "inception4b": ("437", "88"),
    "inception4c": ("463", "100"),
    "inception4d": ("580", "119"),
    "inception4e": ("840", "170"),
    "inception5a": ("1072", "54"),
    "inception5b": ("1388", "71"),
    "linear": ("1000", "1"),
}
OUTPUT_AREA = {"conv1": 112 * 112, "conv2": 56 * 56, "linear": 1}
OUTPUT_AREA |= {name: row[7] * row[7] for name, row in INCEPTION.items()}


def status(computed: float, printed: str) -> str:
    """The documented rule: within one unit of the last printed digit is a match; within 2% near."""
    step = float(Decimal(1).scaleb(Decimal(printed).as_tuple().exponent))
    if abs(computed - float(printed)) <= step:
        return "match"
    return "near" if abs(computed - float(printed)) <= 0.02 * float(printed) else "disagrees"


@pytest.fixture(scope="module")
def rows(googlenet):
    return {r.name: r for r in compare_paper(archkit.profile(googlenet))}


def test_the_packaged_numbers_are_the_paper_s(rows):
    assert paper_numbers().rows == PRINTED
    assert paper_numbers().budget_ops == 1.5e9
    assert list(rows) == list(PRINTED)


def test_computed_printed_and_deltas(rows):
    for name, (k, m) in PRINTED.items():
        params, ops = EXPECTED[name]
        r = rows[name]
        assert (r.params, r.ops) == (params, ops)
        assert r.paper_params == round(float(k) * 1024)
        assert r.paper_ops == round(float(m) * 1_000_000)
        assert r.params_delta == params - r.paper_params
        assert r.ops_delta == ops - r.paper_ops


def test_statuses_follow_the_printed_precision(rows):
    for name, (k, m) in PRINTED.items():
        params, ops = EXPECTED[name]
        assert rows[name].params_status == status(params / 1024, k), name
        assert rows[name].ops_status == status(ops / 1e6, m), name


def test_the_three_rows_that_disagree(rows):
    disagree = {n for n, r in rows.items() if "disagrees" in (r.params_status, r.ops_status)}
    assert disagree == {"conv1", "inception4c", "inception5a"}
    assert (rows["conv1"].params_status, rows["conv1"].ops_status) == ("disagrees", "disagrees")
    assert (rows["inception5a"].params_status, rows["inception5a"].ops_status) == ("disagrees", "disagrees")
    assert (rows["inception4c"].params_status, rows["inception4c"].ops_status) == ("disagrees", "match")
    assert all(rows[n].flagged for n in disagree)


def test_rows_that_match(rows):
    for name in ("conv2", "inception3a", "inception3b", "inception4b", "linear"):
        assert (rows[name].params_status, rows[name].ops_status) == ("match", "match"), name
        assert not rows[name].flagged
        assert rows[name].note == ""


def test_rows_within_two_percent(rows):
    # 4a: 366.8K vs 364K; 4d: 590.5K vs 580K; 4e: 847.0K vs 840K; 5b: 1409.0K vs 1388K.
    for name in ("inception4a", "inception4d", "inception4e", "inception5b"):
        params, _ = EXPECTED[name]
        printed = float(PRINTED[name][0]) * 1024
        assert 0.001 < abs(params / printed - 1) <= 0.02
        assert rows[name].params_status == "near" and rows[name].ops_status == "match"
        assert rows[name].flagged and "within 2%" in rows[name].note


def paper_ops_from_paper_params(name: str) -> float:
    """The paper's own params x the output area, in M."""
    return float(PRINTED[name][0]) * 1024 * OUTPUT_AREA[name] / 1e6


def test_conv1_and_5a_ops_were_derived_from_the_printed_params(rows):
    # 2.7K x 112x112 = 34.7M (printed 34M); 1072K x 7x7 = 53.8M (printed 54M).
    assert round(paper_ops_from_paper_params("conv1"), 1) == 34.7
    assert round(paper_ops_from_paper_params("inception5a"), 1) == 53.8
    for name in ("conv1", "inception5a"):
        note = rows[name].note
        assert "the paper's ops equal its own params x output area" in note
        assert "so its ops were derived from the printed params" in note
    assert "2.7K x 112x112 = 34.7M" in rows["conv1"].note
    assert "1072K x 7x7 = 53.8M" in rows["inception5a"].note
    # The filter counts: conv1 is 7*7*3*64 = 9408 weights = 9.2K, not 2.7K.
    assert "the filter counts give 9.2K, the paper prints 2.7K" in rows["conv1"].note
    assert "the filter counts give 118.0M, the paper prints 34M" in rows["conv1"].note
    assert "the filter counts give 1018.0K, the paper prints 1072K" in rows["inception5a"].note


def test_4c_ops_match_and_its_params_are_the_outlier(rows):
    # 463K x 14x14 = 92.9M, not the printed 100M; the filter counts give 99.85M.
    assert round(paper_ops_from_paper_params("inception4c"), 1) == 92.9
    assert abs(EXPECTED["inception4c"][1] / 1e6 - 100) < 1
    note = rows["inception4c"].note
    assert "the filter counts give 497.5K, the paper prints 463K" in note
    assert "the paper's ops are not its params x output area (92.9M)" in note
    assert "its ops match the filter counts, so the printed params is the outlier" in note


def test_notes_are_one_line(rows):
    assert all("\n" not in r.note for r in rows.values())


def test_compare_needs_the_paper_convention(googlenet):
    with pytest.raises(ValueError, match="convention='paper'"):
        compare_paper(archkit.profile(googlenet, convention="full"))


def test_compare_needs_table_1_rows(write_spec):
    spec = archkit.load_spec(write_spec("""
        name: tiny
        input: {channels: 3, size: 224}
        classes: 2
        layers:
          - {name: conv1, conv: {out: 4, kernel: 3}}
          - {name: gap, global_avgpool: {}}
          - {name: linear, linear: {}}
    """))
    with pytest.raises(ValueError, match="no rows named .*inception3a"):
        compare_paper(archkit.profile(spec))


def test_compare_refuses_other_input_sizes(googlenet32):
    # googlenet-32 has Table 1's row names, but its counts are for 32x32 inputs.
    with pytest.raises(ValueError, match="Table 1 is for 224x224x3 inputs; googlenet-32 takes 32x32x3"):
        compare_paper(archkit.profile(googlenet32))
