"""Molecule generation metrics (text-to-molecule, reactions): exact match, BLEU, Levenshtein, fingerprints, validity.

Two protocols; every result carries `mode` so a report can say which one produced it.

`mode="molt5"` (default): MolT5's `evaluation/mol_translation_metrics.py` and `fingerprint_metrics.py`.
- BLEU: `nltk.translate.bleu_score.corpus_bleu` over characters, each prediction `list(prediction)`
  against `[list(reference)]`, default weights (BLEU-4), no smoothing, over all rows.
- Levenshtein: `Levenshtein.distance(prediction, reference)` on the raw strings, mean over all rows.
- Exact match: InChI equality of the RDKit molecules, over all rows; an invalid or empty prediction
  counts as a miss (MolT5's script would match an empty prediction with a reference InChI cannot write,
  e.g. one with a `*` atom: both InChIs are empty; such references are compared by canonical SMILES).
- Validity: fraction of rows whose prediction RDKit parses. As in MolT5, an empty string parses
  (to a molecule without atoms) and so counts as valid, though it never matches. A prediction holding a
  character SMILES does not use (a space, text after the molecule) is invalid here; RDKit would read part of it.
- MACCS / RDK / Morgan similarity: Tanimoto of `MACCSkeys.GenMACCSKeys`, of `Chem.RDKFingerprint`,
  and of the count-based unhashed radius-2 Morgan fingerprint (`AllChem.GetMorganFingerprint(m, 2)`;
  computed with the equivalent `GetMorganGenerator(radius=2).GetSparseCountFingerprint`), mean over
  rows with a valid prediction only.

`mode="instructmol"`: InstructMol's `llava/eval/molecule_metrics/mol_translation_selfies.py` and
`fingerprint_metrics.py`, which deviate from MolT5:
- every string is decoded to SMILES (SELFIES input) and canonicalised without stereochemistry
  (`Chem.MolToSmiles(mol, isomericSmiles=False)`); predictions that fail are dropped before
  scoring, so exact match, BLEU, Levenshtein and similarities are over the kept rows only
  (`num_scored`), which flatters a model that emits invalid molecules;
- BLEU is over the characters of the strings as given (SELFIES for SELFIES input), Levenshtein
  over the canonical stereo-free SMILES, exact match and fingerprints over the stereo-free molecules;
- `validity` is kept rows over all rows, as InstructMol's `fingerprint_metrics.py` prints it. (Its
  `mol_translation_selfies.py` prints a "validity" over the kept rows, 1 by construction; not reported.)

`input_format="selfies"` decodes with the `selfies` package first; a SELFIES that does not decode
is an invalid prediction. In `molt5` mode BLEU and Levenshtein stay on the strings as given.
References must all be valid molecules with atoms: an invalid or empty one raises a ValueError naming it.
"""

from dataclasses import dataclass

import Levenshtein
import numpy as np
import selfies
from nltk.translate.bleu_score import corpus_bleu
from rdkit import Chem
from rdkit import DataStructs
from rdkit import rdBase
from rdkit.Chem import MACCSkeys
from rdkit.Chem import rdFingerprintGenerator

from featurization_instructmol import SMILES_CHARACTERS

MODES = ("molt5", "instructmol")
INPUT_FORMATS = ("smiles", "selfies")
MORGAN_RADIUS = 2


@dataclass(frozen=True)
class ScoredRow:
    """One row as a protocol scores it: the string pairs its BLEU and Levenshtein compare, and the molecules."""

    bleu_strings: tuple[str, str]
    levenshtein_strings: tuple[str, str]
    prediction: Chem.Mol | None
    reference: Chem.Mol


def decode_selfies(text: str) -> str | None:
    """The SMILES a SELFIES string decodes to, or None if it does not decode."""
    try:
        return selfies.decoder(text)
    except selfies.DecoderError:
        return None


def to_smiles(text: str, input_format: str) -> str | None:
    """The SMILES of one input string (decoded if SELFIES), None if it does not decode."""
    return decode_selfies(text) if input_format == "selfies" else text


def parse_molecule(smiles: str | None) -> Chem.Mol | None:
    """RDKit's molecule for a SMILES string, None when there is no string, it holds a character SMILES does not use
    (RDKit would read a space and what follows as a name, and stop at some other characters, scoring a part of the
    string), or RDKit rejects it."""
    if smiles is None or (smiles and not SMILES_CHARACTERS.fullmatch(smiles)):
        return None
    return Chem.MolFromSmiles(smiles)


def stereo_free_canonical_smiles(smiles: str | None) -> str | None:
    """InstructMol's canonicalisation: canonical SMILES without stereochemistry, None if invalid."""
    molecule = parse_molecule(smiles)
    return None if molecule is None else Chem.MolToSmiles(molecule, isomericSmiles=False, canonical=True)


def molt5_rows(predictions: list[str], references: list[str], input_format: str) -> list[ScoredRow]:
    """MolT5: every row; BLEU and Levenshtein on the strings as given, molecules from the (decoded) SMILES."""
    return [
        ScoredRow(
            bleu_strings=(prediction, reference),
            levenshtein_strings=(prediction, reference),
            prediction=parse_molecule(to_smiles(prediction, input_format)),
            reference=parse_molecule(to_smiles(reference, input_format)),
        )
        for prediction, reference in zip(predictions, references)
    ]


