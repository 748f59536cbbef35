"""The one base class of the errors a user can fix (a leaf module: nothing imported).

Every package's errors for what the user gave (a spec, a config, an option, data, a storage, a
checkpoint, a device) derive from `ArchkitError`; the command line catches it in one place
(`archkit.commandline.user_errors`) and prints `error: <its one line>`, exiting with `exit_code`.
"""

from __future__ import annotations


class ArchkitError(ValueError):
    """Something the user gave that archkit cannot use. `str()` is one line; `exit_code` is the
    command's exit status (2: fix the input and rerun; 1: the run itself failed)."""

    exit_code = 2
