"""Plain data for the reports: dicts, lists, strings and numbers, no Plotly.

Each function here turns a profile, a pair of profiles or an Optuna study into what the figures and
tables draw, so that what a report shows is tested without a browser or a plotting library. The
drawing (figures.py) and the page (page.py) only lay this data out.

Each function returns a typed record (a `TypedDict`: still a plain dict, by key, JSON as it is),
declared once in `records` with what its fields mean; see records.py for why TypedDict.

Units follow the text tables (`archkit.profile.render`): params in K = 1024 weights (Table 1's
convention), ops in M = 10^6 multiply-adds; every number is also kept exact.
"""

from __future__ import annotations

from ...profile.render import HEADERS
from ...util.stats import t_interval
from .compare import COMPARE_HEADERS, align, compare_data, delta_pct, side_labels
from .confirmation import CONFIRM_HEADERS, ROLE_WORDS, VERDICT_ATTR, confirm_hint, confirmation
from .layers import BRANCH_HEADERS, branch_record, branch_rows, nested, size_text, stage_names, sunburst
from .profile import PAPER_HEADERS, STATUS_MARK, profile_data
from .records import (
    CompareData,
    ConfirmationData,
    History,
    Importances,
    LatencyData,
    ProfileData,
    StudyData,
    SupernetCurves,
    TrialRecord,
)
from .study import (
    FINISHED,
    LATENCY_HEADERS,
    MAX_PARALLEL,
    RANKED,
    SCORE_HEADER,
    STATE_WORDS,
    TRIAL_HEADERS,
    WRAP_HEADERS,
    depths_of,
    history,
    importances,
    load_base,
    searched,
    states_text,
    study_data,
    trial_headers,
    trial_table,
)
from .supernet import supernet_curves

__all__ = [
    "BRANCH_HEADERS",
    "COMPARE_HEADERS",
    "CONFIRM_HEADERS",
    "CompareData",
    "ConfirmationData",
    "FINISHED",
    "HEADERS",
    "LATENCY_HEADERS",
    "History",
    "Importances",
    "LatencyData",
    "MAX_PARALLEL",
    "PAPER_HEADERS",
    "ProfileData",
    "RANKED",
    "ROLE_WORDS",
    "SCORE_HEADER",
    "STATE_WORDS",
    "STATUS_MARK",
    "StudyData",
    "SupernetCurves",
    "TRIAL_HEADERS",
    "TrialRecord",
    "VERDICT_ATTR",
    "WRAP_HEADERS",
    "align",
    "branch_record",
    "branch_rows",
    "compare_data",
    "confirm_hint",
    "confirmation",
    "delta_pct",
    "depths_of",
    "history",
    "importances",
    "load_base",
    "nested",
    "profile_data",
    "searched",
    "side_labels",
    "size_text",
    "stage_names",
    "states_text",
    "study_data",
    "supernet_curves",
    "sunburst",
    "t_interval",
    "trial_headers",
    "trial_table",
]