def instructmol_rows(predictions: list[str], references: list[str], input_format: str) -> list[ScoredRow]:
    """InstructMol: only rows whose prediction canonicalises; everything but BLEU on stereo-free canonical SMILES."""
    rows = []
    for prediction, reference in zip(predictions, references):
        prediction_smiles = stereo_free_canonical_smiles(to_smiles(prediction, input_format))
        prediction_molecule = parse_molecule(prediction_smiles)
        if prediction_molecule is None:
            continue
        reference_smiles = stereo_free_canonical_smiles(to_smiles(reference, input_format))
        rows.append(
            ScoredRow(
                bleu_strings=(prediction, reference),
                levenshtein_strings=(prediction_smiles, reference_smiles),
                prediction=prediction_molecule,
                reference=parse_molecule(reference_smiles),
            )
        )
    return rows


def is_exact_match(row: ScoredRow) -> bool:
    """InChI equality; an invalid or empty prediction never matches. Molecules InChI cannot write (e.g. with a `*`
    atom, whose InChI is empty) are compared by canonical SMILES instead."""
    if row.prediction is None or row.prediction.GetNumAtoms() == 0:
        return False
    prediction_inchi, reference_inchi = Chem.MolToInchi(row.prediction), Chem.MolToInchi(row.reference)
    if prediction_inchi and reference_inchi:
        return prediction_inchi == reference_inchi
    return Chem.MolToSmiles(row.prediction) == Chem.MolToSmiles(row.reference)


def character_bleu(rows: list[ScoredRow]) -> float:
    """MolT5's SMILES BLEU: corpus BLEU-4 over characters, one reference per prediction."""
    string_pairs = [row.bleu_strings for row in rows]
    references = [[list(reference)] for _, reference in string_pairs]
    predictions = [list(prediction) for prediction, _ in string_pairs]
    return float(corpus_bleu(references, predictions))


def mean_levenshtein(rows: list[ScoredRow]) -> float:
    """Mean edit distance between the strings each row's protocol compares."""
    return float(np.mean([Levenshtein.distance(*row.levenshtein_strings) for row in rows]))


def fingerprint_similarities(rows: list[ScoredRow]) -> dict[str, float]:
    """Mean MACCS, RDK and count-Morgan Tanimoto similarities over the rows with a valid prediction (NaN if none)."""
    valid_rows = [row for row in rows if row.prediction is not None]
    morgan = rdFingerprintGenerator.GetMorganGenerator(radius=MORGAN_RADIUS)
    fingerprints = {
        "maccs_similarity": MACCSkeys.GenMACCSKeys,
        "rdk_similarity": Chem.RDKFingerprint,
        "morgan_similarity": morgan.GetSparseCountFingerprint,
    }
    return {
        name: mean_or_nan(
            [DataStructs.TanimotoSimilarity(fingerprint(row.reference), fingerprint(row.prediction)) for row in valid_rows]
        )
        for name, fingerprint in fingerprints.items()
    }


def mean_or_nan(values: list[float]) -> float:
    """The mean, NaN for no values (rather than numpy's warning)."""
    return float(np.mean(values)) if values else float("nan")


def check_choice(value: str, choices: tuple[str, ...], name: str) -> None:
    """Raises a ValueError when `value` is not one of `choices`."""
    if value not in choices:
        raise ValueError(f"{name}={value!r} is not one of {', '.join(choices)}")


def check_references(references: list, input_format: str) -> None:
    """Raises a ValueError naming the first reference that is not a valid molecule with at least one atom."""
    for index, reference in enumerate(references):
        molecule = parse_molecule(to_smiles(reference, input_format)) if isinstance(reference, str) else None
        if molecule is None or molecule.GetNumAtoms() == 0:
            raise ValueError(f"references[{index}] = {reference!r} is not a valid {input_format} molecule")


def check_predictions(predictions: list) -> None:
    """Raises a TypeError naming the first prediction that is not a string (empty strings are fine)."""
    for index, prediction in enumerate(predictions):
        if not isinstance(prediction, str):
            raise TypeError(f"predictions[{index}] is {prediction!r}, not a string")


def score_molecules(predictions: list[str], references: list[str], mode: str = "molt5",
                    input_format: str = "smiles") -> dict:
    """The metric on generated molecules in `mode`'s protocol (see the module docstring)."""
    check_choice(mode, MODES, "mode")
    check_choice(input_format, INPUT_FORMATS, "input_format")
    if not predictions:
        raise ValueError("No predictions to score")
    check_predictions(predictions)
    # RDKit logs every rejected SMILES; invalid predictions are expected here and counted instead.
    with rdBase.BlockLogs():
        check_references(references, input_format)
        rows_of_mode = molt5_rows if mode == "molt5" else instructmol_rows
        scored_rows = rows_of_mode(predictions, references, input_format)
        exact_matches = [is_exact_match(row) for row in scored_rows]
        similarities = fingerprint_similarities(scored_rows)
    return {
        "mode": mode,
        "exact_match": mean_or_nan(exact_matches),
        "bleu": character_bleu(scored_rows) if scored_rows else float("nan"),
        "levenshtein": mean_levenshtein(scored_rows) if scored_rows else float("nan"),
        **similarities,
        # molt5 scores every row, instructmol only valid ones: either way, valid rows over all rows.
        "validity": sum(row.prediction is not None for row in scored_rows) / len(predictions),
        "num_examples": len(predictions),
        "num_scored": len(scored_rows),
    }
