"""Analytic profiling: params, ops and activations from the spec's shapes. Never imports torch."""

from .counts import CONVENTIONS
from .profiler import AuxProfile, BranchRow, Profile, Row, Totals, profile
from .training import TrainProfile, TrainRow, train_profile

__all__ = [
    "CONVENTIONS",
    "AuxProfile",
    "BranchRow",
    "CompareRow",
    "Profile",
    "Row",
    "Totals",
    "TrainProfile",
    "TrainRow",
    "compare_paper",
    "paper_numbers",
    "profile",
    "train_profile",
]

_PAPER = ("CompareRow", "compare_paper", "paper_numbers")


def __getattr__(name: str):
    # The comparison with Table 1 (its numbers are read from YAML) is imported when first used, not
    # by every profile.
    if name in _PAPER:
        from . import paper

        return getattr(paper, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
