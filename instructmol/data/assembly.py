"""From checked candidates to a Hub-native dataset folder: splits, G/GS rows, Parquet files, counts, push.

Layout written (what `load_dataset(folder, config)` and the Hub read):
`data/<config>/<split>-00000-of-00001.parquet` for every config and split, plus `README.md` (see `card.py`).
"""

import shutil
import tempfile
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from huggingface_hub import HfApi
from huggingface_hub.repocard import metadata_load

from datasets import Dataset, DatasetDict, Features

from ..errors import one_line
from ..tasks import GRAPHLESS_VARIANTS, TASKS, get_task
from .prompts import BuildOptions, graph_goes_after, instruction_text
from .schema import ROW_FEATURES, TEXT_ROW_FEATURES, conversation_row, text_row
from .splits import SPLIT_ORDER

# Split label of rows dropped before a split was assigned (MoleculeNet's scaffold split needs parsed molecules).
BEFORE_SPLITTING = "(before splitting)"
DUPLICATE_ID = "id of an earlier row of the task"
# What a build writes into its output folder (anything else there is the user's and stays).
DATASET_ENTRIES = ("data", "README.md")


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
    """Splits checked candidates into kept rows per split, counting rows in, rows out and drops per reason.

    A row whose (task, id) an earlier row already has is dropped (`DUPLICATE_ID`): predictions are keyed by them.
    """
    splits, reasons = column_values(candidates, "split"), column_values(candidates, "drop_reason")
    keys = zip(column_values(candidates, "task"), column_values(candidates, "id"))
    counts: dict[str, SplitCounts] = {}
    kept_indices: dict[str, list[int]] = {}
    seen: set[tuple[str, str]] = set()
    for index, (split, reason, key) in enumerate(zip(splits, reasons, keys)):
        split_counts = counts.setdefault(split, SplitCounts())
        split_counts.rows_in += 1
        if not reason and key in seen:
            reason = DUPLICATE_ID
        seen.add(key)
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
        if variant in GRAPHLESS_VARIANTS:
            rows.append(text_row(instruction=text, row_id=row_id, task=task_name, target=target,
                                 smiles=".".join(images)))
        else:
            rows.append(conversation_row(images=images, instruction=text, row_id=row_id, task=task_name,
                                         target=target, graph_after=graph_goes_after(options, split, draw_key)))
    return {column: [row[column] for row in rows] for column in row_features(variant)}


def row_features(variant: str) -> Features:
    """The schema of a variant's rows: `ROW_FEATURES`, or `TEXT_ROW_FEATURES` for the text-only variant."""
    return TEXT_ROW_FEATURES if variant in GRAPHLESS_VARIANTS else ROW_FEATURES


def render_rows(kept: Dataset, *, variant: str, options: BuildOptions) -> Dataset:
    """Kept candidates as dataset rows of one variant, their user turns written as the task registry says."""
    return kept.map(
        _render_batch,
        batched=True,
        remove_columns=kept.column_names,
        features=row_features(variant),
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


def built_dataset_problem(folder: Path) -> str | None:
    """Why `folder` is not a dataset these builders wrote (None when it is one): its card carries the `instructmol`
    tag, and `data/` holds Parquet files only."""
    card = folder / "README.md"
    if not card.is_file():
        return "no README.md"
    try:
        tags = (metadata_load(card) or {}).get("tags") or []
    except (ValueError, OSError, yaml.YAMLError) as error:
        return f"a README.md that is no dataset card ({one_line(error)})"
    if "instructmol" not in tags:
        return "a README.md that is not an InstructMol dataset card"
    files = [path for path in (folder / "data").rglob("*") if path.is_file()]
    others = [path for path in files if path.suffix != ".parquet"]
    if others:
        return f"files in data/ that are not a built dataset's ({others[0].relative_to(folder)})"
    return None if files else "no data/ folder of Parquet files"


def check_output_dir(output_dir: Path, overwrite: bool) -> None:
    """Refuses, before any work, an output that is a file or a non-empty folder; with `overwrite`, a non-empty folder
    that is not a dataset these builders wrote (its README.md and data/ would be replaced)."""
    if output_dir.exists() and not output_dir.is_dir():
        raise FileExistsError(f"--output {output_dir} is a file; give a folder for the dataset")
    if not (output_dir.is_dir() and any(output_dir.iterdir())):
        return
    if not overwrite:
        raise FileExistsError(f"output folder {output_dir} is not empty; pass --overwrite to replace its dataset")
    problem = built_dataset_problem(output_dir)
    if problem:
        raise FileExistsError(f"--overwrite replaces only a dataset these builders wrote, and {output_dir} holds "
                              f"{problem}: choose another --output")


def check_every_task_kept_rows(builds: list[TaskBuild]) -> None:
    """Refuses a build in which a task kept no row: its configs would list no data file (unloadable)."""
    empty = [build for build in builds if not any(counts.rows_out for counts in build.counts.values())]
    if empty:
        described = "; ".join(
            f"{build.name}: {sum(c.rows_in for c in build.counts.values())} rows read, every one dropped "
            f"({dict(sum((c.drops for c in build.counts.values()), Counter()))})" for build in empty
        )
        raise ValueError(f"no row survived for {described}; check the source and the options")


@contextmanager
def staged_output(output_dir: Path) -> Iterator[Path]:
    """A fresh folder beside `output_dir` to write the dataset into; on success its files replace the dataset in
    `output_dir` (only the dataset's own `data/` and `README.md`), on failure it is removed and `output_dir` is
    untouched. A killed build leaves the old dataset in place."""
    output_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{output_dir.name}.building-", dir=output_dir.parent))
    try:
        yield staging
        output_dir.mkdir(exist_ok=True)
        retired = staging / ".replaced"
        retired.mkdir()
        for name in DATASET_ENTRIES:
            if (output_dir / name).exists():
                (output_dir / name).rename(retired / name)
            (staging / name).rename(output_dir / name)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


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
