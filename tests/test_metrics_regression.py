"""property_regression: number parsing from generated answers, MAE per property and pooled, unparsable answers."""

import math

import pytest

from instructmol import metrics
from instructmol.metrics.property_regression.scores import parse_first_number


@pytest.fixture(scope="module")
def regression():
    return metrics.load("property_regression")


@pytest.mark.parametrize(
    "answer, number",
    [
        ("-0.25", -0.25),
        ("0.25 Ha", 0.25),
        ("The HOMO energy is -0.2451 hartree.", -0.2451),
        ("2.5e-1", 0.25),
        ("-1.2E+2 meV", -120.0),
        ("-.3", -0.3),
        ("\u22120.25", -0.25),
        ("7", 7.0),
        ("gap: 0.30, lumo: -0.01", 0.30),
    ],
)
def test_first_number_is_parsed(answer, number):
    assert parse_first_number(answer) == pytest.approx(number)


@pytest.mark.parametrize("answer", ["", "I cannot tell.", "nan", "1e999", "-", "."])
def test_answers_without_a_finite_number_are_unparsable(answer):
    assert parse_first_number(answer) is None


def test_mae_per_property_and_pooled_hand_checked(regression):
    scores = regression.compute(
        predictions=["-0.25 Ha", "I don't know", "1e-1", "0.3"],
        references=[-0.2, 0.1, 0.2, 0.4],
        properties=["homo", "lumo", "lumo", "gap"],
    )
    # Parsed errors: 0.05 (homo), 0.1 (lumo), 0.1 (gap); the second answer is unparsable.
    assert scores["mae"] == pytest.approx((0.05 + 0.1 + 0.1) / 3)
    assert scores["num_unparsable"] == 1
    assert scores["num_examples"] == 4
    assert scores["per_property"]["lumo"]["mae"] == pytest.approx(0.1)
    assert scores["per_property"]["lumo"]["num_unparsable"] == 1
    assert scores["per_property"]["homo"]["mae"] == pytest.approx(0.05)
    # The unparsable lumo answer counts as the lumo reference mean 0.15: error 0.05.
    assert scores["fallback"] == "reference_mean"
    assert scores["per_property"]["lumo"]["mae_with_fallback"] == pytest.approx((0.05 + 0.1) / 2)
    assert scores["mae_with_fallback"] == pytest.approx((0.05 + 0.05 + 0.1 + 0.1) / 4)


def test_given_fallback_values_are_used(regression):
    scores = regression.compute(
        predictions=["oops", "0.1"], references=[0.5, 0.2], properties=["gap", "gap"], fallback_predictions={"gap": 0.3}
    )
    assert scores["fallback"] == "given"
    assert scores["mae"] == pytest.approx(0.1)
    assert scores["mae_with_fallback"] == pytest.approx((0.2 + 0.1) / 2)


def test_all_unparsable_gives_nan_mae_not_a_crash(regression):
    scores = regression.compute(predictions=["", "no idea"], references=[0.1, 0.3])
    assert math.isnan(scores["mae"])
    assert scores["num_unparsable"] == 2
    assert scores["mae_with_fallback"] == pytest.approx(0.1)
    assert "per_property" not in scores


def test_missing_fallback_for_a_property_is_named(regression):
    with pytest.raises(KeyError, match="'lumo'"):
        regression.compute(
            predictions=["x"], references=[0.1], properties=["lumo"], fallback_predictions={"homo": -0.2}
        )


def test_non_finite_reference_is_named(regression):
    with pytest.raises(ValueError, match=r"references\[1\]"):
        regression.compute(predictions=["0.1", "0.2"], references=[0.1, float("nan")])


def test_properties_must_cover_every_row(regression):
    with pytest.raises(ValueError, match="1 properties for 2 predictions"):
        regression.compute(predictions=["0.1", "0.2"], references=[0.1, 0.2], properties=["gap"])
