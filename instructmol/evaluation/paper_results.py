"""The numbers InstructMol's paper published for its own models, to print next to ours.

Every number is keyed by the task registry's names (`instructmol.tasks`; "qm9" is the QM9 group's average), and its
table is the task's `paper_table`. Source: Cao et al., "InstructMol: Multi-Modal Integration for Building a Versatile and Reliable Molecular
Assistant in Drug Discovery", COLING 2025 (arXiv:2311.16208v2), Tables 1-4 (Table 2 names the rows
"Instruct-G" / "Instruct-GS", Table 4 misspells one "InstructMo-G"). Only the InstructMol-G (graph) and
InstructMol-GS (graph + SELFIES) rows are recorded, each number as printed (`printed`) and in the units our
metric modules return (`value`). The paper publishes no numbers for `alignment`, no accuracies, and no ROC-AUC
from probabilities.

How those numbers were computed, according to InstructMol's released evaluation scripts (see the metric
modules' docstrings), where it matters for a comparison:
- Table 2's ROC-AUC comes from the generated Yes/No answers (`MoleculeNet_classification.py`): our
  `roc_auc_hard_label`; mean over three seeds, the spread printed after it.
- Table 4's scripts drop unparsable molecules before scoring: our `--mode instructmol`.
- Table 1's AVG is the MAE over the three properties together: our pooled `mae`.
"""

from dataclasses import dataclass

from ..tasks import GROUPS, TASKS, VARIANT_TITLES

PAPER = "Cao et al., InstructMol, COLING 2025 (arXiv:2311.16208v2)"
VARIANTS = tuple(VARIANT_TITLES.values())


@dataclass(frozen=True)
class PaperResult:
    """One published number.

    Attributes:
        task: the registry task it belongs to (`"qm9"`, a group, for the pooled QM9 average).
        metric: the key our metric module returns for the same quantity.
        variant: "InstructMol-G" or "InstructMol-GS".
        value: the number in our metric's units (ROC-AUC as a fraction, not a percentage).
        printed: the number exactly as the paper prints it.
        table: where it is printed.
    """

    task: str
    metric: str
    variant: str
    value: float
    printed: str
    table: str


def paper_table(task_or_group: str) -> str:
    """The paper's table of a task (or of a group's tasks), from the registry."""
    task = TASKS[task_or_group] if task_or_group in TASKS else TASKS[GROUPS[task_or_group].members[0]]
    if task.paper_table is None:
        raise ValueError(f"the paper publishes no table for the task {task.name!r}")
    return task.paper_table


def _row(
    task: str, variant: str, metrics: tuple[str, ...], printed: tuple[str, ...], scale: float = 1.0
) -> list[PaperResult]:
    """One table row: `printed` numbers in the order of `metrics`, divided by `scale` into our units."""
    table = paper_table(task)
    return [
        PaperResult(task, metric, variant, float(text.split()[0]) / scale, text, table)
        for metric, text in zip(metrics, printed, strict=True)
    ]


TABLE_CAPTIONS = {
    "Table 1": "QM9 property regression, MAE in hartree",
    "Table 2": "MoleculeNet classification, ROC-AUC in %, scaffold split, mean (± spread) of 3 seeds",
    "Table 3": "molecule description generation, ChEBI-20 test split",
    "Table 4": "chemical reaction tasks (Mol-Instructions, USPTO)",
}

CAPTIONING_METRICS = ("bleu2", "bleu4", "rouge1", "rouge2", "rougeL", "meteor")
REACTION_METRICS = (
    "exact_match", "bleu", "levenshtein", "rdk_similarity", "maccs_similarity", "morgan_similarity", "validity",
)

PAPER_RESULTS: tuple[PaperResult, ...] = (
    *_row("homo", "InstructMol-G", ("mae",), ("0.0060",)),
    *_row("lumo", "InstructMol-G", ("mae",), ("0.0070",)),
    *_row("gap", "InstructMol-G", ("mae",), ("0.0082",)),
    *_row("qm9", "InstructMol-G", ("mae",), ("0.0070",)),
    *_row("homo", "InstructMol-GS", ("mae",), ("0.0048",)),
    *_row("lumo", "InstructMol-GS", ("mae",), ("0.0050",)),
    *_row("gap", "InstructMol-GS", ("mae",), ("0.0061",)),
    *_row("qm9", "InstructMol-GS", ("mae",), ("0.0050",)),
    *_row("bace", "InstructMol-G", ("roc_auc_hard_label",), ("84.3 (±0.6)",), 100),
    *_row("bbbp", "InstructMol-G", ("roc_auc_hard_label",), ("68.6 (±0.3)",), 100),
    *_row("hiv", "InstructMol-G", ("roc_auc_hard_label",), ("74.0 (±0.1)",), 100),
    *_row("bace", "InstructMol-GS", ("roc_auc_hard_label",), ("82.1 (±0.1)",), 100),
    *_row("bbbp", "InstructMol-GS", ("roc_auc_hard_label",), ("72.4 (±0.3)",), 100),
    *_row("hiv", "InstructMol-GS", ("roc_auc_hard_label",), ("68.9 (±0.3)",), 100),
    *_row("description", "InstructMol-G", CAPTIONING_METRICS,
          ("0.466", "0.365", "0.547", "0.365", "0.479", "0.491")),
    *_row("description", "InstructMol-GS", CAPTIONING_METRICS,
          ("0.475", "0.371", "0.566", "0.394", "0.502", "0.509")),
    *_row("reagent", "InstructMol-G", REACTION_METRICS,
          ("0.070", "0.890", "24.732", "0.469", "0.691", "0.426", "1.000")),
    *_row("reagent", "InstructMol-GS", REACTION_METRICS,
          ("0.129", "0.610", "19.664", "0.444", "0.539", "0.400", "1.000")),
    *_row("forward", "InstructMol-G", REACTION_METRICS,
          ("0.153", "0.906", "20.155", "0.519", "0.717", "0.457", "1.000")),
    *_row("forward", "InstructMol-GS", REACTION_METRICS,
          ("0.536", "0.967", "10.851", "0.776", "0.878", "0.741", "1.000")),
    *_row("retrosynthesis", "InstructMol-G", REACTION_METRICS,
          ("0.114", "0.586", "21.271", "0.422", "0.523", "0.285", "1.000")),
    *_row("retrosynthesis", "InstructMol-GS", REACTION_METRICS,
          ("0.407", "0.941", "13.967", "0.753", "0.852", "0.714", "1.000")),
)


def paper_results(task: str, metric: str) -> dict[str, PaperResult]:
    """The published numbers for one task and metric, by variant (empty when the paper has none)."""
    return {result.variant: result for result in PAPER_RESULTS if result.task == task and result.metric == metric}


def tables_for(task: str) -> list[str]:
    """The paper's tables holding numbers for `task`, e.g. ["Table 3"]."""
    return sorted({result.table for result in PAPER_RESULTS if result.task == task})
