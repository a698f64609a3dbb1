"""Evaluation harness: batched generation, metrics, reports with plots, model-card results.

`run_evaluation(EvaluationSettings(...))` is `instructmol evaluate` as a function.
"""

from .harness import run_evaluation
from .settings import EvaluationSettings

__all__ = ["EvaluationSettings", "run_evaluation"]
