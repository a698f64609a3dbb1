"""Evaluation harness: batched generation, metrics, reports with plots, model-card results.

`run_evaluation(EvaluationSettings(...))` is `instructmol evaluate` as a function.
"""

from .settings import EvaluationSettings

__all__ = ["EvaluationSettings", "run_evaluation"]


def __getattr__(name: str):
    # The harness imports torch, transformers and datasets: loaded on first use, so that the command line's
    # `--help` (which reads EvaluationSettings' defaults) starts without them.
    if name == "run_evaluation":
        from .harness import run_evaluation

        return run_evaluation
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
