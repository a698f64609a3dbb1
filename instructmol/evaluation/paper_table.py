"""One command per paper table: `instructmol evaluate --paper-table N` evaluates the table's tasks for every row a
model is given for, and writes the table as the paper lays it out, this run's value beside the published one.

A table's rows and columns come from the published numbers (`paper_results.PAPER_RESULTS`): rows are the variants
(InstructMol-G, -GS, the LoRA-tuned LLM on `_s` configs) or, for Table 10, the ablations (all on `description_g`);
columns are (task, metric) pairs. A row's model is given as `ROW=PATH` (ROW: `g`, `gs`, `s`, or an ablation name of
`ABLATIONS`); a column's config is looked up in the given dataset folders. Decoding is the released evaluation's
(sampling at temperature 0.2, seeded) unless told otherwise; Table 4 is scored with `--mode instructmol` (the
released scripts drop unparsable molecules) unless told otherwise.
"""

import json
import logging
from dataclasses import dataclass, replace
from pathlib import Path

from datasets import get_dataset_config_names

from ..tasks import GROUPS, REGRESSION, TASKS, VARIANT_TITLES
from .harness import process_state, run_evaluation
from .paper_results import ABLATIONS, PAPER, PAPER_RESULTS, PAPER_TABLES, TABLE_CAPTIONS, PaperResult
from .report import METRIC_DISPLAYS
from .settings import EvaluationSettings

logger = logging.getLogger(__name__)

TABLE_FILE, TABLE_JSON = "table.md", "table.json"
VARIANT_KEYS = {title: code for code, title in VARIANT_TITLES.items()}
NOT_RUN = "–"


@dataclass(frozen=True)
class TableRow:
    """One row of a paper table.

    Attributes:
        key: what `--models KEY=PATH` names it by: a variant code (`g`, `gs`, `s`) or an ablation (`ABLATIONS`).
        label: the paper's label of the row.
        variant: the dataset variant its configs are (`description_g` for every ablation).
    """

    key: str
    label: str
    variant: str


@dataclass(frozen=True)
class PaperTable:
    number: int
    rows: tuple[TableRow, ...]
    columns: tuple[tuple[str, str], ...]  # (task or pooled group, metric key), in the paper's order

    @property
    def name(self) -> str:
        return f"Table {self.number}"

    def published(self, row: TableRow) -> dict[tuple[str, str], PaperResult]:
        """The row's published numbers by column."""
        return {(result.task, result.metric): result for result in _results(self.name) if result.variant in (
            row.key, VARIANT_TITLES.get(row.key))}

    def configs(self, row: TableRow) -> list[str]:
        """The dataset configs that give the row's cells: a pooled group's one config covers its tasks."""
        tasks = dict.fromkeys(task for task, _ in self.columns)
        units = []
        for task in tasks:
            group = TASKS[task].group if task in TASKS else task
            unit = group if group in GROUPS and GROUPS[group].pooled and group in tasks else task
            units.append(f"{unit}_{row.variant}")
        return list(dict.fromkeys(units))


def _results(table: str) -> list[PaperResult]:
    return [result for result in PAPER_RESULTS if result.table == table]


def table_by_number(number: int) -> PaperTable:
    """The layout of the paper's Table `number` (1-4, 10, 11).

    Raises:
        ValueError: a table the paper has no numbers for here.
    """
    if number not in PAPER_TABLES:
        raise ValueError(f"--paper-table takes one of {', '.join(map(str, PAPER_TABLES))}, got {number}")
    results = _results(f"Table {number}")
    rows: dict[str, TableRow] = {}
    for result in results:
        key = VARIANT_KEYS.get(result.variant, result.variant)
        variant = "g" if result.variant in ABLATIONS else key
        rows.setdefault(key, TableRow(key, result.paper_row, variant))
    columns = tuple(dict.fromkeys((result.task, result.metric) for result in results))
    return PaperTable(number, tuple(rows.values()), columns)


def parse_models(table: PaperTable, pairs: list[str]) -> dict[str, str]:
    """`ROW=PATH` arguments -> {row key: model}.

    Raises:
        ValueError: a pair without '=', or a row the table does not have (naming the ones it has).
    """
    keys = [row.key for row in table.rows]
    models = {}
    for pair in pairs:
        key, separator, model = pair.partition("=")
        if not separator or not model:
            raise ValueError(f"--models takes ROW=PATH pairs, got {pair!r}")
        if key not in keys:
            raise ValueError(f"{table.name} has no row {key!r}; its rows are {', '.join(keys)}")
        models[key] = model
    if not models:
        raise ValueError(f"--paper-table {table.number} needs --models ROW=PATH for at least one of: {', '.join(keys)}")
    return models


