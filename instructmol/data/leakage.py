"""Train/test leakage: how many of a test split's molecules a train split already holds.

Molecules are compared by their full InChIKey and by its first block (the connectivity: the same skeleton, whatever
the stereochemistry or isotopes). A row's molecules are those of its `smiles` column ('.'- and '>'-separated). A
dataset folder is read from its Parquet files (`data/<config>/<split>-*.parquet`, the builders' and the Hub's layout);
the variants of one task (`_g`, `_gs`, `_s`) hold the same molecules, so only the first of them is read.
"""

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import pyarrow.parquet as pq
from tqdm.auto import tqdm

from ..outputs import check_output_apart
from .assembly import TaskBuild, column_values
from .molecules import inchikey
from .splits import SPLIT_ORDER

TRAIN, TEST = SPLIT_ORDER[0], SPLIT_ORDER[2]
LEAKAGE_FILE = "leakage.json"
HEATMAP_FILE = "leakage.png"
KEYS = ("inchikey", "connectivity")
KEY_TITLES = {"inchikey": "full InChIKey", "connectivity": "connectivity (InChIKey first block: stereo ignored)"}
VARIANT_SUFFIX = re.compile(r"_(g|gs|s)$")
MOLECULE_SEPARATOR = re.compile(r"[.>]+")


@dataclass(frozen=True)
class SplitMolecules:
    """The molecules of one split of one dataset config, as full InChIKeys and as connectivity blocks."""

    name: str  # "<dataset folder>/<config>/<split>"
    inchikeys: frozenset[str]

    @property
    def split(self) -> str:
        return self.name.rsplit("/", 1)[1]

    def keys(self, kind: str) -> frozenset[str]:
        return self.inchikeys if kind == "inchikey" else frozenset(key.split("-")[0] for key in self.inchikeys)


def row_inchikeys(smiles: str) -> list[str]:
    """The InChIKey of each molecule of a row's `smiles` (molecules RDKit cannot read are left out)."""
    return [key for key in map(inchikey, filter(None, MOLECULE_SEPARATOR.split(smiles))) if key]


def split_molecules(name: str, smiles: Iterable[str], progress: bool = True) -> SplitMolecules:
    """The molecules of one split's `smiles` column."""
    rows = tqdm(smiles, desc=f"InChIKeys of {name}", unit="row", disable=not progress, leave=False)
    return SplitMolecules(name, frozenset(key for row in rows for key in row_inchikeys(row)))


def task_parquet_files(folder: Path) -> dict[tuple[str, str], list[Path]]:
    """(config, split) -> its Parquet files, for the first variant of each task in the folder.

    Raises:
        FileNotFoundError: the folder holds no `data/<config>/<split>-*.parquet` file.
    """
    files: dict[tuple[str, str], list[Path]] = {}
    first_variant: dict[str, str] = {}
    for path in sorted(folder.glob("data/*/*.parquet")):
        config, split = path.parent.name, path.name.split("-")[0]
        if first_variant.setdefault(VARIANT_SUFFIX.sub("", config), config) == config:
            files.setdefault((config, split), []).append(path)
    if not files:
        raise FileNotFoundError(f"{folder} holds no built dataset (no data/<config>/<split>-*.parquet files)")
    return files


def read_folder_molecules(folder: str | Path, splits: tuple[str, ...] = (TRAIN, TEST),
                          progress: bool = True) -> list[SplitMolecules]:
    """The molecules of the `splits` splits of every task in a built dataset folder.

    Raises:
        FileNotFoundError: no dataset in the folder. KeyError: a Parquet file without a `smiles` column (named).
    """
    folder = Path(folder)
    result = []
    for (config, split), paths in task_parquet_files(folder).items():
        if split not in splits:
            continue
        smiles = []
        for path in paths:
            table = pq.read_table(path)
            if "smiles" not in table.column_names:
                raise KeyError(f"{path} has no 'smiles' column (columns: {table.column_names}): not an InstructMol "
                               "dataset")
            smiles.extend(table.column("smiles").to_pylist())
        result.append(split_molecules(f"{folder.name}/{config}/{split}", smiles, progress))
    return result


def overlap(test: SplitMolecules, train: SplitMolecules, kind: str) -> dict:
    """How many of `test`'s molecules `train` holds, by `kind` ('inchikey' or 'connectivity')."""
    test_keys = test.keys(kind)
    shared = len(test_keys & train.keys(kind))
    return {"shared": shared, "test_molecules": len(test_keys), "fraction": shared / len(test_keys) if test_keys else 0.0}


def leakage_report(splits: list[SplitMolecules]) -> dict:
    """Every (test split, train split) pair: the overlap by full InChIKey and by connectivity block."""
    tests = [split for split in splits if split.split == TEST]
    trains = [split for split in splits if split.split == TRAIN]
    return {
        "tests": [split.name for split in tests],
        "trains": [split.name for split in trains],
        "pairs": [{"test": test.name, "train": train.name, **{kind: overlap(test, train, kind) for kind in KEYS}}
                  for test in tests for train in trains],
    }


