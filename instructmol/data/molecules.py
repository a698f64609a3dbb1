"""Molecule checks, exactly as the model reads molecules, and notation conversion (SMILES <-> SELFIES).

Every molecule that reaches a dataset passes `MolecularGraphFeaturizer.featurize`, the processor's own featurizer
(the one molecule check), so a dataset row can never fail inside the training collator.
"""

from typing import Any

import selfies
from rdkit import Chem, rdBase

from datasets import Dataset
from featurization_instructmol import InvalidMoleculeError, MolecularGraphFeaturizer, TooManyAtomsError

from ..defaults import DEFAULT_MAX_ATOMS
from ..tasks import get_task
from .prompts import BuildOptions, graph_molecules


# Drop reasons shared by several builders (builders add their own, e.g. "description too short").
UNPARSABLE_SMILES = "SMILES rejected by the featurizer"
UNDECODABLE_SELFIES = "SELFIES cannot be decoded"
NO_SELFIES_ENCODING = "no SELFIES encoding of the SMILES"
UNDECODABLE_TARGET = "target SELFIES cannot be decoded"
MISSING_VALUE = "missing value"
NOT_A_REACTION = "input is not a reaction (no '>>')"
EMPTY_TEXT = "empty text"


def map_processes(num_proc: int | None, num_rows: int) -> int | None:
    """`num_proc` for `Dataset.map`: None (in this process) unless several processes have rows to share."""
    return num_proc if num_proc and num_proc > 1 and num_rows > 1 else None


def too_many_atoms(max_atoms: int) -> str:
    return f"more than {max_atoms} heavy atoms"


def selfies_to_smiles(selfies_string: str) -> str:
    """Decodes SELFIES; raises ValueError naming the string when it does not decode to a molecule."""
    try:
        smiles = selfies.decoder(selfies_string)
    except selfies.DecoderError as error:
        raise ValueError(f"cannot decode SELFIES {selfies_string!r}: {error}") from None
    if not smiles:
        raise ValueError(f"SELFIES {selfies_string!r} decodes to an empty molecule")
    return smiles


def smiles_to_selfies(smiles: str) -> str:
    """Encodes SMILES as SELFIES; raises ValueError naming the SMILES when SELFIES cannot express it.

    SMILES that the SELFIES parser rejects but RDKit reads (MolT5's ChEBI-20 files write bond directions as an
    escaped '\\\\', about 15% of its molecules) are encoded from RDKit's rewriting of the same molecule.
    """
    try:
        return selfies.encoder(smiles, strict=True)
    except selfies.EncoderError:
        pass
    with rdBase.BlockLogs():
        mol = Chem.MolFromSmiles(smiles)
    try:
        if mol is not None:
            return selfies.encoder(Chem.MolToSmiles(mol), strict=True)
    except selfies.EncoderError as error:
        raise ValueError(f"cannot encode SMILES {smiles!r} as SELFIES: {error}") from None
    raise ValueError(f"cannot encode SMILES {smiles!r} as SELFIES: RDKit cannot parse it")


def translate_reaction_string(text: str, source: str, target: str) -> str:
    """Converts a molecule or reaction string ('a.b>>c') between 'smiles' and 'selfies', part by part."""
    if source == target:
        return text
    convert = selfies_to_smiles if source == "selfies" else smiles_to_selfies
    return ">>".join(".".join(convert(part) for part in side.split(".")) for side in text.split(">>"))


def inchikey(smiles: str) -> str:
    """The molecule's InChIKey, or '' when RDKit cannot parse the SMILES or make an InChI."""
    with rdBase.BlockLogs():
        mol = Chem.MolFromSmiles(smiles)
        return Chem.MolToInchiKey(mol) if mol is not None else ""


class MoleculeChecker:
    """Says why the model could not read a SMILES: unparsable (the featurizer's verdict) or too many atoms.

    Args:
        max_atoms: the most heavy atoms a molecule may have; each atom becomes one prompt token.
    """

    def __init__(self, max_atoms: int = DEFAULT_MAX_ATOMS):
        self.max_atoms = max_atoms
        # Sources repeat molecules (PubChem has several descriptions per molecule); a small cache is enough.
        self.featurizer = MolecularGraphFeaturizer(cache_size=20_000)

    def problem(self, smiles: str) -> str:
        """'' when the model can read the molecule, else the drop reason."""
        try:
            self.featurizer.featurize(smiles, max_atoms=self.max_atoms)
        except TooManyAtomsError:
            return too_many_atoms(self.max_atoms)
        except InvalidMoleculeError:
            return UNPARSABLE_SMILES
        return ""


