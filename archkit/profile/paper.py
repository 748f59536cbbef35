"""Computed vs published: Table 1's printed params and ops beside archkit's counts, row by row.

The published numbers are data typed from the paper (`paper_table1.yaml`). Printed figures are
rounded, so a row "matches" when the computed count is within one unit of the last printed digit;
"near" when within 2% (rounding or small slips); otherwise it "disagrees", and the note says which
column the printed number does not fit and whether its ops still equal its params x output area
(which tells whether the ops were derived from a misprinted params figure).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from decimal import Decimal
from functools import lru_cache
from importlib import resources

import yaml

from .profiler import Profile

NEAR = 0.02


@dataclass(frozen=True, slots=True)
class PaperNumbers:
    source: str
    budget_ops: float
    rows: dict[str, tuple[str, str]]  # name -> (params in K, ops in M) as printed


@lru_cache(maxsize=1)
def paper_numbers() -> PaperNumbers:
    text = resources.files("archkit.profile").joinpath("paper_table1.yaml").read_text(encoding="utf-8")
    data = yaml.safe_load(text)
    rows = {name: (str(v["params_k"]), str(v["ops_m"])) for name, v in data["rows"].items()}
    return PaperNumbers(data["source"], float(data["budget_ops"]), rows)


def _status(computed_units: float, printed: str) -> str:
    value = float(printed)
    step = float(Decimal(1).scaleb(Decimal(printed).as_tuple().exponent))  # "2.7" -> 0.1, "159" -> 1
    if abs(computed_units - value) <= step:
        return "match"
    if abs(computed_units - value) <= NEAR * max(abs(value), 1e-12):
        return "near"
    return "disagrees"


@dataclass(frozen=True, slots=True)
class CompareRow:
    name: str
    params: int
    paper_params: int  # printed K x 1024
    params_delta: int
    params_status: str
    ops: int
    paper_ops: int  # printed M x 10^6
    ops_delta: int
    ops_status: str
    note: str

    @property
    def flagged(self) -> bool:
        return self.params_status != "match" or self.ops_status != "match"


def _note(row, paper_k: str, paper_m: str, p_status: str, o_status: str) -> str:
    c, h, w = row.output
    notes = []
    if p_status != "match":
        notes.append(
            f"params: the filter counts give {row.params / 1024:.1f}K, the paper prints {paper_k}K "
            f"({'within 2%' if p_status == 'near' else f'{row.params / (float(paper_k) * 1024) - 1:+.0%}'})"
        )
    if o_status != "match":
        notes.append(
            f"ops: the filter counts give {row.ops / 1e6:.1f}M, the paper prints {paper_m}M "
            f"({'within 2%' if o_status == 'near' else f'{row.ops / (float(paper_m) * 1e6) - 1:+.0%}'})"
        )
    if p_status == "disagrees" or o_status == "disagrees":
        derived = float(paper_k) * 1024 * h * w / 1e6
        if _status(derived, paper_m) == "match":
            notes.append(
                f"the paper's ops equal its own params x output area ({paper_k}K x {h}x{w} = {derived:.1f}M)"
                + (", so its ops were derived from the printed params" if o_status == "disagrees" else "")
            )
        else:
            notes.append(f"the paper's ops are not its params x output area ({derived:.1f}M)")
        if p_status == "disagrees" and o_status == "match":
            notes.append("its ops match the filter counts, so the printed params is the outlier")
    return "; ".join(notes)


def compare_paper(profile: Profile) -> list[CompareRow]:
    """Rows of a `googlenet` profile (paper convention) beside Table 1's printed numbers."""
    if profile.convention != "paper":
        raise ValueError(f"compare with the paper needs convention='paper', but got {profile.convention=}")
    if tuple(profile.input) != (3, 224, 224):
        c, h, w = profile.input
        raise ValueError(f"Table 1 is for 224x224x3 inputs; {profile.spec} takes {h}x{w}x{c}, so its counts are "
                         "not comparable (--compare paper is for googlenet)")
    numbers = paper_numbers()
    out = []
    for row in profile.rows:
        if row.name not in numbers.rows:
            continue
        paper_k, paper_m = numbers.rows[row.name]
        p_status = _status(row.params / 1024, paper_k)
        o_status = _status(row.ops / 1e6, paper_m)
        paper_params = round(float(paper_k) * 1024)
        paper_ops = round(float(paper_m) * 1e6)
        out.append(CompareRow(row.name, row.params, paper_params, row.params - paper_params, p_status,
                              row.ops, paper_ops, row.ops - paper_ops, o_status,
                              _note(row, paper_k, paper_m, p_status, o_status)))
    missing = set(numbers.rows) - {r.name for r in out}
    if missing:
        raise ValueError(f"the spec has no rows named {sorted(missing)}; --compare paper is for googlenet")
    return out


def compare_to_dicts(rows: list[CompareRow]) -> list[dict]:
    return [asdict(r) | {"flagged": r.flagged} for r in rows]
