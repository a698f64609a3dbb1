"""ChEBI-20 molecule description generation (MolT5's splits) as an InstructMol dataset.

Configs `g` (graph only) and `gs` (graph plus the SELFIES string in the prompt); splits train/validation/test as
MolT5 published them; the answer is the ChEBI description, the question is drawn from a pool with `--seed`.

    python datasets/chebi20.py --output chebi20 [--source FOLDER_OR_URL_PREFIX] [--splits train validation test]
"""

from datasets import Dataset

from instructmol.data import (
    DESCRIPTION_QUESTIONS,
    EMPTY_TEXT,
    GS_TEMPLATE_NAMED,
    MISSING_VALUE,
    CardSpec,
    build_task,
    builder_argument_parser,
    candidate,
    candidates_dataset,
    finish_build,
    pick_instruction,
    resolve_molecules,
    start_build,
)
from instructmol.data.molt5 import CHEBI20_SPLIT_FILES, MOLT5_CHEBI20_URL, chebi20_split_location, read_chebi20_file

TASK = "chebi20_description"

CARD = CardSpec(
    pretty_name="InstructMol ChEBI-20 molecule description",
    summary=(
        "Molecule description generation on ChEBI-20 (Edwards et al., 2021; MolT5's train/validation/test splits), "
        "in the conversational prompt/completion form InstructMol (Cao et al., COLING 2025) trains and evaluates "
        "on. Config `g` gives the model the molecule as a graph only (InstructMol-G); `gs` also writes its SELFIES "
        "string into the question (InstructMol-GS)."
    ),
    source=(
        "MolT5's `ChEBI-20_data/{train,validation,test}.txt` (GitHub `blender-nlp/MolT5`): tab-separated files "
        "with the header `CID\\tSMILES\\tdescription`; 26,407 / 3,301 / 3,300 molecules. The descriptions come from "
        "ChEBI, with the molecule's name replaced by \"The molecule\"."
    ),
    license="cc-by-4.0",
    license_details=(
        "ChEBI data is available under CC BY 4.0; ChEBI-20 is redistributed by the MolT5 authors. Cite ChEBI, "
        "Text2Mol and MolT5 when you use it."
    ),
    citations=[
        """@inproceedings{edwards2021text2mol,
  title     = {Text2Mol: Cross-Modal Molecule Retrieval with Natural Language Queries},
  author    = {Edwards, Carl and Zhai, ChengXiang and Ji, Heng},
  booktitle = {Proceedings of EMNLP 2021},
  year      = {2021}
}""",
        """@inproceedings{edwards2022molt5,
  title     = {Translation between Molecules and Natural Language},
  author    = {Edwards, Carl and Lai, Tuan and Ros, Kevin and Honke, Garrett and Cho, Kyunghyun and Ji, Heng},
  booktitle = {Proceedings of EMNLP 2022},
  year      = {2022}
}""",
    ],
)


def chebi20_candidates(source: str, splits: list[str], seed: int) -> Dataset:
    """One candidate per row of each split file; rows without SMILES or description are marked dropped."""
    records = []
    for split in splits:
        frame = read_chebi20_file(chebi20_split_location(source, split))
        for row_number, (cid, smiles, description) in enumerate(zip(frame["CID"], frame["SMILES"],
                                                                      frame["description"])):
            smiles, description = smiles.strip(), description.strip()
            row_id = cid.strip() or f"{split}-{row_number}"
            records.append(
                candidate(
                    row_id=row_id,
                    task=TASK,
                    split=split,
                    molecules=[smiles] if smiles else [],
                    instruction=pick_instruction(DESCRIPTION_QUESTIONS, seed, row_id),
                    target=description,
                    drop_reason=MISSING_VALUE if not smiles else EMPTY_TEXT if not description else "",
                )
            )
    return candidates_dataset(records)


def main(argv: list[str] | None = None) -> None:
    parser = builder_argument_parser(
        __doc__.splitlines()[0],
        source_help="folder or URL prefix holding MolT5's train.txt, validation.txt and test.txt",
        default_source=MOLT5_CHEBI20_URL,
    )
    parser.add_argument("--splits", nargs="+", choices=list(CHEBI20_SPLIT_FILES), default=list(CHEBI20_SPLIT_FILES),
                        help="which split files to build")
    args = parser.parse_args(argv)
    start_build(args)
    checked = resolve_molecules(
        chebi20_candidates(args.source, args.splits, args.seed),
        notation="smiles",
        max_atoms=args.max_atoms,
        gs_notation=args.gs_notation,
        num_proc=args.num_proc,
    )
    build = build_task("description", TASK, checked, configs={"g": "g", "gs": "gs"}, gs_template=GS_TEMPLATE_NAMED,
                       gs_notation=args.gs_notation)
    finish_build(args, CARD, [build])


if __name__ == "__main__":
    main()
