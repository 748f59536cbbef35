"""Where studies live: an SQLite file under studies/ by default, a journal file, or any Optuna
storage URL (PostgreSQL for many machines). Storage URLs and paths are only ever handed to Optuna
and SQLAlchemy, never to a shell."""

from __future__ import annotations

import os
import time
from pathlib import Path

from ..errors import ArchkitError
from . import record as R

STUDIES_DIR = Path("studies")
JOURNAL_SUFFIXES = (".journal", ".jsonl", ".log")
# A worker writes a heartbeat this often; a RUNNING trial silent for GRACE seconds is declared
# failed (a killed worker) and its candidate retried once. Both can be set from the environment
# (ARCHKIT_HEARTBEAT_S, ARCHKIT_GRACE_S): a cluster with slow storage wants more, a test less.
HEARTBEAT_S = 10
GRACE_S = 60


def _seconds(name: str, default: int) -> int:
    value = os.environ.get(name)
    if value is None:
        return default
    if not value.isdigit() or int(value) < 1:
        raise StorageError(f"{name} must be a whole number of seconds >= 1, got {value!r}")
    return int(value)


class StorageError(ArchkitError):
    """A storage that cannot be opened; the message names it."""


def default_location(study: str, workers: int = 1, studies_dir: Path = STUDIES_DIR) -> str:
    """The default storage of a study: `studies/<study>.db` (SQLite), or, for several workers on a
    new study, `studies/<study>.journal` — Optuna's journal file is safe for concurrent processes,
    SQLite's file locking is not. An existing file of either kind is always reused."""
    db, journal = studies_dir / f"{study}.db", studies_dir / f"{study}.journal"
    if db.exists():
        return f"sqlite:///{db}"
    if journal.exists() or workers > 1:
        return str(journal)
    return f"sqlite:///{db}"


def is_journal(location: str) -> bool:
    return "://" not in location and location.endswith(JOURNAL_SUFFIXES)


def is_url(location: str) -> bool:
    return "://" in location


def describe(location: str) -> str:
    """The location with any password hidden, for messages (SQLAlchemy's own rendering)."""
    if is_url(location) and "@" in location:
        from sqlalchemy.engine import make_url
        from sqlalchemy.exc import ArgumentError

        try:
            return make_url(location).render_as_string(hide_password=True)
        except (ArgumentError, ValueError):  # unescaped '@' or ':' in the password: SQLAlchemy cannot read it
            scheme, rest = location.split("://", 1)
            creds, host = rest.rsplit("@", 1)
            user = creds.split(":", 1)[0]
            return f"{scheme}://{user}{':***' if ':' in creds else ''}@{host}"
    return location


def retry_candidate(study, trial) -> None:
    """A trial whose worker died (heartbeat gone stale, or found RUNNING in a journal at start):
    enqueue its candidate once more, with the same sampled parameters. (Optuna's own retry callback
    would copy the dead trial's partial results along.) A retry that dies too is not retried."""
    if R.RETRY_OF in trial.user_attrs:
        return
    attrs = {R.RETRY_OF: trial.number}
    if R.REFERENCE in trial.user_attrs:
        attrs[R.REFERENCE] = trial.user_attrs[R.REFERENCE]
    study.enqueue_trial(trial.params, user_attrs=attrs)


# Opening a new RDB storage creates its tables and stamps their schema version. Two processes
# that do so at the same moment (two workers, or a reader polling a study a worker is creating)
# collide: the loser sees "table already exists" or a duplicate version row. The tables the winner
# made are exactly the ones wanted, so the loser only has to open the storage again.
CREATE_ATTEMPTS = 6
_CREATION_RACE = ("already exists", "unique constraint failed: alembic_version", "duplicate key value")


def _lost_creation_race(exc: Exception) -> bool:
    from sqlalchemy.exc import DBAPIError

    return isinstance(exc, DBAPIError) and any(s in str(exc).lower() for s in _CREATION_RACE)


def open_storage(location: str, create: bool = True):
    """An Optuna storage object for a URL or a journal file path.

    RDB storages (SQLite, PostgreSQL, MySQL) get heartbeats, so trials of a killed worker are
    failed and retried; a journal file has no heartbeat (see `recover_interrupted`)."""

    if is_journal(location):
        path = Path(location).expanduser()
        if not create and not path.exists():  # reading must not leave an empty journal behind
            raise StorageError(f"no study storage at {location}")
        path.parent.mkdir(parents=True, exist_ok=True)
        from optuna.storages.journal import JournalFileBackend, JournalStorage

        return JournalStorage(JournalFileBackend(str(path)))
    if not is_url(location):
        raise StorageError(
            f"storage {location!r} is neither a URL (sqlite:///..., postgresql://...) nor a journal file "
            f"(ending in {', '.join(JOURNAL_SUFFIXES)})"
        )
    if location.startswith("sqlite:///"):
        db = Path(location[len("sqlite:///"):]).expanduser()
        if not create and not db.exists():
            raise StorageError(f"no study storage at {db}")
        db.parent.mkdir(parents=True, exist_ok=True)
    import warnings

    from optuna import storages

    engine_kwargs = {"connect_args": {"timeout": 60}} if location.startswith("sqlite") else {"pool_pre_ping": True}
    # Optuna 5 renamed the stale-trial callback argument; heartbeats are "experimental" there.
    import inspect

    arg = ("heartbeat_stale_trial_callback" if "heartbeat_stale_trial_callback" in
           inspect.signature(storages.RDBStorage.__init__).parameters else "failed_trial_callback")
    retry = {arg: retry_candidate}
    heartbeat, grace = _seconds("ARCHKIT_HEARTBEAT_S", HEARTBEAT_S), _seconds("ARCHKIT_GRACE_S", GRACE_S)
    try:
        for attempt in range(CREATE_ATTEMPTS):
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    return storages.RDBStorage(location, heartbeat_interval=heartbeat, grace_period=grace,
                                               engine_kwargs=engine_kwargs, **retry)
            except Exception as exc:  # noqa: BLE001 - only a lost creation race is retried
                if attempt + 1 == CREATE_ATTEMPTS or not _lost_creation_race(exc):
                    raise
                time.sleep(0.05 * 2 ** attempt)
    except ImportError as exc:
        raise StorageError(f"cannot open {describe(location)}: a database driver is missing ({exc}); for "
                           "PostgreSQL install psycopg[binary]") from None
    except Exception as exc:  # SQLAlchemy's connection errors carry pages of detail
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise StorageError(f"cannot open {describe(location)}: {first}") from None