def find_dataset(config: str, datasets: list[str]) -> str | None:
    """The first of `datasets` (folders or Hub repos) holding `config`."""
    return next((dataset for dataset in datasets if config in get_dataset_config_names(dataset)), None)


def column_label(task: str, metric: str) -> str:
    """A column's header: the task (or the group's average) and the metric, in the report's words."""
    if task in GROUPS:
        title, family = f"{GROUPS[task].title}, average", TASKS[GROUPS[task].members[0]].metric
    else:
        title, family = TASKS[task].title, TASKS[task].metric
    label = "MAE (Ha)" if family == REGRESSION else METRIC_DISPLAYS[family][metric].label
    return f"{title}: {label}"


def run_paper_table(number: int, models: list[str], datasets: list[str], output: Path,
                    template: EvaluationSettings) -> dict:
    """Evaluates every (row with a model, config found in `datasets`) of the table, then writes `table.md` and
    `table.json` into `output`; each evaluation's own report lies in `output/<row>/<config>/`. Returns what
    table.json holds ({} on the other processes of a sharded run).

    Args:
        template: the settings every evaluation shares (decoding, batch size, limit, ...); model, dataset, config,
            split and output are set per cell.
    """
    table = table_by_number(number)
    row_models = parse_models(table, models)
    cells: dict[tuple[str, str, str], dict] = {}  # (row, task, metric) -> this run's result
    notes = []
    for row in table.rows:
        if row.key not in row_models:
            notes.append(f"{row.label}: not run (no --models {row.key}=PATH).")
            continue
        for config in table.configs(row):
            dataset = find_dataset(config, datasets)
            if dataset is None:
                notes.append(f"{row.label}: `{config}` not run (no dataset given holds it).")
                continue
            settings = replace(template, model=row_models[row.key], dataset=dataset, config=config, split="test",
                               output=output / row.key / config)
            logger.info("%s, %s: %s on %s", table.name, row.label, settings.model, config)
            summary = run_evaluation(settings)
            for result in summary.get("results", []):  # {} on the other processes of a sharded run
                cells[row.key, result["task"], result["metric"]] = {**result, "config": config, "dataset": dataset,
                                                                    "model": settings.model}
    if not process_state().is_main_process:  # under `accelerate launch`, the main process writes the table
        return {}
    layout = render_table(table, cells, template, notes)
    output.mkdir(parents=True, exist_ok=True)
    (output / TABLE_FILE).write_text(layout, encoding="utf-8")
    record = {
        "table": table.name, "caption": TABLE_CAPTIONS[table.name], "decoding": template.decoding_record,
        "mode": template.mode, "cells": [
            {"row": row.key, "paper_row": row.label, "task": task, "metric": metric,
             "ours": cells.get((row.key, task, metric)),
             "paper": table.published(row)[task, metric].printed if (task, metric) in table.published(row) else None}
            for row in table.rows for task, metric in table.columns
        ], "notes": notes,
    }
    (output / TABLE_JSON).write_text(json.dumps(record, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return record


def render_table(table: PaperTable, cells: dict[tuple[str, str, str], dict], settings: EvaluationSettings,
                 notes: list[str]) -> str:
    """The table as the paper lays it out (its rows, its columns), each cell `ours / published`."""
    header = "| | " + " | ".join(column_label(task, metric) for task, metric in table.columns) + " |"
    lines = [header, "|---|" + "---:|" * len(table.columns)]
    for row in table.rows:
        published = table.published(row)
        values = []
        for task, metric in table.columns:
            ours = cells.get((row.key, task, metric))
            paper = published[task, metric].printed if (task, metric) in published else NOT_RUN
            values.append(f"{ours['displayed'] if ours else NOT_RUN} / {paper}")
        lines.append(f"| {row.label} | " + " | ".join(values) + " |")
    return "\n\n".join([
        f"# {table.name}: {TABLE_CAPTIONS[table.name]}",
        f"Each cell: this run's value / the published value, as printed in {PAPER}. {NOT_RUN}: not run, or not "
        "published. Units as each column names them.",
        f"Decoding: {settings.decoding}. Molecule generation protocol: mode {settings.mode}.",
        "\n".join(lines),
        *notes,
    ]) + "\n"
