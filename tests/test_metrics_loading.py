"""instructmol.metrics.load: every packaged metric loads offline by name; unknown names are refused."""

import evaluate
import pytest

from instructmol import metrics


@pytest.mark.parametrize("name", metrics.METRIC_NAMES)
def test_each_metric_loads_from_its_packaged_folder(name):
    assert (metrics.metric_dir(name) / f"{name}.py").is_file()
    module = metrics.load(name)
    assert isinstance(module, evaluate.EvaluationModule)
    assert module.name == name
    # The recipe is part of the module's description, so `module.description` documents what it computes.
    assert "Recipe" in module.description or "recipe" in module.description


def test_unknown_metric_names_the_available_ones():
    with pytest.raises(ValueError, match="molecule_captioning, molecule_generation"):
        metrics.load("bleu")
