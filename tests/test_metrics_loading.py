"""instructmol.metrics.load: every packaged metric loads offline by name; unknown names are refused."""

import importlib
import sys

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
    # One definition: the script `evaluate` loaded computes with the package's own recipe module, whose docstring
    # is the description, and defines no function of its own.
    recipe = importlib.import_module(f"instructmol.metrics.{name}.recipe")
    assert module.description.startswith(recipe.__doc__.strip())
    script = sys.modules[type(module).__module__]
    functions = {key: value for key, value in vars(script).items() if callable(value) and not isinstance(value, type)}
    assert functions and all(value is getattr(recipe, key) for key, value in functions.items())


def test_unknown_metric_names_the_available_ones():
    with pytest.raises(ValueError, match="molecule_captioning, molecule_generation"):
        metrics.load("bleu")
