"""instructmol.metrics.load: every packaged metric loads offline by name; unknown names are refused."""

import importlib
import math
import sys

import evaluate
import pytest

from instructmol import metrics
from instructmol.metrics.molecule_captioning.scores import score_captions
from instructmol.metrics.molecule_classification.scores import score_classification
from instructmol.metrics.molecule_generation.scores import score_molecules
from instructmol.metrics.property_regression.scores import score_properties


@pytest.mark.parametrize("name", metrics.METRIC_NAMES)
def test_each_metric_loads_from_its_packaged_folder(name):
    assert (metrics.metric_dir(name) / f"{name}.py").is_file()
    module = metrics.load(name)
    assert isinstance(module, evaluate.EvaluationModule)
    assert module.name == name
    # The protocol is part of the module's description, so `module.description` documents what it computes.
    assert "Protocol" in module.description or "protocol" in module.description
    # One definition: the script `evaluate` loaded computes with the package's own `scores` module, whose docstring
    # is the description, and defines no function of its own.
    scores = importlib.import_module(f"instructmol.metrics.{name}.scores")
    assert module.description.startswith(scores.__doc__.strip())
    script = sys.modules[type(module).__module__]
    functions = {key: value for key, value in vars(script).items() if callable(value) and not isinstance(value, type)}
    assert functions and all(value is getattr(scores, key) for key, value in functions.items())


def test_unknown_metric_names_the_available_ones():
    with pytest.raises(ValueError, match="molecule_captioning, molecule_generation"):
        metrics.load("bleu")


def same_numbers(first: dict, second: dict) -> bool:
    """Equal results, NaN equal to NaN (a metric undefined on these rows is undefined both ways)."""
    if first.keys() != second.keys():
        return False
    for key, value in first.items():
        other = second[key]
        if isinstance(value, dict):
            if not isinstance(other, dict) or not same_numbers(value, other):
                return False
        elif isinstance(value, float) and math.isnan(value):
            if not (isinstance(other, float) and math.isnan(other)):
                return False
        elif value != other:
            return False
    return True


# The library calls each metric's function directly; `evaluate.load` users get the same numbers through the thin
# `evaluate` module. Inputs with the cases that differ in handling: unparsable answers, invalid molecules, one class.
METRIC_CALLS = {
    "property_regression": (score_properties, {
        "predictions": ["-0.25 Ha", "n/a", "0.1", ""], "references": [-0.2, 0.1, 0.3, -0.1],
        "properties": ["homo", "lumo", "gap", "gap"], "fallback_predictions": {"homo": -0.2, "lumo": 0.0, "gap": 0.2}}),
    "molecule_classification": (score_classification, {
        "predictions": [0.9, 0.2, 0.6, 0.4, 0.7], "references": [1, 0, 1, 0, 0],
        "generated_texts": ["Yes", "No", "yes.", "maybe", "Yes"], "groups": ["a", "a", "a", "b", "b"]}),
    "molecule_generation": (score_molecules, {
        "predictions": ["CCO", "c1ccccc1", "C(", "CC(=O)O"], "references": ["CCO", "C1=CC=CC=C1", "CCN", "CC(O)=O"],
        "mode": "molt5", "input_format": "smiles"}),
}


@pytest.mark.parametrize("name", sorted(METRIC_CALLS))
def test_the_evaluate_module_gives_the_functions_numbers(name):
    function, inputs = METRIC_CALLS[name]
    direct = function(**inputs)
    through_evaluate = metrics.load(name).compute(**inputs)
    assert same_numbers(direct, through_evaluate), (direct, through_evaluate)


def test_the_captioning_module_gives_the_functions_numbers(tmp_path, wordnet_available):
    vocabulary = tmp_path / "vocab.txt"
    vocabulary.write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the", "molecule", "is", "an",
                                     "acid", "a", "base", "."]) + "\n")
    inputs = {"predictions": ["the molecule is an acid .", "a base"], "references": ["the molecule is a base .", "a base ."],
              "tokenizer": str(vocabulary)}
    direct = score_captions(**inputs)
    assert same_numbers(direct, metrics.load("molecule_captioning").compute(**inputs))
