"""MoleculeNet BACE, BBBP and HIV binary classification as InstructMol datasets (answers `Yes` / `No`).

The tasks `bace`, `bbbp`, `hiv`: configs `bace_g`, `bace_gs`, `bbbp_g`, `bbbp_gs`, `hiv_g`, `hiv_gs`. `--split
scaffold` (default, the paper's text): the deterministic Bemis-Murcko scaffold split 80/10/10 of GraphMVP/MoleculeSTM
(molecules that cannot be read are removed first); `--split random` (the released code's protocol): a seeded 80/10/10
random split. Questions are drawn per row with `--seed` from this project's pools (the released wording was never
published).

    python datasets/moleculenet.py --output moleculenet [--origin deepchem|moleculestm] [--source FOLDER] [--split random]
"""

from dataclasses import dataclass, replace

from datasets import Dataset

from instructmol.data import (
    BEFORE_SPLITTING,
    MISSING_VALUE,
    CardSpec,
    build_options,
    build_task,
    builder_argument_parser,
    candidate,
    candidates_dataset,
    column_values,
    fetch,
    find_file,
    finish_build,
    hub_dataset_file,
    is_remote,
    map_processes,
    murcko_scaffold,
    read_table,
    require_columns,
    resolve_molecules,
    scaffold_split,
    sized_random_split,
    split_fractions,
    start_build,
)
from instructmol.tasks import GROUPS, TASKS

DEEPCHEM_URL = "https://deepchemdata.s3-us-west-1.amazonaws.com/datasets"
MOLECULESTM_REPO = "chao1224/MoleculeSTM"
NOT_BINARY = "label is neither 0 nor 1"
NO_SCAFFOLD = "no Murcko scaffold"


@dataclass(frozen=True)
class MoleculeNetFile:
    """Where one MoleculeNet dataset's molecules and labels are."""

    file_name: str
    smiles_column: str
    label_column: str


# The source file of each task of the `moleculenet` group (`instructmol.tasks.GROUPS`).
MOLECULENET_FILES = {
    "bace": MoleculeNetFile("bace.csv", "mol", "Class"),
    "bbbp": MoleculeNetFile("BBBP.csv", "smiles", "p_np"),
    "hiv": MoleculeNetFile("HIV.csv", "smiles", "HIV_active"),
}
SPLIT_PROTOCOLS = {
    "scaffold": ("the deterministic Bemis-Murcko scaffold split (80/10/10) of GraphMVP and MoleculeSTM, as the "
                 "paper's text describes (`--split scaffold`); no scaffold is in two splits."),
    "random": ("a seeded random 80/10/10 split of the rows (`--split random`), the protocol of the released code "
               "(`instruct-random-train.pkl`; its seed and exact split were never published)."),
}

CARD = CardSpec(
    pretty_name="InstructMol MoleculeNet BACE / BBBP / HIV",
    summary=(
        "Binary molecular property classification from MoleculeNet (Wu et al., 2018) in the prompt/completion form "
        "InstructMol (Cao et al., COLING 2025) trains on: BACE (inhibits human beta-secretase 1), BBBP (penetrates "
        "the blood-brain barrier), HIV (inhibits HIV replication); the answer is `Yes` or `No`. `*_g` configs give "
        "the molecule as a graph only, `*_gs` also write its SELFIES string after the question. The released code "
        "trains one model on the three train splits pooled (`recipes/stage2/moleculenet.yaml`)."
    ),
    split_protocol=SPLIT_PROTOCOLS["scaffold"],
    differences=[
        "The questions are this project's (`MOLECULENET_POOLS` in `instructmol/tasks.py`): the released code never "
        "published its MoleculeNet wording or label strings. Answers are `Yes` / `No`.",
    ],
    source=(
        "MoleculeNet CSV files as DeepChem distributes them (`bace.csv`: columns `mol`, `Class`; `BBBP.csv`: "
        "`smiles`, `p_np`; `HIV.csv`: `smiles`, `HIV_active`), from DeepChem's bucket or from the Hub dataset "
        "`chao1224/MoleculeSTM` (`MoleculeNet_data/<name>/raw/<file>`)."
    ),
    license="mit",
    license_details=(
        "MoleculeNet is distributed by DeepChem under the MIT licence; the underlying assay data come from their "
        "original publications (BACE: Subramanian et al. 2016; BBBP: Martins et al. 2012; HIV: the DTP AIDS "
        "antiviral screen of the NCI)."
    ),
    notes=(
        "Format check: column names as in DeepChem's loaders; the MoleculeSTM mirror path "
        "(`MoleculeNet_data/<name>/raw/<file>`) follows MoleculeSTM's loaders and was not downloaded while "
        "writing this builder. Rows dropped before the scaffold split appear under `(before splitting)`."
    ),
    citations=[
        """@article{wu2018moleculenet,
  title   = {MoleculeNet: a benchmark for molecular machine learning},
  author  = {Wu, Zhenqin and Ramsundar, Bharath and Feinberg, Evan N. and Gomes, Joseph and Geniesse, Caleb and Pappu, Aneesh S. and Leswing, Karl and Pande, Vijay},
  journal = {Chemical Science},
  volume  = {9},
  number  = {2},
  pages   = {513--530},
  year    = {2018}
}""",
        """@article{liu2023moleculestm,
  title   = {Multi-modal molecule structure--text model for text-based retrieval and editing},
  author  = {Liu, Shengchao and Nie, Weili and Wang, Chengpeng and Lu, Jiarui and Qiao, Zhuoran and Liu, Ling and Tang, Jian and Xiao, Chaowei and Anandkumar, Animashree},
  journal = {Nature Machine Intelligence},
  volume  = {5},
  pages   = {1447--1457},
  year    = {2023}
}""",
    ],
)


