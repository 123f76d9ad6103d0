"""The shell's list of every table module, so migrations and tests see the whole schema."""

from __future__ import annotations

import importlib

MODEL_MODULES = ("fundapp.core.models", "ledger.models", "governance.models", "proposals.models")


def import_all_models() -> None:
    for name in MODEL_MODULES:
        importlib.import_module(name)
