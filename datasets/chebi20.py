"""ChEBI-20 molecule description generation (MolT5's splits) as an InstructMol dataset: the task `description`.

Configs `description_g` (graph only) and `description_gs` (graph plus the SELFIES string in the prompt); splits
train/validation/test as MolT5 published them; the answer is the ChEBI description; the question is one of the
released code's seven, drawn per row with `--seed` (see `instructmol/tasks.py`).

    python datasets/chebi20.py --output chebi20 [--source FOLDER_OR_URL_PREFIX] [--splits train validation test]
"""

from datasets import Dataset

from instructmol.data import (
    EMPTY_TEXT,
    CardSpec,
    build_options,
    build_task,
    builder_argument_parser,
    candidate,
    candidates_dataset,
    finish_build,
    resolve_molecules,
    run_builder,
    start_build,
)
from instructmol.citations import MOLT5_CITATION, TEXT2MOL_CITATION
from instructmol.data.molt5 import CHEBI20_SPLIT_FILES, MOLT5_CHEBI20_URL, chebi20_split_location, read_chebi20_file
from instructmol.tasks import TASKS

TASK = TASKS["description"]

CARD = CardSpec(
    pretty_name="InstructMol ChEBI-20 molecule description",
    summary=(
        "Molecule description generation on ChEBI-20 (Edwards et al., 2021; MolT5's train/validation/test splits), "
        "in the conversational prompt/completion form InstructMol (Cao et al., COLING 2025) trains and evaluates "
        "on. Config `description_g` gives the model the molecule as a graph only (InstructMol-G); `description_gs` "
        "also writes its SELFIES string after the question (InstructMol-GS)."
    ),
    source=(
        "MolT5's `ChEBI-20_data/{train,validation,test}.txt` (GitHub `blender-nlp/MolT5`): tab-separated files "
        "with the header `CID\\tSMILES\\tdescription`; 26,407 / 3,301 / 3,300 molecules. The descriptions come from "
        "ChEBI, with the molecule's name replaced by \"The molecule\"."
    ),
    split_protocol="MolT5's published train/validation/test files, as the paper used them.",
    license="cc-by-4.0",
    license_details=(
        "ChEBI data is available under CC BY 4.0; ChEBI-20 is redistributed by the MolT5 authors. Cite ChEBI, "
        "Text2Mol and MolT5 when you use it."
    ),
    citations=[TEXT2MOL_CITATION, MOLT5_CITATION],
)


def chebi20_candidates(source: str, splits: list[str]) -> Dataset:
    """One candidate per row of each split file; rows without SMILES or description are marked dropped."""
    records = []
    for split in splits:
        frame = read_chebi20_file(chebi20_split_location(source, split))
        for row_number, (cid, smiles, description) in enumerate(zip(frame["CID"], frame["SMILES"],
                                                                      frame["description"])):
            smiles, description = smiles.strip(), description.strip()
            row_id = cid.strip() or f"{split}-{row_number}"
            records.append(
                candidate(row_id=row_id, task=TASK.name, split=split, molecule_input=smiles, target=description,
                          drop_reason=EMPTY_TEXT if smiles and not description else "")
            )
    return candidates_dataset(records, f"the ChEBI-20 files {splits} at {source}")


def main(argv: list[str] | None = None) -> None:
    parser = builder_argument_parser(
        "chebi20.py",
        __doc__.splitlines()[0],
        [TASK],
        source_help="folder or URL prefix holding MolT5's train.txt, validation.txt and test.txt",
        default_source=MOLT5_CHEBI20_URL,
    )
    parser.add_argument("--splits", nargs="+", choices=list(CHEBI20_SPLIT_FILES), default=list(CHEBI20_SPLIT_FILES),
                        help="which split files to build")
    args = parser.parse_args(argv)
    start_build(args)
    options = build_options(args)
    checked = resolve_molecules(chebi20_candidates(args.source, args.splits), options, notation="smiles",
                                needs_text=True, max_atoms=args.max_atoms, num_proc=args.num_proc)
    finish_build(args, CARD, [build_task(TASK.name, checked, variants=TASK.variants, options=options)])


if __name__ == "__main__":
    run_builder(main, "chebi20.py")
