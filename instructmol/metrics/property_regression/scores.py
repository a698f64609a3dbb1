"""Property regression metric (QM9 HOMO / LUMO / gap in hartree): MAE of numbers parsed from generated answers.

Protocol:
- Parsing: the answer's first number is its prediction: optional sign, digits with an optional
  decimal point, optional exponent ("-0.25", "0.25 Ha", "The gap is 2.5e-1", "-.3"); a Unicode
  minus counts as "-". An answer without a finite number ("I don't know", "", "inf") is unparsable.
  (InstructMol's `property_metrics.py` called `float(answer)` and crashed on anything else.)
- `mae`: mean absolute error over the parsed answers only, pooled over all rows whatever their
  property (with every molecule asked every property, this is the mean of the per-property MAEs).
- `num_unparsable` counts the rest; they are reported, not silently dropped: `mae_with_fallback` is
  the MAE over all rows with each unparsable answer replaced by a fallback value, the answer of a
  model that knows only the property's typical value. The fallback is `fallback_predictions[property]`
  when given (pass the training-set means), else the mean reference value of that property in the
  evaluated rows (`fallback` says which).
- `per_property`: the same numbers for each property, when `properties` names each row's property.
MAE is NaN where no answer parsed.
"""

import math
import re
from collections.abc import Mapping

import numpy as np

NUMBER_PATTERN = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")
UNICODE_MINUS = "\u2212"
ALL_ROWS = "all"


def parse_first_number(answer: str | None) -> float | None:
    """The first finite number written in `answer`, None if there is none."""
    if answer is None:
        return None
    match = NUMBER_PATTERN.search(answer.replace(UNICODE_MINUS, "-"))
    if match is None:
        return None
    value = float(match.group())
    return value if math.isfinite(value) else None


def regression_scores(parsed: list[float | None], references: list[float], fallbacks: list[float]) -> dict:
    """MAE over the parsed answers, MAE with each unparsable answer counted as its row's fallback, and counts."""
    parsed_errors = [abs(value - reference) for value, reference in zip(parsed, references) if value is not None]
    errors_with_fallback = [
        abs((fallback if value is None else value) - reference)
        for value, reference, fallback in zip(parsed, references, fallbacks)
    ]
    return {
        "mae": float(np.mean(parsed_errors)) if parsed_errors else float("nan"),
        "mae_with_fallback": float(np.mean(errors_with_fallback)),
        "num_examples": len(references),
        "num_unparsable": len(references) - len(parsed_errors),
    }


def fallback_value(property_name: str, references: list[float], fallback_predictions: Mapping | float | None) -> float:
    """The value an unparsable answer about `property_name` counts as."""
    if fallback_predictions is None:
        return float(np.mean(references))
    if isinstance(fallback_predictions, Mapping):
        if property_name not in fallback_predictions:
            raise KeyError(f"fallback_predictions has no value for the property {property_name!r}")
        return float(fallback_predictions[property_name])
    return float(fallback_predictions)


def storable_answer(answer) -> str:
    """A generated answer as Arrow stores it: None is '', a lone surrogate becomes U+FFFD."""
    if answer is None:
        return ""
    if not isinstance(answer, str):
        raise TypeError(f"an answer is {answer!r:.80}, not a string")
    return answer.encode("utf-8", "surrogatepass").decode("utf-8", "replace") if not answer.isascii() else answer


def check_references(references: list) -> None:
    """Raises a ValueError naming the first reference that is not a finite number."""
    for index, reference in enumerate(references):
        if reference is None or not math.isfinite(reference):
            raise ValueError(f"references[{index}] is {reference!r}, not a finite number")


def score_properties(predictions: list[str], references: list[float], properties: list[str] | None = None,
                     fallback_predictions: Mapping[str, float] | float | None = None) -> dict:
    """The metric on generated answers (see the module docstring): `mae`, `mae_with_fallback`, counts, `fallback`,
    and `per_property` when `properties` names each row's property."""
    if not predictions:
        raise ValueError("No predictions to score")
    if properties is not None and len(properties) != len(predictions):
        raise ValueError(f"{len(properties)} properties for {len(predictions)} predictions")
    check_references(references)
    parsed = [parse_first_number(answer) for answer in predictions]
    row_properties = list(properties) if properties is not None else [ALL_ROWS] * len(predictions)
    rows_of_property = {name: [] for name in row_properties}
    for index, name in enumerate(row_properties):
        rows_of_property[name].append(index)
    fallback_of_property = {
        name: fallback_value(name, [references[i] for i in rows], fallback_predictions)
        for name, rows in rows_of_property.items()
    }
    row_fallbacks = [fallback_of_property[name] for name in row_properties]
    result = {
        **regression_scores(parsed, references, row_fallbacks),
        "fallback": "reference_mean" if fallback_predictions is None else "given",
    }
    if properties is not None:
        result["per_property"] = {
            name: regression_scores(
                [parsed[i] for i in rows], [references[i] for i in rows], [row_fallbacks[i] for i in rows]
            )
            for name, rows in rows_of_property.items()
        }
    return result
