"""`metrics.json` and `report.md` (with its PNG figures) of an evaluation run.

The report puts every metric next to the paper's published number for the same quantity, says how each
number was computed (protocol mode, molecule format, fallback), counts what could not be read, and shows a
parity plot per QM9 property and a ROC curve per Yes/No task.
"""

import json
import math
from dataclasses import dataclass
from pathlib import Path

from ..metrics.property_regression.scores import parse_first_number
from ..tasks import (
    CAPTIONING,
    CLASSIFICATION,
    GROUPS,
    MOLECULE_GENERATION,
    REGRESSION,
    TASKS,
)
from .paper_results import (
    PAPER,
    TABLE_CAPTIONS,
    VARIANTS,
    PaperResult,
    paper_results,
    tables_for,
)
from .plots import parity_plot, roc_curve_plot
from .scoring import TaskEvaluation
from .settings import EvaluationSettings
from .targets import target_label

METRICS_FILE = "metrics.json"
REPORT_FILE = "report.md"


@dataclass(frozen=True)
class MetricDisplay:
    """How the report shows one metric: its label, the factor to its printed unit, the decimals."""

    label: str
    scale: float = 1.0
    decimals: int = 3


METRIC_DISPLAYS = {
    CAPTIONING: {
        "bleu2": MetricDisplay("BLEU-2"), "bleu4": MetricDisplay("BLEU-4"), "rouge1": MetricDisplay("ROUGE-1"),
        "rouge2": MetricDisplay("ROUGE-2"), "rougeL": MetricDisplay("ROUGE-L"), "meteor": MetricDisplay("METEOR"),
    },
    CLASSIFICATION: {
        "roc_auc": MetricDisplay("ROC-AUC from P(Yes) (%)", 100, 1),
        "roc_auc_hard_label": MetricDisplay("ROC-AUC from the generated Yes/No (%), the paper's protocol", 100, 1),
        "accuracy": MetricDisplay("accuracy, P(Yes) ≥ 0.5 (%)", 100, 1),
        "accuracy_hard_label": MetricDisplay("accuracy of the generated Yes/No (%)", 100, 1),
    },
    MOLECULE_GENERATION: {
        "exact_match": MetricDisplay("exact match"), "bleu": MetricDisplay("BLEU"),
        "levenshtein": MetricDisplay("Levenshtein ↓"), "rdk_similarity": MetricDisplay("RDK FTS"),
        "maccs_similarity": MetricDisplay("MACCS FTS"), "morgan_similarity": MetricDisplay("Morgan FTS"),
        "validity": MetricDisplay("validity"),
    },
}


@dataclass(frozen=True)
class MetricRow:
    """One line of a report table: our number and the paper's numbers for the same quantity.

    `key` is the metric module's name for it; `scope` the task value it covers ("qm9": all QM9 properties).
    """

    key: str
    scope: str
    display: MetricDisplay
    value: float
    paper: dict[str, PaperResult]

    @property
    def displayed_value(self) -> float:
        """The value in the unit its label names (e.g. percent)."""
        return self.value * self.display.scale


def format_value(value: float, display: MetricDisplay) -> str:
    """A metric as the report prints it ("n/a" when undefined, e.g. ROC-AUC of one class)."""
    return "n/a" if value is None or math.isnan(value) else f"{value * display.scale:.{display.decimals}f}"


