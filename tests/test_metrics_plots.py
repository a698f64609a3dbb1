"""Evaluation figures: each helper writes a PNG, and refuses data it cannot plot."""

import pytest

from instructmol.evaluation.plots import parity_plot, roc_curve_plot

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def test_parity_plot_writes_a_png(tmp_path):
    path = parity_plot([-0.25, -0.2, -0.3], [-0.24, -0.22, -0.29], tmp_path / "figures" / "homo.png", "HOMO (Ha)")
    assert path.read_bytes().startswith(PNG_SIGNATURE)


def test_roc_curve_plot_writes_a_png(tmp_path):
    path = roc_curve_plot([1, 0, 0, 1], [0.9, 0.2, 0.6, 0.4], tmp_path / "bace.png", "BACE")
    assert path.read_bytes().startswith(PNG_SIGNATURE)


def test_roc_curve_plot_refuses_one_class(tmp_path):
    with pytest.raises(ValueError, match="both classes"):
        roc_curve_plot([1, 1], [0.9, 0.2], tmp_path / "one_class.png", "one class")


def test_parity_plot_refuses_mismatched_lengths(tmp_path):
    with pytest.raises(ValueError, match="equally long"):
        parity_plot([0.1, 0.2], [0.1], tmp_path / "bad.png", "bad")
