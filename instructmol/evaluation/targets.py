"""How the evaluator reads dataset rows: the columns it needs and what each task's targets mean.

What each `task` value is (its metric, title, answer budget, paper table) is the task registry's
(`instructmol.tasks`); a stage-2 mixture of several tasks is scored task by task in one run.
"""

import math
import re

import selfies

REQUIRED_COLUMNS = ("images", "prompt", "task", "id", "smiles", "target")
QM9_PROPERTY_UNITS = "hartree"

# SELFIES are bracketed symbols only ("[C][=O]", molecules joined by "."); SMILES nearly always have bare atoms.
_SELFIES_PATTERN = re.compile(r"(?:\[[^\[\]]+\]|\.)+")


def target_label(target: str, row_id: str) -> int:
    """A classification target ('Yes' / 'No', any case) as 1 / 0; a ValueError names any other target."""
    normalized = target.strip().lower()
    if normalized not in ("yes", "no"):
        raise ValueError(f"Row {row_id!r}: a classification target must be 'Yes' or 'No', not {target!r}")
    return int(normalized == "yes")


def target_value(target: str, row_id: str) -> float:
    """A regression target as a finite number; a ValueError names a target that is not one."""
    try:
        value = float(target)
    except ValueError:
        raise ValueError(f"Row {row_id!r}: a regression target must be a number, not {target!r}") from None
    if not math.isfinite(value):
        raise ValueError(f"Row {row_id!r}: a regression target must be a finite number, not {target!r}")
    return value


def is_selfies(text: str) -> bool:
    """Whether a molecule string is SELFIES: bracketed symbols only, and decodable."""
    if not _SELFIES_PATTERN.fullmatch(text):
        return False
    try:
        return bool(selfies.decoder(text))
    except selfies.DecoderError:
        return False


def molecule_format(targets: list[str]) -> str:
    """'selfies' when every target is SELFIES (the reaction builders' default), else 'smiles'."""
    return "selfies" if targets and all(is_selfies(target) for target in targets) else "smiles"
