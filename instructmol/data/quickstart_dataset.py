"""Small offline datasets for the CPU quickstart: NCI molecules with RDKit-fact descriptions, and a QM9 gap subset.

Configs, for the registry's tasks `alignment` and `gap` from other sources than the paper's:
- `alignment_g`: molecules of RDKit's `Data/NCI/first_5K.smi` with a one- or two-sentence description generated from
  RDKit facts (formula, weight, rings, functional groups); a seeded 90/5/5 split.
- `gap_g`, `gap_gs`, `gap_s`: a seeded sample of QM9 (`qm9pack` wheel) asking for the HOMO-LUMO gap (the graph; the
  graph and the SELFIES string; the string only); the answer is the value in hartree with 4 decimals (short answers
  suit small LLMs whose tokenizers split every digit); splits 80/10/10.

    python datasets/quickstart.py --output quickstart [--num-molecules 5000] [--num-qm9 4000]

This module is that builder and `datasets/quickstart.py` only calls it: `instructmol quickstart` runs it from an
installed wheel too (`python -m instructmol.data.quickstart_dataset`).
"""

from pathlib import Path

from datasets import Dataset
from rdkit import Chem, RDConfig, rdBase
from rdkit.Chem import Descriptors, Fragments, rdMolDescriptors

from ..arguments import positive_int
from . import (
    CardSpec,
    build_options,
    build_task,
    builder_argument_parser,
    candidate,
    candidates_dataset,
    finish_build,
    map_processes,
    read_table,
    resolve_molecules,
    run_builder,
    sized_random_split,
    split_fractions,
    start_build,
)
from .qm9pack import QM9_CITATION, qm9pack_candidates
from ..defaults import QUICKSTART_TASK
from ..tasks import GRAPH_ONLY, TASKS

NCI_SMILES_FILE = Path(RDConfig.RDDataDir) / "NCI" / "first_5K.smi"
ALIGNMENT = TASKS["alignment"]

# In order of how much a chemist would say about them first; a description names at most three.
FUNCTIONAL_GROUPS = {
    "a carboxylic acid": Fragments.fr_COO,
    "an ester": Fragments.fr_ester,
    "an amide": Fragments.fr_amide,
    "a ketone": Fragments.fr_ketone,
    "an aldehyde": Fragments.fr_aldehyde,
    "a phenol": Fragments.fr_phenol,
    "an alcohol": Fragments.fr_Al_OH,
    "a primary amine": Fragments.fr_NH2,
    "a nitro group": Fragments.fr_nitro,
    "a nitrile": Fragments.fr_nitrile,
    "a sulfonamide": Fragments.fr_sulfonamd,
    "an ether": Fragments.fr_ether,
    "a halogen": Fragments.fr_halogen,
}
MAX_GROUPS_NAMED = 3

CARD = CardSpec(
    pretty_name="InstructMol quickstart (NCI descriptions, QM9 gap)",
    summary=(
        "Two small datasets that need no download, for trying InstructMol's two training stages on a CPU: "
        "`alignment_g` pairs NCI molecules with short descriptions generated from RDKit facts (formula, molecular "
        "weight, rings, functional groups), and `gap_g` asks for the HOMO-LUMO gap of QM9 molecules (hartree, 4 "
        "decimals), both with the molecule as a graph only (InstructMol-G); `gap_gs` adds the SELFIES string "
        "(InstructMol-GS), `gap_s` gives the string only (a plain LLM's baseline). The descriptions are template text, "
        "not curated knowledge: use them to check that a pipeline runs and learns, not to measure a model."
    ),
    source=(
        "`Data/NCI/first_5K.smi` shipped with RDKit (molecules of the NCI open database, `SMILES<TAB>NSC id` per "
        "line) and QM9 (Ramakrishnan et al., 2014) from the `qm9pack` wheel (`qm9_part{1,2,3}.csv`)."
    ),
    split_protocol="seeded random splits by molecule: 90/5/5 for `alignment_g`, 80/10/10 for the gap configs.",
    differences=[
        "Neither source is the paper's: NCI molecules with generated descriptions stand in for PubChem, raw QM9 "
        "(with this project's questions, `QM9_OWN_QUESTIONS`) for Mol-Instructions' QM9 records.",
    ],
    license="cc0-1.0",
    license_details=(
        "The NCI open database is public domain (RDKit ships the file under its BSD licence); QM9 is released "
        "under CC0; the generated descriptions are RDKit computations on them."
    ),
    citations=[QM9_CITATION],
)


