"""A candidate's latency in a search: predicted before training (the budget check and budget
filling), measured after training (a trial's `measured_latency_ms`), on the config's `latency:`
device and settings.

Budget filling predicts a candidate at many width scales; each prediction there is an estimate
from the table alone (`estimate`: no op is run, a fraction of a millisecond). The candidate it
chooses is then `settle`d: the ops the table lacks are measured on the device and join the table
(and the user's cache), so the latency the budget is checked against, and that the trial records,
is the table's own for every op of the network. Budget filling repeats with the better-informed
table when the settled latency is over the budget (`budget.fill_budget`).
"""

from __future__ import annotations

from ..spec.models import Spec
from ..spec.resolve import ResolvedSpec
from .config import LatencySettings

# torch's intra-op thread count of the command that started a parallel search: its workers run with
# fewer threads each (the cores split between them), but predict latency with this count, so that
# a latency budget means the same network in every worker (`workers.worker_env` sets it).
THREADS_ENV = "ARCHKIT_LATENCY_THREADS"


def default_threads() -> int:
    """The thread count a `latency:` section without `threads` predicts with (see THREADS_ENV)."""
    import os

    inherited = os.environ.get(THREADS_ENV, "")
    if inherited.isdigit() and int(inherited) >= 1:
        return int(inherited)
    import torch

    return torch.get_num_threads()


class LatencyCost:
    """Predicted and measured latency (ms) of candidates under one `LatencySettings`.

    Opening the table (`table`, on first use) checks the device (LatencyError, one line, for a
    device this machine lacks); the first prediction on a new device also measures its constants
    and calibration once (some seconds, kept in the cache)."""

    def __init__(self, settings: LatencySettings):
        self.settings = settings
        self.threads = settings.threads or default_threads()
        self._table = None

    @property
    def table(self):
        if self._table is None:
            from ..latency import get_table

            self._table = get_table(self.settings.device, self.settings.precision, threads=self.threads)
        return self._table

    def describe(self) -> str:
        """Where and how: 'cpu (Intel Xeon), batch 1, fp32, 2 threads'."""
        s = self.settings
        return (f"{s.device} ({self.table.key['device_name']}), batch {s.batch}, {s.precision}, "
                f"{self.threads} thread{'s' if self.threads != 1 else ''}")

    def estimate(self, r: ResolvedSpec) -> float:
        """The predicted ms from the table as it is: ops it lacks are estimated, not run."""
        from ..latency import predict_resolved

        return predict_resolved(r, self.table, self.settings.batch, measure_missing=False, save=False).total_ms

    def settle(self, r: ResolvedSpec) -> float:
        """The predicted ms with every op of the network in the table (missing ones measured now,
        then the table saved to the cache)."""
        from ..latency import predict_resolved

        return predict_resolved(r, self.table, self.settings.batch, measure_missing=True, save=True).total_ms

    def measure(self, spec: Spec):
        """The whole forward pass of the built network, timed on the device (a `latency.Timing`:
        its `min_ms`, the fastest block of calls, is what the table's entries and so the
        prediction are; `median_ms` and `iqr_ms` the typical call and its spread)."""
        from ..latency import measure_model

        s = self.settings
        return measure_model(spec, s.device, s.batch, s.precision, threads=self.threads)
