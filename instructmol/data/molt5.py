"""MolT5's ChEBI-20 files (`ChEBI-20_data/{train,validation,test}.txt`): read by the ChEBI-20 builder, and by the
PubChem builder to keep ChEBI-20 test molecules out of stage-1 data."""

import csv

import pandas as pd

from .sources import fetch, read_table, require_columns

MOLT5_CHEBI20_URL = "https://raw.githubusercontent.com/blender-nlp/MolT5/main/ChEBI-20_data"
CHEBI20_SPLIT_FILES = {"train": "train.txt", "validation": "validation.txt", "test": "test.txt"}
CHEBI20_COLUMNS = ("CID", "SMILES", "description")


def chebi20_split_location(source: str, split: str) -> str:
    """The file of a split inside a ChEBI-20 folder or URL prefix."""
    return f"{source.rstrip('/')}/{CHEBI20_SPLIT_FILES[split]}"


def read_chebi20_file(location: str) -> pd.DataFrame:
    """A ChEBI-20 split file: tab-separated with a `CID\\tSMILES\\tdescription` header, every value a string."""
    path = fetch(location)
    # Descriptions contain quotes that are not CSV quoting; cells are never quoted in these files.
    frame = read_table(path, sep="\t", quoting=csv.QUOTE_NONE, dtype=str, keep_default_na=False)
    require_columns(frame.columns, CHEBI20_COLUMNS, f"ChEBI-20 file {location}")
    quoted = frame.index[frame["SMILES"].str.match(r'^\s*".*"\s*$')]
    if len(quoted):  # a file saved through a spreadsheet or csv writer: every molecule would be dropped as unreadable
        raise ValueError(f"ChEBI-20 file {location}: the SMILES on line {quoted[0] + 2} is in quotes "
                         f"({frame['SMILES'][quoted[0]]!r:.60}) ({len(quoted)} such line(s)); these files are "
                         "tab-separated without quoting: write the cells without quotes")
    return frame
