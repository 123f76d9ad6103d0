"""The shell's list of every table module, so migrations and tests see the whole schema."""

from __future__ import annotations

import importlib

MODEL_MODULES = ("fundapp.core.models", "ledger.models", "governance.models", "proposals.models", "concessional.models")


def import_all_models() -> None:
    for name in MODEL_MODULES:
        importlib.import_module(name)


def is_model_object(name: str | None, type_: str, parent_names: object) -> bool:
    """Alembic's ``include_name``: the job queue's tables on PostgreSQL (procrastinate's, created by migration
    0016 from the pinned version's own schema) are the library's, not the models'."""
    return not (type_ == "table" and name is not None and name.startswith("procrastinate_"))
