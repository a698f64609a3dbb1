"""The `molecule_generation` metric as an `evaluate` module: its card and the inputs `evaluate` checks.

It wraps `instructmol.metrics.molecule_generation.scores`, which computes the metric (plain functions the
package's own code calls); that module's docstring, the protocol, is this metric's description.
"""

import datasets
import evaluate

from instructmol.citations import INSTRUCTMOL_CITATION, MOLT5_CITATION
from instructmol.metrics.molecule_generation import scores
from instructmol.metrics.molecule_generation.scores import check_predictions, score_molecules

_CITATION = "\n".join([MOLT5_CITATION, INSTRUCTMOL_CITATION])

_DESCRIPTION = scores.__doc__

_KWARGS_DESCRIPTION = """
Args:
    predictions (`list[str]`): generated molecules (SMILES or SELFIES; several molecules joined by ".").
    references (`list[str]`): reference molecules, one per prediction, all valid.
    mode (`str`, optional): "molt5" (default) or "instructmol", see the description.
    input_format (`str`, optional): "smiles" (default) or "selfies".
Returns:
    `mode`, `exact_match`, `bleu`, `levenshtein`, `maccs_similarity`, `rdk_similarity`,
    `morgan_similarity`, `validity`, `num_examples`, `num_scored` (rows the metrics are over:
    all rows in molt5 mode, valid ones in instructmol mode). Similarities are NaN when no prediction is valid.
Examples:
    >>> from instructmol import metrics
    >>> generation = metrics.load("molecule_generation")
    >>> scores = generation.compute(predictions=["OCC"], references=["CCO"])
"""


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class MoleculeGeneration(evaluate.Metric):
    def compute(self, *, predictions=None, references=None, **kwargs) -> dict:
        """`evaluate.Metric.compute`, with characters UTF-8 cannot hold (a lone surrogate a model generated) made
        U+FFFD in the predictions first, so that Arrow stores them; such a prediction is an invalid molecule."""
        if predictions is not None:
            check_predictions(predictions)
            predictions = [prediction.encode("utf-8", "surrogatepass").decode("utf-8", "replace") for prediction in predictions]
        return super().compute(predictions=predictions, references=references, **kwargs)

    def _info(self) -> evaluate.MetricInfo:
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation=_CITATION,
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features(
                {"predictions": datasets.Value("string"), "references": datasets.Value("string")}
            ),
            codebase_urls=[
                "https://github.com/blender-nlp/MolT5/blob/main/evaluation/mol_translation_metrics.py",
                "https://github.com/blender-nlp/MolT5/blob/main/evaluation/fingerprint_metrics.py",
                "https://github.com/IDEA-XL/InstructMol/tree/main/llava/eval/molecule_metrics",
            ],
            reference_urls=["https://arxiv.org/abs/2204.11817", "https://arxiv.org/abs/2311.16208"],
        )

    def _compute(
        self, predictions: list[str], references: list[str], mode: str = "molt5", input_format: str = "smiles"
    ) -> dict:
        return score_molecules(predictions, references, mode, input_format)