def markdown_table(report: dict, kind: str) -> str:
    """Test splits as rows, train splits as columns, each cell `shared / test molecules (percent)`."""
    cells = {(pair["test"], pair["train"]): pair[kind] for pair in report["pairs"]}
    lines = ["| test split \\ train split | " + " | ".join(report["trains"]) + " |",
             "|---|" + "---:|" * len(report["trains"])]
    for test in report["tests"]:
        row = [f"{cell['shared']} / {cell['test_molecules']} ({100 * cell['fraction']:.1f}%)"
               for cell in (cells[test, train] for train in report["trains"])]
        lines.append(f"| {test} | " + " | ".join(row) + " |")
    return "\n".join(lines)


def heatmap(report: dict, path: Path) -> Path:
    """The fraction of each test split's molecules found in each train split: one panel per key."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    tests, trains = report["tests"], report["trains"]
    figure, axes = plt.subplots(1, len(KEYS), figsize=(3 + 2.4 * len(trains) * len(KEYS), 2.5 + 0.45 * len(tests)),
                                squeeze=False)
    for axis, kind in zip(axes[0], KEYS):
        cells = {(pair["test"], pair["train"]): pair[kind]["fraction"] for pair in report["pairs"]}
        values = [[cells[test, train] for train in trains] for test in tests]
        image = axis.imshow(values, vmin=0, vmax=1, cmap="Reds", aspect="auto")
        axis.set_xticks(range(len(trains)), trains, rotation=40, ha="right", fontsize=7)
        axis.set_yticks(range(len(tests)), tests, fontsize=7)
        axis.set_xlabel("train split")
        axis.set_title(f"test molecules in train, by {KEY_TITLES[kind]}", fontsize=8)
        for row, row_values in enumerate(values):
            for column, value in enumerate(row_values):
                axis.text(column, row, f"{100 * value:.0f}%", ha="center", va="center", fontsize=7,
                          color="white" if value > 0.6 else "black")
        figure.colorbar(image, ax=axis, fraction=0.046)
    axes[0][0].set_ylabel("test split")
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)
    return path


def run_audit(folders: list[str | Path], output: str | Path, progress: bool = True) -> dict:
    """Reads the dataset folders, writes `leakage.json` and the heatmap into `output`, returns the report.

    Raises:
        ValueError: the folders hold no test split or no train split to compare, or `output` is one of them.
        FileExistsError: `output` is a file (said before any molecule is read).
    """
    if Path(output).exists() and not Path(output).is_dir():
        raise FileExistsError(f"--output {output} is a file; give a folder for {LEAKAGE_FILE} and {HEATMAP_FILE}")
    for folder in folders:
        check_output_apart(output, datasets=folder)
    splits = [split for folder in folders for split in read_folder_molecules(folder, progress=progress)]
    report = leakage_report(splits)
    if not report["tests"] or not report["trains"]:
        raise ValueError(f"the datasets {[str(folder) for folder in folders]} hold {len(report['tests'])} test and "
                         f"{len(report['trains'])} train splits; the audit needs at least one of each")
    output = Path(output)
    output.mkdir(parents=True, exist_ok=True)
    (output / LEAKAGE_FILE).write_text(json.dumps(report, indent=2) + "\n")
    heatmap(report, output / HEATMAP_FILE)
    return report


def test_molecules_of(folders: Iterable[str | Path]) -> dict[str, set[str]]:
    """Folder -> the InChIKeys of the test splits of every task in it (what `--exclude-test-of` removes)."""
    return {str(folder): {key for split in read_folder_molecules(folder, splits=(TEST,)) for key in split.inchikeys}
            for folder in folders}


def own_overlap_table(builds: list[TaskBuild]) -> str:
    """A build's own train/test overlap, one row per task (read from its first config): the card's table."""
    lines = ["| task | test molecules | also in train, by InChIKey | also in train, by connectivity |",
             "|---|---:|---:|---:|"]
    for build in builds:
        splits = next(iter(build.configs.values()))
        if TRAIN not in splits or TEST not in splits:
            lines.append(f"| {build.name} | no {TEST if TRAIN in splits else TRAIN} split: nothing to compare | | |")
            continue
        train, test = (split_molecules(f"{build.name}/{split}", column_values(splits[split], "smiles"))
                       for split in (TRAIN, TEST))
        cells = [overlap(test, train, kind) for kind in KEYS]
        lines.append(f"| {build.name} | {cells[0]['test_molecules']} | "
                     + " | ".join(f"{cell['shared']} ({100 * cell['fraction']:.1f}%)" for cell in cells) + " |")
    return "\n".join(lines)
