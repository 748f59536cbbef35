"""A weight-sharing supernet over a search space (Once-for-All, BigNAS): train once, score many.

One elastic network holds, for every conv of the space's candidates, the widest filters any of them
asks for within the config's budget, and every stage at its deepest; a candidate is a slice of it
(the first k filters of each conv, the first d modules of each stage), and that slice is exactly the
network `archkit.build(candidate)` builds (tests/supernet compares their logits).

Modules, one concern each: `candidates` (specs as the search makes them), `support` (what one
supernet can express), `plan` (slots, layouts, a candidate's slices), `pool` (the candidates the
plan is sized for), `elastic` (the torch module), `calibrate` (batch-norm recalibration and scoring),
`sandwich` (training), `checkpoint`, `proxy` (scoring a search's candidates), `commands` (CLI).
Torch is imported by `elastic`, `calibrate`, `sandwich` and `checkpoint` only.
"""

from __future__ import annotations

from .errors import SupernetError
from .plan import Plan, Slot, make_plan
from .pool import plan_for
from .support import check_expressible

__all__ = ["Plan", "Slot", "SupernetError", "check_expressible", "make_plan", "plan_for"]
