"""Figures for evaluation reports: a parity plot for regression, a ROC curve for classification.

Figures are built with `matplotlib.figure.Figure` and its Agg canvas, never pyplot, so they work
headless and leave no global state behind.
"""

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure
from sklearn.metrics import roc_auc_score
from sklearn.metrics import roc_curve


def parity_plot(y_true: Sequence[float], y_pred: Sequence[float], path: str | Path, title: str) -> Path:
    """Scatter of predicted against true values with the y = x diagonal and the MAE; writes `path` (PNG by suffix)."""
    true_values = np.asarray(y_true, dtype=float)
    predicted_values = np.asarray(y_pred, dtype=float)
    if true_values.shape != predicted_values.shape or true_values.size == 0:
        raise ValueError(f"y_true and y_pred must be equally long and not empty: {true_values.size} vs {predicted_values.size}")
    mae = float(np.mean(np.abs(predicted_values - true_values)))
    low = float(min(true_values.min(), predicted_values.min()))
    high = float(max(true_values.max(), predicted_values.max()))

    figure = Figure(figsize=(5, 5))
    axes = figure.add_subplot()
    axes.scatter(true_values, predicted_values, s=8, alpha=0.6, label=f"MAE = {mae:.4g}")
    axes.plot([low, high], [low, high], color="black", linewidth=1, label="y = x")
    axes.set_xlabel("true")
    axes.set_ylabel("predicted")
    axes.set_title(title)
    axes.legend(loc="upper left")
    return save(figure, path)


def roc_curve_plot(labels: Sequence[int], scores: Sequence[float], path: str | Path, title: str) -> Path:
    """ROC curve of `scores` (e.g. P("Yes")) against 0/1 `labels`, with the AUC; writes `path`."""
    if len(set(labels)) < 2:
        raise ValueError("A ROC curve needs both classes among the labels")
    false_positive_rate, true_positive_rate, _ = roc_curve(labels, scores)
    auc = roc_auc_score(labels, scores)

    figure = Figure(figsize=(5, 5))
    axes = figure.add_subplot()
    axes.plot(false_positive_rate, true_positive_rate, label=f"ROC-AUC = {auc:.4f}")
    axes.plot([0, 1], [0, 1], color="grey", linestyle="--", linewidth=1, label="chance")
    axes.set_xlabel("false positive rate")
    axes.set_ylabel("true positive rate")
    axes.set_title(title)
    axes.legend(loc="lower right")
    return save(figure, path)


def save(figure: Figure, path: str | Path) -> Path:
    """Writes `figure` to `path`, creating its folder."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=120, bbox_inches="tight")
    return path