def metric_rows(evaluation: TaskEvaluation) -> list[MetricRow]:
    """The table lines of one evaluation, in the paper's column order."""
    if evaluation.family != REGRESSION:
        return [
            MetricRow(key, evaluation.name, display, evaluation.metrics[key], paper_results(evaluation.name, key))
            for key, display in METRIC_DISPLAYS[evaluation.family].items()
            if key in evaluation.metrics
        ]
    rows = []
    for task in evaluation.tasks:
        scores = evaluation.metrics["per_property"][task]
        name = TASKS[task].title.removeprefix("QM9 ")
        rows.append(MetricRow("mae", task, MetricDisplay(f"{name}: MAE (Ha)", decimals=4), scores["mae"],
                              paper_results(task, "mae")))
        rows.append(MetricRow("mae_with_fallback", task,
                              MetricDisplay(f"{name}: MAE, unparsable answers as the fallback (Ha)", decimals=4),
                              scores["mae_with_fallback"], {}))
    # The paper's average covers every task of the group together; a subset has no published counterpart.
    group = evaluation.name
    all_members = set(evaluation.tasks) == set(GROUPS[group].members)
    rows.append(MetricRow("mae", group, MetricDisplay("all properties: MAE (Ha)", decimals=4),
                          evaluation.metrics["mae"], paper_results(group, "mae") if all_members else {}))
    rows.append(MetricRow("mae_with_fallback", group,
                          MetricDisplay("all properties: MAE, unparsable answers as the fallback (Ha)", decimals=4),
                          evaluation.metrics["mae_with_fallback"], {}))
    return rows


def markdown_table(rows: list[MetricRow]) -> str:
    """Our numbers in one column, the paper's (as printed) in one column per variant."""
    lines = ["| metric | this run | " + " | ".join(f"{variant} (paper)" for variant in VARIANTS) + " |",
             "|---|---:|" + "---:|" * len(VARIANTS)]
    for row in rows:
        paper_cells = [row.paper[variant].printed if variant in row.paper else "–" for variant in VARIANTS]
        lines.append(f"| {row.display.label} | {format_value(row.value, row.display)} | " + " | ".join(paper_cells) + " |")
    return "\n".join(lines)


def write_plots(evaluation: TaskEvaluation, folder: Path) -> tuple[list[str], list[str]]:
    """The evaluation's figures written into `folder`: (file names, notes on figures that could not be drawn)."""
    figures, notes = [], []
    if evaluation.family == REGRESSION:
        for task in evaluation.tasks:
            pairs = [(float(record["target"]), parse_first_number(record["prediction"]))
                     for record in evaluation.records if record["task"] == task]
            parsed = [(target, value) for target, value in pairs if value is not None]
            if not parsed:
                notes.append(f"No parity plot for {TASKS[task].title}: no answer held a number.")
                continue
            path = parity_plot([t for t, _ in parsed], [v for _, v in parsed], folder / f"{task}_parity.png",
                               f"{TASKS[task].title} (Ha), {len(parsed)} of {len(pairs)} answers parsed")
            figures.append(path.name)
    elif evaluation.family == CLASSIFICATION:
        labels = [target_label(record["target"], record["id"]) for record in evaluation.records]
        if len(set(labels)) < 2:
            notes.append(f"No ROC curve for {evaluation.title}: the evaluated rows hold one class only.")
        else:
            path = roc_curve_plot(labels, [record["p_yes"] for record in evaluation.records],
                                  folder / f"{evaluation.name}_roc.png", f"{evaluation.title}: P(Yes)")
            figures.append(path.name)
    return figures, notes


def protocol_notes(evaluation: TaskEvaluation) -> list[str]:
    """What a reader must know to compare this evaluation's numbers with the paper's."""
    settings = evaluation.settings
    if evaluation.family == MOLECULE_GENERATION:
        mode_effect = ("invalid molecules count as misses" if settings["mode"] == "molt5"
                       else "invalid molecules are dropped before scoring, as InstructMol's scripts do")
        return [f"Protocol: **mode {settings['mode']}** ({mode_effect}); molecules read as {settings['input_format'].upper()}.",
                "The paper's Table 4 came from InstructMol's scripts: compare it with `--mode instructmol`."]
    if evaluation.family == REGRESSION:
        return [f"Unparsable answers are left out of MAE and count as the {settings['fallback']} in the fallback rows."]
    if evaluation.family == CLASSIFICATION:
        return [("P(Yes) is the model's probability of the first answer token \"Yes\" against \"No\" after the "
                 "prompt, as tokenized in training. The paper's ROC-AUC (Table 2) comes from the generated Yes/No answers.")]
    return [f"Word pieces from `{settings['caption_tokenizer']}` (MolT5's protocol)."]


