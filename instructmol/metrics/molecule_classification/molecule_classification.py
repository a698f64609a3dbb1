"""The `molecule_classification` metric as an `evaluate` module: its card and the inputs `evaluate` checks.

It wraps `instructmol.metrics.molecule_classification.scores`, which computes the metric (plain functions the
package's own code calls); that module's docstring, the protocol, is this metric's description.
"""

import datasets
import evaluate

from instructmol.citations import INSTRUCTMOL_CITATION
from instructmol.metrics.molecule_classification import scores
from instructmol.metrics.molecule_classification.scores import score_classification

_CITATION = INSTRUCTMOL_CITATION

_DESCRIPTION = scores.__doc__

_KWARGS_DESCRIPTION = """
Args:
    predictions (`list[float]`): the model's probability of "Yes" for each molecule, in [0, 1].
    references (`list[int]`): the labels, 1 for "Yes" (active), 0 for "No".
    generated_texts (`list[str]`, optional): the generated answers, for the paper's hard-label numbers.
    groups (`list[str]`, optional): each row's label of a multi-label task; ROC-AUCs become means over labels.
Returns:
    `roc_auc`, `accuracy`, `num_examples`, `num_positive`; with `generated_texts` also
    `roc_auc_hard_label`, `accuracy_hard_label`, `num_unparsable`; `note` when ROC-AUC is undefined.
Examples:
    >>> from instructmol import metrics
    >>> classification = metrics.load("molecule_classification")
    >>> scores = classification.compute(predictions=[0.9, 0.2, 0.6], references=[1, 0, 0], generated_texts=["Yes", "No", "Yes"])
"""


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class MoleculeClassification(evaluate.Metric):
    def _info(self) -> evaluate.MetricInfo:
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation=_CITATION,
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features({"predictions": datasets.Value("float64"), "references": datasets.Value("int64")}),
            codebase_urls=[
                "https://github.com/IDEA-XL/InstructMol/blob/main/llava/eval/molecule_metrics/MoleculeNet_classification.py"
            ],
            reference_urls=["https://arxiv.org/abs/2311.16208"],
        )

    def _compute(
        self, predictions: list[float], references: list[int], generated_texts: list[str] | None = None,
        groups: list[str] | None = None,
    ) -> dict:
        return score_classification(predictions, references, generated_texts, groups)
