"""Writing evaluation results into a model folder's card: `model-index` metadata and the "## Evaluation" table.

Results of other datasets, configs or splits already in the card stay; a result for the same dataset, config,
split, task and metric is replaced. The "## Evaluation" section is rebuilt from the whole `model-index`, so
the card's text and metadata always agree.
"""

import math
import re
from pathlib import Path

from huggingface_hub import EvalResult, ModelCard, ModelCardData

from .report import metric_rows
from .scoring import TaskEvaluation
from .settings import EvaluationSettings

CARD_FILE = "README.md"
TASK_TYPE = "image-text-to-text"  # the pipeline tag of InstructMol models: molecule (as a graph) + text in, text out
EVALUATION_HEADING = "## Evaluation"
_SECTION = re.compile(r"^## Evaluation[ \t]*\n.*?(?=^## |\Z)", re.MULTILINE | re.DOTALL)


def local_card_path(model: str) -> Path:
    """The card of a local model folder; a ValueError for anything else (before any work is done)."""
    if not Path(model).is_dir():
        raise ValueError(
            f"--update-card writes the card of a local model folder, and {model!r} is not one. Download the repo "
            "(`hf download REPO --local-dir DIR`), evaluate DIR with --update-card, then upload DIR/README.md."
        )
    return Path(model) / CARD_FILE


def eval_results(settings: EvaluationSettings, evaluations: list[TaskEvaluation]) -> list[EvalResult]:
    """One `EvalResult` per reported metric with a defined value, in the units its name states."""
    results = []
    for evaluation in evaluations:
        for row in metric_rows(evaluation):
            if math.isnan(row.value):
                continue
            results.append(EvalResult(
                task_type=TASK_TYPE,
                task_name=evaluation.title,
                dataset_type=settings.dataset,
                dataset_name=Path(settings.dataset).name or settings.dataset,
                dataset_config=settings.config,
                dataset_split=settings.split,
                metric_type=row.key,
                metric_name=row.display.label,
                metric_config=row.scope,
                metric_args={"decoding": settings.decoding_record["strategy"],
                             **{key: value for key, value in settings.decoding_record.items()
                                if key != "strategy" and value is not None}},
                metric_value=round(row.displayed_value, 6),
            ))
    return results


def decoding_text(metric_args: dict | None) -> str:
    """A result's decoding in words, from its `metric_args` ("not recorded" for results written before)."""
    if not metric_args or "decoding" not in metric_args:
        return "not recorded"
    if metric_args["decoding"] == "sampling":
        return f"sampling, temperature {metric_args.get('temperature')}, seed {metric_args.get('seed')}"
    return metric_args["decoding"]


def merge_results(existing: list[EvalResult], new: list[EvalResult]) -> list[EvalResult]:
    """`existing` without the results `new` replaces (same everything but the value), then `new`."""
    kept = [old for old in existing if not any(old.is_equal_except_value(result) for result in new)]
    return kept + new


def evaluation_table(results: list[EvalResult]) -> str:
    """The "## Evaluation" section's Markdown table of every result in the card."""
    lines = [("Results of `instructmol evaluate` (the full report, with the paper's numbers alongside, is written "
              "next to the predictions)."), "",
             "| dataset | config | split | task | metric | decoding | value |", "|---|---|---|---|---|---|---:|"]
    for result in results:
        lines.append(f"| {result.dataset_type} | {result.dataset_config} | {result.dataset_split} | {result.task_name} | "
                     f"{result.metric_name} | {decoding_text(result.metric_args)} | {result.metric_value:.4g} |")
    return "\n".join(lines)


def replace_evaluation_section(text: str, table: str) -> str:
    """The card text with its "## Evaluation" section holding `table` (the section is added if missing)."""
    section = f"{EVALUATION_HEADING}\n\n{table}\n\n"
    if _SECTION.search(text):
        return _SECTION.sub(lambda _: section, text, count=1)
    return text.rstrip("\n") + "\n\n" + section


def new_card(model_name: str) -> ModelCard:
    """A minimal card for a model folder that has none."""
    return ModelCard(f"---\n{ModelCardData(library_name='transformers').to_yaml()}\n---\n\n# {model_name}\n")


def update_model_card(settings: EvaluationSettings, evaluations: list[TaskEvaluation]) -> Path:
    """Writes the evaluation into the card of the local model folder `settings.model`; returns the card's path."""
    path = local_card_path(settings.model)
    card = ModelCard.load(path) if path.is_file() else new_card(Path(settings.model).resolve().name)
    card.data.model_name = card.data.model_name or Path(settings.model).resolve().name
    card.data.eval_results = merge_results(card.data.eval_results or [], eval_results(settings, evaluations))
    card.text = replace_evaluation_section(card.text, evaluation_table(card.data.eval_results))
    card.save(path)
    return path