def task_file_location(name: str, source: str | None, origin: str) -> str:
    """A dataset's CSV: under a local `source` folder (any layout), at a URL prefix, or the origin's default."""
    file_name = MOLECULENET_FILES[name].file_name
    if source and is_remote(source):
        return f"{source.rstrip('/')}/{file_name}"
    if source:
        folder = fetch(source)
        return str(find_file(folder, file_name) if folder.is_dir() else folder)
    if origin == "moleculestm":
        return hub_dataset_file(MOLECULESTM_REPO, f"MoleculeNet_data/{name}/raw/{file_name}")
    return f"{DEEPCHEM_URL}/{file_name}"


def label_answer(label: str) -> tuple[str, str]:
    """('Yes' | 'No', '') for a 0/1 label (also written '1.0'), else ('', drop reason)."""
    if not label:
        return "", MISSING_VALUE
    try:
        value = float(label)
    except ValueError:
        return "", NOT_BINARY
    return ("Yes", "") if value == 1 else ("No", "") if value == 0 else ("", NOT_BINARY)


def moleculenet_candidates(name: str, location: str) -> Dataset:
    """One candidate per CSV row, not yet split (the scaffold split needs the molecules read first)."""
    spec = MOLECULENET_FILES[name]
    frame = read_table(fetch(location), dtype=str, keep_default_na=False)
    require_columns(frame.columns, (spec.smiles_column, spec.label_column), f"MoleculeNet {name} file {location}")
    rows = []
    for row_number, (smiles, label) in enumerate(zip(frame[spec.smiles_column], frame[spec.label_column])):
        smiles = smiles.strip()
        answer, reason = label_answer(label.strip())
        rows.append(candidate(row_id=f"{name}-{row_number}", task=name, split=BEFORE_SPLITTING, molecule_input=smiles,
                              target=answer, drop_reason=reason if smiles else ""))
    return candidates_dataset(rows, f"MoleculeNet {name} file {location}")


def _scaffold_batch(batch: dict[str, list]) -> dict[str, list]:
    scaffolds, reasons = [], []
    for images, reason in zip(batch["images"], batch["drop_reason"]):
        scaffold = ""
        if not reason:
            try:
                scaffold = murcko_scaffold(images[0])
            except (ValueError, RuntimeError):
                reason = NO_SCAFFOLD
        scaffolds.append(scaffold)
        reasons.append(reason)
    return {"scaffold": scaffolds, "drop_reason": reasons}


def assign_splits(checked: Dataset, protocol: str, seed: int, num_proc: int | None) -> Dataset:
    """Assigns train/validation/test to the kept rows by scaffold or at random (80/10/10); dropped rows stay
    `(before splitting)`."""
    if protocol == "scaffold":
        checked = checked.map(_scaffold_batch, batched=True, num_proc=map_processes(num_proc, len(checked)),
                              desc="Computing Murcko scaffolds")
    kept = [index for index, reason in enumerate(column_values(checked, "drop_reason")) if not reason]
    if protocol == "scaffold":
        scaffolds = column_values(checked, "scaffold")
        kept_splits = scaffold_split([scaffolds[index] for index in kept])
    else:
        row_ids = column_values(checked, "id")
        kept_splits = sized_random_split([row_ids[index] for index in kept], seed, split_fractions(0.1, 0.1))
    splits = column_values(checked, "split")
    for index, split in zip(kept, kept_splits):
        splits[index] = split
    return checked.remove_columns("split").add_column("split", splits)


def main(argv: list[str] | None = None) -> None:
    parser = builder_argument_parser(
        __doc__.splitlines()[0],
        [TASKS[name] for name in GROUPS["moleculenet"].members],
        source_help="folder holding bace.csv, BBBP.csv and HIV.csv (searched recursively), or a URL prefix; "
        "default: the --origin's download",
    )
    parser.add_argument("--origin", choices=["deepchem", "moleculestm"], default="deepchem",
                        help="where to download from without --source: DeepChem's bucket or the MoleculeSTM Hub repo")
    parser.add_argument("--split", choices=list(SPLIT_PROTOCOLS), default="scaffold",
                        help="scaffold: the paper's text (GraphMVP/MoleculeSTM's scaffold split); random: the "
                        "released code's protocol (seeded with --seed)")
    args = parser.parse_args(argv)
    start_build(args)
    options = build_options(args)

    builds = []
    for name in args.tasks:
        candidates = moleculenet_candidates(name, task_file_location(name, args.source, args.origin))
        checked = resolve_molecules(candidates, options, notation="smiles", needs_text=True,
                                    max_atoms=args.max_atoms, num_proc=args.num_proc)
        builds.append(build_task(name, assign_splits(checked, args.split, args.seed, args.num_proc),
                                 variants=TASKS[name].variants, options=options))
    finish_build(args, replace(CARD, split_protocol=SPLIT_PROTOCOLS[args.split]), builds)


if __name__ == "__main__":
    main()
