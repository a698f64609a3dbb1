"""USPTO reaction tasks of Mol-Instructions (forward prediction, retrosynthesis, reagent prediction) for InstructMol.

Configs `forward_g`, `forward_gs`, `retrosynthesis_g`, `retrosynthesis_gs`, `reagent_g`, `reagent_gs`. The graphs
(`images`): every reactant for forward prediction (the original code used only the first), the reactants for
reagent prediction, the product for retrosynthesis; each '.'-separated molecule is one graph. GS prompts append
the record's SELFIES input, as the paper did. Targets are SELFIES, or SMILES with `--target-format smiles`.
Splits: the records' `metadata.split` (train/test); `--validation-fraction` of train (by a seeded hash of the
input) becomes validation.

    python datasets/reactions.py --output reactions [--source Molecule-oriented_Instructions.zip]
"""

from dataclasses import dataclass

from datasets import Dataset

from instructmol.data import (
    BEFORE_SPLITTING,
    GS_TEMPLATE_APPENDED,
    MISSING_VALUE,
    CardSpec,
    build_task,
    builder_argument_parser,
    candidate,
    candidates_dataset,
    fetch,
    finish_build,
    hashed_split,
    resolve_molecules,
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

NOT_A_REACTION = "input is not a reaction (no '>>')"


@dataclass(frozen=True)
class ReactionTask:
    """One Mol-Instructions reaction task: its file and which molecules of the input become graphs."""

    file_name: str
    task: str
    graphs_from: str  # 'all' molecules of the input, or the 'reactants' of 'reactants>>product'


REACTION_TASKS = {
    "forward": ReactionTask("forward_reaction_prediction.json", "forward_reaction_prediction", "all"),
    "retrosynthesis": ReactionTask("retrosynthesis.json", "retrosynthesis", "all"),
    "reagent": ReactionTask("reagent_prediction.json", "reagent_prediction", "reactants"),
}

CARD = CardSpec(
    pretty_name="InstructMol USPTO reactions (Mol-Instructions)",
    summary=(
        "Forward reaction prediction, retrosynthesis and reagent prediction on USPTO reactions, from "
        "Mol-Instructions (Fang et al., ICLR 2024), in the prompt/completion form InstructMol (Cao et al., "
        "COLING 2025) trains on. The molecules of the input are given as graphs (`images`: all reactants for "
        "forward prediction, the reactants for reagent prediction, the product for retrosynthesis); `*_gs` configs "
        "also append the SELFIES input to the instruction, as the paper did. Targets are SELFIES unless the build "
        "command asked for `--target-format smiles`."
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


def graph_molecules(selfies_input: str, graphs_from: str) -> tuple[list[str], str]:
    """The SELFIES molecules of an input that become graphs, or ([], drop reason)."""
    if graphs_from == "reactants":
        if ">>" not in selfies_input:
            return [], NOT_A_REACTION
        selfies_input = selfies_input.split(">>")[0]
    molecules = [part for part in selfies_input.split(".") if part]
    return molecules, "" if molecules else MISSING_VALUE


def reaction_candidates(records: list[dict], spec: ReactionTask, seed: int, validation_fraction: float) -> Dataset:
    """One candidate per record, with the record's own instruction."""
    fractions = split_fractions(validation_fraction)
    rows = []
    for index, record in enumerate(records):
        selfies_input, target = output_text(record["input"]), output_text(record["output"])
        source_split = record_split(record)
        molecules, reason = graph_molecules(selfies_input, spec.graphs_from)
        split = hashed_split(selfies_input, seed, fractions) if source_split == "train" else source_split
        if not split:
            reason = UNKNOWN_SPLIT
        elif not reason and not target:
            reason = MISSING_VALUE
        rows.append(candidate(row_id=f"{source_split or 'unknown'}-{index}", task=spec.task,
                              split=split or BEFORE_SPLITTING, molecules=molecules, display=selfies_input,
                              instruction=output_text(record["instruction"]), target=target, drop_reason=reason))
    return candidates_dataset(rows)


def main(argv: list[str] | None = None) -> None:
    parser = builder_argument_parser(
        __doc__.splitlines()[0],
        source_help="Mol-Instructions zip, or a folder with the task JSON files; default: download the zip",
    )
    parser.add_argument("--tasks", nargs="+", choices=list(REACTION_TASKS), default=list(REACTION_TASKS))
    parser.add_argument("--target-format", choices=["selfies", "smiles"], default="selfies",
                        help="notation of the answers (Mol-Instructions and the paper use SELFIES)")
    parser.add_argument("--validation-fraction", type=float, default=0.01,
                        help="share of train inputs held out for validation")
    args = parser.parse_args(argv)
    start_build(args)

    source = fetch(args.source or MOL_INSTRUCTIONS_ZIP)
    builds = []
    for name in args.tasks:
        spec = REACTION_TASKS[name]
        records = read_task_records(source, spec.file_name)
        checked = resolve_molecules(
            reaction_candidates(records, spec, args.seed, args.validation_fraction),
            notation="selfies",
            max_atoms=args.max_atoms,
            gs_notation=args.gs_notation,
            target_notation="selfies",
            target_format=args.target_format,
            num_proc=args.num_proc,
        )
        builds.append(build_task(name, spec.task, checked, configs={f"{name}_g": "g", f"{name}_gs": "gs"},
                                 gs_template=GS_TEMPLATE_APPENDED, gs_notation=args.gs_notation))
    finish_build(args, CARD, builds)


if __name__ == "__main__":
    main()
