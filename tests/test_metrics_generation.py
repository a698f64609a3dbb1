"""molecule_generation: hand-checked cases in both modes and formats, and parity with MolT5's / InstructMol's scripts."""

import csv

import numpy as np
import pytest
import selfies
from Levenshtein import distance as levenshtein
from nltk.translate.bleu_score import corpus_bleu
from rdkit import Chem
from rdkit import DataStructs
from rdkit import rdBase
from rdkit.Chem import AllChem
from rdkit.Chem import MACCSkeys

from instructmol import metrics
from tests_paths import SHARED_DATA

MOLT5_PREDICTIONS = SHARED_DATA / "molt5_predictions"
# InChI and fingerprints for 3,300 rows, twice (metric and reference), take a minute; the first rows suffice.
PARITY_ROWS = 500

# Ethanol written backwards, an unclosed ring, an empty answer, alanine with its stereocentre inverted.
PREDICTIONS = ["OCC", "C1CC", "", "C[C@H](N)C(=O)O"]
REFERENCES = ["CCO", "CCO", "CCO", "C[C@@H](N)C(=O)O"]


@pytest.fixture(scope="module")
def generation():
    return metrics.load("molecule_generation")


def test_molt5_mode_hand_checked(generation):
    scores = generation.compute(predictions=PREDICTIONS, references=REFERENCES)
    assert scores["mode"] == "molt5"
    # Only "OCC" has ethanol's InChI; the inverted stereocentre changes alanine's.
    assert scores["exact_match"] == pytest.approx(1 / 4)
    # "C1CC" does not parse; "" parses to an empty molecule, which MolT5 counts as valid.
    assert scores["validity"] == pytest.approx(3 / 4)
    # Edit distances on the raw strings: 2 (OCC/CCO), 2 (C1CC/CCO), 3 (""/CCO), 1 (one "@").
    assert scores["levenshtein"] == pytest.approx((2 + 2 + 3 + 1) / 4)
    # Over the 3 valid rows: ethanol 1, empty molecule 0, alanine 1 (none of these fingerprints sees chirality).
    for name in ("maccs_similarity", "rdk_similarity", "morgan_similarity"):
        assert scores[name] == pytest.approx(2 / 3), name
    assert scores["num_scored"] == 4


def test_instructmol_mode_drops_invalid_and_ignores_stereo(generation):
    scores = generation.compute(predictions=PREDICTIONS, references=REFERENCES, mode="instructmol")
    assert scores["mode"] == "instructmol"
    assert scores["num_scored"] == 3
    # Among kept rows, ethanol and (stereo-free) alanine match; the empty answer does not.
    assert scores["exact_match"] == pytest.approx(2 / 3)
    # On canonical stereo-free SMILES: 0 (CCO/CCO), 3 (""/CCO), 0 (alanine).
    assert scores["levenshtein"] == pytest.approx(1.0)
    assert scores["validity"] == pytest.approx(3 / 4)


def test_character_bleu_hand_checked(generation):
    # "CCCCO" vs "CCCCC": n-gram precisions 4/5, 3/4, 2/3, 1/2 at equal length.
    scores = generation.compute(predictions=["CCCCO"], references=["CCCCC"])
    assert scores["bleu"] == pytest.approx((4 / 5 * 3 / 4 * 2 / 3 * 1 / 2) ** 0.25)


def test_selfies_input_is_decoded(generation):
    predictions = [selfies.encoder("OCC"), "[Xx]", "[C][C]"]
    references = [selfies.encoder("CCO"), selfies.encoder("CCO"), selfies.encoder("CC")]
    for mode in ("molt5", "instructmol"):
        scores = generation.compute(predictions=predictions, references=references, mode=mode, input_format="selfies")
        # "[Xx]" is no SELFIES symbol: an invalid prediction.
        assert scores["validity"] == pytest.approx(2 / 3), mode
    molt5 = generation.compute(predictions=predictions, references=references, input_format="selfies")
    assert molt5["exact_match"] == pytest.approx(2 / 3)
    # molt5 mode keeps Levenshtein on the strings as given: "[O][C][C]" vs "[C][C][O]" is 2 substitutions,
    # "[Xx]" vs "[C][C][O]" 2 substitutions and 5 insertions.
    assert molt5["levenshtein"] == pytest.approx((2 + 7 + 0) / 3)


def test_all_invalid_predictions_give_zero_validity_and_nan_similarity(generation):
    scores = generation.compute(predictions=["not a molecule", "C1CC"], references=["CCO", "CC"])
    assert scores["validity"] == 0.0
    assert scores["exact_match"] == 0.0
    assert np.isnan(scores["morgan_similarity"])
    dropped = generation.compute(predictions=["not a molecule"], references=["CCO"], mode="instructmol")
    assert dropped["num_scored"] == 0
    assert np.isnan(dropped["exact_match"])


