"""The `property_regression` metric as an `evaluate` module: its card and the inputs `evaluate` checks.

It wraps `instructmol.metrics.property_regression.scores`, which computes the metric (plain functions the
package's own code calls); that module's docstring, the protocol, is this metric's description.
"""

from collections.abc import Mapping

import datasets
import evaluate

from instructmol.citations import INSTRUCTMOL_CITATION
from instructmol.metrics.property_regression import scores
from instructmol.metrics.property_regression.scores import score_properties, storable_answer

_CITATION = INSTRUCTMOL_CITATION

_DESCRIPTION = scores.__doc__

_KWARGS_DESCRIPTION = """
Args:
    predictions (`list[str]`): generated answers, e.g. "-0.2451" or "The HOMO energy is -0.2451 Ha.".
    references (`list[float]`): the true values, one per answer.
    properties (`list[str]`, optional): the property each row asks for (e.g. "homo", "lumo", "gap"),
        for the per-property breakdown.
    fallback_predictions (`dict[str, float]` or `float`, optional): the value an unparsable answer
        counts as in `mae_with_fallback`, per property (or one for all); default the mean reference of
        the property in the evaluated rows.
Returns:
    `mae`, `mae_with_fallback`, `num_examples`, `num_unparsable`, `fallback` ("given" or
    "reference_mean"), and `per_property` (property -> the same numbers) when `properties` is given.
Examples:
    >>> from instructmol import metrics
    >>> regression = metrics.load("property_regression")
    >>> scores = regression.compute(predictions=["-0.25 Ha", "n/a"], references=[-0.2, 0.1], properties=["homo", "lumo"])
"""


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class PropertyRegression(evaluate.Metric):
    def compute(self, *, predictions=None, references=None, **kwargs) -> dict:
        """`evaluate.Metric.compute`, with every answer made storable first: a missing answer (None) is an empty
        one, counted as unparsable wherever it stands, and characters UTF-8 cannot hold become U+FFFD."""
        if predictions is not None:
            predictions = [storable_answer(answer) for answer in predictions]
        return super().compute(predictions=predictions, references=references, **kwargs)

    def _info(self) -> evaluate.MetricInfo:
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation=_CITATION,
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features(
                {"predictions": datasets.Value("string"), "references": datasets.Value("float64")}
            ),
            codebase_urls=[
                "https://github.com/IDEA-XL/InstructMol/blob/main/llava/eval/molecule_metrics/property_metrics.py"
            ],
            reference_urls=["https://arxiv.org/abs/2311.16208"],
        )

    def _compute(
        self,
        predictions: list[str],
        references: list[float],
        properties: list[str] | None = None,
        fallback_predictions: Mapping[str, float] | float | None = None,
    ) -> dict:
        return score_properties(predictions, references, properties, fallback_predictions)
