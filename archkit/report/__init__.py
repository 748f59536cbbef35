"""Interactive reports: a profile, two specs compared, a search study; each one self-contained
HTML file (plotly.js inlined: opens offline, can be mailed).

Plain data (`archkit.report.data`, no Plotly) -> figures (`figures`) -> page (`page`). Plotly is
imported only when a page is drawn, not at `import archkit.report`.
"""

from __future__ import annotations

import importlib

# Loaded on first use (PEP 562), so that `archkit` commands that never draw a report do not pay
# for importing it.
_WHERE = {
    "StudyReport": "api", "compare_report": "api", "compare_report_html": "api", "profile_report": "api",
    "profile_report_html": "api", "study_report": "api", "study_report_html": "api",
    "compare_data": "data", "profile_data": "data", "study_data": "data",
}


def __getattr__(name: str):
    if name in _WHERE:
        return getattr(importlib.import_module(f".{_WHERE[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


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
