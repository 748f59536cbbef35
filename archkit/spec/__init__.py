"""The spec language: pydantic models, safe YAML loading with line numbers, resolution to shapes."""

from .errors import SpecError
from .loader import builtin_names, builtin_text, load_spec, spec_from_data, spec_from_yaml
from .models import Spec
from .resolve import ResolvedSpec, resolved

__all__ = [
    "ResolvedSpec",
    "Spec",
    "SpecError",
    "builtin_names",
    "builtin_text",
    "load_spec",
    "resolved",
    "spec_from_data",
    "spec_from_yaml",
]