def test_invalid_reference_is_named(generation):
    with pytest.raises(ValueError, match=r"references\[1\] = 'C1CC'"):
        generation.compute(predictions=["CCO", "CCO"], references=["CCO", "C1CC"])


def test_unknown_mode_is_refused(generation):
    with pytest.raises(ValueError, match="mode='molt6'"):
        generation.compute(predictions=["CCO"], references=["CCO"], mode="molt6")


def molt5_protocol(predictions: list[str], references: list[str]) -> dict:
    """MolT5's mol_translation_metrics.py and fingerprint_metrics.py, written out directly."""
    exact = 0
    for prediction, reference in zip(predictions, references):
        try:
            if Chem.MolToInchi(Chem.MolFromSmiles(prediction)) == Chem.MolToInchi(Chem.MolFromSmiles(reference)):
                exact += 1
        except Exception:  # MolT5 counts the ArgumentError of an unparsed molecule as a miss.
            pass
    pairs = [(Chem.MolFromSmiles(r), Chem.MolFromSmiles(p)) for p, r in zip(predictions, references)]
    valid = [(reference, prediction) for reference, prediction in pairs if prediction is not None]
    return {
        "bleu": corpus_bleu([[list(r)] for r in references], [list(p) for p in predictions]),
        "exact_match": exact / len(predictions),
        "levenshtein": np.mean([levenshtein(p, r) for p, r in zip(predictions, references)]),
        "validity": len(valid) / len(pairs),
        **fingerprint_recipe(valid),
    }


def instructmol_recipe(predictions: list[str], references: list[str]) -> dict:
    """InstructMol's mol_translation_selfies.py and fingerprint_metrics.py (SMILES input), written out directly."""

    def canonical(smiles):
        molecule = Chem.MolFromSmiles(smiles)
        return None if molecule is None else Chem.MolToSmiles(molecule, isomericSmiles=False, canonical=True)

    kept = [
        (prediction, reference, canonical(prediction), canonical(reference))
        for prediction, reference in zip(predictions, references)
        if canonical(prediction) is not None
    ]
    exact = sum(
        Chem.MolToInchi(Chem.MolFromSmiles(p_smiles)) == Chem.MolToInchi(Chem.MolFromSmiles(r_smiles))
        for _, _, p_smiles, r_smiles in kept
    )
    valid = [(Chem.MolFromSmiles(r_smiles), Chem.MolFromSmiles(p_smiles)) for _, _, p_smiles, r_smiles in kept]
    return {
        "bleu": corpus_bleu([[list(r)] for _, r, _, _ in kept], [list(p) for p, _, _, _ in kept]),
        "exact_match": exact / len(kept),
        "levenshtein": np.mean([levenshtein(p_smiles, r_smiles) for _, _, p_smiles, r_smiles in kept]),
        "validity": len(kept) / len(predictions),
        **fingerprint_recipe(valid),
    }


def fingerprint_recipe(valid_pairs: list) -> dict:
    """Mean MACCS, RDK and count-based Morgan (radius 2) Tanimoto similarity, as both scripts compute them."""

    def tanimoto(fingerprint):
        return np.mean([DataStructs.TanimotoSimilarity(fingerprint(r), fingerprint(p)) for r, p in valid_pairs])

    return {
        "maccs_similarity": tanimoto(MACCSkeys.GenMACCSKeys),
        "rdk_similarity": tanimoto(Chem.RDKFingerprint),
        "morgan_similarity": tanimoto(lambda molecule: AllChem.GetMorganFingerprint(molecule, 2)),
    }


@pytest.mark.skipif(
    not MOLT5_PREDICTIONS.is_dir(),
    reason=f"MolT5's published predictions are not in {SHARED_DATA} (only in the dev setup)",
)
@pytest.mark.parametrize("model_size", ["base", "large"])
@pytest.mark.parametrize("mode", ["molt5", "instructmol"])
def test_parity_with_reference_scripts_on_published_molecules(generation, model_size, mode):
    with open(MOLT5_PREDICTIONS / f"molt5-{model_size}-caption2smiles.txt", encoding="utf-8") as lines:
        rows = list(csv.DictReader(lines, delimiter="\t", quoting=csv.QUOTE_NONE))[:PARITY_ROWS]
    predictions = [row["output"] for row in rows]
    references = [row["ground truth"] for row in rows]
    scores = generation.compute(predictions=predictions, references=references, mode=mode)
    protocol = molt5_protocol if mode == "molt5" else instructmol_recipe
    with rdBase.BlockLogs():
        expected = protocol(predictions, references)
    assert 0.5 < expected["validity"] < 1.0, "these files hold invalid outputs; the protocol must see some"
    for name, value in expected.items():
        assert scores[name] == pytest.approx(value, abs=1e-4), name
