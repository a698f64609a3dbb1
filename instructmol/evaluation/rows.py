"""The rows an evaluation reads: a dataset split loaded afresh, each row checked before any generation."""

import tempfile

import numpy as np
from rdkit import rdBase

from datasets import (
    Dataset,
    Value,
    get_dataset_config_names,
    get_dataset_split_names,
    load_dataset,
)

from processing_instructmol import MOLECULE_TOKEN, special_token_in

from ..data.leakage import row_inchikeys
from ..errors import one_line
from ..metrics.molecule_generation.scores import parse_molecule, to_smiles
from ..tasks import CLASSIFICATION, MOLECULE_GENERATION, REGRESSION, TASKS, get_task
from .targets import REQUIRED_COLUMNS, molecule_format, target_label, target_value

TRAIN_SPLIT = "train"


def load_split_uncached(dataset: str, config: str, split: str) -> Dataset:
    """One split, read from its files now, into memory. datasets 5.2 caches a local folder's rows under the
    folder's name and config with a hash that ignores the folder's path and its files' content, so it can serve
    another folder's rows, or this one's before it was rebuilt; a cache of this call's own avoids both."""
    with tempfile.TemporaryDirectory(prefix="instructmol-dataset-") as cache:
        rows = load_dataset(dataset, config, split=split, cache_dir=cache)
        return Dataset.from_dict(rows.to_dict(), features=rows.features)


def load_evaluation_split(dataset: str, config: str, split: str) -> Dataset:
    """One split of an InstructMol dataset (a Hub-native folder or repo) with the columns the evaluator reads.

    Raises:
        FileNotFoundError: the dataset cannot be found.
        ValueError: naming the missing config, split or columns, and what the dataset has instead.
    """
    try:
        configs = get_dataset_config_names(dataset)
    except (FileNotFoundError, ConnectionError) as error:
        raise FileNotFoundError(f"cannot find the dataset {dataset!r}: {one_line(error)}") from error
    if config not in configs:
        raise ValueError(f"the dataset {dataset!r} has no config {config!r}; its configs are {', '.join(configs)}")
    splits = get_dataset_split_names(dataset, config)
    if split not in splits:
        raise ValueError(f"the dataset {dataset!r} (config {config!r}) has no split {split!r}; it has {', '.join(splits)}")
    rows = load_split_uncached(dataset, config, split)
    text_only = "images" not in rows.column_names  # an `_s` config: the molecule as its string only
    required = [column for column in REQUIRED_COLUMNS if not (text_only and column == "images")]
    missing = [column for column in required if column not in rows.column_names]
    if missing:
        raise ValueError(
            f"the dataset {dataset!r} (config {config!r}, split {split!r}) lacks the column(s) {', '.join(missing)}; "
            f"InstructMol datasets have {', '.join(REQUIRED_COLUMNS)} (see instructmol.data.ROW_FEATURES)"
        )
    refuse_datasets_built_before_the_registry(rows, dataset)
    rows = rows.select_columns(required)
    return rows.add_column("images", [[] for _ in range(len(rows))]) if text_only else rows


def refuse_datasets_built_before_the_registry(rows: Dataset, dataset: str) -> None:
    """Raises a ValueError naming the builder to rerun when `rows` were built before the task registry: their
    user turns are plain strings next to an `images` column (no graph placement), and their `task` values are the
    old names. (Text-only `_s` rows have string user turns and no `images`.)"""
    content = rows.features["prompt"].feature["content"]
    if isinstance(content, Value) and "images" in rows.column_names:
        first_task = rows[0]["task"] if len(rows) else ""
        get_task(first_task)  # an old task name raises the rebuild command of its builder
        raise ValueError(
            f"the dataset {dataset!r} was built before the task registry (its prompts are plain strings); rebuild "
            f"it with `python {TASKS[first_task].builder} --output DIR`"
        )


