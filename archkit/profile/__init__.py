"""Analytic profiling: params, ops and activations from the spec's shapes. Never imports torch."""

from .counts import CONVENTIONS
from .paper import CompareRow, compare_paper, paper_numbers
from .profiler import AuxProfile, BranchRow, Profile, Row, Totals, profile

__all__ = [
    "CONVENTIONS",
    "AuxProfile",
    "BranchRow",
    "CompareRow",
    "Profile",
    "Row",
    "Totals",
    "compare_paper",
    "paper_numbers",
    "profile",
]
