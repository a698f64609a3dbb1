"""The numbers InstructMol's paper published, to print next to ours.

Every number is keyed by the task registry's names (`instructmol.tasks`; "qm9" is the QM9 group's average) and by a
row: our variant's title for the InstructMol-G and -GS rows and the LoRA-tuned LLM rows (the `_s` baselines), or a
Table 10 ablation. Source: Cao et al., "InstructMol: Multi-Modal Integration for Building a Versatile and Reliable
Molecular Assistant in Drug Discovery", COLING 2025 (arXiv:2311.16208v2), Tables 1-4, 10 and 11. Each number is kept
as printed (`printed`, with the paper's row label in `paper_row`) and in the units our metric modules return
(`value`). The paper publishes no numbers for `alignment`, no accuracies, and no ROC-AUC from probabilities.

How those numbers were computed, according to InstructMol's released evaluation scripts (see the metric
modules' docstrings), where it matters for a comparison:
- Tables 2 and 11's ROC-AUC comes from the generated Yes/No answers (`MoleculeNet_classification.py`): our
  `roc_auc_hard_label`; Table 2 is the mean over three seeds, the spread printed after it. Table 11's is the mean
  over each dataset's labels (MoleculeNet's convention; the paper does not say).
- Table 4's scripts drop unparsable molecules before scoring: our `--mode instructmol`.
- Table 1's AVG is the MAE over the three properties together: our pooled `mae`.
- Table 10's InstructMol-G row (ChEBI-20) differs from Table 3's: the ablations were measured in a run of their own.
- The LoRA-tuned LLM rows: Vicuna-v1.3-7B* in Table 2 (LLama-2-7B-chat* is printed too), LLama-7b* in Table 4,
  whose retrosynthesis row repeats its reagent row digit for digit (as printed). Tables 1 and 3 have none.
"""

from dataclasses import dataclass

from ..tasks import GRAPH_AND_STRING, GRAPH_ONLY, GROUPS, STRING_ONLY, TASKS, VARIANT_TITLES

PAPER = "Cao et al., InstructMol, COLING 2025 (arXiv:2311.16208v2)"
VARIANTS = tuple(VARIANT_TITLES.values())
PAPER_TABLES = (1, 2, 3, 4, 10, 11)  # the tables `instructmol evaluate --paper-table N` reproduces
# How the released scripts decoded and scored: sampling at temperature 0.2; Table 4's scripts drop unparsable
# molecules before scoring.
RELEASED_TEMPERATURE = 0.2
RELEASED_MODES = {4: "instructmol"}


@dataclass(frozen=True)
class PaperResult:
    """One published number.

    Attributes:
        task: the registry task it belongs to (`"qm9"`, a group, for the pooled QM9 average).
        metric: the key our metric module returns for the same quantity.
        variant: the row it belongs to: a variant title (`VARIANTS`), or a Table 10 ablation (`ABLATIONS`).
        value: the number in our metric's units (ROC-AUC as a fraction, not a percentage).
        printed: the number exactly as the paper prints it.
        table: where it is printed.
        paper_row: the row's label as the paper prints it.
    """

    task: str
    metric: str
    variant: str
    value: float
    printed: str
    table: str
    paper_row: str


def task_table(task_or_group: str) -> str:
    """The paper's table of a task (or of a group's tasks), from the registry."""
    task = TASKS[task_or_group] if task_or_group in TASKS else TASKS[GROUPS[task_or_group].members[0]]
    if task.paper_table is None:
        raise ValueError(f"the paper publishes no table for the task {task.name!r}")
    return task.paper_table


def _row(
    task: str, variant: str, metrics: tuple[str, ...], printed: tuple[str, ...], scale: float = 1.0,
    table: str | None = None, paper_row: str | None = None,
) -> list[PaperResult]:
    """One table row: `printed` numbers in the order of `metrics`, divided by `scale` into our units; the table is
    the task's own unless given (Table 10 reports ChEBI-20 again)."""
    return [
        PaperResult(task, metric, variant, float(text.split()[0].lstrip("~")) / scale, text,
                    table or task_table(task), paper_row or variant)
        for metric, text in zip(metrics, printed, strict=True)
    ]


