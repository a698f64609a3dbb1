"""Shared machinery of the dataset builders in `datasets/` (written once here, imported by every script).

- `schema`: the one row schema (`ROW_FEATURES`) and the candidate rows builders assemble first
- `prompts`: how a row's user turn is assembled from the task registry (`instructmol.tasks`) and the build's
  options (`BuildOptions`), with seeded per-row draws
- `molecules`: molecule checks with the processor's featurizer, SMILES/SELFIES conversion
- `splits`: seeded hash splits and the GraphMVP/MoleculeSTM scaffold split
- `sources`: local files, URLs and Hub files; column checks
- `assembly`: keeping and counting rows, rendering each variant's config, staged Parquet writes, pushing
- `card`: dataset cards; `builder_cli`: the builders' shared command line
"""

from .assembly import (
    BEFORE_SPLITTING,
    SplitCounts,
    TaskBuild,
    build_task,
    column_values,
    keep_and_count,
    parquet_path,
)
from .card import INSTRUCTMOL_CITATION, CardSpec, render_card, write_card
from .builder_cli import build_options, builder_argument_parser, finish_build, run_builder, start_build
from .molecules import (
    DEFAULT_MAX_ATOMS,
    EMPTY_TEXT,
    MISSING_VALUE,
    NOT_A_REACTION,
    MoleculeChecker,
    inchikey,
    map_processes,
    resolve_molecules,
    selfies_to_smiles,
    smiles_to_selfies,
)
from .prompts import (
    BuildOptions,
    graph_goes_after,
    graph_molecules,
    instruction_text,
    pick_instruction,
    user_content,
)
from .schema import (
    CANDIDATE_FEATURES,
    ROW_FEATURES,
    TEXT_ROW_FEATURES,
    candidate,
    candidates_dataset,
    conversation_row,
    text_row,
)
from .sources import fetch, find_file, hub_dataset_file, is_remote, read_json, read_table, require_columns
from .splits import (
    SPLIT_ORDER,
    hashed_split,
    murcko_scaffold,
    scaffold_split,
    sized_random_split,
    split_fractions,
)

__all__ = [
    "BEFORE_SPLITTING",
    "SplitCounts",
    "TaskBuild",
    "build_task",
    "column_values",
    "keep_and_count",
    "parquet_path",
    "INSTRUCTMOL_CITATION",
    "CardSpec",
    "render_card",
    "write_card",
    "build_options",
    "builder_argument_parser",
    "finish_build",
    "run_builder",
    "start_build",
    "DEFAULT_MAX_ATOMS",
    "EMPTY_TEXT",
    "MISSING_VALUE",
    "NOT_A_REACTION",
    "MoleculeChecker",
    "inchikey",
    "map_processes",
    "resolve_molecules",
    "selfies_to_smiles",
    "smiles_to_selfies",
    "BuildOptions",
    "graph_goes_after",
    "graph_molecules",
    "instruction_text",
    "pick_instruction",
    "user_content",
    "CANDIDATE_FEATURES",
    "ROW_FEATURES",
    "TEXT_ROW_FEATURES",
    "candidate",
    "candidates_dataset",
    "conversation_row",
    "text_row",
    "fetch",
    "find_file",
    "hub_dataset_file",
    "is_remote",
    "read_json",
    "read_table",
    "require_columns",
    "SPLIT_ORDER",
    "hashed_split",
    "murcko_scaffold",
    "scaffold_split",
    "sized_random_split",
    "split_fractions",
]
