"""Molecule classification metrics (MoleculeNet BACE / BBBP / HIV as Yes/No questions): ROC-AUC and accuracy.

Protocol:
- `roc_auc`: `sklearn.metrics.roc_auc_score(labels, p_yes)` where `p_yes` is the model's probability
  of answering "Yes" (e.g. softmax over the "Yes" and "No" tokens at the answer position). This is the
  ROC-AUC the task calls for: it ranks molecules.
- `accuracy`: fraction of rows where `p_yes >= 0.5` agrees with the label.
- With `generated_texts` (the generated answers), also the numbers InstructMol's paper reported, from
  `llava/eval/molecule_metrics/MoleculeNet_classification.py`: each answer stripped and lower-cased
  maps to 1 if it is "yes"/"active"/"true", 0 if "no"/"inactive"/"false", else -1 (unparsable,
  counted in `num_unparsable`); `roc_auc_hard_label` is `roc_auc_score(labels, those values)`;
  `accuracy_hard_label` is the fraction of answers equal to the label (unparsable ones are wrong).
- ROC-AUC is undefined when the labels hold one class only: it is then NaN and `note` says why.
- With `groups` (a multi-label task's label per row: Tox21's assays, SIDER's side effects), ROC-AUC is computed per
  label and `roc_auc` / `roc_auc_hard_label` are their means over the labels with both classes (MoleculeNet's
  convention; `per_label` holds each label's numbers, `num_labels_scored` how many had both classes); accuracies
  stay over all rows.
"""

import math

import numpy as np
from sklearn.metrics import roc_auc_score

POSITIVE_ANSWERS = frozenset({"yes", "active", "true"})
NEGATIVE_ANSWERS = frozenset({"no", "inactive", "false"})
UNPARSABLE_ANSWER = -1
DECISION_THRESHOLD = 0.5


def answer_to_label(answer: str) -> int:
    """InstructMol's reading of a generated answer: 1 for yes/active/true, 0 for no/inactive/false, else -1."""
    normalized = answer.strip().lower()
    if normalized in POSITIVE_ANSWERS:
        return 1
    if normalized in NEGATIVE_ANSWERS:
        return 0
    return UNPARSABLE_ANSWER


def one_class_note(labels: list[int]) -> str | None:
    """Why ROC-AUC is undefined for `labels`, or None when both classes occur."""
    classes = set(labels)
    if len(classes) > 1:
        return None
    return f"ROC-AUC is undefined: all {len(labels)} labels are {classes.pop()}, it needs both classes"


def roc_auc_or_nan(labels: list[int], scores: list[float]) -> float:
    """ROC-AUC, NaN when the labels hold one class."""
    return float("nan") if one_class_note(labels) else float(roc_auc_score(labels, scores))


def check_inputs(probabilities: list, labels: list, generated_texts: list | None) -> None:
    """Raises a ValueError naming the first label not 0/1, probability outside [0, 1], or answer not a string."""
    for index, label in enumerate(labels):
        if label not in (0, 1):
            raise ValueError(f"references[{index}] is {label!r}; labels must be 0 or 1")
    for index, probability in enumerate(probabilities):
        if probability is None or not (math.isfinite(probability) and 0.0 <= probability <= 1.0):
            raise ValueError(f"predictions[{index}] is {probability!r}; predictions are probabilities in [0, 1]")
    if generated_texts is None:
        return
    if len(generated_texts) != len(labels):
        raise ValueError(f"{len(generated_texts)} generated_texts for {len(labels)} references")
    for index, text in enumerate(generated_texts):
        if not isinstance(text, str):
            raise ValueError(f"generated_texts[{index}] is {text!r}, not a string")


def multilabel_scores(probabilities: list[float], labels: list[int], generated_texts: list[str] | None,
                      groups: list[str]) -> dict:
    """Per-label ROC-AUCs and their means over the labels with both classes; accuracies over all rows."""
    if len(groups) != len(labels):
        raise ValueError(f"{len(groups)} groups for {len(labels)} references")
    rows_of: dict[str, list[int]] = {}
    for index, group in enumerate(groups):
        rows_of.setdefault(group, []).append(index)
    answers = [answer_to_label(text) for text in generated_texts] if generated_texts is not None else None
    per_label = {}
    for group, rows in rows_of.items():
        group_labels = [labels[index] for index in rows]
        per_label[group] = {"roc_auc": roc_auc_or_nan(group_labels, [probabilities[index] for index in rows]),
                            "num_examples": len(rows), "num_positive": sum(group_labels)}
        if answers is not None:
            per_label[group]["roc_auc_hard_label"] = roc_auc_or_nan(group_labels, [answers[index] for index in rows])
    scored = [scores for scores in per_label.values() if not math.isnan(scores["roc_auc"])]
    result = {
        "roc_auc": float(np.mean([scores["roc_auc"] for scores in scored])) if scored else float("nan"),
        "accuracy": float(np.mean([int(p >= DECISION_THRESHOLD) == label for p, label in zip(probabilities, labels)])),
        "num_examples": len(labels),
        "num_positive": sum(labels),
        "num_labels": len(per_label),
        "num_labels_scored": len(scored),
        "per_label": per_label,
    }
    if answers is not None:
        result["roc_auc_hard_label"] = (float(np.mean([scores["roc_auc_hard_label"] for scores in scored]))
                                        if scored else float("nan"))
        result["accuracy_hard_label"] = float(np.mean([answer == label for answer, label in zip(answers, labels)]))
        result["num_unparsable"] = answers.count(UNPARSABLE_ANSWER)
    if not scored:
        result["note"] = "ROC-AUC is undefined: no label holds both classes"
    return result


def score_classification(predictions: list[float], references: list[int], generated_texts: list[str] | None = None,
                         groups: list[str] | None = None) -> dict:
    """The metric on P("Yes") per row (see the module docstring): ROC-AUC and accuracy, the hard-label numbers
    with `generated_texts`, per-label ROC-AUC and their mean with `groups`."""
    if not predictions:
        raise ValueError("No predictions to score")
    check_inputs(predictions, references, generated_texts)
    if groups is not None:
        return multilabel_scores(list(predictions), list(references), generated_texts, list(groups))
    labels = list(references)
    predicted_labels = [int(probability >= DECISION_THRESHOLD) for probability in predictions]
    result = {
        "roc_auc": roc_auc_or_nan(labels, list(predictions)),
        "accuracy": float(np.mean([predicted == label for predicted, label in zip(predicted_labels, labels)])),
        "num_examples": len(labels),
        "num_positive": sum(labels),
    }
    if generated_texts is not None:
        answers = [answer_to_label(text) for text in generated_texts]
        result["roc_auc_hard_label"] = roc_auc_or_nan(labels, answers)
        result["accuracy_hard_label"] = float(np.mean([answer == label for answer, label in zip(answers, labels)]))
        result["num_unparsable"] = answers.count(UNPARSABLE_ANSWER)
    note = one_class_note(labels)
    if note:
        result["note"] = note
    return result
