"""Instruction pools and how a row's instruction is chosen and extended with the molecule string (GS variant).

Mol-Instructions rows keep their own instructions. Sources without instructions (ChEBI-20, PubChem, raw QM9,
MoleculeNet, the quickstart) draw one from a pool below, as the paper did. The choice depends only on the seed and
the row's id, never on row order or worker process, so a build is reproducible whatever `--num-proc` is.
"""

import hashlib
from collections.abc import Sequence

DESCRIPTION_QUESTIONS = (
    "Describe this molecule.",
    "Could you describe this molecule?",
    "What can you tell me about this molecule?",
    "Give a brief overview of this molecule.",
    "Please provide a description of this molecule.",
    "Tell me about this molecule.",
    "Write a short description of this molecule.",
)

# Values are in hartree, as in QM9 and Mol-Instructions; saying so in the question pins the unit of the answer.
QM9_QUESTIONS = {
    "homo": (
        "What is the HOMO energy of this molecule in hartree?",
        "Give the energy of the highest occupied molecular orbital (HOMO) of this molecule, in hartree.",
        "Predict the HOMO energy (hartree) of this molecule.",
        "How high is the HOMO level of this molecule, in hartree?",
    ),
    "lumo": (
        "What is the LUMO energy of this molecule in hartree?",
        "Give the energy of the lowest unoccupied molecular orbital (LUMO) of this molecule, in hartree.",
        "Predict the LUMO energy (hartree) of this molecule.",
        "How high is the LUMO level of this molecule, in hartree?",
    ),
    "gap": (
        "What is the HOMO-LUMO gap of this molecule in hartree?",
        "Give the energy difference between the HOMO and the LUMO of this molecule, in hartree.",
        "Predict the HOMO-LUMO gap (hartree) of this molecule.",
        "How large is the gap between the HOMO and LUMO levels of this molecule, in hartree?",
    ),
}

MOLECULENET_QUESTIONS = {
    "bace": (
        "Can this molecule inhibit human beta-secretase 1 (BACE-1)? Answer Yes or No.",
        "Is this molecule an inhibitor of BACE-1 (human beta-secretase 1)? Answer Yes or No.",
        "Does this molecule bind and inhibit the BACE-1 enzyme? Answer Yes or No.",
        "Would this compound act as a human beta-secretase 1 inhibitor? Answer Yes or No.",
    ),
    "bbbp": (
        "Can this molecule penetrate the blood-brain barrier? Answer Yes or No.",
        "Is this molecule able to cross the blood-brain barrier? Answer Yes or No.",
        "Does this compound permeate the blood-brain barrier? Answer Yes or No.",
        "Would this molecule reach the brain through the blood-brain barrier? Answer Yes or No.",
    ),
    "hiv": (
        "Can this molecule inhibit HIV replication? Answer Yes or No.",
        "Is this molecule active against HIV replication? Answer Yes or No.",
        "Does this compound inhibit the replication of HIV? Answer Yes or No.",
        "Would this molecule act as an HIV replication inhibitor? Answer Yes or No.",
    ),
}

# The paper's GS prompts: the question, then the molecule string (InstructMol's own wording for property and
# description tasks; Mol-Instructions' reaction inputs are appended as they are).
GS_TEMPLATE_NAMED = "{instruction} The compound {notation} sequence is: {molecule_string}"
GS_TEMPLATE_APPENDED = "{instruction} {molecule_string}"

NOTATION_NAMES = {"selfies": "SELFIES", "smiles": "SMILES"}


def pick_instruction(pool: Sequence[str], seed: int, row_id: str) -> str:
    """The pool entry for a row: a hash of (seed, row id), stable across processes and Python versions."""
    digest = hashlib.sha256(f"{seed}\x00{row_id}".encode()).digest()
    return pool[int.from_bytes(digest[:8], "big") % len(pool)]


def gs_instruction(template: str, instruction: str, molecule_string: str, notation: str) -> str:
    """The InstructMol-GS prompt: the instruction with the molecule string in `notation` ('selfies' or 'smiles')."""
    return template.format(
        instruction=instruction, notation=NOTATION_NAMES[notation], molecule_string=molecule_string
    )
