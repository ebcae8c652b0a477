"""Setting names: every `DRIFTLOOP_*` variable a settings model accepts, and the closest one."""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from pathlib import Path

from dotenv import dotenv_values
from pydantic import BaseModel


def setting_names(model: type[BaseModel], prefix: str, delimiter: str) -> set[str]:
    """The variable names that set a section (as JSON) or a field of `model`, upper case."""
    names = set()
    for section, field in model.model_fields.items():
        names.add(f"{prefix}{section}".upper())
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            names |= {
                f"{prefix}{section}{delimiter}{name}".upper() for name in annotation.model_fields
            }
    return names


def unknown_settings(
    known: set[str], prefix: str, environ: Mapping[str, str], env_file: Path, allowed: Iterable[str]
) -> list[str]:
    """One line per `prefix` variable (environment or `env_file`) that sets nothing.

    Each line names where the variable is and the closest valid name, so a misspelling such as
    `DRIFTLOOP_PROMOTION__APROVAL` is refused instead of silently ignored.
    """
    found = [(name, "environment") for name in environ]
    if env_file.is_file():
        found += [(name, str(env_file)) for name in dotenv_values(env_file)]
    accepted = known | {name.upper() for name in allowed}
    problems = []
    for name, where in found:
        upper = name.upper()
        if not upper.startswith(prefix) or upper in accepted:
            continue
        close = difflib.get_close_matches(upper, sorted(known), n=1, cutoff=0.6)
        hint = f"did you mean {close[0]}?" if close else "it is not a driftloop setting"
        problems.append(f"{name} ({where}) sets nothing: {hint}")
    return problems
