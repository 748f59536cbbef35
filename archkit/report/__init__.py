"""Interactive reports: a profile, two specs compared, a search study; each one self-contained
HTML file (plotly.js inlined: opens offline, can be mailed).

Plain data (`archkit.report.data`, no Plotly) -> figures (`figures`) -> page (`page`). Plotly is
imported only when a page is drawn, not at `import archkit.report`.
"""

from .api import (
    StudyReport,
    compare_report,
    compare_report_html,
    profile_report,
    profile_report_html,
    study_report,
    study_report_html,
)
from .data import compare_data, profile_data, study_data

__all__ = [
    "StudyReport",
    "compare_data",
    "compare_report",
    "compare_report_html",
    "profile_data",
    "profile_report",
    "profile_report_html",
    "study_data",
    "study_report",
    "study_report_html",
]
