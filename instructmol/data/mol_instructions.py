"""Mol-Instructions' molecule-oriented tasks (zjunlp/Mol-Instructions, `data/Molecule-oriented_Instructions.zip`).

The zip holds one JSON file per task (`forward_reaction_prediction.json`, `retrosynthesis.json`,
`reagent_prediction.json`, `property_prediction.json`, ...), each a list of records
`{"instruction", "input", "output", "metadata": {"task", "split"}}` with molecules written in SELFIES.
"""

import zipfile
from pathlib import Path, PurePosixPath
from typing import Any

from .sources import find_file, hub_dataset_file, read_json, require_columns

MOL_INSTRUCTIONS_ZIP = hub_dataset_file("zjunlp/Mol-Instructions", "data/Molecule-oriented_Instructions.zip")
RECORD_KEYS = ("instruction", "input", "output", "metadata")
SOURCE_SPLITS = ("train", "test")
UNKNOWN_SPLIT = "metadata.split is neither train nor test"

MOL_INSTRUCTIONS_CITATION = """@inproceedings{fang2024molinstructions,
  title     = {Mol-Instructions: A Large-Scale Biomolecular Instruction Dataset for Large Language Models},
  author    = {Fang, Yin and Liang, Xiaozhuan and Zhang, Ningyu and Liu, Kangwei and Huang, Rui and Chen, Zhuo and Fan, Xiaohui and Chen, Huajun},
  booktitle = {The Twelfth International Conference on Learning Representations (ICLR 2024)},
  year      = {2024}
}"""


def read_task_records(source: Path, file_name: str) -> list[dict]:
    """The records of one task file, from the zip, an unpacked folder, or the JSON file itself.

    Raises:
        FileNotFoundError: the zip or folder has no (or several) `file_name`.
        ValueError: the file is not a list of records, or a record lacks one of `RECORD_KEYS` (named, with its
            position).
    """
    if zipfile.is_zipfile(source):
        with zipfile.ZipFile(source) as archive:
            members = [name for name in archive.namelist() if PurePosixPath(name).name == file_name]
            if len(members) != 1:
                raise FileNotFoundError(f"expected exactly one {file_name!r} in {source}, found {members or 'none'}")
            location = f"{source}:{members[0]}"
            records = read_json(archive.read(members[0]), location)
    else:
        path = find_file(source, file_name) if source.is_dir() else source
        location = str(path)
        records = read_json(path.read_bytes(), location)
    if not isinstance(records, list):
        raise ValueError(f"{location}: expected a JSON list of records, got a {type(records).__name__}")
    for index, record in enumerate(records):
        if not isinstance(record, dict):
            raise ValueError(f"{location}: record {index} is a {type(record).__name__}, not an object")
        require_columns(record, RECORD_KEYS, f"{location} record {index}")
    return records


def record_split(record: dict) -> str:
    """The record's own split ('train' or 'test'), or '' when its metadata names neither."""
    metadata = record.get("metadata")
    split = metadata.get("split", "") if isinstance(metadata, dict) else ""
    return split if split in SOURCE_SPLITS else ""


def output_text(value: Any) -> str:
    """A record's output as text (property values are JSON numbers in some releases, strings in others)."""
    if value is None:
        return ""
    return value.strip() if isinstance(value, str) else str(value)
