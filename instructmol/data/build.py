"""From checked candidates to a Hub-native dataset folder: splits, G/GS rows, Parquet files, counts, push.

Layout written (what `load_dataset(folder, config)` and the Hub read):
`data/<config>/<split>-00000-of-00001.parquet` for every config and split, plus `README.md` (see `card.py`).
"""

import shutil
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from huggingface_hub import HfApi

from datasets import Dataset, DatasetDict

from ..tasks import TASKS, get_task
from .prompts import BuildOptions, graph_goes_after, instruction_text
from .schema import ROW_FEATURES, conversation_row
from .splits import SPLIT_ORDER

# Split label of rows dropped before a split was assigned (MoleculeNet's scaffold split needs parsed molecules).
BEFORE_SPLITTING = "(before splitting)"


@dataclass
class SplitCounts:
    """Rows of one task and split: read from the source, kept, and dropped per reason."""

    rows_in: int = 0
    rows_out: int = 0
    drops: Counter = field(default_factory=Counter)


@dataclass
class TaskBuild:
    """One task's configs (G, GS or both, rendered from the same kept rows) and its counts per split."""

    name: str
    tasks: tuple[str, ...]  # the registry tasks of its kept rows
    configs: dict[str, DatasetDict]
    counts: dict[str, SplitCounts]


def column_values(dataset: Dataset, column: str) -> list:
    """A column as a Python list, read in one batch (iterating `dataset[column]` formats row by row)."""
    return dataset.select_columns([column])[:][column]


def _split_sort_key(split: str) -> tuple[int, str]:
    return (SPLIT_ORDER.index(split) if split in SPLIT_ORDER else len(SPLIT_ORDER), split)


def keep_and_count(candidates: Dataset) -> tuple[dict[str, Dataset], dict[str, SplitCounts]]:
    """Splits checked candidates into kept rows per split, counting rows in, rows out and drops per reason."""
    splits, reasons = column_values(candidates, "split"), column_values(candidates, "drop_reason")
    counts: dict[str, SplitCounts] = {}
    kept_indices: dict[str, list[int]] = {}
    for index, (split, reason) in enumerate(zip(splits, reasons)):
        split_counts = counts.setdefault(split, SplitCounts())
        split_counts.rows_in += 1
        if reason:
            split_counts.drops[reason] += 1
        else:
            split_counts.rows_out += 1
            kept_indices.setdefault(split, []).append(index)
    if BEFORE_SPLITTING in kept_indices:
        raise ValueError(f"{len(kept_indices[BEFORE_SPLITTING])} kept rows were never assigned a split")
    ordered = sorted(counts, key=_split_sort_key)
    kept = {split: candidates.select(kept_indices[split]) for split in ordered if split in kept_indices}
    return kept, {split: counts[split] for split in ordered}


def _render_batch(batch: dict[str, list], variant: str, options: BuildOptions) -> dict[str, list]:
    rows = []
    for images, molecule_text, record_instruction, row_id, task_name, split, target in zip(
        batch["images"], batch["molecule_text"], batch["instruction"], batch["id"], batch["task"], batch["split"],
        batch["target"],
    ):
        draw_key = f"{task_name}/{row_id}"
        text = instruction_text(get_task(task_name), variant, options, row_id=draw_key,
                                record_instruction=record_instruction, molecule_text=molecule_text)
        rows.append(conversation_row(images=images, instruction=text, row_id=row_id, task=task_name, target=target,
                                     graph_after=graph_goes_after(options, split, draw_key)))
    return {column: [row[column] for row in rows] for column in ROW_FEATURES}


def render_rows(kept: Dataset, *, variant: str, options: BuildOptions) -> Dataset:
    """Kept candidates as dataset rows of one variant, their user turns written as the task registry says."""
    return kept.map(
        _render_batch,
        batched=True,
        remove_columns=kept.column_names,
        features=ROW_FEATURES,
        fn_kwargs={"variant": variant, "options": options},
        desc=f"Writing {variant.upper()} rows",
    )


def build_task(name: str, candidates: Dataset, *, variants: tuple[str, ...], options: BuildOptions) -> TaskBuild:
    """Keeps, counts and renders one task (or a group of tasks pooled in one config, e.g. 'qm9').

    Args:
        name: the task or group name; configs are `<name>_<variant>`.
        candidates: checked candidates (after `resolve_molecules`), every split; their `task` values are
            registry names.
        variants: the variants to write, e.g. ('g', 'gs').
    """
    kept, counts = keep_and_count(candidates)
    tasks = sorted({task for rows in kept.values() for task in column_values(rows, "task")}, key=list(TASKS).index)
    for task_name in tasks:
        for variant in variants:
            get_task(task_name).config(variant)  # a variant the task does not have fails here, naming both
    rendered = {
        f"{name}_{variant}": DatasetDict(
            {split: render_rows(rows, variant=variant, options=options) for split, rows in kept.items()}
        )
        for variant in variants
    }
    return TaskBuild(name=name, tasks=tuple(tasks), configs=rendered, counts=counts)


def parquet_path(config: str, split: str) -> str:
    """Where a config's split lives inside the dataset folder (the Hub's own layout for one shard)."""
    return f"data/{config}/{split}-00000-of-00001.parquet"


def prepare_output_dir(output_dir: Path, overwrite: bool) -> None:
    """Creates the output folder; refuses a non-empty one unless `overwrite` (then only our files are replaced)."""
    if output_dir.exists() and any(output_dir.iterdir()):
        if not overwrite:
            raise FileExistsError(f"output folder {output_dir} is not empty; pass --overwrite to replace its dataset")
        shutil.rmtree(output_dir / "data", ignore_errors=True)
        (output_dir / "README.md").unlink(missing_ok=True)
    output_dir.mkdir(parents=True, exist_ok=True)


def write_parquet(output_dir: Path, builds: list[TaskBuild]) -> None:
    """Writes every config's splits as single Parquet shards."""
    for build in builds:
        for config, splits in build.configs.items():
            for split, rows in splits.items():
                path = output_dir / parquet_path(config, split)
                path.parent.mkdir(parents=True, exist_ok=True)
                rows.to_parquet(path)


def counts_table(builds: list[TaskBuild]) -> str:
    """A Markdown table of rows in, rows out and drops per reason, for every task and split."""
    reasons = sorted({reason for build in builds for counts in build.counts.values() for reason in counts.drops})
    header = ["task", "configs", "split", "rows in", "rows out", *[f"dropped: {reason}" for reason in reasons]]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for build in builds:
        for split, counts in build.counts.items():
            cells = [build.name, ", ".join(build.configs), split, str(counts.rows_in), str(counts.rows_out),
                     *[str(counts.drops.get(reason, 0)) for reason in reasons]]
            lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def push_to_hub(repo_id: str, output_dir: Path, builds: list[TaskBuild], private: bool | None = None) -> None:
    """Uploads every config with `DatasetDict.push_to_hub` (same `data/<config>/` layout), then our card."""
    for build in builds:
        for config, splits in build.configs.items():
            splits.push_to_hub(repo_id, config_name=config, data_dir=f"data/{config}", private=private)
    # push_to_hub writes a minimal card of its own; ours (same configs, plus sources, licence and counts) replaces it.
    HfApi().upload_file(
        path_or_fileobj=str(output_dir / "README.md"),
        path_in_repo="README.md",
        repo_id=repo_id,
        repo_type="dataset",
        commit_message="Dataset card: sources, licence, schema, counts",
    )