def evaluation_section(evaluation: TaskEvaluation, figures: list[str], figure_notes: list[str]) -> str:
    """One task's part of the report: counts, protocol, table against the paper, its source, the figures."""
    counts = " · ".join(f"{name}: {count}" for name, count in evaluation.counts.items())
    tables = tables_for(evaluation.name)
    source = ("Paper numbers: " + "; ".join(f"{PAPER}, {table} ({TABLE_CAPTIONS[table]})" for table in tables) + "."
              if tables else "The paper publishes no numbers for this task.")
    parts = [f"## {evaluation.title}", counts, *protocol_notes(evaluation), markdown_table(metric_rows(evaluation)), source,
             *figure_notes, *[f"![{name}]({name})" for name in figures]]
    return "\n\n".join(parts)


def finite_or_none(value):
    """JSON has no NaN: undefined numbers become null, recursively."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {key: finite_or_none(item) for key, item in value.items()}
    if isinstance(value, list):
        return [finite_or_none(item) for item in value]
    return value


def write_report(settings: EvaluationSettings, max_new_tokens: int, evaluations: list[TaskEvaluation],
                 excluded_train_overlap: int | None = None) -> dict:
    """Writes the figures, `metrics.json` and `report.md` into `settings.output`; returns what metrics.json holds.

    `excluded_train_overlap`: how many rows `--exclude-train-overlap` left out (None: the option was not given).
    """
    folder = settings.output
    summary = {
        "model": settings.model, "dataset": settings.dataset, "config": settings.config, "split": settings.split,
        "command": settings.command_line(), "decoding": settings.decoding_record, "max_new_tokens": max_new_tokens,
        "engine": settings.engine, "batch_size": settings.batch_size, "mode": settings.mode,
        "rows": sum(len(evaluation.records) for evaluation in evaluations),
        "excluded_train_overlap": excluded_train_overlap, "evaluations": {},
    }
    # Every reported number flat, in its printed unit too: what `--paper-table` and other tools read.
    summary["results"] = [
        {"task": row.scope, "metric": row.key, "label": row.display.label, "value": row.value,
         "displayed": format_value(row.value, row.display)}
        for evaluation in evaluations for row in metric_rows(evaluation)
    ]
    sections = []
    for evaluation in evaluations:
        figures, figure_notes = write_plots(evaluation, folder)
        sections.append(evaluation_section(evaluation, figures, figure_notes))
        summary["evaluations"][evaluation.name] = {
            "title": evaluation.title, "metric": evaluation.family, "tasks": evaluation.tasks,
            "metrics": evaluation.metrics, "settings": evaluation.settings, "counts": evaluation.counts,
            "figures": figures,
        }
    summary = finite_or_none(summary)
    (folder / METRICS_FILE).write_text(json.dumps(summary, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    header = "\n".join([
        "# InstructMol evaluation", "",
        "| | |", "|---|---|",
        f"| model | `{settings.model}` |",
        f"| dataset | `{settings.dataset}`, config `{settings.config}`, split `{settings.split}` |",
        f"| rows evaluated | {summary['rows']} |",
        *([f"| left out: molecule in the train split (--exclude-train-overlap) | {excluded_train_overlap} |"]
          if excluded_train_overlap is not None else []),
        f"| decoding | {settings.decoding}, at most {max_new_tokens} new tokens, batches of {settings.batch_size} |",
        f"| engine | {settings.engine} |",
        f"| molecule generation protocol | mode {settings.mode} |",
        f"| command | `{summary['command']}` |",
    ])
    (folder / REPORT_FILE).write_text("\n\n".join([header, *sections]) + "\n", encoding="utf-8")
    return summary