def _ring_phrase(mol: Chem.Mol) -> str:
    rings = rdMolDescriptors.CalcNumRings(mol)
    aromatic = rdMolDescriptors.CalcNumAromaticRings(mol)
    if rings == 0:
        return "It has no rings"
    noun = "ring" if rings == 1 else "rings"
    if aromatic == rings:
        return f"It has {rings} aromatic {noun}"
    return f"It has {rings} {noun}" + (f", {aromatic} of them aromatic" if aromatic else "")


def describe_molecule(smiles: str) -> str:
    """One or two sentences of RDKit facts: formula, weight, rings and up to three functional groups."""
    with rdBase.BlockLogs():
        mol = Chem.MolFromSmiles(smiles)
    formula = rdMolDescriptors.CalcMolFormula(mol)
    weight = Descriptors.MolWt(mol)
    groups = [name for name, count in FUNCTIONAL_GROUPS.items() if count(mol)][:MAX_GROUPS_NAMED]
    sentence = f"The molecule has the formula {formula} and weighs {weight:.1f} g/mol. {_ring_phrase(mol)}"
    if groups:
        listed = groups[0] if len(groups) == 1 else ", ".join(groups[:-1]) + f" and {groups[-1]}"
        sentence += f" and contains {listed}"
    return sentence + "."


def _describe_batch(batch: dict[str, list]) -> dict[str, list]:
    return {"target": [describe_molecule(images[0]) if not reason else target
                       for images, target, reason in zip(batch["images"], batch["target"], batch["drop_reason"])]}


def nci_candidates(num_molecules: int | None, seed: int) -> Dataset:
    """NCI molecules (a seeded sample of `num_molecules`), descriptions to be written after the molecule check."""
    molecules = read_table(NCI_SMILES_FILE, sep="\t", header=None, names=["smiles", "nsc"], dtype=str,
                            keep_default_na=False)
    if num_molecules is not None and num_molecules < len(molecules):
        molecules = molecules.sample(n=num_molecules, random_state=seed).sort_index()
    row_ids = [f"NSC{nsc.strip()}" for nsc in molecules["nsc"]]
    splits = sized_random_split(row_ids, seed, split_fractions(0.05, 0.05))
    return candidates_dataset([
        candidate(row_id=row_id, task=ALIGNMENT.name, split=split, molecule_input=smiles.strip(), target="")
        for row_id, split, smiles in zip(row_ids, splits, molecules["smiles"])
    ], str(NCI_SMILES_FILE))


def main(argv: list[str] | None = None) -> None:
    parser = builder_argument_parser("quickstart.py", __doc__.splitlines()[0], [ALIGNMENT, QUICKSTART_TASK],
                                     source_help="not used: both sources ship with installed packages (rdkit, qm9pack)",
                                     choose_tasks=False)
    parser.add_argument("--num-molecules", type=positive_int, default=None,
                        help="NCI molecules in `alignment_g` (a seeded sample; default: all 4,999)")
    parser.add_argument("--num-qm9", type=positive_int, default=4000, help="QM9 molecules in the gap configs (a seeded sample)")
    args = parser.parse_args(argv)
    if args.source:
        parser.error("quickstart.py reads only files shipped with rdkit and qm9pack; --source is not used")
    start_build(args)
    options = build_options(args)

    nci = resolve_molecules(nci_candidates(args.num_molecules, args.seed), options, notation="smiles",
                            needs_text=False, max_atoms=args.max_atoms, num_proc=args.num_proc)
    nci = nci.map(_describe_batch, batched=True, num_proc=map_processes(args.num_proc, len(nci)),
                  desc="Describing molecules with RDKit")
    gap = resolve_molecules(qm9pack_candidates([QUICKSTART_TASK.name], limit=args.num_qm9, seed=args.seed), options,
                            notation="smiles", needs_text=True, max_atoms=args.max_atoms, num_proc=args.num_proc)
    builds = [build_task(ALIGNMENT.name, nci, variants=(GRAPH_ONLY,), options=options),
              build_task(QUICKSTART_TASK.name, gap, variants=QUICKSTART_TASK.variants, options=options)]
    finish_build(args, CARD, builds)


if __name__ == "__main__":
    run_builder(main, "quickstart_dataset.py")
