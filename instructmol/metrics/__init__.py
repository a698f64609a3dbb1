"""The evaluation harness's metrics, as `evaluate` modules that load offline.

Each metric is a folder here holding `scores.py`, the computation as plain functions (what the package's
own code calls), and one `evaluate.Metric` script named like the folder that wraps it, so
`evaluate.load("<this folder>/molecule_captioning")` works without the Hub. `load(name)` finds the
folder for you:

    from instructmol import metrics
    captioning = metrics.load("molecule_captioning")
    captioning.compute(predictions=[...], references=[...])

- `molecule_captioning`: BLEU-2/4, ROUGE-1/2/L, METEOR of generated descriptions (MolT5's protocol).
- `molecule_generation`: exact match, BLEU, Levenshtein, fingerprint similarities, validity of
  generated SMILES/SELFIES (MolT5's protocol, or InstructMol's scripts with `mode="instructmol"`).
- `property_regression`: MAE of numbers parsed from generated answers, per property and pooled.
- `molecule_classification`: ROC-AUC from P("Yes") and from generated Yes/No, accuracy.

Each `scores.py` docstring states the exact protocol; it is also the `evaluate` module's description.
"""

from pathlib import Path

import evaluate

METRICS_DIR = Path(__file__).resolve().parent
METRIC_NAMES = ("molecule_captioning", "molecule_generation", "property_regression", "molecule_classification")


def metric_dir(name: str) -> Path:
    """The folder holding the `evaluate` script of the metric `name` (one of `METRIC_NAMES`)."""
    if name not in METRIC_NAMES:
        raise ValueError(f"Unknown metric {name!r}; the metrics are {', '.join(METRIC_NAMES)}")
    return METRICS_DIR / name


def load(name: str, **kwargs) -> evaluate.EvaluationModule:
    """`evaluate.load` of the packaged metric `name`; `kwargs` go to `evaluate.load` (e.g. `experiment_id`)."""
    return evaluate.load(str(metric_dir(name)), **kwargs)
