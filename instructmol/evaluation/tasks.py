"""What each value of the rows' `task` column is: its metric family, its display name, how its targets read.

Every InstructMol dataset row names its task (`ROW_FEATURES["task"]`); the evaluator scores rows by the family
of their task, so a stage-2 mixture of several tasks is scored task by task in one run.
"""

import re
from dataclasses import dataclass

import selfies

CAPTIONING = "molecule_captioning"
REGRESSION = "property_regression"
CLASSIFICATION = "molecule_classification"
REACTION = "molecule_generation"

REQUIRED_COLUMNS = ("images", "prompt", "task", "id", "smiles", "target")

QM9_PROPERTY_UNITS = "hartree"
# A name for the pooled regression evaluation over every QM9 property present.
QM9_POOLED = "qm9"


@dataclass(frozen=True)
class TaskSpec:
    """One value of the `task` column.

    Attributes:
        family: the metric module that scores it (one of `instructmol.metrics.METRIC_NAMES`).
        title: how reports name it.
        default_max_new_tokens: the answer budget when `--max-new-tokens` is not given: room for the longest
            typical answer (ChEBI-20 descriptions and SELFIES products run to a few hundred tokens).
    """

    family: str
    title: str
    default_max_new_tokens: int


TASKS = {
    "chebi20_description": TaskSpec(CAPTIONING, "ChEBI-20 molecule description", 256),
    "pubchem_alignment": TaskSpec(CAPTIONING, "PubChem molecule description (alignment data)", 256),
    "nci_description": TaskSpec(CAPTIONING, "NCI molecule description (quickstart)", 256),
    "qm9_homo": TaskSpec(REGRESSION, "QM9 HOMO energy", 16),
    "qm9_lumo": TaskSpec(REGRESSION, "QM9 LUMO energy", 16),
    "qm9_gap": TaskSpec(REGRESSION, "QM9 HOMO-LUMO gap", 16),
    "moleculenet_bace": TaskSpec(CLASSIFICATION, "MoleculeNet BACE", 8),
    "moleculenet_bbbp": TaskSpec(CLASSIFICATION, "MoleculeNet BBBP", 8),
    "moleculenet_hiv": TaskSpec(CLASSIFICATION, "MoleculeNet HIV", 8),
    "forward_reaction_prediction": TaskSpec(REACTION, "Forward reaction prediction (USPTO)", 256),
    "retrosynthesis": TaskSpec(REACTION, "Retrosynthesis (USPTO-500MT)", 256),
    "reagent_prediction": TaskSpec(REACTION, "Reagent prediction (USPTO-500MT)", 256),
}

# SELFIES are bracketed symbols only ("[C][=O]", molecules joined by "."); SMILES nearly always have bare atoms.
_SELFIES_PATTERN = re.compile(r"(?:\[[^\[\]]+\]|\.)+")


def task_spec(task: str, row_id: str | None = None) -> TaskSpec:
    """The spec of a `task` value; a ValueError names an unknown one (and the row holding it)."""
    if task not in TASKS:
        where = f" (row {row_id!r})" if row_id is not None else ""
        raise ValueError(f"Unknown task {task!r}{where}; the evaluator knows {', '.join(TASKS)}")
    return TASKS[task]


def qm9_property(task: str) -> str:
    """'homo', 'lumo' or 'gap' for a QM9 task value."""
    return task.removeprefix("qm9_")


def target_label(target: str, row_id: str) -> int:
    """A classification target ('Yes' / 'No', any case) as 1 / 0; a ValueError names any other target."""
    normalized = target.strip().lower()
    if normalized not in ("yes", "no"):
        raise ValueError(f"Row {row_id!r}: a classification target must be 'Yes' or 'No', not {target!r}")
    return int(normalized == "yes")


def target_value(target: str, row_id: str) -> float:
    """A regression target as a number; a ValueError names a target that is not one."""
    try:
        return float(target)
    except ValueError:
        raise ValueError(f"Row {row_id!r}: a regression target must be a number, not {target!r}") from None


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
