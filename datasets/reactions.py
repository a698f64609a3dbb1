"""USPTO reaction tasks of Mol-Instructions (forward prediction, retrosynthesis, reagent prediction) for InstructMol.

The tasks `forward`, `retrosynthesis`, `reagent`: configs `forward_g`, `forward_gs`, `retrosynthesis_g`,
`retrosynthesis_gs`, `reagent_g`, `reagent_gs`, built as the released code built them (see `instructmol/tasks.py`):
- forward: the first reactant is the graph; G names the other reactants as text, GS appends all of them;
- retrosynthesis: the product is the graph; G is the record's instruction, GS adds ` The product is: ...`;
- reagent: the reactant side is one graph; G asks one of the released four questions and names the product, GS
  adds ` The reaction is reactants>>product` to the record's instruction.
`--reaction-graphs every-molecule` makes every reactant a graph of its own instead. Targets are SELFIES, or SMILES
with `--target-format smiles`. Splits: the records' `metadata.split` (train/test); `--validation-fraction` of
train (by a seeded hash of the input) becomes validation.

    python datasets/reactions.py --output reactions [--source Molecule-oriented_Instructions.zip]
"""

from dataclasses import replace

from datasets import Dataset

from instructmol.arguments import fraction
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
    MISSING_VALUE,
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
from instructmol.tasks import Task, tasks_of_builder

# The Mol-Instructions file of each task this builder makes.
TASK_FILES = {
    "forward": "forward_reaction_prediction.json",
    "retrosynthesis": "retrosynthesis.json",
    "reagent": "reagent_prediction.json",
}
REACTION_TASKS = tasks_of_builder("datasets/reactions.py")

CARD = CardSpec(
    pretty_name="InstructMol USPTO reactions (Mol-Instructions)",
    summary=(
        "Forward reaction prediction, retrosynthesis and reagent prediction on USPTO reactions, from "
        "Mol-Instructions (Fang et al., ICLR 2024), in the prompt/completion form InstructMol (Cao et al., "
        "COLING 2025) trains on, built as its released code built them: the graph (`images`) is the first "
        "reactant for forward prediction (the other reactants are named as text), the product for retrosynthesis, "
        "and the reactant side as one graph for reagent prediction (whose prompts always name the product); `*_gs` "
        "configs also write the SELFIES input into the prompt. Targets are SELFIES unless the build command asked "
        "for `--target-format smiles`."
    ),
    split_protocol=(
        "the records' own `metadata.split` (train/test), as the paper used them; `--validation-fraction` of the "
        "train records (by a seeded hash of the input) becomes validation."
    ),
    source=(
        "`data/Molecule-oriented_Instructions.zip` of the Hub dataset `zjunlp/Mol-Instructions`: "
        "`forward_reaction_prediction.json`, `retrosynthesis.json`, `reagent_prediction.json`, each a list of "
        "records `{instruction, input, output, metadata: {task, split}}` with SELFIES molecules joined by '.' "
        "(reagent inputs are `reactants>>product`). Reactions come from USPTO (Lowe's patent extraction)."
    ),
    license="cc-by-4.0",
    license_details=(
        "Mol-Instructions is released under CC BY 4.0 (its authors ask for research use); the USPTO reaction data "
        "it derives from was extracted from US patents by Daniel Lowe and released under CC0."
    ),
    notes=(
        "Format check: the record layout and file names follow the dataset's card and the InstructMol and "
        "Mol-Instructions loaders; the zip itself was not downloaded while writing this builder."
    ),
    citations=[MOL_INSTRUCTIONS_CITATION],
)


def reaction_candidates(records: list[dict], task: Task, seed: int, validation_fraction: float) -> Dataset:
    """One candidate per record, with the record's own instruction (the released G prompts of reagent prediction
    replace it by their own questions, see `instructmol.tasks`)."""
    fractions = split_fractions(validation_fraction)
    rows = []
    for index, record in enumerate(records):
        selfies_input, target = output_text(record["input"]), output_text(record["output"])
        source_split = record_split(record)
        split = hashed_split(selfies_input, seed, fractions) if source_split == "train" else source_split
        reason = UNKNOWN_SPLIT if not split else MISSING_VALUE if selfies_input and not target else ""
        rows.append(candidate(row_id=f"{source_split or 'unknown'}-{index}", task=task.name,
                              split=split or BEFORE_SPLITTING, molecule_input=selfies_input,
                              instruction=output_text(record["instruction"]), target=target, drop_reason=reason))
    return candidates_dataset(rows, TASK_FILES[task.name])


def main(argv: list[str] | None = None) -> None:
    parser = builder_argument_parser(
        "reactions.py",
        __doc__.splitlines()[0],
        REACTION_TASKS,
        source_help="Mol-Instructions zip, or a folder with the task JSON files; default: download the zip",
    )
    parser.add_argument("--target-format", choices=["selfies", "smiles"], default="selfies",
                        help="notation of the answers (Mol-Instructions and the paper use SELFIES)")
    parser.add_argument("--validation-fraction", type=fraction, default=0.01,
                        help="share of train inputs held out for validation")
    args = parser.parse_args(argv)
    start_build(args)
    options = build_options(args)

    source = fetch(args.source or MOL_INSTRUCTIONS_ZIP)
    builds = []
    for task in REACTION_TASKS:
        if task.name not in args.tasks:
            continue
        records = read_task_records(source, TASK_FILES[task.name])
        checked = resolve_molecules(
            reaction_candidates(records, task, args.seed, args.validation_fraction),
            options,
            notation="selfies",
            needs_text=True,
            max_atoms=args.max_atoms,
            target_notation="selfies",
            target_format=args.target_format,
            num_proc=args.num_proc,
        )
        builds.append(build_task(task.name, checked, variants=task.variants, options=options))
    card = CARD if args.target_format == "selfies" else replace(CARD, differences=[
        *CARD.differences, "Answers are SMILES (`--target-format smiles`); the released code trained and evaluated "
        "on SELFIES answers. `--target-format selfies` restores that."])
    finish_build(args, card, builds)


if __name__ == "__main__":
    run_builder(main, "reactions.py")
