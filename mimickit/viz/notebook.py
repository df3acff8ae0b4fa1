"""Small glue for the teaching notebooks.

Quick mode: with the environment variable MIMICKIT_QUICK set to "1" (as the tests and CI do),
notebooks use fewer frames and skip their slow steps; unset or any other value runs them in full.
"""
import os

QUICK_ENV_VAR = "MIMICKIT_QUICK"


def quick_mode():
    """True when MIMICKIT_QUICK is "1"."""
    return os.environ.get(QUICK_ENV_VAR, "").strip() == "1"


def pick(full, quick):
    """`quick` in quick mode, `full` otherwise, e.g. ``step = pick(full=1, quick=4)``."""
    return quick if quick_mode() else full