def _checked_images(molecules: list[str], notation: str, checker: MoleculeChecker) -> tuple[list[str], str]:
    images = []
    for molecule in molecules:
        if notation == "selfies":
            try:
                molecule = selfies_to_smiles(molecule)
            except ValueError:
                return [], UNDECODABLE_SELFIES
        problem = checker.problem(molecule)
        if problem:
            return [], problem
        images.append(molecule)
    return images, ""


def _molecule_text(molecule_input: str, notation: str, text_notation: str) -> tuple[str, str]:
    """(the input in `text_notation`, '') or ('', drop reason) when one of its molecules does not convert."""
    try:
        if notation == "selfies":  # every molecule must decode, even when the text stays SELFIES
            as_smiles = translate_reaction_string(molecule_input, notation, "smiles")
            return (as_smiles if text_notation == "smiles" else molecule_input), ""
        return translate_reaction_string(molecule_input, notation, text_notation), ""
    except ValueError:
        return "", UNDECODABLE_SELFIES if notation == "selfies" else NO_SELFIES_ENCODING


def _resolve_batch(
    batch: dict[str, list],
    checker: MoleculeChecker,
    options: BuildOptions,
    notation: str,
    needs_text: bool,
    target_notation: str,
    target_format: str,
) -> dict[str, list]:
    images_column, texts_column, targets_column, reasons_column = [], [], [], []
    for task_name, molecule_input, target, reason in zip(
        batch["task"], batch["input"], batch["target"], batch["drop_reason"]
    ):
        images, molecule_text = [], ""
        if not reason and not molecule_input:
            reason = MISSING_VALUE
        if not reason:
            try:
                graphs = graph_molecules(get_task(task_name), molecule_input, options)
            except ValueError:
                reason = NOT_A_REACTION
        if not reason:
            images, reason = _checked_images(graphs, notation, checker)
        if not reason and needs_text:
            # Molecules that are not graphs (the other reactants, a product) are still written as text: each must
            # decode, even when the text keeps the source's notation.
            molecule_text, reason = _molecule_text(molecule_input, notation, options.text_notation)
        if not reason and target_notation == "selfies":
            try:
                decoded = selfies_to_smiles(target)
                target = decoded if target_format == "smiles" else target
            except ValueError:
                reason = UNDECODABLE_TARGET
        images_column.append(images)
        texts_column.append(molecule_text)
        targets_column.append(target)
        reasons_column.append(reason)
    return {"images": images_column, "molecule_text": texts_column, "target": targets_column,
            "drop_reason": reasons_column}


def resolve_molecules(
    candidates: Dataset,
    options: BuildOptions,
    *,
    notation: str,
    needs_text: bool,
    max_atoms: int = DEFAULT_MAX_ATOMS,
    target_notation: str = "text",
    target_format: str = "selfies",
    num_proc: int | None = None,
) -> Dataset:
    """Checks every molecule of every candidate the way the model reads it (the heavy step, run in `num_proc`).

    Adds `images` (the molecules that become graphs, as the row's task and `options.reaction_graphs` choose them,
    as SMILES) and `molecule_text` (the input in `options.text_notation`, for prompts that write the molecule;
    empty unless `needs_text`). Writes a drop reason for candidates without input, a reaction input without
    '>>', an undecodable SELFIES, a SMILES the featurizer rejects, a molecule over `max_atoms`, a molecule
    SELFIES cannot encode (with `needs_text`), or (with `target_notation='selfies'`) a target SELFIES that does
    not decode. With `target_format='smiles'` SELFIES targets become SMILES.

    Args:
        candidates: rows in `CANDIDATE_FEATURES` form (plus any extra columns, kept).
        notation: the notation of the candidates' `input`: 'smiles' or 'selfies'.
        needs_text: whether a prompt built from these rows writes the molecule as text.
    """
    fn_kwargs: dict[str, Any] = {
        "checker": MoleculeChecker(max_atoms),
        "options": options,
        "notation": notation,
        "needs_text": needs_text,
        "target_notation": target_notation,
        "target_format": target_format,
    }
    return candidates.map(
        _resolve_batch,
        batched=True,
        batch_size=500,
        fn_kwargs=fn_kwargs,
        num_proc=map_processes(num_proc, len(candidates)),
        desc="Checking molecules with the featurizer",
    )
