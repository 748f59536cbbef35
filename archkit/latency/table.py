"""The latency lookup table (FBNet's): measured latency per unit signature on one device, at one
precision and thread count, with the device's constants and its calibration; a unit it lacks is
estimated by its own least-squares fit over entries of the same kind (ms ~ a + b x multiply-adds +
c x bytes, once it holds FIT_MIN of them), else by the device's roofline (`archkit.latency.device`).

A unit is timed in rounds interleaved with the other units measured with it, and its entry is the
fastest block of calls (`LatencyTable.measure_many`).

The table is a JSON file in archkit's cache folder (`archkit.util.cache.cache_dir()`), one per
device model, torch intra-op thread count and precision; the file's key also holds the torch and
archkit versions and the table format. A file whose key differs (an upgrade: stale) or that cannot
be read or parsed (corrupt) is set aside and the table rebuilt from nothing; with no cache folder
at all (no home folder) the table lives in memory only. A prediction never fails on the cache.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

from ..util.cache import cache_dir as user_cache_dir
from .calibrate import PROBES, ROUNDS, Calibration
from .device import DeviceConstants
from .units import AddOp, ConcatOp, Unit, compute_dtype, op_signature, unit_bytes, unit_kind, unit_ops

FORMAT = 1  # of the cache file; a change makes every older file stale
# The table's own timing: rounds x repeats blocks of about TABLE_BLOCK_S after a warm-up; short
# (a search candidate may bring a hundred new signatures), the fastest block kept.
TABLE_WARMUP, TABLE_ROUNDS, TABLE_REPEATS, TABLE_BLOCK_S = 2, 3, 3, 0.001
GROUP_BYTES = 1 << 30  # units measured together hold at most this much data (big batches on a GPU)
FIT_MIN = 8  # entries of a kind before the table's own fit replaces the roofline for that kind


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-").lower()[:60] or "device"


class LatencyTable:
    """Measured latency per op signature on one device, at one precision and thread count.

    `entries` maps `op_signature(...)` to {"ms": the fastest block, "median", "q1", "q3", "calls",
    "repeats", "kind", "ops", "bytes"} (milliseconds; kind, multiply-adds and bytes for the per-kind
    fit). `constants`: the device's `DeviceConstants`, `calibration`: its `Calibration`, each
    measured on first use. `status` says how the file was found: "loaded", "new" (no file),
    "rebuilt: stale (...)" or "rebuilt: corrupt (...)". `measure_seconds`: the time this object
    spent measuring (entries, constants, calibration). `warmup`, `rounds`, `repeats`, `block_s`,
    `probes`, `probe_rounds`: how it measures (lower them for a quick run).
    Build one with `LatencyTable.open(...)`; `save()` writes it back (atomically, merged with what
    another process may have added meanwhile). Its measurements run with `threads` intra-op threads
    (default: torch's count when opened), set for the measurement and restored after."""

    def __init__(self, dev, precision: str, threads: int, folder: Path | None):
        import torch

        from .. import __version__
        from .timing import device_name

        self.dev = dev
        self.precision = precision
        self.threads = threads
        name = device_name(dev)
        self.key = {"format": FORMAT, "device": dev.type, "device_name": name, "threads": threads,
                    "precision": precision, "torch": torch.__version__, "archkit": __version__}
        file = f"latency-{dev.type}-{_slug(name)}-{precision}-t{threads}.json"
        self.path = None if folder is None else folder / file  # None: no cache folder, in memory only
        self.entries: dict[str, dict] = {}
        self.constants: DeviceConstants | None = None
        self.calibration: Calibration | None = None
        self.status = "new"
        self.measure_seconds = 0.0
        self.save_error: str | None = None
        # the timing of each entry (a quick benchmark lowers them) and of the calibration's probes
        self.warmup, self.rounds, self.repeats, self.block_s = TABLE_WARMUP, TABLE_ROUNDS, TABLE_REPEATS, TABLE_BLOCK_S
        self.probes, self.probe_rounds = PROBES, ROUNDS
        self._dirty = False
        self._fits: dict[str, tuple[int, tuple[float, float, float] | None]] = {}
        self._load()

    @classmethod
    def open(cls, device: str = "cpu", precision: str = "fp32", *, threads: int | None = None,
             cache_dir: str | Path | None = None) -> LatencyTable:
        """The table of `device` at `precision` from the cache (LatencyError for a bad option)."""

        from .measure import checked

        dev = checked(device, 1, precision)
        return cls(dev, precision, thread_count(threads), _folder(cache_dir))

    # -- file --

    def _read(self) -> dict | None:
        """The file's data if it is this table's; sets `status` when the file is stale or corrupt."""
        if self.path is None:
            return None
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        except (OSError, UnicodeDecodeError) as exc:
            self.status = f"rebuilt: corrupt ({exc.__class__.__name__})"
            return None
        try:
            data = json.loads(text)
            if not isinstance(data, dict) or not isinstance(data.get("entries"), dict):
                raise ValueError("not a latency table")
            entries = {str(k): _entry(v) for k, v in data["entries"].items()}
            constants = data.get("constants")
            if constants is not None:
                constants = DeviceConstants(**{k: float(constants[k]) for k in DeviceConstants.__slots__})
            calibration = data.get("calibration")
            if calibration is not None:
                calibration = Calibration(float(calibration["scale"]), float(calibration["unit_ms"]),
                                          int(calibration["probes"]),
                                          None if calibration.get("error") is None else float(calibration["error"]))
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            self.status = f"rebuilt: corrupt ({exc.__class__.__name__})"
            return None
        if data.get("key") != self.key:
            self.status = "rebuilt: stale (key differs: " + ", ".join(
                k for k in self.key if not isinstance(data.get("key"), dict) or data["key"].get(k) != self.key[k]) + ")"
            return None
        return {"entries": entries, "constants": constants, "calibration": calibration}

    def _load(self) -> None:
        data = self._read()
        if data is not None:
            self.entries = data["entries"]
            self.constants = data["constants"]
            self.calibration = data["calibration"]
            self.status = "loaded"
        elif self.status != "new":
            self._dirty = True  # overwrite the bad file at the next save

    def save(self) -> bool:
        """Write the table (merged with entries another process saved meanwhile). False, with
        `save_error` set, when the file cannot be written: the table still works in memory."""
        from ..util.files import atomic_write_text

        if self.path is None:
            self.save_error = "no cache folder (no home folder: set ARCHKIT_CACHE_DIR)"
            return False
        status = self.status
        on_disk = self._read()
        self.status = status
        if on_disk is not None:
            self.entries = {**on_disk["entries"], **self.entries}
            if self.constants is None:
                self.constants = on_disk["constants"]
            if self.calibration is None:
                self.calibration = on_disk["calibration"]
        data = {"key": self.key, "constants": None if self.constants is None else
                {k: getattr(self.constants, k) for k in DeviceConstants.__slots__},
                "calibration": None if self.calibration is None else self.calibration.to_dict(),
                "entries": dict(sorted(self.entries.items()))}
        try:
            atomic_write_text(self.path, json.dumps(data, indent=0) + "\n")
        except OSError as exc:
            self.save_error = f"{self.path}: {exc.strerror or exc}"
            return False
        self._dirty = False
        self.save_error = None
        return True

    # -- lookups and measurements --

    def get(self, signature: str) -> float | None:
        """The measured latency (ms) of a signature, or None."""
        entry = self.entries.get(signature)
        return None if entry is None else entry["ms"]

    def measure(self, op: Unit, batch: int = 1, in_dtype: str | None = None) -> float:
        """Time a unit alone on the device, store it under its signature and return its ms."""
        signature = op_signature(op, self.precision, batch, in_dtype)
        return self.measure_many([(op, in_dtype or compute_dtype(self.precision))], batch)[signature]

    def measure_many(self, units: list[tuple[Unit, str]], batch: int = 1, *, rounds: int | None = None,
                     refine: bool = False) -> dict[str, float]:
        """Time units (each with its input dtype) alone on the device, store them and return
        {signature: ms}. Each unit is timed in `rounds` (default `self.rounds`) rounds of
        `self.repeats` blocks, the rounds interleaved across the units, so that its samples spread
        over the whole measurement rather than the few milliseconds a slow phase of the machine
        could cover. The entry's ms is the fastest block (as timeit advises: slower ones are other
        processes' doing); the median is kept too. `refine`: a unit already in the table keeps the
        faster of its entry and the new samples (more samples, spread wider in time)."""
        import torch

        from .measure import precision_context, threads_set
        from .timing import Timing, time_samples

        todo: dict[str, tuple[Unit, str]] = {}
        for op, dtype in units:
            todo.setdefault(op_signature(op, self.precision, batch, dtype), (op, dtype))
        out: dict[str, float] = {}
        started = time.perf_counter()
        with threads_set(self.threads), torch.inference_mode(), precision_context(self.dev, self.precision):
            for group in _groups(list(todo.items()), self.precision, batch):
                runners = [(sig, _runner(op, batch, dtype, self.dev)) for sig, (op, dtype) in group]
                samples: dict[str, list[float]] = {sig: [] for sig, _ in runners}
                calls: dict[str, int] = {}
                for round_ in range(self.rounds if rounds is None else rounds):
                    for sig, fn in runners:
                        got, calls[sig] = time_samples(fn, self.dev, warmup=self.warmup if round_ == 0 else 1,
                                                       repeats=self.repeats, block_s=self.block_s,
                                                       calls=calls.get(sig))
                        samples[sig] += got
                for sig, (op, _) in group:
                    timing = Timing.of(samples[sig], calls[sig])
                    old = self.entries.get(sig) if refine else None
                    entry = {"ms": timing.min_ms, "median": timing.median_ms, "q1": timing.q1_ms,
                             "q3": timing.q3_ms, "calls": timing.calls, "repeats": timing.repeats,
                             "kind": unit_kind(op), "ops": unit_ops(op, batch),
                             "bytes": unit_bytes(op, self.precision, batch)}
                    if old is not None:
                        entry["ms"] = min(entry["ms"], old["ms"])
                        entry["repeats"] += old.get("repeats", 0)
                    self.entries[sig] = entry
                    out[sig] = entry["ms"]
                del runners
        self.measure_seconds += time.perf_counter() - started
        self._dirty = True
        return out

    def estimate(self, op: Unit, batch: int = 1) -> tuple[float, str]:
        """(ms, how) for a unit not in the table, without running it: "fit" when the table holds at
        least FIT_MIN entries of its kind (a least-squares line through them, see `kind_fit`), else
        "roofline" (the device's roofline)."""
        coef = self.kind_fit(unit_kind(op))
        if coef is not None:
            a, b, c = coef
            return a + b * unit_ops(op, batch) + c * unit_bytes(op, self.precision, batch), "fit"
        return self.device_constants().roofline_ms(op, self.precision, batch), "roofline"

    def kind_fit(self, kind: str) -> tuple[float, float, float] | None:
        """ms ~ a + b x multiply-adds + c x bytes over the table's entries of one kind (a, b, c >= 0:
        a fixed cost, a compute time and a memory time), fitted to minimize the squared relative
        error (small and large ops count alike); None below FIT_MIN entries of the kind."""
        rows = [(e["ops"], e["bytes"], e["ms"]) for e in self.entries.values()
                if e.get("kind") == kind and "ops" in e and "bytes" in e]
        cached = self._fits.get(kind)
        if cached is not None and cached[0] == len(rows):
            return cached[1]
        coef = None
        if len(rows) >= FIT_MIN:
            import numpy as np
            from scipy.optimize import nnls

            data = np.asarray(rows, dtype=float)
            scale = 1.0 / data[:, 2]
            design = np.column_stack([np.ones(len(data)), data[:, 0], data[:, 1]]) * scale[:, None]
            # columns scaled to unit size so the solver sees a well-conditioned problem
            norms = np.maximum(np.abs(design).max(axis=0), 1e-300)
            solution, _ = nnls(design / norms, np.ones(len(data)))
            a, b, c = (float(v) for v in solution / norms)
            if a > 0 or b > 0 or c > 0:
                coef = (a, b, c)
        self._fits[kind] = (len(rows), coef)
        return coef

    def device_constants(self) -> DeviceConstants:
        """The device's roofline and overhead constants, measured on first use and kept."""
        if self.constants is None:
            started = time.perf_counter()
            from .device import measure_constants
            from .measure import threads_set

            with threads_set(self.threads):
                self.constants = measure_constants(self.dev, self.precision)
            self.measure_seconds += time.perf_counter() - started
            self._dirty = True
        return self.constants

    def calibrated(self, batch: int = 1) -> Calibration:
        """The table's calibration against whole networks (`archkit.latency.calibrate`), fitted on
        the probe networks on first use (their units join the table) and kept."""
        if self.calibration is None:
            from .calibrate import measure_calibration

            before, started = self.measure_seconds, time.perf_counter()
            self.calibration = measure_calibration(self, batch, self.probes, self.probe_rounds)
            self.measure_seconds = before + time.perf_counter() - started
            self._dirty = True
        return self.calibration

    @property
    def dirty(self) -> bool:
        return self._dirty


def _folder(path: str | Path | None) -> Path | None:
    """The tables' folder, absolute (`path`, else archkit's cache folder); None when there is none."""
    folder = user_cache_dir(path)
    return None if folder is None else folder.resolve()


_NUMBERS = ("ms", "median", "q1", "q3", "ops", "bytes", "calls", "repeats")


def _entry(value) -> dict:
    """An entry read from a file, checked: numbers where numbers belong, a positive finite `ms`."""
    if not isinstance(value, dict):
        raise TypeError("an entry is not a mapping")
    entry = {k: v for k, v in value.items() if k in _NUMBERS or k == "kind"}
    for k in _NUMBERS:
        if k in entry and (isinstance(entry[k], bool) or not isinstance(entry[k], (int, float))):
            raise TypeError(f"{k} is not a number")
    if "kind" in entry and not isinstance(entry["kind"], str):
        raise TypeError("kind is not a string")
    ms = float(entry["ms"])
    if not (0 < ms < float("inf")):
        raise ValueError("a latency that is not a positive number")
    return entry


def thread_count(threads: int | None) -> int:
    """`threads` checked (LatencyError for one below 1), or torch's intra-op thread count when None."""
    import torch

    if threads is None:
        return torch.get_num_threads()
    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
        from .errors import LatencyError

        raise LatencyError(f"--threads must be a whole number of at least 1, got {threads!r}")
    return threads


_DTYPES = {"fp32": "float32", "bf16": "bfloat16"}


def _groups(items: list, precision: str, batch: int) -> list[list]:
    """Consecutive groups of (signature, (unit, dtype)) whose data stays under GROUP_BYTES."""
    groups: list[list] = []
    size = GROUP_BYTES
    for item in items:
        nbytes = unit_bytes(item[1][0], precision, batch)
        if size + nbytes > GROUP_BYTES and (not groups or groups[-1]):
            groups.append([])
            size = 0
        groups[-1].append(item)
        size += nbytes
    return groups


def _runner(op: Unit, batch: int, in_dtype: str, dev):
    """A no-argument callable that runs the unit once on tensors made here."""
    import torch

    from ..builder.blocks import op_module

    dtype = getattr(torch, _DTYPES[in_dtype])
    t = type(op)
    if t is ConcatOp:
        h, w = op.out_shape[1:]
        parts = [torch.randn(batch, c, h, w, device=dev, dtype=dtype) for c in op.parts]
        return lambda: torch.cat(parts, dim=1)
    if t is AddOp:
        out, skip = (torch.randn(batch, *op.out_shape, device=dev, dtype=dtype) for _ in range(2))
        scale, relu = op.scale, op.activation == "relu"

        def add():  # what `archkit.builder.blocks.Residual` does after its branches
            y = out * scale if scale != 1.0 else out
            y = y + skip
            return torch.relu(y) if relu else y

        return add
    module = op_module(op).eval().to(dev)
    x = torch.randn(batch, *op.in_shape, device=dev, dtype=dtype)
    return lambda: module(x)


_OPEN: dict[tuple, LatencyTable] = {}


def get_table(device: str = "cpu", precision: str = "fp32", *, threads: int | None = None,
              cache_dir: str | Path | None = None) -> LatencyTable:
    """The table of this device, precision and thread count, opened once per process (a search
    predicts many candidates: the file is read once, then saved as entries are added)."""

    from .measure import checked

    dev = checked(device, 1, precision)
    n = thread_count(threads)
    folder = _folder(cache_dir)
    key = (str(dev), precision, n, str(folder))
    table = _OPEN.get(key)
    if table is None:
        table = _OPEN[key] = LatencyTable(dev, precision, n, folder)
    return table
