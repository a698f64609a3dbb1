"""QM9 HOMO / LUMO / HOMO-LUMO gap regression as InstructMol datasets (answers: numbers in hartree, as text).

Configs `homo_g`, `homo_gs`, `lumo_g`, `lumo_gs`, `gap_g`, `gap_gs`, `all_g`, `all_gs` (`all`: the three properties
together). Sources:
- `--origin mol-instructions` (default, the paper's data): `property_prediction.json` of Mol-Instructions
  (SELFIES inputs, the record's own instruction, its `metadata.split`; `--validation-fraction` of train, by a seeded
  hash of the molecule, becomes validation). The property is read from the instruction's wording.
- `--origin qm9pack`: raw QM9 from the `qm9pack` wheel (offline), a seeded 80/10/10 random split by molecule,
  questions drawn from a pool, values written with 4 decimals.

    python datasets/qm9.py --output qm9 [--origin qm9pack] [--limit 5000]
"""

import math
import re
from pathlib import Path

from datasets import Dataset, Value, concatenate_datasets

from instructmol.data import (
    BEFORE_SPLITTING,
    GS_TEMPLATE_NAMED,
    MISSING_VALUE,
    QM9_QUESTIONS,
    CardSpec,
    build_task,
    builder_argument_parser,
    candidate,
    candidates_dataset,
    fetch,
    finish_build,
    hashed_split,
    pick_instruction,
    resolve_molecules,
    sized_random_split,
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
from instructmol.data.qm9pack import PROPERTY_COLUMNS, QM9_CITATION, read_qm9pack

PROPERTIES = tuple(PROPERTY_COLUMNS)
TASKS = {prop: f"qm9_{prop}" for prop in PROPERTIES}
UNKNOWN_PROPERTY = "instruction names no HOMO, LUMO or gap"
NOT_A_NUMBER = "value is not a number"
PROPERTY_FEATURE = {"property": Value("string")}
VALUE_FEATURES = {prop: Value("float64") for prop in PROPERTIES}

CARD = CardSpec(
    pretty_name="InstructMol QM9 HOMO/LUMO/gap",
    summary=(
        "Quantum-chemical property regression on QM9 (HOMO, LUMO and HOMO-LUMO gap, in hartree) in the "
        "prompt/completion form InstructMol (Cao et al., COLING 2025) trains on: the answer is the number as text. "
        "`*_g` configs give the molecule as a graph only (InstructMol-G), `*_gs` also write its SELFIES string into "
        "the question (InstructMol-GS); `all_*` mixes the three properties."
    ),
    source=(
        "Either Mol-Instructions' `property_prediction.json` (inside `data/Molecule-oriented_Instructions.zip` of "
        "the Hub dataset `zjunlp/Mol-Instructions`; records `instruction`, `input` (SELFIES), `output` (hartree), "
        "`metadata.split`), which is what the paper trained and evaluated on, or raw QM9 (Ramakrishnan et al., "
        "2014) from the `qm9pack` wheel (`qm9_part{1,2,3}.csv`, columns `Index`, `SMILES`, `HOMO_au`, `LUMO_au`, "
        "`HOMO_LUMO_gap_au`). The build command below says which."
    ),
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
    """Which QM9 property an instruction asks for ('homo', 'lumo', 'gap'), or '' when it names none."""
    text = instruction.lower()
    if re.search(r"\bgap\b|difference|separation", text) or ("homo" in text and "lumo" in text):
        return "gap"
    if "lumo" in text or "lowest unoccupied" in text:
        return "lumo"
    if "homo" in text or "highest occupied" in text:
        return "homo"
    return ""


def value_problem(value: str) -> str:
    if not value:
        return MISSING_VALUE
    try:
        number = float(value)
    except ValueError:
        return NOT_A_NUMBER
    return NOT_A_NUMBER if not math.isfinite(number) else ""


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
            reason = value_problem(value) if selfies_input else MISSING_VALUE
        rows.append(candidate(row_id=f"{source_split or 'unknown'}-{index}", task=TASKS.get(prop, "qm9"),
                              split=split or BEFORE_SPLITTING, molecules=[selfies_input] if selfies_input else [],
                              instruction=instruction, target=value, drop_reason=reason, property=prop))
    return candidates_dataset(rows, PROPERTY_FEATURE)


def qm9pack_candidates(folder: Path | None, seed: int, limit: int | None) -> Dataset:
    """One candidate per QM9 molecule (task and question come per property later), a seeded 80/10/10 split."""
    molecules = read_qm9pack(folder, limit=limit, seed=seed)
    row_ids = [str(index) for index in molecules["Index"]]
    splits = sized_random_split(row_ids, seed, split_fractions(0.1, 0.1))
    rows = []
    for row_id, split, (_, smiles, *values) in zip(row_ids, splits, molecules.itertuples(index=False)):
        smiles = smiles.strip() if isinstance(smiles, str) else ""
        rows.append(candidate(row_id=row_id, task="", split=split,
                              molecules=[smiles] if smiles else [], instruction="", target="",
                              drop_reason="" if smiles else MISSING_VALUE,
                              **dict(zip(PROPERTIES, values))))
    return candidates_dataset(rows, VALUE_FEATURES)


def _property_rows(batch: dict[str, list], prop: str, seed: int) -> dict[str, list]:
    tasks, instructions, targets, reasons = [], [], [], []
    for row_id, value, reason in zip(batch["id"], batch[prop], batch["drop_reason"]):
        missing = value is None or math.isnan(value)
        tasks.append(TASKS[prop])
        instructions.append(pick_instruction(QM9_QUESTIONS[prop], seed, f"{row_id}/{prop}"))
        targets.append("" if missing else f"{value:.4f}")
        reasons.append(reason or (MISSING_VALUE if missing else ""))
    return {"task": tasks, "instruction": instructions, "target": targets, "drop_reason": reasons}


def qm9pack_property(checked_molecules: Dataset, prop: str, seed: int) -> Dataset:
    """The checked molecules as candidates of one property: its question, its value with 4 decimals."""
    return checked_molecules.map(_property_rows, batched=True, fn_kwargs={"prop": prop, "seed": seed},
                                 remove_columns=list(PROPERTIES), desc=f"QM9 {prop} rows")


def main(argv: list[str] | None = None) -> None:
    parser = builder_argument_parser(
        __doc__.splitlines()[0],
        source_help="mol-instructions: the zip, an unpacked folder or property_prediction.json (default: download "
        "the zip from the Hub); qm9pack: a folder with qm9_part{1,2,3}.csv (default: the installed wheel's)",
    )
    parser.add_argument("--origin", choices=["mol-instructions", "qm9pack"], default="mol-instructions")
    parser.add_argument("--validation-fraction", type=float, default=0.01,
                        help="share of Mol-Instructions train molecules held out for validation")
    parser.add_argument("--limit", type=int, help="qm9pack: a seeded random sample of this many molecules")
    args = parser.parse_args(argv)
    if args.limit is not None and args.origin != "qm9pack":
        parser.error("--limit samples raw QM9; it needs --origin qm9pack")
    start_build(args)

    if args.origin == "mol-instructions":
        records = read_task_records(fetch(args.source or MOL_INSTRUCTIONS_ZIP), "property_prediction.json")
        checked = resolve_molecules(mol_instructions_candidates(records, args.seed, args.validation_fraction),
                                    notation="selfies", max_atoms=args.max_atoms, gs_notation=args.gs_notation,
                                    num_proc=args.num_proc)
        per_property = {prop: checked.filter(lambda value, prop=prop: value == prop, input_columns="property")
                        for prop in PROPERTIES}
        everything = checked
    else:
        folder = Path(args.source) if args.source else None
        checked = resolve_molecules(qm9pack_candidates(folder, args.seed, args.limit), notation="smiles",
                                    max_atoms=args.max_atoms, gs_notation=args.gs_notation, num_proc=args.num_proc)
        per_property = {prop: qm9pack_property(checked, prop, args.seed) for prop in PROPERTIES}
        everything = concatenate_datasets(list(per_property.values()))

    builds = [
        build_task(prop, TASKS[prop], candidates, configs={f"{prop}_g": "g", f"{prop}_gs": "gs"},
                   gs_template=GS_TEMPLATE_NAMED, gs_notation=args.gs_notation)
        for prop, candidates in per_property.items()
    ]
    builds.append(build_task("all", "qm9_homo, qm9_lumo, qm9_gap", everything, configs={"all_g": "g", "all_gs": "gs"},
                             gs_template=GS_TEMPLATE_NAMED, gs_notation=args.gs_notation))
    finish_build(args, CARD, builds)


if __name__ == "__main__":
    main()