TABLE_CAPTIONS = {
    "Table 1": "QM9 property regression, MAE in hartree",
    "Table 2": "MoleculeNet classification, ROC-AUC in %, scaffold split, mean (± spread) of 3 seeds",
    "Table 3": "molecule description generation, ChEBI-20 test split",
    "Table 4": "chemical reaction tasks (Mol-Instructions, USPTO)",
    "Table 10": "ablations of the architecture and training scheme, ChEBI-20 molecule description",
    "Table 11": "MoleculeNet multi-label classification, ROC-AUC in % (mean over labels)",
}
G, GS, LORA_LLM = VARIANT_TITLES[GRAPH_ONLY], VARIANT_TITLES[GRAPH_AND_STRING], VARIANT_TITLES[STRING_ONLY]
# Table 10's rows: the ablation's name in our recipes (recipes/ablations/) -> the paper's row label.
ABLATIONS = {
    "base": "InstructMol-G",
    "mlp_projector": "+MLP XL connector",
    "vicuna13b": "+Scale up LLM",
    "graphmvp": "Replace f_g with GraphMVP",
    "without_stage1": "Skip Stage-1",
    "frozen_llm": "Freeze LLM in the second stage",
}

CAPTIONING_METRICS = ("bleu2", "bleu4", "rouge1", "rouge2", "rougeL", "meteor")
REACTION_METRICS = (
    "exact_match", "bleu", "levenshtein", "rdk_similarity", "maccs_similarity", "morgan_similarity", "validity",
)

