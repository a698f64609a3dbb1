"""molecule_classification: ROC-AUC from P(Yes) and from generated Yes/No, accuracy, one-class label sets."""

import math

import pytest
from sklearn.metrics import roc_auc_score

from instructmol import metrics
from instructmol.metrics.molecule_classification.scores import answer_to_label


@pytest.fixture(scope="module")
def classification():
    return metrics.load("molecule_classification")


def test_roc_auc_and_accuracy_hand_checked(classification):
    scores = classification.compute(
        predictions=[0.9, 0.2, 0.6, 0.4],
        references=[1, 0, 0, 1],
        generated_texts=["Yes", "No", "Yes", "Maybe"],
    )
    # Positive/negative pairs ranked right by P(Yes): (0.9>0.2), (0.9>0.6), (0.4>0.2), not (0.4<0.6).
    assert scores["roc_auc"] == pytest.approx(3 / 4)
    # P(Yes) >= 0.5 gives 1, 0, 1, 0 against 1, 0, 0, 1.
    assert scores["accuracy"] == pytest.approx(2 / 4)
    # Answers read as 1, 0, 1, -1: positives {1, -1} vs negatives {0, 1}: 1 win, 1 tie, 2 losses.
    assert scores["roc_auc_hard_label"] == pytest.approx((1 + 0.5) / 4)
    assert scores["accuracy_hard_label"] == pytest.approx(2 / 4)
    assert scores["num_unparsable"] == 1
    assert scores["num_positive"] == 2
    assert "note" not in scores


@pytest.mark.parametrize(
    "answer, label", [("Yes", 1), (" YES \n", 1), ("active", 1), ("True", 1), ("No", 0), ("inactive", 0), ("Yes.", -1)]
)
def test_answers_are_read_as_instructmol_reads_them(answer, label):
    assert answer_to_label(answer) == label


def test_one_class_labels_give_nan_with_a_note(classification):
    scores = classification.compute(predictions=[0.9, 0.2], references=[1, 1], generated_texts=["Yes", "No"])
    assert math.isnan(scores["roc_auc"])
    assert math.isnan(scores["roc_auc_hard_label"])
    assert "all 2 labels are 1" in scores["note"]
    assert scores["accuracy"] == pytest.approx(1 / 2)


def test_without_generated_texts_only_probability_metrics(classification):
    scores = classification.compute(predictions=[0.9, 0.2], references=[1, 0])
    assert scores["roc_auc"] == 1.0
    assert "roc_auc_hard_label" not in scores


def test_label_outside_zero_one_is_named(classification):
    with pytest.raises(ValueError, match=r"references\[1\] is 2"):
        classification.compute(predictions=[0.9, 0.2], references=[1, 2])


def test_probability_outside_unit_interval_is_named(classification):
    with pytest.raises(ValueError, match=r"predictions\[0\] is 1.5"):
        classification.compute(predictions=[1.5, 0.2], references=[1, 0])


def test_generated_texts_must_cover_every_row(classification):
    with pytest.raises(ValueError, match="1 generated_texts for 2 references"):
        classification.compute(predictions=[0.9, 0.2], references=[1, 0], generated_texts=["Yes"])


def test_multi_label_roc_auc_is_the_mean_over_labels_with_both_classes(classification):
    """MoleculeNet's convention for Tox21, SIDER, ...: ROC-AUC per label (sklearn's), averaged over the labels whose
    rows hold both classes; a one-class label is reported but left out of the mean."""
    probabilities = [0.9, 0.1, 0.7, 0.4, 0.8, 0.3, 0.6, 0.2, 0.5]
    labels = [1, 0, 0, 1, 1, 0, 1, 1, 1]
    groups = ["A", "A", "A", "A", "B", "B", "B", "C", "C"]
    answers = ["Yes", "No", "Yes", "No", "Yes", "No", "No", "Yes", "No"]
    scores = classification.compute(predictions=probabilities, references=labels, generated_texts=answers,
                                    groups=groups)
    auc_a = roc_auc_score(labels[:4], probabilities[:4])
    auc_b = roc_auc_score(labels[4:7], probabilities[4:7])
    assert scores["per_label"]["A"]["roc_auc"] == pytest.approx(auc_a)
    assert scores["roc_auc"] == pytest.approx((auc_a + auc_b) / 2)
    assert math.isnan(scores["per_label"]["C"]["roc_auc"])  # one class only
    assert (scores["num_labels"], scores["num_labels_scored"]) == (3, 2)
    hard = [roc_auc_score(labels[:4], [1, 0, 1, 0]), roc_auc_score(labels[4:7], [1, 0, 0])]
    assert scores["roc_auc_hard_label"] == pytest.approx(sum(hard) / 2)