def check_row_inputs(row: dict, processor) -> None:
    """Raises a ValueError naming the row when the model could not read its prompt: a molecule the processor's
    featurizer (its `image_processor`, whose cache then holds the graph for generation) refuses, placeholders that do
    not match its molecules (or a `<mol>` typed into its text), or text holding a special token of its tokenizer."""
    user_turns = [message["content"] for message in row["prompt"] if message["role"] == "user"]
    blocks = [block for content in user_turns
              for block in ([{"type": "text", "text": content}] if isinstance(content, str) else content)]
    num_placeholders = sum(block["type"] == "image" for block in blocks)
    if num_placeholders != len(row["images"]):
        raise ValueError(f"Row {row['id']!r}: {num_placeholders} molecule placeholder(s) in its prompt but "
                         f"{len(row['images'])} molecule(s) in `images`")
    texts = [block["text"] or "" for block in blocks if block["type"] == "text"]
    if any(MOLECULE_TOKEN in text for text in texts):
        raise ValueError(f"Row {row['id']!r}: its prompt text holds {MOLECULE_TOKEN} itself; molecules go in `images`")
    for text in texts:
        special = special_token_in(text, processor.tokenizer, allowed=(MOLECULE_TOKEN,))
        if special:
            raise ValueError(f"Row {row['id']!r}: its prompt text holds {special!r}, a special token of the model's "
                             "tokenizer, which text never becomes")
    for smiles in row["images"]:
        try:
            processor.image_processor.featurize(smiles)
        except ValueError as error:  # a checkpoint's featurizer module raises its own InvalidMoleculeError class
            raise ValueError(f"Row {row['id']!r}: {error}") from None


def check_rows(rows: list[dict], processor) -> None:
    """Raises a ValueError naming the first row with an unknown task, a (task, id) pair given twice, a prompt or
    molecule the model could not read (`processor`: the model's; a plain LM's rows hold no molecule graphs), or a
    target its metric cannot read, so that bad data stops the run before any generation.

    Predictions are keyed by (task, id): QM9's `qm9` configs ask each molecule (one id) for three properties.
    """
    seen = set()
    reaction_rows: dict[str, list[dict]] = {}
    for row in rows:
        family = get_task(row["task"], row["id"]).metric
        check_row_inputs(row, processor)
        key = (row["task"], row["id"])
        if key in seen:
            raise ValueError(f"the task {row['task']!r} has the row id {row['id']!r} twice; ids must be unique per task")
        seen.add(key)
        if family == CLASSIFICATION:
            target_label(row["target"], row["id"])
        elif family == REGRESSION:
            target_value(row["target"], row["id"])
        elif family == MOLECULE_GENERATION:
            reaction_rows.setdefault(row["task"], []).append(row)
    for task_rows in reaction_rows.values():
        input_format = molecule_format([row["target"] for row in task_rows])
        with rdBase.BlockLogs():
            for row in task_rows:
                if parse_molecule(to_smiles(row["target"], input_format)) is None:
                    raise ValueError(f"Row {row['id']!r}: the target {row['target']!r} is not a valid {input_format} molecule")


def train_split_inchikeys(dataset: str, config: str) -> set[str]:
    """The InChIKeys of the molecules of the config's train split (by each row's `smiles`).

    Raises:
        ValueError: the config has no train split to compare with.
    """
    if TRAIN_SPLIT not in get_dataset_split_names(dataset, config):
        raise ValueError(f"--exclude-train-overlap compares with the train split, and {dataset!r} (config {config!r}) "
                         "has none")
    smiles = load_split_uncached(dataset, config, TRAIN_SPLIT).select_columns(["smiles"])[:]["smiles"]
    return {key for row in smiles for key in row_inchikeys(row)}


def train_split_means(dataset: str, config: str) -> dict[str, float] | None:
    """Mean regression target per task in the config's train split; None when there is no train split."""
    if TRAIN_SPLIT not in get_dataset_split_names(dataset, config):
        return None
    train = load_split_uncached(dataset, config, TRAIN_SPLIT).select_columns(["task", "target", "id"])[:]
    values: dict[str, list[float]] = {}
    for task, target, row_id in zip(train["task"], train["target"], train["id"]):
        if task in TASKS and TASKS[task].metric == REGRESSION:
            values.setdefault(task, []).append(target_value(target, row_id))
    return {task: float(np.mean(task_values)) for task, task_values in values.items()}
