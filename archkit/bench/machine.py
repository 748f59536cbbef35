"""What machine a benchmark ran on: `cpu_name`, defined in `archkit.util.machine` (the library's
measurements print it too, and the library does not import from bench)."""

from __future__ import annotations

from ..util.machine import cpu_name

__all__ = ["cpu_name"]
