"""Scoring prediction records with the metric functions, one evaluation per task (QM9 properties pooled).

Each evaluation keeps the records it scored, the settings that shaped its numbers (protocol mode, molecule format,
regression fallback, caption tokenizer) and the counts a reader needs to trust them (unparsable answers,
invalid molecules).
"""

from dataclasses import dataclass, field

from ..metrics.molecule_captioning.scores import score_captions
from ..metrics.molecule_classification.scores import score_classification
from ..metrics.molecule_generation.scores import score_molecules
from ..metrics.property_regression.scores import score_properties
from ..defaults import CAPTION_TOKENIZER
from ..tasks import (
    CAPTIONING,
    CLASSIFICATION,
    GROUPS,
    MOLECULE_GENERATION,
    REGRESSION,
    TASKS,
    TaskGroup,
    label_of,
)
from .targets import QM9_PROPERTY_UNITS, molecule_format, target_label, target_value


@dataclass
class TaskEvaluation:
    """The scores of one task (or of all QM9 properties together).

    Attributes:
        name: the task's name, or a group's ("qm9") for tasks scored together.
        family: the metric module that scored it.
        title: how the report names it.
        tasks: the task values it covers.
        records: the prediction records it scored.
        metrics: the metric module's result.
        settings: what shaped the numbers (mode, input format, fallback, tokenizer).
        counts: rows scored and the answers that could not be read.
    """

    name: str
    family: str
    title: str
    tasks: list[str]
    records: list[dict]
    metrics: dict
    settings: dict = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)


def evaluate_captioning(task: str, records: list[dict], caption_tokenizer: str) -> TaskEvaluation:
    """BLEU, ROUGE and METEOR of generated descriptions (MolT5's protocol)."""
    scores = score_captions([record["prediction"] for record in records], [record["target"] for record in records],
                            tokenizer=caption_tokenizer)
    return TaskEvaluation(
        task, CAPTIONING, TASKS[task].title, [task], records, scores,
        settings={"caption_tokenizer": caption_tokenizer},
        counts={"rows": len(records), "empty answers": sum(not record["prediction"] for record in records)},
    )


def evaluate_regression(group: TaskGroup, records: list[dict], train_means: dict[str, float] | None) -> TaskEvaluation:
    """MAE per property (task) and pooled over the group's tasks present; unparsable answers count as the
    train-split mean in `mae_with_fallback` when the dataset has a train split covering every task, else as the
    evaluated rows' mean."""
    tasks = sorted({record["task"] for record in records}, key=list(TASKS).index)
    use_train_means = train_means is not None and all(task in train_means for task in tasks)
    scores = score_properties(
        predictions=[record["prediction"] for record in records],
        references=[target_value(record["target"], record["id"]) for record in records],
        properties=[record["task"] for record in records],
        fallback_predictions={task: train_means[task] for task in tasks} if use_train_means else None,
    )
    fallback = "train-split mean" if use_train_means else "mean of the evaluated rows (no train split)"
    title = f"{group.title} (" + ", ".join(TASKS[task].title.removeprefix("QM9 ") for task in tasks) + ")"
    return TaskEvaluation(
        group.name, REGRESSION, title, tasks, records, scores,
        settings={"fallback": fallback, "units": QM9_PROPERTY_UNITS},
        counts={"rows": len(records), "unparsable answers": scores["num_unparsable"]},
    )


def evaluate_classification(task: str, records: list[dict]) -> TaskEvaluation:
    """ROC-AUC and accuracy from P("Yes"), and the paper's hard-label numbers from the generated answers; for a
    multi-label task, ROC-AUCs per label and their means."""
    multi_label = TASKS[task].labels is not None
    scores = score_classification(
        predictions=[record["p_yes"] for record in records],
        references=[target_label(record["target"], record["id"]) for record in records],
        generated_texts=[record["prediction"] for record in records],
        **({"groups": [label_of(record["id"]) for record in records]} if multi_label else {}),
    )
    counts = {"rows": len(records), "positives": scores["num_positive"], "unparsable answers": scores["num_unparsable"]}
    if multi_label:
        counts.update({"labels": scores["num_labels"], "labels with both classes": scores["num_labels_scored"]})
    return TaskEvaluation(task, CLASSIFICATION, TASKS[task].title, [task], records, scores, counts=counts)


def evaluate_reaction(task: str, records: list[dict], mode: str) -> TaskEvaluation:
    """Exact match, BLEU, Levenshtein, fingerprint similarities and validity of generated molecules."""
    targets = [record["target"] for record in records]
    input_format = molecule_format(targets)
    scores = score_molecules(
        predictions=[record["prediction"] for record in records], references=targets, mode=mode, input_format=input_format
    )
    num_valid = round(scores["validity"] * len(records))
    return TaskEvaluation(
        task, MOLECULE_GENERATION, TASKS[task].title, [task], records, scores,
        settings={"mode": mode, "input_format": input_format},
        counts={"rows": len(records), "invalid molecules": len(records) - num_valid},
    )


def score_records(
    records: list[dict],
    *,
    mode: str = "molt5",
    caption_tokenizer: str = CAPTION_TOKENIZER,
    train_means: dict[str, float] | None = None,
) -> list[TaskEvaluation]:
    """Scores every task present in `records`: one evaluation per task, one for all QM9 properties together.

    Args:
        records: prediction records (see `predictions.prediction_record`), every task value known.
        mode: the molecule generation protocol, "molt5" or "instructmol".
        caption_tokenizer: the WordPiece tokenizer of the captioning metrics (Hub id or local folder).
        train_means: mean train target per QM9 task, for the regression fallback.
    """
    by_task: dict[str, list[dict]] = {}
    for record in records:
        by_task.setdefault(record["task"], []).append(record)
    evaluations, pooled = [], set()
    for task in sorted(by_task, key=list(TASKS).index):
        metric = TASKS[task].metric
        if metric == REGRESSION:  # scored with the tasks of its group, per task and pooled, as in Table 1
            group = GROUPS[TASKS[task].group]
            if group.name not in pooled:
                pooled.add(group.name)
                members = [record for name in group.members for record in by_task.get(name, [])]
                evaluations.append(evaluate_regression(group, members, train_means))
        elif metric == CAPTIONING:
            evaluations.append(evaluate_captioning(task, by_task[task], caption_tokenizer))
        elif metric == CLASSIFICATION:
            evaluations.append(evaluate_classification(task, by_task[task]))
        elif metric == MOLECULE_GENERATION:
            evaluations.append(evaluate_reaction(task, by_task[task], mode))
        else:
            raise ValueError(f"task {task!r}: no scoring for the metric {metric!r}")
    return evaluations
