"""The `molecule_captioning` metric as an `evaluate` module: its card and the inputs `evaluate` checks.

It wraps `instructmol.metrics.molecule_captioning.scores`, which computes the metric (plain functions the
package's own code calls); that module's docstring, the protocol, is this metric's description.
"""

import datasets
import evaluate

from instructmol.citations import MOLT5_CITATION
from instructmol.metrics.molecule_captioning import scores
from instructmol.defaults import CAPTION_TOKENIZER
from instructmol.metrics.molecule_captioning.scores import score_captions

_CITATION = MOLT5_CITATION

_DESCRIPTION = scores.__doc__

_KWARGS_DESCRIPTION = """
Args:
    predictions (`list[str]`): generated descriptions.
    references (`list[str]`): reference descriptions, one per prediction.
    tokenizer (`str`, optional): the BERT WordPiece tokenizer: a Hub id, a local folder holding its
        `vocab.txt`, or the path of a `vocab.txt`. Default "allenai/scibert_scivocab_uncased".
Returns:
    `bleu2`, `bleu4`, `rouge1`, `rouge2`, `rougeL`, `meteor` (floats in [0, 1]), `num_examples` (int).
Examples:
    >>> from instructmol import metrics
    >>> captioning = metrics.load("molecule_captioning")
    >>> scores = captioning.compute(predictions=["The molecule is an acid."], references=["The molecule is a base."])
"""


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class MoleculeCaptioning(evaluate.Metric):
    def _info(self) -> evaluate.MetricInfo:
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation=_CITATION,
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features(
                {"predictions": datasets.Value("string"), "references": datasets.Value("string")}
            ),
            codebase_urls=["https://github.com/blender-nlp/MolT5/blob/main/evaluation/text_translation_metrics.py"],
            reference_urls=["https://arxiv.org/abs/2204.11817"],
        )

    def _compute(self, predictions: list[str], references: list[str], tokenizer: str = CAPTION_TOKENIZER) -> dict:
        return score_captions(predictions, references, tokenizer)
