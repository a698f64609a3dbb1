"""MoleculeNet binary classification as InstructMol datasets (answers `Yes` / `No`).

The tasks `bace`, `bbbp`, `hiv` (the paper's Table 2; built by default), and with `--tasks` the multi-label
`clintox`, `tox21`, `toxcast`, `sider` (Table 11: one row per molecule and label, the question naming the assay or side
effect; `--labels` builds a subset, e.g. of ToxCast's 617 assays). Configs `<task>_g`, `<task>_gs`, `<task>_s`. `--split
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
    build_options,
    build_task,
    builder_argument_parser,
    candidate,
    candidates_dataset,
    CardSpec,
    column_values,
    fetch,
    find_file,
    finish_build,
    hub_dataset_file,
    is_remote,
    map_processes,
    MISSING_VALUE,
    murcko_scaffold,
    read_table,
    require_columns,
    resolve_molecules,
    run_builder,
    scaffold_split,
    sized_random_split,
    split_fractions,
    start_build,
)
from instructmol.defaults import MOLECULESTM_REPO_ID
from instructmol.tasks import GROUPS, LABEL_SEPARATOR, TASKS, label_question, tasks_of_builder

DEEPCHEM_URL = "https://deepchemdata.s3-us-west-1.amazonaws.com/datasets"
NOT_BINARY = "label is neither 0 nor 1"
NO_SCAFFOLD = "no Murcko scaffold"


@dataclass(frozen=True)
class MoleculeNetFile:
    """Where one MoleculeNet dataset's molecules and labels are.

    Attributes:
        label_column: the one label of a single-label task; None for a multi-label task, whose labels are the
            task's `labels` in the registry, or every column but `other_columns` when it lists none (ToxCast).
    """

    file_name: str
    smiles_column: str
    label_column: str | None = None
    other_columns: tuple[str, ...] = ()


# The source file of each MoleculeNet task (DeepChem's names; the Table 11 files are gzipped).
MOLECULENET_FILES = {
    "bace": MoleculeNetFile("bace.csv", "mol", "Class"),
    "bbbp": MoleculeNetFile("BBBP.csv", "smiles", "p_np"),
    "hiv": MoleculeNetFile("HIV.csv", "smiles", "HIV_active"),
    "clintox": MoleculeNetFile("clintox.csv.gz", "smiles"),
    "tox21": MoleculeNetFile("tox21.csv.gz", "smiles", other_columns=("mol_id",)),
    "toxcast": MoleculeNetFile("toxcast_data.csv.gz", "smiles"),
    "sider": MoleculeNetFile("sider.csv.gz", "smiles"),
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
        "the blood-brain barrier), HIV (inhibits HIV replication), and the multi-label ClinTox, Tox21, ToxCast and "
        "SIDER of the paper's Table 11 (one row per molecule and label, ids `<molecule>|<label>`, scored by ROC-AUC "
        "per label and its mean over labels); the answer is `Yes` or `No`. `*_g` configs give the molecule as a "
        "graph only, `*_gs` also write its SELFIES string after the question, `*_s` give the string only. The "
        "released code trains one model on the BACE, BBBP and HIV train splits pooled (`recipes/stage2/moleculenet.yaml`)."
    ),
    split_protocol=SPLIT_PROTOCOLS["scaffold"],
    differences=[
        "The questions are this project's (`MOLECULENET_POOLS` in `instructmol/tasks.py`): the released code never "
        "published its MoleculeNet wording or label strings. Answers are `Yes` / `No`. The Table 11 questions name the "
        "assay or side effect in this project's words (`LABEL_QUESTION` and the label words in `instructmol/tasks.py`); "
        "a molecule's unmeasured labels are dropped and counted as missing values.",
    ],
    source=(
        "MoleculeNet CSV files as DeepChem distributes them (`bace.csv`: columns `mol`, `Class`; `BBBP.csv`: "
        "`smiles`, `p_np`; `HIV.csv`: `smiles`, `HIV_active`; gzipped `clintox.csv.gz`, `tox21.csv.gz`, "
        "`toxcast_data.csv.gz`, `sider.csv.gz`: `smiles` and one column per label, blank where unmeasured), from "
        "DeepChem's bucket or from the Hub dataset `chao1224/MoleculeSTM` (`MoleculeNet_data/<name>/raw/<file>`)."
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
        return hub_dataset_file(MOLECULESTM_REPO_ID, f"MoleculeNet_data/{name}/raw/{file_name}")
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


def moleculenet_candidates(name: str, location: str, labels: list[str] | None = None) -> tuple[Dataset, list[str]]:
    """Candidates of one MoleculeNet file, not yet split (the scaffold split needs the molecules read first): one per
    row for a single-label task, one per row and label for a multi-label task (`labels`: build only those of them it
    has, all of its labels when it has none of them; a missing label is dropped and counted). Also returns every
    label the file has.

    Raises:
        ValueError: naming the file's missing columns.
    """
    spec, task = MOLECULENET_FILES[name], TASKS[name]
    source = f"MoleculeNet {name} file {location}"
    frame = read_table(fetch(location), dtype=str, keep_default_na=False)
    file_labels = [spec.label_column] if spec.label_column else (
        list(task.labels) or [column for column in frame.columns if column not in (spec.smiles_column, *spec.other_columns)])
    require_columns(frame.columns, (spec.smiles_column, *file_labels), source)
    chosen = [label for label in file_labels if label in (labels or ())]
    built_labels = chosen if chosen and not spec.label_column else file_labels
    rows = []
    for row_number, smiles in enumerate(frame[spec.smiles_column]):
        smiles = smiles.strip()
        for label in built_labels:
            answer, reason = label_answer(frame[label][row_number].strip())
            multi = task.labels is not None
            rows.append(candidate(
                row_id=f"{name}-{row_number}" + (f"{LABEL_SEPARATOR}{label}" if multi else ""), task=name,
                split=BEFORE_SPLITTING, molecule_input=smiles, target=answer, drop_reason=reason if smiles else "",
                instruction=label_question(task, label) if multi else "",
            ))
    return candidates_dataset(rows, source), file_labels


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
    """Assigns train/validation/test (80/10/10) to the kept rows by scaffold or at random, molecule by molecule
    (all labels of a molecule share its split); dropped rows stay `(before splitting)`."""
    if protocol == "scaffold":
        checked = checked.map(_scaffold_batch, batched=True, num_proc=map_processes(num_proc, len(checked)),
                              desc="Computing Murcko scaffolds")
    molecule_of = [row_id.split(LABEL_SEPARATOR)[0] for row_id in column_values(checked, "id")]
    kept = [index for index, reason in enumerate(column_values(checked, "drop_reason")) if not reason]
    first_row_of = {}
    for index in kept:
        first_row_of.setdefault(molecule_of[index], index)
    molecules = list(first_row_of)
    if protocol == "scaffold":
        scaffolds = column_values(checked, "scaffold")
        molecule_splits = scaffold_split([scaffolds[first_row_of[molecule]] for molecule in molecules])
    else:
        molecule_splits = sized_random_split(molecules, seed, split_fractions(0.1, 0.1))
    split_of = dict(zip(molecules, molecule_splits))
    splits = column_values(checked, "split")
    for index in kept:
        splits[index] = split_of[molecule_of[index]]
    return checked.remove_columns("split").add_column("split", splits)


def main(argv: list[str] | None = None) -> None:
    parser = builder_argument_parser(
        "moleculenet.py",
        __doc__.splitlines()[0],
        tasks_of_builder("datasets/moleculenet.py"),
        source_help="folder holding the tasks' files (bace.csv, BBBP.csv, HIV.csv, clintox.csv.gz, tox21.csv.gz, "
        "toxcast_data.csv.gz, sider.csv.gz; searched recursively), or a URL prefix; default: the --origin's download",
        default_tasks=list(GROUPS["moleculenet"].members),
    )
    parser.add_argument("--origin", choices=["deepchem", "moleculestm"], default="deepchem",
                        help="where to download from without --source: DeepChem's bucket or the MoleculeSTM Hub repo")
    parser.add_argument("--labels", nargs="+", help="multi-label tasks: build these labels only (e.g. a few of "
                        "ToxCast's 617 assays), a task holding none of them builds all of its own; default: every label")
    parser.add_argument("--split", choices=list(SPLIT_PROTOCOLS), default="scaffold",
                        help="scaffold: the paper's text (GraphMVP/MoleculeSTM's scaffold split); random: the "
                        "released code's protocol (seeded with --seed)")
    args = parser.parse_args(argv)
    start_build(args)
    options = build_options(args)

    read = {name: moleculenet_candidates(name, task_file_location(name, args.source, args.origin), args.labels)
            for name in args.tasks}
    known_labels = {label for name, (_, labels) in read.items() if TASKS[name].labels is not None for label in labels}
    unknown = sorted(set(args.labels or []) - known_labels)
    if unknown:
        raise ValueError(f"--labels {unknown}: no multi-label task of {args.tasks} has them; their labels are "
                         f"{sorted(known_labels)[:40]}")
    builds = []
    for name, (candidates, _) in read.items():
        checked = resolve_molecules(candidates, options, notation="smiles", needs_text=True,
                                    max_atoms=args.max_atoms, num_proc=args.num_proc)
        builds.append(build_task(name, assign_splits(checked, args.split, args.seed, args.num_proc),
                                 variants=TASKS[name].variants, options=options))
    finish_build(args, replace(CARD, split_protocol=SPLIT_PROTOCOLS[args.split]), builds)


if __name__ == "__main__":
    run_builder(main, "moleculenet.py")