PAPER_RESULTS: tuple[PaperResult, ...] = (
    *_row("homo", G, ("mae",), ("0.0060",)),
    *_row("lumo", G, ("mae",), ("0.0070",)),
    *_row("gap", G, ("mae",), ("0.0082",)),
    *_row("qm9", G, ("mae",), ("0.0070",)),
    *_row("homo", GS, ("mae",), ("0.0048",)),
    *_row("lumo", GS, ("mae",), ("0.0050",)),
    *_row("gap", GS, ("mae",), ("0.0061",)),
    *_row("qm9", GS, ("mae",), ("0.0050",)),
    *_row("bace", G, ("roc_auc_hard_label",), ("84.3 (±0.6)",), 100, paper_row="Instruct-G"),
    *_row("bbbp", G, ("roc_auc_hard_label",), ("68.6 (±0.3)",), 100, paper_row="Instruct-G"),
    *_row("hiv", G, ("roc_auc_hard_label",), ("74.0 (±0.1)",), 100, paper_row="Instruct-G"),
    *_row("bace", GS, ("roc_auc_hard_label",), ("82.1 (±0.1)",), 100, paper_row="Instruct-GS"),
    *_row("bbbp", GS, ("roc_auc_hard_label",), ("72.4 (±0.3)",), 100, paper_row="Instruct-GS"),
    *_row("hiv", GS, ("roc_auc_hard_label",), ("68.9 (±0.3)",), 100, paper_row="Instruct-GS"),
    *_row("bace", LORA_LLM, ("roc_auc_hard_label",), ("68.3",), 100, paper_row="Vicuna-v1.3-7B*"),
    *_row("bbbp", LORA_LLM, ("roc_auc_hard_label",), ("60.1",), 100, paper_row="Vicuna-v1.3-7B*"),
    *_row("hiv", LORA_LLM, ("roc_auc_hard_label",), ("58.1",), 100, paper_row="Vicuna-v1.3-7B*"),
    *_row("description", G, CAPTIONING_METRICS, ("0.466", "0.365", "0.547", "0.365", "0.479", "0.491")),
    *_row("description", GS, CAPTIONING_METRICS, ("0.475", "0.371", "0.566", "0.394", "0.502", "0.509")),
    *_row("reagent", G, REACTION_METRICS, ("0.070", "0.890", "24.732", "0.469", "0.691", "0.426", "1.000")),
    *_row("reagent", GS, REACTION_METRICS, ("0.129", "0.610", "19.664", "0.444", "0.539", "0.400", "1.000")),
    *_row("reagent", LORA_LLM, REACTION_METRICS, ("0.000", "0.283", "53.510", "0.136", "0.294", "0.106", "1.000"),
          paper_row="LLama-7b* (LoRA)"),
    *_row("forward", G, REACTION_METRICS, ("0.153", "0.906", "20.155", "0.519", "0.717", "0.457", "1.000"),
          paper_row="InstructMo-G"),
    *_row("forward", GS, REACTION_METRICS, ("0.536", "0.967", "10.851", "0.776", "0.878", "0.741", "1.000")),
    *_row("forward", LORA_LLM, REACTION_METRICS, ("0.012", "0.804", "29.947", "0.499", "0.649", "0.407", "1.000"),
          paper_row="LLama-7b* (LoRA)"),
    *_row("retrosynthesis", G, REACTION_METRICS, ("0.114", "0.586", "21.271", "0.422", "0.523", "0.285", "1.000")),
    *_row("retrosynthesis", GS, REACTION_METRICS, ("0.407", "0.941", "13.967", "0.753", "0.852", "0.714", "1.000")),
    *_row("retrosynthesis", LORA_LLM, REACTION_METRICS,
          ("0.000", "0.283", "53.510", "0.136", "0.294", "0.106", "1.000"), paper_row="LLama-7b* (LoRA)"),
    *_row("clintox", G, ("roc_auc_hard_label",), ("93.4",), 100, paper_row="Instruct-G"),
    *_row("tox21", G, ("roc_auc_hard_label",), ("77.0",), 100, paper_row="Instruct-G"),
    *_row("toxcast", G, ("roc_auc_hard_label",), ("61.9",), 100, paper_row="Instruct-G"),
    *_row("sider", G, ("roc_auc_hard_label",), ("62.2",), 100, paper_row="Instruct-G"),
    *(result for ablation, printed in (
        ("base", ("0.4620", "0.3560", "0.5439", "0.3644", "0.4765", "0.4832")),
        ("mlp_projector", ("0.4665 (+0.97%)", "0.3613 (+1.49%)", "0.5497 (+1.07%)", "0.3699 (+1.51%)",
                           "0.4805 (+0.84%)", "0.4917 (+1.76%)")),
        ("vicuna13b", ("0.4615 (-0.11%)", "0.3566 (+0.17%)", "0.5449 (+0.18%)", "0.3660 (+0.44%)",
                       "0.4776 (+0.23%)", "0.4868 (+0.75%)")),
        ("graphmvp", ("0.4452 (-3.64%)", "0.3377 (-5.14%)", "0.5318 (-0.11%)", "0.3484 (-2.22%)",
                      "0.4638 (-2.67%)", "0.4691 (-2.92%)")),
        ("without_stage1", ("0.4631 (+0.23%)", "0.3569 (+0.25%)", "0.5419 (-0.37%)", "0.3610 (-0.93%)",
                            "0.4720 (-0.94%)", "0.4391 (-9.12%)")),
        ("frozen_llm", ("~0",) * 6),
    ) for result in _row("description", ablation, CAPTIONING_METRICS, printed, table="Table 10",
                         paper_row=ABLATIONS[ablation])),
)


def paper_results(task: str, metric: str, table: str | None = None) -> dict[str, PaperResult]:
    """The published numbers for one task and metric in `table` (default: the task's own), by row (empty when the
    paper has none)."""
    table = table or (task_table(task) if _has_table(task) else None)
    return {result.variant: result for result in PAPER_RESULTS
            if result.task == task and result.metric == metric and result.table == table}


def _has_table(task_or_group: str) -> bool:
    task = TASKS.get(task_or_group) or TASKS[GROUPS[task_or_group].members[0]]
    return task.paper_table is not None


def tables_for(task: str) -> list[str]:
    """The paper's table holding numbers for `task` as a report shows them, e.g. ["Table 3"] (none: [])."""
    return [task_table(task)] if _has_table(task) and any(result.task == task for result in PAPER_RESULTS) else []
